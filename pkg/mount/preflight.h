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
Checked CheckMountpoint(const std::string& path);

// Whether `path` (absolute, canonical) is a mount point per /proc/self/mountinfo.
bool IsMountPoint(const std::string& path);

using freshfs::UnescapeMountPath;  // util/mountinfo.h

// Whether `inner` is strictly below `outer` (both canonical).
bool IsStrictlyInside(const std::string& inner, const std::string& outer);

}  // namespace freshfs::mount
