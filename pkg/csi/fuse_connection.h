// The kernel side of a volume: freshfs-csi opens /dev/fuse and mounts the
// target itself, so the FUSE connection belongs to no single process. The
// connection lives while any process holds a descriptor of it: freshfs-csi
// keeps one, the volume's freshfs-mount serves another (it is started on
// `/dev/fd/N`). Either may be replaced while the other holds on.
//
// Touches the kernel (mount(2), /sys/fs/fuse/connections); needs
// CAP_SYS_ADMIN. Thread-safe.
#pragma once

#include <string>

#include "csi/errors.h"
#include "util/unique_fd.h"

namespace freshfs::csi {

struct FuseMountOptions {
  std::string fsname;  // shown as the mount's source, e.g. the volume's source
  bool read_only = false;
};

// Opens /dev/fuse and mounts it at `target` (an existing directory) as
// fuse.freshfs with the options freshfs-mount uses for itself:
// default_permissions (the kernel checks modes), allow_other (a pod's
// containers run as any user), nosuid, nodev. Returns the connection's fd.
Result<UniqueFd> MountFuse(const std::string& target, const FuseMountOptions& options);

// Whether `fd` is an open /dev/fuse (character device 10:229).
bool IsFuseDevice(int fd);

// Whether a FUSE filesystem is mounted at `target`, and how many are stacked
// there (from /proc/self/mountinfo: never touches a possibly dead mount).
bool IsFuseMount(const std::string& target);
int FuseMountCount(const std::string& target);

// Aborts the connection of every FUSE mount at `target` through
// /sys/fs/fuse/connections/N/abort (mounting the fusectl filesystem there if
// nothing is): requests waiting on a daemon that is gone fail with ENOTCONN
// instead of hanging. Best effort, logged.
void AbortFuse(const std::string& target);

// Lazily unmounts every FUSE mount at `target`. Best effort, logged.
void DetachFuse(const std::string& target);

}  // namespace freshfs::csi
