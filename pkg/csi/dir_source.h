// The allowedDirRoots rule: a directory volume may only expose a directory
// under one of the roots the cluster admin listed in the driver config, so
// no volume attribute can point a pod at an arbitrary host path.
//
// Touches the filesystem (realpath, stat); thread-safe.
#pragma once

#include <string>
#include <vector>

#include "csi/errors.h"
#include "util/unique_fd.h"

namespace freshfs::csi {

// Checks the directory source `path` (absolute) against `roots` (absolute,
// lexically normal) and returns its real path: the one to mount, so a
// symlink swapped after the check cannot redirect the mount.
//
// Both the path as written (".." folded lexically) and its real path
// (symlinks resolved) must lie under a root, itself resolved with realpath.
// Errors: kPermissionDenied outside the roots (or with no roots), kNotFound
// when the directory does not exist, kInvalid when it is not a directory.
// Messages never say whether a path outside the roots exists.
Result<std::string> ResolveDirSource(const std::string& path,
                                     const std::vector<std::string>& roots);

// Opens the directory source `path` (absolute, normally what
// ResolveDirSource returned) for a volume's process to serve, so that the
// process never resolves a path again: beneath the real path of the root it
// lies under, with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a
// component swapped for a symlink since the check (to anywhere, inside the
// roots or not) fails instead of leading elsewhere. Errors as
// ResolveDirSource, plus kPermissionDenied for a symlink on the way.
Result<UniqueFd> OpenDirSource(const std::string& path, const std::vector<std::string>& roots);

}  // namespace freshfs::csi
