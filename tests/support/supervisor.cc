#include "support/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>

#include "support/fs_util.h"

namespace freshfs::testing {

CallerMount::CallerMount(const std::string& target) : target_(target) {
  fd_ = ::open("/dev/fuse", O_RDWR);  // no O_CLOEXEC: the daemon inherits it
  if (fd_ < 0) return;
  const std::string options = "fd=" + std::to_string(fd_) +
                              ",rootmode=40000,user_id=0,group_id=0,"
                              "default_permissions,allow_other";
  mounted_ = ::mount("freshfs-caller", target.c_str(), "fuse.freshfs", MS_NOSUID | MS_NODEV,
                     options.c_str()) == 0;
}

CallerMount::~CallerMount() {
  if (mounted_) ::umount2(target_.c_str(), MNT_DETACH);
  if (fd_ >= 0) ::close(fd_);
}

bool CallerMount::Unmount() {
  if (::umount2(target_.c_str(), 0) != 0) return false;
  mounted_ = false;
  return true;
}

ReadyPipe::ReadyPipe() {
  int fds[2];
  if (::pipe(fds) != 0) return;
  read_.reset(fds[0]);
  write_.reset(fds[1]);
  ::fcntl(read_.get(), F_SETFD, FD_CLOEXEC);
}

std::string ReadyPipe::ReadUntilClosed(std::chrono::milliseconds timeout) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{read_.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) == 0) return got + "<timeout>";
    char buf[256];
    ssize_t n = ::read(read_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return got;
    got.append(buf, size_t(n));
  }
}

Supervisor::Supervisor(const Mount& dirs)
    : caller_(dirs.mnt()), log_(dirs.dir() + "/caller-daemon.log") {}

Supervisor::~Supervisor() {
  if (pid_ > 0) StopProcess(pid_);
}

::testing::AssertionResult Supervisor::Start(std::vector<std::string> argv) {
  if (auto ready = Ready(); !ready) return ready;
  argv.push_back(caller_.DevFd());
  pid_ = SpawnWithLog(argv, log_);
  ready_.CloseWriteEnd();
  if (pid_ <= 0) return ::testing::AssertionFailure() << "spawn: " << ErrnoName(errno);
  return ::testing::AssertionSuccess();
}

ProcessResult Supervisor::Run(std::vector<std::string> argv) {
  EXPECT_TRUE(Ready());
  argv.push_back(caller_.DevFd());
  ProcessResult result = RunToCompletion(argv);
  ready_.CloseWriteEnd();
  return result;
}

::testing::AssertionResult Supervisor::UnmountAndSeeTheDaemonExit() {
  if (!caller_.Unmount()) return ::testing::AssertionFailure() << "umount: " << ErrnoName(errno);
  auto status = WaitForChild(pid_, 10s);
  if (!status) {
    return ::testing::AssertionFailure() << "the daemon did not exit after the unmount\n" << Log();
  }
  pid_ = -1;
  if (*status != 0) return ::testing::AssertionFailure() << "exit " << *status << "\n" << Log();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Supervisor::Ready() const {
  if (!caller_.mounted())
    return ::testing::AssertionFailure() << "mount(2) of fuse with fd=: " << ErrnoName(errno);
  if (!ready_.ok()) return ::testing::AssertionFailure() << "pipe: " << ErrnoName(errno);
  return ::testing::AssertionSuccess();
}

}  // namespace freshfs::testing
