// freshfs-mount SOURCE /dev/fd/N: the caller (a CSI node plugin, a systemd
// unit, any supervisor) opens /dev/fuse, mounts with mount(2) and fd=N, and
// lets freshfs-mount inherit the descriptor. freshfs-mount then needs no
// privilege to mount, and neither mounts nor unmounts.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"
#include "support/process.h"

namespace freshfs::testing {
namespace {

using namespace std::chrono_literals;

// What the caller does: a mount of the target by its own /dev/fuse
// descriptor, inheritable by the daemon it starts. Detached in teardown
// whatever happened; the descriptor closed.
class CallerMount {
 public:
  explicit CallerMount(const std::string& target) : target_(target) {
    fd_ = ::open("/dev/fuse", O_RDWR);  // no O_CLOEXEC: the daemon inherits it
    if (fd_ < 0) return;
    const std::string options = "fd=" + std::to_string(fd_) +
                                ",rootmode=40000,user_id=0,group_id=0,"
                                "default_permissions,allow_other";
    mounted_ = ::mount("freshfs-caller", target.c_str(), "fuse.freshfs", MS_NOSUID | MS_NODEV,
                       options.c_str()) == 0;
  }
  ~CallerMount() {
    if (mounted_) ::umount2(target_.c_str(), MNT_DETACH);
    if (fd_ >= 0) ::close(fd_);
  }
  bool mounted() const { return mounted_; }
  std::string DevFd() const { return "/dev/fd/" + std::to_string(fd_); }
  // Unmounts as a supervisor does when the volume goes.
  bool Unmount() {
    if (::umount2(target_.c_str(), 0) != 0) return false;
    mounted_ = false;
    return true;
  }

 private:
  std::string target_;
  int fd_ = -1;
  bool mounted_ = false;
};

TEST(CallerMountTest, ServesAConnectionTheCallerMountedAndLeavesTheUnmountToIt) {
  Mount dirs;  // the layout only: this test mounts by itself
  ASSERT_EQ(WriteFile(dirs.Src("f"), "one"), 0);
  CallerMount caller(dirs.mnt());
  ASSERT_TRUE(caller.mounted()) << "mount(2) of fuse with fd=: " << ErrnoName(errno);
  const std::string log = dirs.dir() + "/caller-daemon.log";
  pid_t daemon = SpawnWithLog({MountBinary(), "-f", "--events", "inotify", dirs.source(),
                               caller.DevFd()},
                              log);
  ASSERT_GT(daemon, 0);
  auto served = WaitFor([&] { return ReadFile(dirs.Mnt("f")) == "one"; }, 10s);
  ASSERT_TRUE(served) << ReadFileOrEmpty(log);
  // Freshness works as on a mount of its own.
  ASSERT_EQ(WriteFile(dirs.Src("f"), "two"), 0);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(dirs.Mnt("f")) == "two"; }, 2s))
      << ReadFileOrEmpty(log);
  // The caller unmounts; the daemon sees the connection end and exits cleanly.
  ASSERT_TRUE(caller.Unmount()) << ErrnoName(errno);
  auto status = WaitForChild(daemon, 10s);
  if (!status) StopProcess(daemon);
  ASSERT_TRUE(status) << "the daemon did not exit after the unmount\n" << ReadFileOrEmpty(log);
  EXPECT_EQ(*status, 0) << ReadFileOrEmpty(log);
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

}  // namespace
}  // namespace freshfs::testing
