// Directory volumes provisioned by the controller: <parent>/<name> (mode
// 0750), where <parent> is the StorageClass `source` under the driver
// config's allowedDirRoots, recorded in <parent>/.freshfs-<name>.json (0600).
// The record is written before the directory is created and removed after
// it is deleted, so only directories with a record are ever deleted, and a
// directory without one is never adopted (ALREADY_EXISTS).
//
// Volume ids are "dir:" + the absolute real path of the volume directory, so
// deleting needs no other input. Where that would pass CSI's 128 bytes (any
// name up to 128 bytes is valid), the id is "dir#" + the first 40 hex digits
// of the path's SHA-256 instead, and <root>/.freshfs-ids/<those digits>
// (0600, in the allowedDirRoots root the volume lies under) holds the path:
// written before the record, removed after it.
//
// Functions touch the filesystem and block; callers hold the volume's lock.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "csi/errors.h"
#include "csi/volume_record.h"

namespace freshfs::csi {

struct DirVolume {
  std::string root;    // real path of the allowedDirRoots entry it lies under
  std::string parent;  // real path, under that root
  std::string name;

  std::string id() const;
  std::string path() const;
  std::string record_path() const;
  // Where a hashed id is resolved ("" when the id is the path itself).
  std::string index_path() const;
};

bool IsDirVolumeId(const std::string& volume_id);

// The volume `name` in the StorageClass directory `parent_path`, resolved
// against `roots` (kPermissionDenied outside, kNotFound when missing).
// Creates nothing.
Result<DirVolume> PlanDirVolume(const std::string& parent_path, const std::string& name,
                                const std::vector<std::string>& roots);

// The volume an id names: nullopt when it cannot exist (not a "dir:" or
// "dir#" id, its parent directory is gone, no index for a hashed id);
// kPermissionDenied when it lies outside `roots` or leads through a symlink.
Result<std::optional<DirVolume>> LocateDirVolume(const std::string& volume_id,
                                                 const std::vector<std::string>& roots);

// Creates the volume, or confirms it exists with the same record;
// kAlreadyExists when its record differs or its directory was not made here.
Status CreateDirVolume(const DirVolume& volume, const VolumeRecord& wanted);

// Removes the directory (kept with onDelete: retain) and then its record.
// A volume without a record is gone already: OK.
Status DeleteDirVolume(const DirVolume& volume);

// Whether the volume's record and directory exist.
Result<bool> DirVolumeExists(const DirVolume& volume);

}  // namespace freshfs::csi
