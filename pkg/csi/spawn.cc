#include "csi/spawn.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace freshfs::csi {
namespace {

using Clock = std::chrono::steady_clock;

// What the child writes to the error pipe when a step before exec fails.
struct StepFailure {
  int step;
  int error;
};

enum Step : int {
  kCgroupNamespace,
  kCgroupMove,
  kFds,
  kCapabilities,
  kUser,
  kNoNewPrivs,
  kExec,
};

const char* StepName(int step) {
  switch (step) {
    case kCgroupNamespace:
      return "entering the host's cgroup namespace";
    case kCgroupMove:
      return "moving into the volume's cgroup";
    case kFds:
      return "passing file descriptors";
    case kCapabilities:
      return "dropping capabilities";
    case kUser:
      return "switching user";
    case kNoNewPrivs:
      return "setting no_new_privs";
    case kExec:
      return "exec";
  }
  return "starting";
}

[[noreturn]] void Fail(int pipe_fd, int step) {
  StepFailure failure{step, errno};
  (void)!::write(pipe_fd, &failure, sizeof failure);
  ::_exit(127);
}

// The child between fork() and exec(): system calls only.
[[noreturn]] void RunChild(const SpawnPlan& plan, char* const* argv, int error_pipe,
                           const int* keep, size_t keep_count, int first_free) {
  ::setsid();
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIG_IGN survives exec
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (plan.cgroup_namespace_fd >= 0 && ::setns(plan.cgroup_namespace_fd, CLONE_NEWCGROUP) != 0)
    Fail(error_pipe, kCgroupNamespace);
  if (plan.cgroup_procs_fd >= 0 && ::write(plan.cgroup_procs_fd, "0", 1) != 1)
    Fail(error_pipe, kCgroupMove);

  // Inherited fds: first out of the way of every target number (the error
  // pipe too), then into place; below them nothing else stays open, above
  // them everything closes at exec.
  error_pipe = ::fcntl(error_pipe, F_DUPFD_CLOEXEC, first_free);
  if (error_pipe < 0) ::_exit(127);
  int moved[16];
  const size_t count = std::min<size_t>(plan.fds.size(), 16);
  for (size_t i = 0; i < count; ++i) {
    moved[i] = ::fcntl(plan.fds[i].first, F_DUPFD_CLOEXEC, first_free);
    if (moved[i] < 0) Fail(error_pipe, kFds);
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0) Fail(error_pipe, kFds);
  if (plan.log_fd >= 0 && (::dup2(plan.log_fd, 1) < 0 || ::dup2(plan.log_fd, 2) < 0))
    Fail(error_pipe, kFds);
  for (int fd = 3; fd < first_free; ++fd) {
    bool target = false;
    for (size_t i = 0; i < count; ++i) target |= plan.fds[i].second == fd;
    if (!target) ::close(fd);
  }
  for (size_t i = 0; i < count; ++i)
    if (::dup2(moved[i], plan.fds[i].second) < 0) Fail(error_pipe, kFds);  // clears FD_CLOEXEC
  ::syscall(SYS_close_range, unsigned(first_free), ~0u, CLOSE_RANGE_CLOEXEC);

  // The bounding set limits what the program gets at exec; dropped while
  // still root (it takes CAP_SETPCAP).
  for (int cap = 0; cap <= 63; ++cap) {
    if (!plan.user && std::find(keep, keep + keep_count, cap) != keep + keep_count) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;  // past the last capability
      Fail(error_pipe, kCapabilities);
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    Fail(error_pipe, kCapabilities);
  if (plan.user) {
    // Raw system calls: glibc's wrappers coordinate threads this child does
    // not have. Leaving uid 0 clears the permitted and effective sets.
    const auto [uid, gid] = *plan.user;
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, gid, gid, gid) != 0 ||
        ::syscall(SYS_setresuid, uid, uid, uid) != 0)
      Fail(error_pipe, kUser);
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(error_pipe, kNoNewPrivs);
  ::execv(argv[0], argv);
  Fail(error_pipe, kExec);
}

}  // namespace

Result<pid_t> Spawn(const SpawnPlan& plan) {
  if (plan.argv.empty()) return Internal("nothing to start");
  if (plan.fds.size() > 16) return Internal("too many fds for a child");
  std::vector<std::string> args = plan.argv;
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<int> keep = plan.keep_caps;
  int first_free = 3;
  for (const auto& [from, to] : plan.fds) first_free = std::max(first_free, to + 1);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    return Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) RunChild(plan, argv.data(), write_end.get(), keep.data(), keep.size(), first_free);
  write_end.reset();

  StepFailure failure{};
  ssize_t n;
  do {
    n = ::read(read_end.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return pid;  // exec closed the pipe
  ::waitpid(pid, nullptr, 0);
  if (n != ssize_t(sizeof failure)) return Internal("the child died before exec");
  return Internal(std::string(StepName(failure.step)) + " failed: " + std::strerror(failure.error));
}

Result<int> AwaitReady(int ready_fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string text;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      return Unavailable("no word from freshfs-mount within the start-up timeout");
    pollfd p{ready_fd, POLLIN, 0};
    int r = ::poll(&p, 1, int(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) return Internal(std::string("poll: ") + std::strerror(errno));
    if (r <= 0) continue;
    char buf[512];
    ssize_t n = ::read(ready_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) text.append(buf, size_t(n));
    const size_t newline = text.find('\n');
    if (newline != std::string::npos || n <= 0) {
      const std::string line = text.substr(0, newline);
      if (line.rfind("READY ", 0) == 0) return std::atoi(line.c_str() + 6);
      if (line.rfind("ERROR ", 0) == 0) return Internal(line.substr(6));
      if (n <= 0) return Internal("freshfs-mount exited without a word");
      return Internal("freshfs-mount reported " + line);
    }
  }
}

UniqueFd OpenPidFd(pid_t pid) { return UniqueFd(int(::syscall(SYS_pidfd_open, pid, 0))); }

bool PidFdAlive(int pidfd) {
  if (pidfd < 0) return false;
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

uint64_t ProcessStartTime(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  const size_t close = content.rfind(')');
  if (close == std::string::npos) return 0;
  // After ") ": field 3 (state) onwards; the start time is field 22.
  const char* p = content.c_str() + close + 2;
  if (*p == 'Z' || *p == 'X') return 0;
  for (int field = 3; field < 22 && *p; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return 0;
    ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

}  // namespace freshfs::csi
