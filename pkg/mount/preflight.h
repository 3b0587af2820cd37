// Checks made before mounting, each giving one line a user can act on.
#pragma once

#include <optional>
#include <string>

#include "util/mountinfo.h"
#include "util/unique_fd.h"

namespace freshfs::mount {

// A checked source or mountpoint, or an error message.
struct Checked {
  // The absolute, symlink-free path to use. For a source given as
  // "/dev/fd/N": "/proc/self/fd/M", M a descriptor of that directory held in
  // `held`; the kernel follows that link to the very directory, so its path
  // is never looked up again (a rename or a symlink swap changes nothing).
  std::string path;
  std::string error;  // empty when fine
  std::string name;   // how messages show it: as given, plus where an fd source was
  UniqueFd held;      // for the life of the process, as `path` names it
};

// A source directory: a path, or "/dev/fd/N": an open directory descriptor
// the caller lets this process inherit.
Checked CheckSourceDir(const std::string& path);
// A directory to mount on, or "/dev/fd/N": a /dev/fuse descriptor the caller
// opened, mounted (mount(2) with fd=N) and lets this process inherit; it is
// then neither mounted nor unmounted here. `taking_over` (--take-over): a
// directory that is mounted, by the daemon to take over.
Checked CheckMountpoint(const std::string& path, bool taking_over = false);
// N for a path of the form "/dev/fd/N", else nullopt.
std::optional<int> DevFdNumber(const std::string& path);
// N for a mountpoint of the form "/dev/fd/N", else nullopt.
inline std::optional<int> FuseFdOf(const std::string& mountpoint) {
  return DevFdNumber(mountpoint);
}

// `path` with symlinks resolved (for "/proc/self/fd/M": where that directory
// is now), or `path` itself when that fails.
std::string CurrentPath(const std::string& path);

// Whether `path` (absolute, canonical) is a mount point per /proc/self/mountinfo.
bool IsMountPoint(const std::string& path);

using freshfs::UnescapeMountPath;  // util/mountinfo.h

// Whether `inner` is strictly below `outer` (both canonical).
bool IsStrictlyInside(const std::string& inner, const std::string& outer);

}  // namespace freshfs::mount
