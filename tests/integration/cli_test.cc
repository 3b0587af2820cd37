// The freshfs-mount command line as a user meets it: --version/--help,
// background (daemon) mode, signals, and every kind of bad input failing with
// one clear line and leaving no mount and no process behind.
#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/fs_util.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool ContainsIgnoringCase(const std::string& haystack, const std::string& needle) {
  return Lower(haystack).find(Lower(needle)) != std::string::npos;
}

// True if `text` says "line N" or ":N" (as in file:N:), N not followed by a digit.
bool GivesLineNumber(const std::string& text, int n) {
  const std::string lower = Lower(text);
  const std::string num = std::to_string(n);
  for (const std::string& prefix : {"line " + num, "line: " + num, ":" + num}) {
    for (size_t pos = lower.find(prefix); pos != std::string::npos;
         pos = lower.find(prefix, pos + 1)) {
      size_t after = pos + prefix.size();
      if (after == lower.size() || !std::isdigit(static_cast<unsigned char>(lower[after]))) {
        return true;
      }
    }
  }
  return false;
}

// The daemon serving `mnt`, found by its unique mountpoint path in /proc.
pid_t DaemonServing(const std::string& mnt) {
  auto pids = ProcessesMentioning(mnt);
  return pids.size() == 1 ? pids[0] : -1;
}

