// Reading /proc/self/mountinfo: is something mounted at a path? Never
// touches the mount itself (which may be a dead FUSE mount).
#pragma once

#include <string>
#include <string_view>

namespace freshfs {

// Whether a filesystem whose type starts with `type_prefix` ("" = any,
// "fuse" = fuse and fuse.*) is mounted at `path` (absolute, canonical).
bool IsMountedAt(const std::string& path, std::string_view type_prefix = "");

// Decodes the octal escapes (\040 etc.) /proc/self/mountinfo uses in paths.
std::string UnescapeMountPath(std::string_view field);

}  // namespace freshfs
