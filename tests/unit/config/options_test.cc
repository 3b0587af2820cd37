#include "config/options.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace freshfs::config {
namespace {

using std::chrono::milliseconds;

std::string SetError(std::string_view name, std::string_view value) {
  Options options;
  auto error = SetOption(options, name, value);
  EXPECT_TRUE(error.has_value()) << name << "=" << value << " was accepted";
  return error.value_or("");
}

TEST(SetOption, Booleans) {
  Options o;
  for (const char* name : {"foreground", "read-only", "allow-other", "kernel-cache", "debug"}) {
    EXPECT_EQ(SetOption(o, name, "true"), std::nullopt) << name;
  }
  EXPECT_TRUE(o.foreground && o.read_only && o.allow_other && o.kernel_cache && o.debug);
  for (const char* value : {"false", "no", "off", "0", "FALSE"}) {
    o.read_only = true;
    EXPECT_EQ(SetOption(o, "read-only", value), std::nullopt);
    EXPECT_FALSE(o.read_only) << value;
  }
  for (const char* value : {"yes", "on", "1", "True"}) {
    o.read_only = false;
    EXPECT_EQ(SetOption(o, "read-only", value), std::nullopt);
    EXPECT_TRUE(o.read_only) << value;
  }
  EXPECT_EQ(SetError("read-only", "maybe"), "not a boolean (use true or false)");
}

TEST(SetOption, Ids) {
  Options o;
  EXPECT_EQ(SetOption(o, "uid", "1000"), std::nullopt);
  EXPECT_EQ(SetOption(o, "gid", "0"), std::nullopt);
  EXPECT_EQ(o.uid, uid_t{1000});
  EXPECT_EQ(o.gid, gid_t{0});
  EXPECT_EQ(SetOption(o, "uid", "4294967294"), std::nullopt);
  EXPECT_EQ(SetError("uid", "abc"), "not a number");
  EXPECT_EQ(SetError("uid", "10x"), "not a number");
  EXPECT_EQ(SetError("uid", "0x10"), "not a number");
  EXPECT_EQ(SetError("uid", "+5"), "not a number");
  EXPECT_EQ(SetError("gid", "-1"), "must not be negative");
  EXPECT_EQ(SetError("uid", "4294967295"), "must be at most 4294967294");
  EXPECT_EQ(SetError("uid", "99999999999999999999999"), "must be at most 4294967294");
}

TEST(SetOption, ReadyFd) {
  Options o;
  EXPECT_EQ(SetOption(o, "ready-fd", "3"), std::nullopt);
  EXPECT_EQ(o.ready_fd, 3);
  EXPECT_EQ(SetOption(o, "ready-fd", "2147483647"), std::nullopt);
  EXPECT_EQ(o.ready_fd, 2147483647);
  EXPECT_EQ(SetError("ready-fd", ""), "missing value");
  EXPECT_EQ(SetError("ready-fd", "3x"), "not a number");
  EXPECT_EQ(SetError("ready-fd", "-3"), "must not be negative");
  for (const char* standard : {"0", "1", "2"}) {
    EXPECT_EQ(SetError("ready-fd", standard),
              "must be 3 or more (0, 1 and 2 are stdin, stdout and stderr)");
  }
  EXPECT_EQ(SetError("ready-fd", "2147483648"), "must be at most 2147483647");
}

TEST(SetOption, Modes) {
  Options o;
  EXPECT_EQ(SetOption(o, "file-mode", "0644"), std::nullopt);
  EXPECT_EQ(o.file_mode, mode_t{0644});
  EXPECT_EQ(SetOption(o, "dir-mode", "755"), std::nullopt);  // octal, as chmod reads it
  EXPECT_EQ(o.dir_mode, mode_t{0755});
  EXPECT_EQ(SetOption(o, "dir-mode", "0o1777"), std::nullopt);
  EXPECT_EQ(o.dir_mode, mode_t{01777});
  EXPECT_EQ(SetOption(o, "file-mode", "07777"), std::nullopt);
  EXPECT_EQ(SetError("file-mode", "0999"), "not an octal mode (e.g. 0644)");
  EXPECT_EQ(SetError("file-mode", "rw-r--r--"), "not an octal mode (e.g. 0644)");
  EXPECT_EQ(SetError("file-mode", "010644"), "permission bits only, at most 07777");
}

TEST(SetOption, Timeouts) {
  Options o;
  EXPECT_EQ(SetOption(o, "entry-timeout", "5s"), std::nullopt);
  EXPECT_EQ(SetOption(o, "attr-timeout", "1m30s"), std::nullopt);
  EXPECT_EQ(SetOption(o, "negative-timeout", "24h"), std::nullopt);
  EXPECT_EQ(o.entry_timeout, milliseconds{5'000});
  EXPECT_EQ(o.attr_timeout, milliseconds{90'000});
  EXPECT_EQ(o.negative_timeout, std::chrono::hours{24});
  EXPECT_EQ(SetOption(o, "entry-timeout", "0"), std::nullopt);
  EXPECT_EQ(o.entry_timeout, milliseconds{0});
  EXPECT_EQ(SetError("entry-timeout", "24h1ms"), "must be at most 24h");
  EXPECT_EQ(SetError("attr-timeout", "5x"), "unknown unit \"x\" (use ms, s, m or h)");
  EXPECT_EQ(SetError("attr-timeout", "5"), "missing unit, e.g. 5s");
  EXPECT_EQ(SetError("attr-timeout", "-1s"), "must not be negative");
}

TEST(SetOption, MaxThreads) {
  Options o;
  EXPECT_EQ(SetOption(o, "max-threads", "1"), std::nullopt);
  EXPECT_EQ(o.max_threads, 1u);
  EXPECT_EQ(SetOption(o, "max-threads", "1024"), std::nullopt);
  EXPECT_EQ(o.max_threads, 1024u);
  EXPECT_EQ(SetError("max-threads", "0"), "must be between 1 and 1024");
  EXPECT_EQ(SetError("max-threads", "1025"), "must be between 1 and 1024");
  EXPECT_EQ(SetError("max-threads", "many"), "not a number");
}

TEST(SetOption, LogSettings) {
  Options o;
  EXPECT_EQ(SetOption(o, "log-format", "json"), std::nullopt);
  EXPECT_EQ(o.log_format, LogFormat::kJson);
  EXPECT_EQ(SetOption(o, "log-format", "text"), std::nullopt);
  EXPECT_EQ(o.log_format, LogFormat::kText);
  EXPECT_EQ(SetError("log-format", "xml"), "must be text or json");
  EXPECT_EQ(SetOption(o, "log-file", "/var/log/freshfs.log"), std::nullopt);
  EXPECT_EQ(o.log_file, "/var/log/freshfs.log");
  EXPECT_EQ(SetError("log-file", ""), "must not be empty");
}

TEST(SetOption, Source) {
  Options o;
  EXPECT_EQ(SetOption(o, "source", "file:///srv/data"), std::nullopt);
  EXPECT_EQ(o.source, "file:///srv/data");
  EXPECT_EQ(SetOption(o, "source", "s3://bucket/prefix"), std::nullopt);
  EXPECT_EQ(SetError("source", "s3://bucket/a/../b"),
            "prefix \"a/../b\" has an empty, \".\" or \"..\" component");
}

TEST(ParseS3Source, SplitsBucketAndPrefix) {
  std::string reason;
  auto s = ParseS3Source("s3://my-bucket", &reason);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->bucket, "my-bucket");
  EXPECT_EQ(s->prefix, "");
  s = ParseS3Source("S3://my.bucket/team/data/", &reason);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->bucket, "my.bucket");
  EXPECT_EQ(s->prefix, "team/data/");
  EXPECT_FALSE(ParseS3Source("/srv/data", &reason));
  EXPECT_EQ(reason, "");
  EXPECT_FALSE(ParseS3Source("s3://", &reason));
  EXPECT_NE(reason.find("must be 3 to 255"), std::string::npos);
  EXPECT_FALSE(ParseS3Source("s3://bad bucket", &reason));
  EXPECT_NE(reason.find("may only hold"), std::string::npos);
  EXPECT_FALSE(ParseS3Source("s3://bucket/a//b", &reason));
  EXPECT_FALSE(ParseS3Source("s3://bucket/./b", &reason));
}

TEST(SetOption, UnknownName) { EXPECT_EQ(SetError("entry-timout", "5s"), "unknown option"); }

TEST(Settings, EveryNameIsFindable) {
  for (const Setting& s : Settings()) EXPECT_EQ(FindSetting(s.name), &s) << s.name;
  EXPECT_EQ(FindSetting("config"), nullptr);
  EXPECT_EQ(FindSetting("help"), nullptr);
}

TEST(ClosestName, SuggestsTyposOnly) {
  const std::string_view names[] = {"entry-timeout", "attr-timeout", "uid", "gid", "debug"};
  EXPECT_EQ(ClosestName("entry-timout", names), "entry-timeout");
  EXPECT_EQ(ClosestName("etnry-timeout", names), "entry-timeout");  // swapped letters
  EXPECT_EQ(ClosestName("entry_timeout", names), "entry-timeout");
  EXPECT_EQ(ClosestName("Debug", names), "debug");
  EXPECT_EQ(ClosestName("uidd", names), "uid");
  EXPECT_EQ(ClosestName("frobnicate", names), "");
  EXPECT_EQ(ClosestName("x", names), "");
}

TEST(CheckSource, AcceptsDirectorySyntax) {
  EXPECT_EQ(CheckSource("/srv/data"), std::nullopt);
  EXPECT_EQ(CheckSource("relative/dir"), std::nullopt);
  EXPECT_EQ(CheckSource("file:///srv/data"), std::nullopt);
  EXPECT_EQ(CheckSource("file://localhost/srv/data"), std::nullopt);
  EXPECT_EQ(CheckSource("FILE:///srv"), std::nullopt);
}

TEST(CheckSource, RejectsOtherSchemes) {
  EXPECT_EQ(CheckSource("s3://bucket"), std::nullopt);
  EXPECT_EQ(CheckSource("S3://bucket/prefix"), std::nullopt);
  EXPECT_EQ(CheckSource("http://example.com/x"),
            "unsupported scheme \"http\" (use /path or file:///path)");
  EXPECT_EQ(CheckSource("gs://bucket"), "unsupported scheme \"gs\" (use /path or file:///path)");
  EXPECT_EQ(CheckSource(""), "must not be empty");
}

// Found by tests/fuzz/source_fuzz.cc: a NUL (possible in a volume
// attribute) was accepted, and the path opened would have ended before it.
TEST(CheckSource, RejectsNulBytes) {
  using namespace std::string_literals;
  EXPECT_EQ(CheckSource("/srv/data\0/../etc"s), "contains a NUL byte");
  EXPECT_EQ(DirSourcePath("/srv/data\0/../etc"s), "");
  EXPECT_EQ(CheckSource("s3://bucket/team\0x"s), "prefix \"team\\x00x\" contains a NUL byte");
}

// Found by tests/fuzz/option_value_fuzz.cc: the host went into the
// message raw, so a newline in it split the error (and a log line) in two.
TEST(CheckAddress, HostInTheMessageIsEscaped) {
  using namespace std::string_literals;
  EXPECT_EQ(CheckAddress("hos{.ex\0\nple.com:50"s),
            "host hos{.ex\\x00\\nple.com is not an IP address or a host name");
}

TEST(CheckSource, RejectsFileUrlsWithAHost) {
  EXPECT_EQ(CheckSource("file://server/srv"),
            "file:// URL with host \"server\" (only local paths: file:///path)");
  EXPECT_EQ(CheckSource("file://relative"),
            "file:// URL with host \"relative\" (only local paths: file:///path)");
}

TEST(DirSourcePath, AbsolutePaths) {
  EXPECT_EQ(DirSourcePath("/srv/data"), "/srv/data");
  EXPECT_EQ(DirSourcePath("/srv/data/"), "/srv/data");
  EXPECT_EQ(DirSourcePath("/srv//./data"), "/srv/data");
  EXPECT_EQ(DirSourcePath("/"), "/");
}

TEST(DirSourcePath, KeepsDotDotBecauseSymlinksAreNotResolved) {
  EXPECT_EQ(DirSourcePath("/srv/link/../data"), "/srv/link/../data");
}

TEST(DirSourcePath, FileUrls) {
  EXPECT_EQ(DirSourcePath("file:///srv/data"), "/srv/data");
  EXPECT_EQ(DirSourcePath("file://localhost/srv/data"), "/srv/data");
  EXPECT_EQ(DirSourcePath("file:///srv/my%20data"), "/srv/my data");
  EXPECT_EQ(DirSourcePath("file:///srv/100%"), "/srv/100%");
}

TEST(DirSourcePath, RelativePathsAreMadeAbsolute) {
  const std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(DirSourcePath("data/sub"), (cwd == "/" ? "" : cwd) + "/data/sub");
  EXPECT_EQ(DirSourcePath("./data"), (cwd == "/" ? "" : cwd) + "/data");
}

TEST(DirSourcePath, EmptyForNonDirectorySources) {
  EXPECT_EQ(DirSourcePath("s3://bucket"), "");
  EXPECT_EQ(DirSourcePath("http://x/y"), "");
  EXPECT_EQ(DirSourcePath("file://host/x"), "");
  EXPECT_EQ(DirSourcePath(""), "");
}

}  // namespace
}  // namespace freshfs::config