// Runs freshfs-mount in its default (background) mode.
ProcessResult RunMount(const std::vector<std::string>& args) {
  std::vector<std::string> argv{MountBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunToCompletion(argv, 20s);
}

// A failed invocation: non-zero exit, exactly one stderr line that starts with
// "freshfs-mount: " and names what was wrong, no mount, no process left.
void ExpectCleanFailure(const ProcessResult& r, const Mount& m,
                        const std::vector<std::string>& any_of,
                        const std::vector<std::string>& all_of = {}) {
  EXPECT_FALSE(r.timed_out) << r.Describe();
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  auto lines = r.StderrLines();
  ASSERT_EQ(lines.size(), 1u) << "want exactly one stderr line\n" << r.Describe();
  const std::string& line = lines[0];
  EXPECT_EQ(line.rfind("freshfs-mount: ", 0), 0u) << line;
  if (!any_of.empty()) {
    bool found = std::any_of(any_of.begin(), any_of.end(),
                             [&](const std::string& n) { return ContainsIgnoringCase(line, n); });
    EXPECT_TRUE(found) << "message does not name the problem (" << any_of[0] << "): " << line;
  }
  for (const auto& n : all_of) {
    EXPECT_TRUE(ContainsIgnoringCase(line, n)) << "message lacks \"" << n << "\": " << line;
  }
  EXPECT_FALSE(IsFuseMountpoint(m.mnt())) << "a failed invocation left a mount";
  usleep(100 * 1000);  // a wrongly forked daemon would show up by now
  EXPECT_TRUE(ProcessesMentioning(m.dir()).empty()) << "a failed invocation left a process";
}

TEST(CliTest, VersionExitsZero) {
  auto r = RunMount({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(r.stdout_text.empty()) << r.Describe();
  EXPECT_NE(r.stdout_text.find_first_of("0123456789"), std::string::npos) << r.Describe();
}

TEST(CliTest, HelpExitsZeroAndDescribesOptions) {
  auto r = RunMount({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  for (const char* opt :
       {"--read-only", "--foreground", "--config", "--entry-timeout", "--file-mode", "--uid"}) {
    EXPECT_NE(r.stdout_text.find(opt), std::string::npos) << opt << " missing\n" << r.Describe();
  }
  EXPECT_TRUE(ContainsIgnoringCase(r.stdout_text, "mountpoint")) << r.Describe();
}

TEST(CliTest, BackgroundModeReturnsWithMountReady) {
  Mount m;  // not started: we only use its directories
  ASSERT_EQ(WriteFile(m.Src("hello"), "world"), 0);
  auto r = RunMount({m.source(), m.mnt()});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  // Ready when the command returns: no waiting allowed here.
  EXPECT_TRUE(IsFuseMountpoint(m.mnt())) << "exit 0 before the mount was ready";
  EXPECT_EQ(ReadFile(m.Mnt("hello")), "world");

  const pid_t daemon = DaemonServing(m.mnt());
  ASSERT_GT(daemon, 0) << "no single daemon process found for " << m.mnt();
  EXPECT_TRUE(ProcessAlive(daemon));

  auto u = RunToCompletion({"fusermount3", "-u", m.mnt()});
  EXPECT_EQ(u.exit_code, 0) << u.Describe();
  // We are a subreaper, so the orphaned daemon is our child now.
  auto code = WaitForChild(daemon, 10s);
  ASSERT_TRUE(code.has_value()) << "daemon still running after unmount";
  EXPECT_EQ(*code, 0) << "daemon exit status after unmount";
  EXPECT_FALSE(IsFuseMountpoint(m.mnt()));
}

TEST(CliTest, BackgroundDaemonStopsOnSigterm) {
  Mount m;
  auto r = RunMount({m.source(), m.mnt()});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  const pid_t daemon = DaemonServing(m.mnt());
  ASSERT_GT(daemon, 0);
  ASSERT_EQ(kill(daemon, SIGTERM), 0);
  auto code = WaitForChild(daemon, 10s);
  ASSERT_TRUE(code.has_value()) << "daemon ignored SIGTERM";
  EXPECT_EQ(*code, 0);
  EXPECT_FALSE(IsFuseMountpoint(m.mnt())) << "SIGTERM did not unmount";
}

class ForegroundSignalTest : public ::testing::TestWithParam<int> {};

TEST_P(ForegroundSignalTest, UnmountsAndExitsZero) {
  Mount m;
  ASSERT_TRUE(m.Start());
  auto code = m.SignalAndWait(GetParam(), 10s);
  ASSERT_TRUE(code.has_value()) << "still running 10 s after " << strsignal(GetParam());
  EXPECT_EQ(*code, 0) << m.Log();
  EXPECT_FALSE(IsFuseMountpoint(m.mnt())) << "signal did not unmount";
}

// An unmount and a SIGTERM at the same moment (a pod torn down while its
// mount is unmounted): the loop's end and the signal thread both stop the
// volume; neither may hang, crash or join a thread twice.
TEST(UnmountRacingSignal, ExitsZeroEveryTime) {
  for (int round = 0; round < 8; ++round) {
    Mount m;
    ASSERT_TRUE(m.Start({"--poll-interval", "1s"}));
    if (round % 2 == 0) {
      ASSERT_TRUE(Unmount(m.mnt()));
      kill(m.pid(), SIGTERM);
    } else {
      kill(m.pid(), SIGTERM);
      Unmount(m.mnt());
    }
    auto code = m.SignalAndWait(SIGTERM, 10s);
    ASSERT_TRUE(code.has_value()) << "round " << round << ": hung\n" << m.Log();
    EXPECT_EQ(*code, 0) << "round " << round << "\n" << m.Log();
  }
}

INSTANTIATE_TEST_SUITE_P(Signals, ForegroundSignalTest, ::testing::Values(SIGTERM, SIGINT),
                         [](const auto& info) {
                           return std::string(info.param == SIGTERM ? "SIGTERM" : "SIGINT");
                         });

// A pod being torn down: the application still holds a file open.
TEST(CliTest, SigtermWithOpenFileStillUnmounts) {
  Mount m;
  ASSERT_EQ(WriteFile(m.Src("busy"), "b"), 0);
  ASSERT_TRUE(m.Start());
  int fd = open(m.Mnt("busy").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto code = m.SignalAndWait(SIGTERM, 10s);
  close(fd);
  ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGTERM with a file open";
  EXPECT_EQ(*code, 0) << m.Log();
  EXPECT_FALSE(IsFuseMountpoint(m.mnt()));
}

TEST(CliTest, AlreadyMountedMountpointIsAnError) {
  Mount m;
  ASSERT_EQ(WriteFile(m.Src("f"), "first"), 0);
  ASSERT_TRUE(m.Start());
  auto r = RunMount({m.source(), m.mnt()});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  auto lines = r.StderrLines();
  ASSERT_EQ(lines.size(), 1u) << r.Describe();
  EXPECT_EQ(lines[0].rfind("freshfs-mount: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(m.mnt()), std::string::npos) << lines[0];
  EXPECT_EQ(ProcessesMentioning(m.mnt()), std::vector<pid_t>{m.pid()}) << "a second daemon runs";
  EXPECT_EQ(ReadFile(m.Mnt("f")), "first") << "the first mount was disturbed";
  auto code = m.UnmountAndWait();
  EXPECT_EQ(code, std::optional<int>(0));
  EXPECT_FALSE(IsFuseMountpoint(m.mnt())) << "two mounts were stacked on the mountpoint";
}

// ---------------------------------------------------------------- bad input

struct BadInput {
  std::string name;
  // Builds the arguments from the (unstarted) mount's directories; may create
  // files such as a config file.
  std::function<std::vector<std::string>(const Mount&)> args;
  std::vector<std::string> any_of;  // the message names at least one of these
  std::vector<std::string> all_of;  // ... and all of these
  int line = 0;                     // ... and gives this line number ("line N" or ":N")
};

void PrintTo(const BadInput& b, std::ostream* os) { *os << b.name; }

std::vector<std::string> WithPaths(const Mount& m, std::vector<std::string> flags) {
  flags.push_back(m.source());
  flags.push_back(m.mnt());
  return flags;
}

std::vector<std::string> WithConfig(const Mount& m, const std::string& yaml) {
  const std::string path = m.dir() + "/config.yaml";
  WriteFile(path, yaml);
  return WithPaths(m, {"--config", path});
}

std::vector<BadInput> BadInputs() {
  return {
      {"MissingSource",
       [](const Mount& m) {
         return std::vector<std::string>{m.dir() + "/no-such-src", m.mnt()};
       },
       {"no-such-src"}},
      {"SourceIsAFile",
       [](const Mount& m) {
         WriteFile(m.dir() + "/a-regular-file", "");
         return std::vector<std::string>{m.dir() + "/a-regular-file", m.mnt()};
       },
       {"a-regular-file"}},
      {"MissingFileUrlSource",
       [](const Mount& m) {
         return std::vector<std::string>{"file://" + m.dir() + "/nowhere", m.mnt()};
       },
       {"nowhere"}},
      {"MissingMountpoint",
       [](const Mount& m) {
         return std::vector<std::string>{m.source(), m.dir() + "/no-mnt"};
       },
       {"no-mnt"}},
      {"MissingMountpointArgument",
       [](const Mount& m) { return std::vector<std::string>{m.source()}; },
       {"mountpoint"}},
      {"UnknownFlag",
       [](const Mount& m) { return WithPaths(m, {"--no-such-flag"}); },
       {"no-such-flag"}},
      {"UnknownDashOOption",
       [](const Mount& m) {
         return WithPaths(m, {"-o", "bogusopt"});
       },
       {"bogusopt"}},
      {"NonNumericUid",
       [](const Mount& m) {
         return WithPaths(m, {"--uid", "alice"});
       },
       {"uid", "alice"}},
      {"NegativeGid", [](const Mount& m) { return WithPaths(m, {"--gid=-5"}); }, {"gid", "-5"}},
      {"FileModeNotOctal",
       [](const Mount& m) {
         return WithPaths(m, {"--file-mode", "0999"});
       },
       {"file-mode", "0999"}},
      {"DirModeTooLarge",
       [](const Mount& m) {
         return WithPaths(m, {"--dir-mode", "177777"});
       },
       {"dir-mode", "177777"}},
      {"BadDurationUnit",
       [](const Mount& m) {
         return WithPaths(m, {"--entry-timeout", "5parsecs"});
       },
       {"entry-timeout", "5parsecs"}},
      {"BadDurationNumber",
       [](const Mount& m) {
         return WithPaths(m, {"--attr-timeout", "soon"});
       },
       {"attr-timeout", "soon"}},
      {"BadLogFormat",
       [](const Mount& m) {
         return WithPaths(m, {"--log-format", "xml"});
       },
       {"log-format", "xml"}},
      {"MissingConfigFile",
       [](const Mount& m) {
         return WithPaths(m, {"--config", m.dir() + "/absent.yaml"});
       },
       {"absent.yaml"}},
      {"UnknownYamlKey",
       [](const Mount& m) {
         return WithConfig(m, "entry-timeout: 5s\n# a comment\nbogus-key: 1\n");
       },
       {},
       {"bogus-key"},
       3},
      {"BadYamlDuration",
       [](const Mount& m) { return WithConfig(m, "attr-timeout: forever\n"); },
       {"attr-timeout", "forever"}},
      {"BadYamlMode",
       [](const Mount& m) { return WithConfig(m, "dir-mode: 0abc\n"); },
       {"dir-mode", "0abc"}},
      {"MalformedYaml",
       [](const Mount& m) { return WithConfig(m, "entry-timeout: [5s\nread-only: true\n"); },
       {"config.yaml", "line"}},
  };
}

class BadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputTest, FailsWithOneLineAndLeavesNothingBehind) {
  Mount m;  // directories only, never started
  const auto args = GetParam().args(m);
  SCOPED_TRACE(::testing::PrintToString(args));
  const auto r = RunMount(args);
  ExpectCleanFailure(r, m, GetParam().any_of, GetParam().all_of);
  if (GetParam().line != 0) {
    EXPECT_TRUE(GivesLineNumber(r.stderr_text, GetParam().line))
        << "message does not give line " << GetParam().line << ": " << r.stderr_text;
  }
}

INSTANTIATE_TEST_SUITE_P(Cli, BadInputTest, ::testing::ValuesIn(BadInputs()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace freshfs::testing
