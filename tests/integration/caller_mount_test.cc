// freshfs-mount SOURCE /dev/fd/N: the caller (a CSI node plugin, a systemd
// unit, any supervisor) opens /dev/fuse, mounts with mount(2) and fd=N, and
// lets freshfs-mount inherit the descriptor. freshfs-mount then needs no
// privilege to mount, and neither mounts nor unmounts. The caller may hand
// over the source directory as a descriptor too (/dev/fd/M), and learns the
// start-up outcome on --ready-fd; freshfs-mount then runs without privileges.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"
#include "support/process.h"
#include "support/supervisor.h"
#include "util/unique_fd.h"

namespace freshfs::testing {
namespace {

using namespace std::chrono_literals;

int PortOf(const std::string& ready_line) { return std::atoi(ready_line.c_str() + 6); }

TEST(CallerMountTest, ServesAConnectionTheCallerMountedAndLeavesTheUnmountToIt) {
  Mount dirs;  // the layout only: this test mounts by itself
  ASSERT_EQ(WriteFile(dirs.Src("f"), "one"), 0);
  Supervisor supervisor(dirs);
  ASSERT_TRUE(supervisor.Start({MountBinary(), "-f", "--events", "inotify", dirs.source()}));
  auto served = WaitFor([&] { return ReadFile(dirs.Mnt("f")) == "one"; }, 10s);
  ASSERT_TRUE(served) << supervisor.Log();
  // Freshness works as on a mount of its own.
  ASSERT_EQ(WriteFile(dirs.Src("f"), "two"), 0);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(dirs.Mnt("f")) == "two"; }, 2s)) << supervisor.Log();
  // The caller unmounts; the daemon sees the connection end and exits cleanly.
  EXPECT_TRUE(supervisor.UnmountAndSeeTheDaemonExit());
}

TEST(CallerMountTest, ADescriptorThatIsNotAFuseConnectionIsRefusedWithTheReason) {
  Mount dirs;
  // Descriptor 0 is /dev/null in the child; 77 is not open.
  ProcessResult not_fuse = RunToCompletion({MountBinary(), dirs.source(), "/dev/fd/0"});
  EXPECT_EQ(not_fuse.exit_code, 1) << not_fuse.Describe();
  EXPECT_NE(not_fuse.stderr_text.find("descriptor 0 is not /dev/fuse"), std::string::npos)
      << not_fuse.Describe();
  ProcessResult closed = RunToCompletion({MountBinary(), dirs.source(), "/dev/fd/77"});
  EXPECT_EQ(closed.exit_code, 1) << closed.Describe();
  EXPECT_NE(closed.stderr_text.find("descriptor 77 is not open"), std::string::npos)
      << closed.Describe();
}

TEST(CallerMountTest, ReadyFdSaysReadyWithThePortTheMetricsEndpointListensOn) {
  Mount dirs;
  ASSERT_EQ(WriteFile(dirs.Src("f"), "one"), 0);
  Supervisor supervisor(dirs);
  ASSERT_TRUE(
      supervisor.Start({MountBinary(), "-f", "--metrics-address", "127.0.0.1:0", "--volume-name",
                        "ready-check", "--ready-fd", supervisor.ReadyFd(), dirs.source()}));
  // One line, then the descriptor is closed (the daemon runs on).
  const std::string line = supervisor.ReadyReport();
  ASSERT_TRUE(line.starts_with("READY ") && line.ends_with("\n") &&
              line.find('\n') == line.size() - 1)
      << "\"" << line << "\"\n"
      << supervisor.Log();
  const int port = PortOf(line);
  ASSERT_GT(port, 0) << line;
  EXPECT_TRUE(ProcessAlive(supervisor.pid()));
  auto metrics = ScrapeMetrics(port);
  ASSERT_TRUE(metrics) << "no metrics at the reported port " << port;
  EXPECT_NE(metrics->find("volume=\"ready-check\""), std::string::npos) << *metrics;
  // Ready means served: no waiting for the mount.
  EXPECT_EQ(ReadFile(dirs.Mnt("f")), "one");
  EXPECT_TRUE(supervisor.UnmountAndSeeTheDaemonExit());
}

// Without -f the process the caller started writes the line, just before it
// returns; the daemon keeps no copy of the descriptor.
TEST(CallerMountTest, ReadyFdInBackgroundModeIsReportedByTheProcessThatReturns) {
  Mount dirs;
  ASSERT_EQ(WriteFile(dirs.Src("f"), "one"), 0);
  Supervisor supervisor(dirs);
  ProcessResult started = supervisor.Run({MountBinary(), "--log-file", dirs.dir() + "/daemon.log",
                                          "--ready-fd", supervisor.ReadyFd(), dirs.source()});
  std::vector<pid_t> daemons = ProcessesMentioning(dirs.source());
  if (daemons.size() == 1) supervisor.Adopt(daemons.front());
  ASSERT_EQ(started.exit_code, 0) << started.Describe();
  ASSERT_EQ(daemons.size(), 1u);
  EXPECT_EQ(supervisor.ReadyReport(), "READY 0\n");
  EXPECT_EQ(ReadFile(dirs.Mnt("f")), "one");
  EXPECT_TRUE(supervisor.UnmountAndSeeTheDaemonExit());
}

