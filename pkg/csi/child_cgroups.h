// Cgroups of their own for the volumes' processes, outside freshfs-csi's
// container: the container runtime stops a container by killing every
// process of its cgroup (cgroup.kill), so a freshfs-mount left there dies
// with every rollout of the node plugin. Each volume's process is moved
// into <parent>/<name> before it execs, where that stop does not reach it.
//
// <parent> is a cgroup v2 directory as freshfs-csi sees it (the chart mounts
// the host's /sys/fs/cgroup). Moving a process needs the host's cgroup
// namespace: a container on cgroup v2 has one of its own, rooted at its own
// cgroup, and the kernel refuses moves to cgroups outside a writer's
// namespace. So the child enters the cgroup namespace of PID 1 (the host's
// init with hostPID) before it moves, when that one differs from ours.
//
// Thread-safe (no shared state besides the filesystem).
#pragma once

#include <string>

#include "csi/errors.h"
#include "util/unique_fd.h"

namespace freshfs::csi {

class ChildCgroups {
 public:
  // Disabled: children stay in freshfs-csi's cgroup.
  ChildCgroups() = default;
  // Creates `parent` if needed; kInvalid when it is not on cgroup v2.
  static Result<ChildCgroups> Open(const std::string& parent);

  bool enabled() const { return !parent_.empty(); }
  const std::string& parent() const { return parent_; }

  // Creates <parent>/<name> (or reuses it) and opens its cgroup.procs for
  // the child to write itself into.
  Result<UniqueFd> Prepare(const std::string& name) const;
  // The cgroup namespace the child enters before it moves, or an invalid fd
  // when it is already ours.
  UniqueFd NamespaceToEnter() const;
  // Kills whatever is left in <parent>/<name> and removes it. Best effort,
  // logged; nothing to do when it does not exist.
  void Remove(const std::string& name) const;
  // Whether <parent>/<name> exists.
  bool Exists(const std::string& name) const;

 private:
  explicit ChildCgroups(std::string parent) : parent_(std::move(parent)) {}
  std::string parent_;
};

}  // namespace freshfs::csi
