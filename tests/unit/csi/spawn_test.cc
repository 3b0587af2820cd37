// Spawn and AwaitReady with real processes: fds land at their numbers, the
// user and capabilities are what the plan says, a failing step is named.
#include "csi/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/temp_dir.h"

namespace freshfs::csi {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Field(const std::string& status, const std::string& name) {
  size_t at = status.find("\n" + name + ":\t");
  if (at == std::string::npos) return "";
  at += name.size() + 3;
  return status.substr(at, status.find('\n', at) - at);
}

class SpawnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::permissions(dir_, fs::perms::all);  // nobody writes its report here
  }

  int WaitExit(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  testing::TempDir tmp_{"spawn"};
  fs::path dir_;
};

TEST_F(SpawnTest, FdsUserAndCapabilitiesAsPlanned) {
  const fs::path given = dir_ / "given.txt";
  std::ofstream(given) << "passed";
  UniqueFd file(::open(given.c_str(), O_RDONLY | O_CLOEXEC));
  // Not in the plan: must not leak (a high number, which `ls` below cannot
  // get for its own directory fd).
  UniqueFd opened(::open(given.c_str(), O_RDONLY));
  UniqueFd stray(::fcntl(opened.get(), F_DUPFD, 100));
  SpawnPlan plan;
  plan.argv = {"/bin/sh", "-c",
               "cat <&5 > " + (dir_ / "fd5").string() + "; cat /proc/self/status > " +
                   (dir_ / "status").string() + "; ls /proc/self/fd > " + (dir_ / "fds").string()};
  plan.fds = {{file.get(), 5}};
  plan.user = std::make_pair(uid_t(65534), gid_t(65534));
  auto pid = Spawn(plan);
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(WaitExit(*pid), 0);
  EXPECT_EQ(Slurp(dir_ / "fd5"), "passed");
  const std::string status = Slurp(dir_ / "status");
  EXPECT_EQ(Field(status, "Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(Field(status, "Groups").find_first_not_of(" "), std::string::npos);
  EXPECT_EQ(Field(status, "CapEff"), "0000000000000000");
  EXPECT_EQ(Field(status, "CapBnd"), "0000000000000000");
  EXPECT_EQ(Field(status, "NoNewPrivs"), "1");
  // 0, 1, 2, 5 and the fd ls itself opened: nothing of ours.
  std::istringstream fds(Slurp(dir_ / "fds"));
  std::vector<int> open;
  for (int fd; fds >> fd;) open.push_back(fd);
  EXPECT_EQ(std::count(open.begin(), open.end(), stray.get()), 0) << Slurp(dir_ / "fds");
  EXPECT_EQ(std::count(open.begin(), open.end(), 5), 1) << Slurp(dir_ / "fds");
}

TEST_F(SpawnTest, RootKeepsOnlyTheListedCapabilities) {
  SpawnPlan plan;
  plan.argv = {"/bin/sh", "-c", "cat /proc/self/status > " + (dir_ / "status").string()};
  plan.keep_caps = {0, 1};  // CAP_CHOWN, CAP_DAC_OVERRIDE
  auto pid = Spawn(plan);
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(WaitExit(*pid), 0);
  const std::string status = Slurp(dir_ / "status");
  EXPECT_EQ(Field(status, "CapEff"), "0000000000000003");
  EXPECT_EQ(Field(status, "CapBnd"), "0000000000000003");
}

TEST_F(SpawnTest, AFailingStepIsNamed) {
  SpawnPlan plan;
  plan.argv = {(dir_ / "no-such-program").string()};
  auto pid = Spawn(plan);
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().message, "exec failed: No such file or directory");

  UniqueFd read_only(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  plan.argv = {"/bin/true"};
  plan.cgroup_procs_fd = read_only.get();
  pid = Spawn(plan);
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().message, "moving into the volume's cgroup failed: Bad file descriptor");
}

TEST_F(SpawnTest, AwaitReadyReadsTheReport) {
  auto report = [](const std::string& text, bool close_it) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    EXPECT_EQ(::write(fds[1], text.data(), text.size()), ssize_t(text.size()));
    if (close_it) ::close(fds[1]);
    auto port = AwaitReady(fds[0], 300ms);
    ::close(fds[0]);
    if (!close_it) ::close(fds[1]);
    return port;
  };
  auto ready = report("READY 4321\n", false);
  ASSERT_TRUE(ready);
  EXPECT_EQ(*ready, 4321);
  auto error = report("ERROR source \"/x\": No such file or directory\n", true);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().message, "source \"/x\": No such file or directory");
  auto silent = report("", true);
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error().message, "freshfs-mount exited without a word");
  auto late = report("", false);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kUnavailable);
}

TEST(ProcessStartTimeTest, NamesOneProcess) {
  EXPECT_GT(ProcessStartTime(::getpid()), 0u);
  EXPECT_EQ(ProcessStartTime(::getpid()), ProcessStartTime(::getpid()));
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  EXPECT_EQ(ProcessStartTime(child), 0u);  // gone
}

}  // namespace
}  // namespace freshfs::csi
