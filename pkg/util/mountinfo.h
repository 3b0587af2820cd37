// Reading /proc/self/mountinfo: is something mounted at a path? Never
// touches the mount itself (which may be a dead FUSE mount).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace freshfs {

// One line of /proc/self/mountinfo.
struct MountEntry {
  std::string fstype;  // "fuse.freshfs", "ext4", ...
  unsigned major = 0;  // st_dev of the mount's root
  unsigned minor = 0;
};

// The filesystems mounted at `path` (absolute, canonical) whose type starts
// with `type_prefix`, bottom first (a mount stacked on another comes later).
std::vector<MountEntry> MountsAt(const std::string& path, std::string_view type_prefix = "");

// Whether a filesystem whose type starts with `type_prefix` ("" = any,
// "fuse" = fuse and fuse.*) is mounted at `path` (absolute, canonical).
bool IsMountedAt(const std::string& path, std::string_view type_prefix = "");

// Decodes the octal escapes (\040 etc.) /proc/self/mountinfo uses in paths.
std::string UnescapeMountPath(std::string_view field);

}  // namespace freshfs
