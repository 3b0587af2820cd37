// Real FUSE mounts of the freshfs-mount binary for integration tests.
//
// Every mount lives in its own temporary directory under TestRoot():
//   <dir>/source  the directory freshfs mirrors
//   <dir>/mnt     the mountpoint
//   <dir>/plain   an unmounted directory on the same filesystem as source, for
//                 "same operation on a plain directory" comparisons
//   <dir>/mount.log  the daemon's stdout+stderr
//
// Mount is RAII: its destructor always unmounts, stops the daemon by PID and
// removes the directory, whether or not the test's assertions passed. A
// daemon that died during the test fails it, with the daemon's log.
// Not thread-safe; owned by one test.
#pragma once

#include <chrono>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "support/process.h"

namespace freshfs::testing {

// Path of the freshfs-mount binary under test.
const std::string& MountBinary();
// The same sources built with another version ("<version>+next"): the
// successor in upgrade tests.
const std::string& NextMountBinary();

// Per-process root of all test directories (created on first use).
const std::string& TestRoot();

// A fresh empty directory under TestRoot(); removed by the caller.
std::string MakeTempDir(const std::string& prefix);

// Removes a directory tree; refuses to descend into anything still mounted.
void RemoveTree(const std::string& path);

// True when `path` is itself a mountpoint of type fuse / fuse.* according to
// /proc/self/mounts (never blocks on the daemon).
bool IsFuseMountpoint(const std::string& path);
// Mountpoints of type fuse / fuse.* at or below `prefix`.
std::vector<std::string> FuseMountsUnder(const std::string& prefix);
// statfs(path).f_type == FUSE_SUPER_MAGIC. Calls into the daemon.
bool StatfsSaysFuse(const std::string& path);

// `fusermount3 -u path`; if still mounted, `umount -l path`. Returns true if
// the path is no longer a mountpoint.
bool Unmount(const std::string& path);

// Waits until `path` is a FUSE mountpoint and answers statfs.
bool WaitForFuseMount(const std::string& path, std::chrono::milliseconds timeout);

// Drops the kernel's dentry and inode caches (makes the kernel FORGET inodes).
void DropKernelCaches();

class Mount {
 public:
  // Creates the directory layout; does not mount yet, so the test may fill
  // source() first.
  Mount();
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  // Runs `freshfs-mount -f <extra_args> <source> <mnt>` and waits (10 s) for
  // the mount. On failure the message carries the daemon's output.
  // `source_arg` overrides the SOURCE argument (e.g. "file:///...").
  ::testing::AssertionResult Start(const std::vector<std::string>& extra_args = {},
                                   const std::string& source_arg = "");

  // Takes the mount over with `binary -f --take-over <extra_args> <source>
  // <mnt>` (docs/resume.md#upgrade) and waits (20 s) for the running daemon
  // to exit 0; the successor is this Mount's daemon from then on. Fails if
  // the successor exits first (it refused: the running daemon serves on),
  // or the predecessor exits otherwise. `source_arg` as for Start.
  ::testing::AssertionResult TakeOver(const std::string& binary,
                                      const std::vector<std::string>& extra_args = {},
                                      const std::string& source_arg = "");

  // Unmounts with fusermount3 -u and waits for the daemon to exit on its own.
  // Returns its exit status (see ProcessResult::exit_code), or nullopt if it
  // did not exit within `timeout`.
  std::optional<int> UnmountAndWait(std::chrono::milliseconds timeout = 10s);

  // Sends `sig` to the daemon and waits for it to exit; status as above.
  std::optional<int> SignalAndWait(int sig, std::chrono::milliseconds timeout = 10s);

  const std::string& dir() const { return dir_; }
  const std::string& source() const { return source_; }
  const std::string& mnt() const { return mnt_; }
  const std::string& plain() const { return plain_; }
  std::string Src(const std::string& rel) const { return source_ + "/" + rel; }
  std::string Mnt(const std::string& rel) const { return mnt_ + "/" + rel; }
  std::string Plain(const std::string& rel) const { return plain_ + "/" + rel; }
  pid_t pid() const { return pid_; }
  bool DaemonAlive() const;
  // The daemon's stdout+stderr so far.
  std::string Log() const;
  // The port of --metrics-address as the daemon logged it (it may have
  // picked one for port 0); waits up to 5 s for the line.
  std::optional<int> MetricsPort() const;
  // The same for --events-address (S3 sources).
  std::optional<int> EventsPort() const;
  // Its last 16 KiB, for failure messages.
  std::string LogTail() const;

 private:
  // The port in the first "<marker>HOST:PORT" of the log (waits up to 5 s).
  std::optional<int> PortAfter(const std::string& marker) const;

  std::string dir_, source_, mnt_, plain_, log_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// A test fixture owning one Mount, started in SetUp with ExtraArgs().
// Override PrepareSource() to fill the source before the mount starts.
class MountedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PrepareSource();
    ASSERT_TRUE(m_.Start(ExtraArgs()));
  }
  virtual std::vector<std::string> ExtraArgs() const { return {}; }
  virtual void PrepareSource() {}

  Mount m_;
};

// Registered by the integration tests' main(): makes this process a subreaper,
// and at the end fails if a FUSE mount or a freshfs-mount process under
// TestRoot() was left behind (then cleans them up and removes TestRoot()).
class NoLeftoversEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
};

}  // namespace freshfs::testing
