// Checks made before mounting, each giving one line a user can act on.
#pragma once

#include <optional>
#include <string>

#include "util/mountinfo.h"

namespace freshfs::mount {

// Absolute, symlink-free path of the source directory, or an error message.
struct Checked {
  std::string path;
  std::string error;  // empty when fine
};

Checked CheckSourceDir(const std::string& path);
// A directory to mount on, or "/dev/fd/N": a /dev/fuse descriptor the caller
// opened, mounted (mount(2) with fd=N) and lets this process inherit; it is
// then neither mounted nor unmounted here.
Checked CheckMountpoint(const std::string& path);
// N for a mountpoint of the form "/dev/fd/N", else nullopt.
std::optional<int> FuseFdOf(const std::string& mountpoint);

// Whether `path` (absolute, canonical) is a mount point per /proc/self/mountinfo.
bool IsMountPoint(const std::string& path);

using freshfs::UnescapeMountPath;  // util/mountinfo.h

// Whether `inner` is strictly below `outer` (both canonical).
bool IsStrictlyInside(const std::string& inner, const std::string& outer);

}  // namespace freshfs::mount