TEST(CallerMountTest, ReadyFdSaysErrorWithTheReasonOfAFailedStart) {
  Mount dirs;
  const std::string missing = dirs.dir() + "/no-such-source";
  // A port in use: found only once the daemon runs (in background mode,
  // after the fork: the daemon tells the process that reports).
  UniqueFd busy(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(bind(busy.get(), reinterpret_cast<sockaddr*>(&address), length), 0) << ErrnoName(errno);
  ASSERT_EQ(listen(busy.get(), 1), 0);
  ASSERT_EQ(getsockname(busy.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string in_use = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  struct Case {
    std::vector<std::string> args;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {{"-f", missing}, "source \"" + missing + "\": No such file or directory"},
      {{missing}, "source \"" + missing + "\": No such file or directory"},
      {{"-f", "--metrics-address", in_use, dirs.source()},
       "--metrics-address \"" + in_use + "\": cannot listen: Address already in use"},
      {{"--metrics-address", in_use, dirs.source()},
       "--metrics-address \"" + in_use + "\": cannot listen: Address already in use"},
  };
  for (const Case& c : cases) {
    Supervisor supervisor(dirs);
    std::vector<std::string> argv = {MountBinary(), "--ready-fd", supervisor.ReadyFd()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    ProcessResult run = supervisor.Run(argv);
    EXPECT_EQ(run.exit_code, 1) << run.Describe();
    EXPECT_EQ(run.stderr_text, "freshfs-mount: " + c.reason + "\n") << run.Describe();
    EXPECT_EQ(supervisor.ReadyReport(), "ERROR " + c.reason + "\n") << run.Describe();
  }
  // A descriptor that is not open cannot be reported on: stderr says so.
  Supervisor supervisor(dirs);
  ProcessResult closed = supervisor.Run({MountBinary(), "-f", "--ready-fd", "77", dirs.source()});
  EXPECT_EQ(closed.exit_code, 1) << closed.Describe();
  EXPECT_NE(closed.stderr_text.find("--ready-fd 77: descriptor 77 is not open"), std::string::npos)
      << closed.Describe();
}

// The source handed over as an open directory: freshfs-mount serves that very
// directory and never looks its path up again, so renaming it away and
// putting a symlink to another directory at its path changes nothing, and
// changes made to it under its new name still reach the mount.
TEST(CallerMountTest, ADirectoryHandedOverAsADescriptorIsServedWhateverItsPathBecomes) {
  Mount dirs;
  ASSERT_EQ(WriteFile(dirs.Src("f"), "one"), 0);
  const std::string other = dirs.dir() + "/other";
  ASSERT_EQ(mkdir(other.c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(other + "/decoy", "decoy"), 0);
  UniqueFd source(OpenDirBeneath(dirs.dir(), "source"));
  ASSERT_TRUE(source.valid()) << ErrnoName(errno);
  const std::string source_arg = "/dev/fd/" + std::to_string(source.get());
  Supervisor supervisor(dirs);
  ASSERT_TRUE(supervisor.Start({MountBinary(), "-f", "--events", "inotify", "--poll-interval", "1s",
                                "--ready-fd", supervisor.ReadyFd(), source_arg}));
  source.reset();  // the daemon holds its own
  ASSERT_EQ(supervisor.ReadyReport(), "READY 0\n") << supervisor.Log();
  EXPECT_NE(supervisor.Log().find("dir:" + source_arg + " (" + dirs.source() + ")"),
            std::string::npos)
      << "the log does not name the directory\n"
      << supervisor.Log();
  ASSERT_EQ(ReadFile(dirs.Mnt("f")), "one");

  const std::string moved = dirs.dir() + "/source-moved";
  ASSERT_EQ(rename(dirs.source().c_str(), moved.c_str()), 0) << ErrnoName(errno);
  ASSERT_EQ(symlink(other.c_str(), dirs.source().c_str()), 0) << ErrnoName(errno);
  // Changes to it under its new name arrive at once (well before the next
  // poll): inotify watches the directory itself.
  ASSERT_EQ(WriteFile(moved + "/f", "two"), 0);
  ASSERT_EQ(WriteFile(moved + "/g", "new"), 0);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(dirs.Mnt("f")) == "two"; }, 500ms)) << supervisor.Log();
  EXPECT_TRUE(WaitFor([&] { return ReadFile(dirs.Mnt("g")) == "new"; }, 500ms)) << supervisor.Log();
  // Writes through the mount land in it, not behind the symlink.
  ASSERT_EQ(WriteFile(dirs.Mnt("h"), "via mount"), 0);
  EXPECT_EQ(ReadFile(moved + "/h"), "via mount");
  EXPECT_FALSE(Stat(other + "/h"));
  // Polls later (every second), the mount still shows the original
  // directory; no sync found its source "replaced" or "gone".
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(SortedNames(ListDir(dirs.mnt())), (std::vector<std::string>{"f", "g", "h"}));
  EXPECT_FALSE(Stat(dirs.Mnt("decoy")));
  EXPECT_EQ(supervisor.Log().find("sync of the source failed"), std::string::npos)
      << supervisor.Log();
  EXPECT_TRUE(supervisor.UnmountAndSeeTheDaemonExit());
}

TEST(CallerMountTest, ASourceDescriptorThatIsNotAnOpenDirectoryIsRefused) {
  Mount dirs;
  // Descriptor 0 is /dev/null in the child; 78 is not open.
  for (const auto& [source, reason] :
       {std::pair{"/dev/fd/0", "source \"/dev/fd/0\": descriptor 0 is not a directory"},
        std::pair{"/dev/fd/78", "source \"/dev/fd/78\": descriptor 78 is not open"}}) {
    Supervisor supervisor(dirs);
    ProcessResult run = supervisor.Run({MountBinary(), "-f", source});
    EXPECT_EQ(run.exit_code, 1) << run.Describe();
    EXPECT_NE(run.stderr_text.find(reason), std::string::npos) << run.Describe();
  }
}

// Fields of /proc/PID/status: "Uid" -> "65534\t65534\t65534\t65534".
std::map<std::string, std::string> ProcessStatus(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  std::map<std::string, std::string> fields;
  for (std::string row; std::getline(file, row);) {
    const size_t colon = row.find(':');
    if (colon == std::string::npos) continue;
    std::string value = row.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    fields[row.substr(0, colon)] = value;
  }
  return fields;
}

// What the CSI node plugin does: everything privileged (mount(2), opening the
// source) in the caller, freshfs-mount started as nobody (65534) with no
// capabilities at all. The source's path is not even reachable for nobody
// (the test directories are 0700 root): it is served through the descriptor.
TEST(CallerMountTest, RunsAsNobodyWithoutCapabilitiesOnACallerMadeMount) {
  Mount dirs;
  ASSERT_EQ(WriteFile(dirs.Src("f"), "one"), 0);
  ASSERT_EQ(chown(dirs.source().c_str(), 65534, 65534), 0) << ErrnoName(errno);
  UniqueFd source(OpenDirBeneath(dirs.dir(), "source"));
  ASSERT_TRUE(source.valid()) << ErrnoName(errno);
  Supervisor supervisor(dirs);
  ASSERT_TRUE(
      supervisor.Start({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", "--", MountBinary(), "-f",
                        "--events", "inotify", "--metrics-address", "127.0.0.1:0", "--ready-fd",
                        supervisor.ReadyFd(), "/dev/fd/" + std::to_string(source.get())}));
  source.reset();
  const std::string line = supervisor.ReadyReport();
  ASSERT_TRUE(line.starts_with("READY ")) << "\"" << line << "\"\n" << supervisor.Log();
  EXPECT_TRUE(ScrapeMetrics(PortOf(line))) << line;

  // Who it runs as, in the kernel's words.
  std::map<std::string, std::string> status = ProcessStatus(supervisor.pid());
  EXPECT_EQ(status["Uid"], "65534\t65534\t65534\t65534");
  EXPECT_EQ(status["Gid"], "65534\t65534\t65534\t65534");
  EXPECT_EQ(status["Groups"], "");
  EXPECT_EQ(status["CapEff"], "0000000000000000");
  EXPECT_EQ(status["CapPrm"], "0000000000000000");

  EXPECT_EQ(ReadFile(dirs.Mnt("f")), "one");
  ASSERT_EQ(WriteFile(dirs.Src("f"), "two"), 0);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(dirs.Mnt("f")) == "two"; }, 2s)) << supervisor.Log();
  ASSERT_EQ(WriteFile(dirs.Mnt("created"), "by nobody"), 0) << supervisor.Log();
  auto created = Stat(dirs.Src("created"));
  ASSERT_TRUE(created);
  EXPECT_EQ(created->st_uid, 65534u);
  EXPECT_TRUE(supervisor.UnmountAndSeeTheDaemonExit());
}

}  // namespace
}  // namespace freshfs::testing
