// The supervisor's side of a freshfs-mount that serves a mount made by its
// caller (freshfs-mount SOURCE /dev/fd/N, as freshfs-csi starts it): the
// mount of /dev/fuse, the --ready-fd pipe and the daemon. Everything is
// undone in teardown whatever happened: the daemon stopped by PID, then the
// mount detached and the descriptor closed.
//
// For the test's main thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/mount.h"
#include "support/process.h"
#include "util/unique_fd.h"

namespace freshfs::testing {

// What the caller does: a mount of the target (type fuse.freshfs,
// default_permissions, allow_other, nosuid, nodev) by its own /dev/fuse
// descriptor, inheritable by the daemon it starts.
class CallerMount {
 public:
  explicit CallerMount(const std::string& target);
  ~CallerMount();
  CallerMount(const CallerMount&) = delete;
  CallerMount& operator=(const CallerMount&) = delete;

  bool mounted() const { return mounted_; }
  std::string DevFd() const { return "/dev/fd/" + std::to_string(fd_); }
  // Unmounts as a supervisor does when the volume goes.
  bool Unmount();

 private:
  std::string target_;
  int fd_ = -1;
  bool mounted_ = false;
};

// The pipe a supervisor reads freshfs-mount's --ready-fd report from: the
// write end is inherited, the read end stays here.
class ReadyPipe {
 public:
  ReadyPipe();
  bool ok() const { return read_.valid() && write_.valid(); }
  std::string WriteFd() const { return std::to_string(write_.get()); }
  // After the child started: from now on only it holds the write end.
  void CloseWriteEnd() { write_.reset(); }
  // Everything written until every writer closed its end, or until `timeout`
  // (then what came so far, with "<timeout>" appended).
  std::string ReadUntilClosed(std::chrono::milliseconds timeout = 10s);

 private:
  UniqueFd read_, write_;
};

// One freshfs-mount on a caller-made mount of `dirs.mnt()` (handed over as
// MOUNTPOINT /dev/fd/N), its output in <dirs.dir()>/caller-daemon.log.
class Supervisor {
 public:
  explicit Supervisor(const Mount& dirs);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // The value for --ready-fd.
  std::string ReadyFd() const { return ready_.WriteFd(); }
  // Starts `argv` MOUNTPOINT with its output in the log.
  ::testing::AssertionResult Start(std::vector<std::string> argv);
  // Runs `argv` MOUNTPOINT until it returns (a start without -f).
  ProcessResult Run(std::vector<std::string> argv);
  // A daemon that Run() left behind, to be waited for or stopped.
  void Adopt(pid_t daemon) { pid_ = daemon; }
  // What came on --ready-fd until it was closed.
  std::string ReadyReport() { return ready_.ReadUntilClosed(); }
  // Unmounts as a supervisor does; the daemon must then exit with status 0.
  ::testing::AssertionResult UnmountAndSeeTheDaemonExit();
  pid_t pid() const { return pid_; }
  std::string Log() const { return ReadFileOrEmpty(log_); }

 private:
  ::testing::AssertionResult Ready() const;

  CallerMount caller_;
  ReadyPipe ready_;
  std::string log_;
  pid_t pid_ = -1;
};

}  // namespace freshfs::testing
