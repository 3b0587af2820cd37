// One published volume's processes and kernel state: the FUSE connection
// freshfs-csi mounted at the target (csi/fuse_connection.h), the
// freshfs-mount serving it (started with csi/spawn.h, in a cgroup of its own
// from csi/child_cgroups.h), and for directory volumes the source directory
// opened beneath its allowed root (csi/dir_source.h). freshfs-csi keeps a
// duplicate of the connection's fd and of the source fd for as long as the
// volume is published, so the kernel connection outlives either process.
//
//   who runs it   S3 volumes: the configured unprivileged user, no
//                 capabilities at all. Directory volumes: root with only
//                 what serving other users' files takes (kDirCapabilities).
//                 Both with no_new_privs.
//
// Not thread-safe: the supervisor gives each volume to one thread at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "csi/child_cgroups.h"
#include "csi/errors.h"
#include "csi/volume_manager.h"
#include "util/unique_fd.h"

namespace freshfs::csi {

struct ProcessSettings {
  std::string mount_binary;
  std::chrono::milliseconds ready_timeout{30000};
  std::vector<std::string> allowed_dir_roots;
  std::pair<uid_t, gid_t> s3_user{65534, 65534};
  ChildCgroups cgroups;
};

// The capabilities a directory volume's process keeps, and why:
//   CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH  read and write the source's files
//       whatever their modes (the kernel already checked the caller against
//       the modes the volume shows: default_permissions);
//   CAP_CHOWN, CAP_FOWNER, CAP_FSETID      create entries owned by the calling
//       user and change modes and times of files it does not own;
//   CAP_MKNOD                               mknod(2) through the mount.
// No CAP_SYS_ADMIN: freshfs-csi mounts and unmounts.
extern const std::vector<int> kDirCapabilities;

class VolumeProcess {
 public:
  // `state_dir` is the volume's own directory (staging, cache, log);
  // `cgroup` the name of its cgroup under settings.cgroups.
  VolumeProcess(const ProcessSettings& settings, VolumeSpec spec, std::string state_dir,
                std::string cgroup);
  ~VolumeProcess();  // leaves a running child running
  VolumeProcess(const VolumeProcess&) = delete;
  VolumeProcess& operator=(const VolumeProcess&) = delete;

  const VolumeSpec& spec() const { return spec_; }
  pid_t pid() const { return pid_; }
  uint64_t start_time() const { return start_time_; }
  int port() const { return port_; }

  // Mounts the target and starts freshfs-mount on it; returns once it
  // reported READY. On failure nothing is left mounted or running.
  Status Start();

  // Takes over a freshfs-mount a former freshfs-csi started (pid and start
  // time from the state file) and its fds (pidfd_getfd). Fails, leaving
  // nothing adopted, when that process is gone or serves something else
  // than what the current config allows at the source path.
  Status Adopt(pid_t pid, uint64_t start_time, int port);

  bool Alive();

  // A republish brought the pod's next service-account token: it replaces
  // the token file the running child reads at its next credential refresh
  // (csi/volume_credentials.h). No restart.
  Status RenewPodToken(const std::string& token);

  // After the child died: starts a successor on the same connection and
  // state (docs/resume.md), which answers what the dead child left
  // unanswered; applications see a pause, no error. Returns once it
  // reported READY. On failure the caller falls back to Clear() + Start().
  Status Resume();
  // Whether this kernel lets a successor answer the requests a dead child
  // had read (FUSE_NOTIFY_RESEND, Linux 6.9): else they would hang.
  static bool KernelResends();

  // Whether the running child executes another file than
  // settings.mount_binary (an older image's freshfs-mount).
  bool RunsAnotherBinary() const;
  // Moves the volume to settings.mount_binary in place (docs/resume.md#upgrade):
  // a successor takes the connection over through the child's control
  // socket, the child exits, the page cache stays. On failure the child
  // serves on and nothing changes. Children started before control sockets
  // existed cannot be upgraded (FAILED_PRECONDITION).
  Status Upgrade();

  // After the child died: aborts the connection (callers get ENOTCONN, not
  // a hang), detaches the dead mount, removes the cgroup. Keeps the source
  // directory for the next Start().
  void Clear();

  // Unpublish: unmounts, stops the child (SIGTERM, SIGKILL after 10 s),
  // removes its cgroup.
  void Stop();

 private:
  Status OpenSource();
  // Starts freshfs-mount on connection `fuse` with `extra` flags and waits
  // for its READY; sets pid_, pidfd_, start_time_, port_.
  Status SpawnChild(int fuse, const std::string& staging, const std::string& cache,
                    const std::string& log, std::vector<std::string> extra);
  Status PrepareDirs(std::string* staging, std::string* cache, std::string* log);
  void ForgetChild();
  void Reap();  // collects our exited child's status (no zombie left)

  const ProcessSettings& settings_;
  VolumeSpec spec_;  // changes only by RenewPodToken
  const std::string state_dir_, cgroup_;
  const bool s3_;
  UniqueFd fuse_, source_, pidfd_, state_, control_;
  pid_t pid_ = -1;
  uint64_t start_time_ = 0;
  int port_ = 0;
  bool own_child_ = false;  // ours to reap with waitpid
};

}  // namespace freshfs::csi
