#include "config/cli.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "support/temp_dir.h"

namespace freshfs::config {
namespace {

using std::chrono::milliseconds;
using Action = ParseResult::Action;

ParseResult Parse(std::vector<std::string> args) {
  std::vector<const char*> argv = {"freshfs-mount"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), "1.2.3");
}

Options MustParse(std::vector<std::string> args) {
  ParseResult r = Parse(std::move(args));
  EXPECT_EQ(r.action, Action::kRun) << r.output;
  return r.options;
}

// The one-line error of a command line that must be rejected.
std::string Error(std::vector<std::string> args) {
  ParseResult r = Parse(std::move(args));
  EXPECT_EQ(r.action, Action::kExit);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output.rfind("freshfs-mount: ", 0), 0u) << r.output;
  EXPECT_EQ(r.output.find('\n'), std::string::npos) << r.output;
  return r.output;
}

TEST(Cli, Defaults) {
  const Options o = MustParse({"/srv/data", "/mnt/data"});
  EXPECT_EQ(o.source, "/srv/data");
  EXPECT_EQ(o.mountpoint, "/mnt/data");
  EXPECT_FALSE(o.config_file.has_value());
  EXPECT_FALSE(o.foreground);
  EXPECT_FALSE(o.read_only);
  EXPECT_FALSE(o.allow_other);
  EXPECT_FALSE(o.debug);
  EXPECT_FALSE(o.kernel_cache.has_value());  // decided by whether a change source runs
  EXPECT_EQ(o.log_format, LogFormat::kText);
  EXPECT_FALSE(o.log_file.has_value());
  EXPECT_FALSE(o.uid.has_value());
  EXPECT_FALSE(o.gid.has_value());
  EXPECT_FALSE(o.file_mode.has_value());
  EXPECT_FALSE(o.dir_mode.has_value());
  EXPECT_FALSE(o.entry_timeout.has_value());
  EXPECT_FALSE(o.attr_timeout.has_value());
  EXPECT_FALSE(o.negative_timeout.has_value());
  EXPECT_EQ(o.max_threads, 16u);
  EXPECT_EQ(o.poll_interval, milliseconds{5'000});
  EXPECT_EQ(o.events, Events::kAuto);
  EXPECT_FALSE(o.revalidate_on_open);
  EXPECT_FALSE(o.metrics_address.has_value());
  EXPECT_FALSE(o.volume_name.has_value());
}

TEST(Cli, FreshnessAndMetricsFlags) {
  const Options o =
      MustParse({"--poll-interval", "0", "--events", "none", "--revalidate-on-open",
                 "--metrics-address", "127.0.0.1:0", "--volume-name", "team-a", "/src", "/mnt"});
  EXPECT_EQ(o.poll_interval, milliseconds{0});
  EXPECT_EQ(o.events, Events::kNone);
  EXPECT_TRUE(o.revalidate_on_open);
  EXPECT_EQ(o.metrics_address, "127.0.0.1:0");
  EXPECT_EQ(o.volume_name, "team-a");
  EXPECT_EQ(MustParse({"-o", "events=inotify,poll_interval=2s", "/s", "/m"}).events,
            Events::kInotify);
}

TEST(Cli, BadFreshnessAndMetricsValues) {
  EXPECT_EQ(Error({"--events", "fanotify", "/s", "/m"}),
            "freshfs-mount: --events \"fanotify\": must be inotify, none or auto");
  EXPECT_EQ(
      Error({"--metrics-address", "localhost", "/s", "/m"}),
      "freshfs-mount: --metrics-address \"localhost\": must be HOST:PORT, e.g. 127.0.0.1:9100");
  EXPECT_EQ(Error({"--metrics-address", "127.0.0.1:99999", "/s", "/m"}),
            "freshfs-mount: --metrics-address \"127.0.0.1:99999\": port must be a number from 0 to "
            "65535");
  // The host part too: 999.1.1.1 is no address (inet_aton would read it as
  // 231.1.1.1 and listen there).
  EXPECT_EQ(Error({"--metrics-address", "999.1.1.1:0", "/s", "/m"}),
            "freshfs-mount: --metrics-address \"999.1.1.1:0\": host 999.1.1.1 is not an IPv4 "
            "address (four numbers from 0 to 255)");
  EXPECT_EQ(Error({"--events-address", "bad_host!:80", "s3://b", "/m"}),
            "freshfs-mount: --events-address \"bad_host!:80\": host bad_host! is not an IP "
            "address or a host name");
  EXPECT_EQ(Error({"--metrics-address", "[::1:9100", "/s", "/m"}),
            "freshfs-mount: --metrics-address \"[::1:9100\": host [::1 is not an IPv6 address in "
            "brackets");
  for (const char* good : {"0.0.0.0:0", "localhost:9100", "[::1]:9100", "node-1.example.com:80"})
    EXPECT_EQ(MustParse({"--metrics-address", good, "/s", "/m"}).metrics_address, good);
  EXPECT_EQ(
      Error({"--volume-name", "a b", "/s", "/m"}),
      "freshfs-mount: --volume-name \"a b\": may only hold letters, digits, '.', '_' and '-'");
  EXPECT_EQ(
      Error({"--poll-interval", "5", "/s", "/m"}).rfind("freshfs-mount: --poll-interval \"5\":", 0),
      0u);
}

TEST(Cli, ReadyFd) {
  EXPECT_FALSE(MustParse({"/s", "/m"}).ready_fd.has_value());
  EXPECT_EQ(MustParse({"-f", "--ready-fd", "3", "/dev/fd/4", "/dev/fd/5"}).ready_fd, 3);
  EXPECT_EQ(MustParse({"--ready-fd=9", "/s", "/m"}).ready_fd, 9);
  EXPECT_EQ(Error({"--ready-fd", "1", "/s", "/m"}),
            "freshfs-mount: --ready-fd \"1\": must be 3 or more (0, 1 and 2 are stdin, stdout and "
            "stderr)");
  EXPECT_EQ(MustParse({"-o", "ready_fd=7", "/s", "/m"}).ready_fd, 7);
  EXPECT_EQ(Error({"--ready-fd", "-1", "/s", "/m"}),
            "freshfs-mount: --ready-fd \"-1\": must not be negative");
  EXPECT_EQ(Error({"--ready-fd", "three", "/s", "/m"}),
            "freshfs-mount: --ready-fd \"three\": not a number");
  EXPECT_EQ(Error({"--ready-fd", "2147483648", "/s", "/m"}),
            "freshfs-mount: --ready-fd \"2147483648\": must be at most 2147483647");
  EXPECT_EQ(Error({"/s", "/m", "--ready-fd"}),
            "freshfs-mount: --ready-fd: missing value (--ready-fd N)");
}

TEST(Cli, SourceSyntaxes) {
  EXPECT_EQ(MustParse({"file:///srv/data", "/mnt"}).source, "file:///srv/data");
  EXPECT_EQ(MustParse({"relative/dir", "mnt"}).source, "relative/dir");
  EXPECT_EQ(MustParse({"relative/dir", "mnt"}).mountpoint, "mnt");
}

TEST(Cli, EveryFlag) {
  const Options o = MustParse({"-f",
                               "--read-only",
                               "--allow-other",
                               "--uid",
                               "1000",
                               "--gid",
                               "100",
                               "--file-mode",
                               "0640",
                               "--dir-mode",
                               "0750",
                               "--entry-timeout",
                               "5s",
                               "--attr-timeout",
                               "1m",
                               "--negative-timeout",
                               "500ms",
                               "--kernel-cache",
                               "--debug",
                               "--log-format",
                               "json",
                               "--log-file",
                               "/tmp/f.log",
                               "--max-threads",
                               "4",
                               "/src",
                               "/mnt"});
  EXPECT_TRUE(o.foreground);
  EXPECT_TRUE(o.read_only);
  EXPECT_TRUE(o.allow_other);
  EXPECT_EQ(o.uid, uid_t{1000});
  EXPECT_EQ(o.gid, gid_t{100});
  EXPECT_EQ(o.file_mode, mode_t{0640});
  EXPECT_EQ(o.dir_mode, mode_t{0750});
  EXPECT_EQ(o.entry_timeout, milliseconds{5'000});
  EXPECT_EQ(o.attr_timeout, milliseconds{60'000});
  EXPECT_EQ(o.negative_timeout, milliseconds{500});
  EXPECT_TRUE(o.kernel_cache);
  EXPECT_TRUE(o.debug);
  EXPECT_EQ(o.log_format, LogFormat::kJson);
  EXPECT_EQ(o.log_file, "/tmp/f.log");
  EXPECT_EQ(o.max_threads, 4u);
}

TEST(Cli, ShortAndEqualsForms) {
  Options o = MustParse({"-d", "--foreground", "--uid=7", "/src", "/mnt"});
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(o.foreground);
  EXPECT_EQ(o.uid, uid_t{7});
  o = MustParse({"-fd", "/src", "/mnt"});
  EXPECT_TRUE(o.foreground);
  EXPECT_TRUE(o.debug);
}

TEST(Cli, OptionsMayFollowPositionals) {
  // mount.fuse3 and mount(8) call "freshfs-mount SOURCE MOUNTPOINT -o opts".
  const Options o = MustParse({"/src", "/mnt", "-o", "ro", "--uid", "3"});
  EXPECT_TRUE(o.read_only);
  EXPECT_EQ(o.uid, uid_t{3});
  EXPECT_EQ(o.mountpoint, "/mnt");
}

TEST(Cli, LastValueWins) {
  const Options o = MustParse({"--uid", "1", "--uid", "2", "/src", "/mnt"});
  EXPECT_EQ(o.uid, uid_t{2});
}

TEST(Cli, BooleanFlagsTakeExplicitValues) {
  EXPECT_FALSE(MustParse({"--read-only=false", "/s", "/m"}).read_only);
  EXPECT_TRUE(MustParse({"--read-only=true", "/s", "/m"}).read_only);
  EXPECT_EQ(Error({"--read-only=maybe", "/s", "/m"}),
            "freshfs-mount: --read-only \"maybe\": not a boolean (use true or false)");
}

TEST(Cli, DoubleDashEndsOptions) {
  const Options o = MustParse({"--", "-weird-source", "/mnt"});
  EXPECT_EQ(o.source, "-weird-source");
}

TEST(Cli, MountOptionsMapToFlags) {
  const Options o = MustParse({"-o", "ro,allow_other,uid=1000,gid=1001,entry_timeout=5s", "-o",
                               "attr-timeout=2s,negative_timeout=1s,kernel_cache", "-o",
                               "file_mode=0644,dir_mode=0755,max_threads=2,debug,"
                               "foreground,log_format=json,log_file=/l",
                               "/src", "/mnt"});
  EXPECT_TRUE(o.read_only);
  EXPECT_TRUE(o.allow_other);
  EXPECT_EQ(o.uid, uid_t{1000});
  EXPECT_EQ(o.gid, gid_t{1001});
  EXPECT_EQ(o.entry_timeout, milliseconds{5'000});
  EXPECT_EQ(o.attr_timeout, milliseconds{2'000});
  EXPECT_EQ(o.negative_timeout, milliseconds{1'000});
  EXPECT_TRUE(o.kernel_cache);
  EXPECT_EQ(o.file_mode, mode_t{0644});
  EXPECT_EQ(o.dir_mode, mode_t{0755});
  EXPECT_EQ(o.max_threads, 2u);
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(o.foreground);
  EXPECT_EQ(o.log_format, LogFormat::kJson);
  EXPECT_EQ(o.log_file, "/l");
}

TEST(Cli, MountOptionAttachedToDashO) {
  EXPECT_TRUE(MustParse({"-oro", "/src", "/mnt"}).read_only);
}

TEST(Cli, RwUndoesRoInCommandLineOrder) {
  EXPECT_FALSE(MustParse({"-o", "ro,rw", "/s", "/m"}).read_only);
  EXPECT_TRUE(MustParse({"-o", "rw", "--read-only", "/s", "/m"}).read_only);
  EXPECT_FALSE(MustParse({"--read-only", "-o", "rw", "/s", "/m"}).read_only);
}

TEST(Cli, StandardMountOptionsAreIgnored) {
  const Options o =
      MustParse({"-o",
                 "defaults,dev,nodev,suid,nosuid,exec,noexec,auto,noauto,user,nouser,users,"
                 "_netdev,async,atime,noatime,relatime,nofail,x-systemd.automount,comment=foo,,",
                 "/src", "/mnt"});
  const Options defaults = MustParse({"/src", "/mnt"});
  EXPECT_EQ(o.read_only, defaults.read_only);
  EXPECT_EQ(o.allow_other, defaults.allow_other);
  EXPECT_EQ(o.uid, defaults.uid);
}

TEST(Cli, MountOptionErrors) {
  EXPECT_EQ(Error({"-o", "ro,frobnicate", "/s", "/m"}),
            "freshfs-mount: unknown -o option \"frobnicate\"");
  EXPECT_EQ(Error({"-o", "entry_timout=5s", "/s", "/m"}),
            "freshfs-mount: unknown -o option \"entry_timout\" (did you mean \"entry_timeout\"?)");
  EXPECT_EQ(Error({"-o", "allow-otter", "/s", "/m"}),
            "freshfs-mount: unknown -o option \"allow-otter\" (did you mean \"allow-other\"?)");
  EXPECT_EQ(Error({"-o", "uid=abc", "/s", "/m"}), "freshfs-mount: -o uid=abc: not a number");
  EXPECT_EQ(Error({"-o", "entry_timeout=5x", "/s", "/m"}),
            "freshfs-mount: -o entry_timeout=5x: unknown unit \"x\" (use ms, s, m or h)");
  EXPECT_EQ(Error({"-o", "uid", "/s", "/m"}), "freshfs-mount: -o uid: missing value (uid=N)");
  EXPECT_EQ(Error({"-o", "ro=1", "/s", "/m"}), "freshfs-mount: -o ro=1: takes no value");
  EXPECT_EQ(Error({"-o", "source=/x", "/s", "/m"}), "freshfs-mount: unknown -o option \"source\"");
  EXPECT_EQ(Error({"-o", "help", "/s", "/m"}), "freshfs-mount: unknown -o option \"help\"");
}

TEST(Cli, FlagValueErrors) {
  EXPECT_EQ(Error({"--entry-timeout", "5x", "/s", "/m"}),
            "freshfs-mount: --entry-timeout \"5x\": unknown unit \"x\" (use ms, s, m or h)");
  EXPECT_EQ(Error({"--attr-timeout", "25h", "/s", "/m"}),
            "freshfs-mount: --attr-timeout \"25h\": must be at most 24h");
  EXPECT_EQ(Error({"--negative-timeout", "5", "/s", "/m"}),
            "freshfs-mount: --negative-timeout \"5\": missing unit, e.g. 5s");
  EXPECT_EQ(Error({"--uid", "abc", "/s", "/m"}), "freshfs-mount: --uid \"abc\": not a number");
  EXPECT_EQ(Error({"--gid", "-1", "/s", "/m"}),
            "freshfs-mount: --gid \"-1\": must not be negative");
  EXPECT_EQ(Error({"--file-mode", "0888", "/s", "/m"}),
            "freshfs-mount: --file-mode \"0888\": not an octal mode (e.g. 0644)");
  EXPECT_EQ(Error({"--dir-mode", "017777", "/s", "/m"}),
            "freshfs-mount: --dir-mode \"017777\": permission bits only, at most 07777");
  EXPECT_EQ(Error({"--max-threads", "0", "/s", "/m"}),
            "freshfs-mount: --max-threads \"0\": must be between 1 and 1024");
  EXPECT_EQ(Error({"--max-threads", "2000", "/s", "/m"}),
            "freshfs-mount: --max-threads \"2000\": must be between 1 and 1024");
  EXPECT_EQ(Error({"--log-format", "xml", "/s", "/m"}),
            "freshfs-mount: --log-format \"xml\": must be text or json");
  EXPECT_EQ(Error({"--log-file", "", "/s", "/m"}),
            "freshfs-mount: --log-file \"\": must not be empty");
}

TEST(Cli, ControlCharactersInValuesAreEscaped) {
  EXPECT_EQ(Error({"--uid", "1\n2", "/s", "/m"}), "freshfs-mount: --uid \"1\\n2\": not a number");
}

TEST(Cli, MissingFlagValue) {
  EXPECT_EQ(Error({"/s", "/m", "--uid"}), "freshfs-mount: --uid: missing value (--uid N)");
  EXPECT_EQ(Error({"/s", "/m", "--entry-timeout"}),
            "freshfs-mount: --entry-timeout: missing value (--entry-timeout DUR)");
  EXPECT_EQ(Error({"/s", "/m", "--config"}),
            "freshfs-mount: --config: missing value (--config FILE)");
  EXPECT_EQ(Error({"/s", "/m", "-o"}), "freshfs-mount: -o: missing value (-o OPT[,OPT...])");
}

TEST(Cli, UnknownOptions) {
  EXPECT_EQ(Error({"--entry-timout", "5s", "/s", "/m"}),
            "freshfs-mount: unknown option \"--entry-timout\" (did you mean \"--entry-timeout\"?) "
            "(see --help)");
  EXPECT_EQ(Error({"--frobnicate", "/s", "/m"}),
            "freshfs-mount: unknown option \"--frobnicate\" (see --help)");
  EXPECT_EQ(Error({"-x", "/s", "/m"}), "freshfs-mount: unknown option \"-x\" (see --help)");
  EXPECT_EQ(Error({"--readonly=1", "/s", "/m"}),
            "freshfs-mount: unknown option \"--readonly=1\" (did you mean \"--read-only\"?) "
            "(see --help)");
}

TEST(Cli, MissingPositionals) {
  EXPECT_EQ(Error({}),
            "freshfs-mount: missing SOURCE and MOUNTPOINT (usage: freshfs-mount [options] SOURCE "
            "MOUNTPOINT)");
  EXPECT_EQ(Error({"/src"}),
            "freshfs-mount: missing MOUNTPOINT after SOURCE \"/src\" (usage: freshfs-mount "
            "[options] SOURCE MOUNTPOINT)");
  EXPECT_EQ(Error({"/a", "/b", "/c"}),
            "freshfs-mount: unexpected argument \"/c\" (usage: freshfs-mount [options] SOURCE "
            "MOUNTPOINT)");
  EXPECT_EQ(Error({"/src", ""}), "freshfs-mount: MOUNTPOINT: must not be empty");
  EXPECT_EQ(Error({"", "/mnt"}), "freshfs-mount: SOURCE \"\": must not be empty");
}

TEST(Cli, S3SourcesAndTheirOptions) {
  Options o = MustParse({"s3://bucket/prefix", "/mnt", "--s3-endpoint", "http://127.0.0.1:9000",
                         "--s3-path-style", "--s3-region", "eu-west-1", "--events-address",
                         "0.0.0.0:8080", "--cache-dir", "/var/cache/f", "--cache-size", "10G",
                         "--conflict", "overwrite", "-o", "s3_profile=team,staging_dir=/st"});
  EXPECT_EQ(o.source, "s3://bucket/prefix");
  EXPECT_EQ(o.s3_endpoint, "http://127.0.0.1:9000");
  EXPECT_TRUE(o.s3_path_style);
  EXPECT_EQ(o.s3_region, "eu-west-1");
  EXPECT_EQ(o.events_address, "0.0.0.0:8080");
  EXPECT_EQ(o.cache_dir, "/var/cache/f");
  EXPECT_EQ(o.cache_size, 10ull << 30);
  EXPECT_EQ(o.conflict, Conflict::kOverwrite);
  EXPECT_EQ(o.s3_profile, "team");
  EXPECT_EQ(o.staging_dir, "/st");
  EXPECT_EQ(Error({"s3://bucket", "/mnt", "--s3-endpoint", "127.0.0.1:9000"}),
            "freshfs-mount: --s3-endpoint \"127.0.0.1:9000\": must start with http:// or https://");
  EXPECT_EQ(Error({"s3://bucket", "/mnt", "--cache-size", "lots"}),
            "freshfs-mount: --cache-size \"lots\": not a size (e.g. 512M, 10G)");
  // 0 would mean a cache that keeps nothing: say how to have none.
  EXPECT_EQ(Error({"s3://bucket", "/mnt", "--cache-size", "0"}),
            "freshfs-mount: --cache-size \"0\": must be more than 0 (for no disk cache, leave out "
            "--cache-dir)");
  EXPECT_EQ(Error({"s3://bucket", "/mnt", "--conflict", "merge"}),
            "freshfs-mount: --conflict \"merge\": must be keep-both or overwrite");
}

TEST(Cli, UnsupportedSources) {
  EXPECT_EQ(Error({"s3://b", "/mnt"}),
            "freshfs-mount: SOURCE \"s3://b\": bucket name \"b\" must be 3 to 255 characters "
            "(s3://bucket[/prefix])");
  EXPECT_EQ(Error({"https://example.com/x", "/mnt"}),
            "freshfs-mount: SOURCE \"https://example.com/x\": unsupported scheme \"https\" (use "
            "/path or file:///path)");
  EXPECT_EQ(Error({"file://host/x", "/mnt"}),
            "freshfs-mount: SOURCE \"file://host/x\": file:// URL with host \"host\" (only local "
            "paths: file:///path)");
}

TEST(Cli, Help) {
  for (const char* flag : {"--help", "-h"}) {
    const ParseResult r = Parse({flag});
    EXPECT_EQ(r.action, Action::kExit);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.output, HelpText());
  }
  const std::string help = HelpText();
  EXPECT_EQ(help.rfind("Usage: freshfs-mount [options] SOURCE MOUNTPOINT\n", 0), 0u);
  for (const char* option :
       {"-f, --foreground", "--config FILE", "--read-only", "--allow-other", "--uid N", "--gid N",
        "--file-mode OCTAL", "--dir-mode OCTAL", "--entry-timeout DUR", "--attr-timeout DUR",
        "--negative-timeout DUR", "--kernel-cache", "-d, --debug", "--log-format FORMAT",
        "--log-file PATH", "--max-threads N", "-o OPT", "-V, --version", "-h, --help"}) {
    EXPECT_NE(help.find(option), std::string::npos) << option;
  }
  // Defaults are shown and agree with Options{}.
  EXPECT_NE(help.find("(default: 5s)"), std::string::npos);  // poll interval
  EXPECT_NE(help.find("--poll-interval DUR"), std::string::npos);
  EXPECT_NE(help.find("--events MODE"), std::string::npos);
  EXPECT_NE(help.find("--revalidate-on-open"), std::string::npos);
  EXPECT_NE(help.find("--metrics-address HOST:PORT"), std::string::npos);
  EXPECT_NE(help.find("--ready-fd N"), std::string::npos);
  EXPECT_NE(help.find("1..1024 (default: 16)"), std::string::npos);
  EXPECT_EQ(help.back(), '\n');
  // Fits a standard terminal.
  size_t start = 0;
  for (size_t end; (end = help.find('\n', start)) != std::string::npos; start = end + 1) {
    EXPECT_LE(end - start, 80u) << help.substr(start, end - start);
  }
}

TEST(Cli, HelpWinsOverOtherErrors) {
  EXPECT_EQ(Parse({"--help", "--uid", "abc"}).output, HelpText());
  EXPECT_EQ(Parse({"--bogus", "-h"}).output, HelpText());
}

TEST(Cli, ValueThatLooksLikeAnOptionIsTheValue) {
  // As with getopt: an option that needs a value takes the next word.
  EXPECT_EQ(Error({"--uid", "-f", "/s", "/m"}), "freshfs-mount: --uid \"-f\": not a number");
  EXPECT_EQ(MustParse({"--log-file", "-f", "/s", "/m"}).log_file, "-f");
  EXPECT_FALSE(MustParse({"--log-file", "-f", "/s", "/m"}).foreground);
}

TEST(Cli, Version) {
  for (const char* flag : {"--version", "-V"}) {
    const ParseResult r = Parse({flag});
    EXPECT_EQ(r.action, Action::kExit);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.output, "freshfs-mount 1.2.3\n");
  }
}

class CliWithConfig : public ::testing::Test {
 protected:
  std::string Config(const std::string& text) {
    const std::string path = dir_ + "/config.yaml";
    std::ofstream(path) << text;
    return path;
  }

  freshfs::testing::TempDir tmp_{"cli"};
  std::string dir_ = tmp_.str();
};

TEST_F(CliWithConfig, FileValuesApplyWhenNoFlagIsGiven) {
  const std::string path = Config("read-only: true\nentry-timeout: 30s\nuid: 5\n");
  const Options o = MustParse({"--config", path, "/src", "/mnt"});
  EXPECT_EQ(o.config_file, path);
  EXPECT_TRUE(o.read_only);
  EXPECT_EQ(o.entry_timeout, milliseconds{30'000});
  EXPECT_EQ(o.uid, uid_t{5});
}

TEST_F(CliWithConfig, FlagsOverrideTheFile) {
  const std::string path =
      Config("read-only: true\nentry-timeout: 30s\nuid: 5\nkernel-cache: false\n");
  const Options o = MustParse({"--entry-timeout", "2s", "--config", path, "--read-only=false", "-o",
                               "uid=6", "--kernel-cache", "/src", "/mnt"});
  EXPECT_FALSE(o.read_only);
  EXPECT_EQ(o.entry_timeout, milliseconds{2'000});  // even when given before --config
  EXPECT_EQ(o.uid, uid_t{6});
  EXPECT_TRUE(o.kernel_cache);
  EXPECT_TRUE(MustParse({"--config", path, "-o", "ro", "/s", "/m"}).read_only);
  EXPECT_FALSE(MustParse({"--config", path, "-o", "rw", "/s", "/m"}).read_only);
}

TEST_F(CliWithConfig, ConfigViaMountOption) {
  const std::string path = Config("uid: 9\n");
  const Options o = MustParse({"/src", "/mnt", "-o", "nodev,config=" + path});
  EXPECT_EQ(o.uid, uid_t{9});
  EXPECT_EQ(o.config_file, path);
}

TEST_F(CliWithConfig, SourceFromTheFile) {
  const std::string path = Config("source: /from/config\n");
  Options o = MustParse({"--config", path, "/mnt"});
  EXPECT_EQ(o.source, "/from/config");
  EXPECT_EQ(o.mountpoint, "/mnt");
  o = MustParse({"--config", path, "/from/argv", "/mnt"});
  EXPECT_EQ(o.source, "/from/argv");
  EXPECT_EQ(o.mountpoint, "/mnt");
  EXPECT_EQ(Error({"--config", path}),
            "freshfs-mount: missing MOUNTPOINT (usage: freshfs-mount [options] SOURCE MOUNTPOINT)");
}

TEST_F(CliWithConfig, FileErrorsNameFileKeyAndLine) {
  const std::string path = Config("uid: 1\n\nentry-timout: 5s\n");
  EXPECT_EQ(Error({"--config", path, "/s", "/m"}),
            "freshfs-mount: config " + path +
                " line 3: unknown key \"entry-timout\" (did you mean \"entry-timeout\"?)");
  const std::string bad_value = Config("entry-timeout: 5x\n");
  EXPECT_EQ(Error({"--config", bad_value, "/s", "/m"}),
            "freshfs-mount: config " + bad_value +
                " line 1: entry-timeout \"5x\": unknown unit \"x\" (use ms, s, m or h)");
}

TEST_F(CliWithConfig, MissingFile) {
  const std::string path = dir_ + "/nope.yaml";
  EXPECT_EQ(Error({"--config", path, "/s", "/m"}),
            "freshfs-mount: config " + path + ": cannot open: No such file or directory");
}

}  // namespace
}  // namespace freshfs::config
