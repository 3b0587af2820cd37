// Starting a volume's freshfs-mount. Everything is prepared before fork():
// freshfs-csi is multi-threaded (gRPC), so between fork() and exec() the
// child only makes system calls (no allocation, no locks, no logging).
//
//   Spawn       forks and execs a prepared plan: its own session, stdout and
//               stderr to the volume's log, inherited fds at fixed numbers,
//               its own cgroup, a user and the capabilities it may keep; a
//               step that fails before exec is reported with its errno.
//   AwaitReady  reads the child's `--ready-fd` report (READY <port> or
//               ERROR <message>).
//
// Thread-safe (no shared state).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "csi/errors.h"
#include "util/unique_fd.h"

namespace freshfs::csi {

struct SpawnPlan {
  std::vector<std::string> argv;  // argv[0] is the executable's path
  int log_fd = -1;                // becomes stdout and stderr (stdin is /dev/null)
  // {fd in this process, the number it gets in the child}; numbers >= 3.
  std::vector<std::pair<int, int>> fds;
  int cgroup_namespace_fd = -1;  // a cgroup namespace to enter first, or -1
  int cgroup_procs_fd = -1;      // cgroup.procs of the cgroup to move into, or -1
  // Run as this user and group with no supplementary groups and no
  // capabilities at all; unset: stay root and keep `keep_caps` only.
  std::optional<std::pair<uid_t, gid_t>> user;
  std::vector<int> keep_caps;  // CAP_* numbers (root only)
};

// The child's pid once it has exec'd; an error naming the step that failed
// (the child is reaped then).
Result<pid_t> Spawn(const SpawnPlan& plan);

// The metrics port the child reports on `ready_fd` (the read end of the
// pipe whose write end it got as --ready-fd), within `timeout`. Errors: the
// child's ERROR message, or "exited without a word" at EOF, or kUnavailable
// at the timeout.
Result<int> AwaitReady(int ready_fd, std::chrono::milliseconds timeout);

// pidfd_open(2): an fd that is readable once `pid` has exited.
UniqueFd OpenPidFd(pid_t pid);

// Whether the process behind `pidfd` still runs (not exited, not a zombie).
bool PidFdAlive(int pidfd);

// The start time of `pid` (field 22 of /proc/PID/stat, clock ticks since
// boot), 0 when there is no such process: with the pid it names one process
// for good, whatever pids are reused later.
uint64_t ProcessStartTime(pid_t pid);

}  // namespace freshfs::csi
