// What the controller records next to each volume it provisions: the name and
// parameters it was created with, so that CreateVolume is idempotent, a
// conflicting CreateVolume is recognised, and DeleteVolume knows onDelete.
// Stored as JSON in ".freshfs-<name>.json" beside the volume: a file in the
// parent directory for directory volumes, an object under the parent prefix
// for S3 volumes.
//
// Plain data and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "csi/errors.h"
#include "csi/volume_context.h"

namespace freshfs::csi {

// CSI's size limit for ids: longer volume ids are refused when created.
constexpr size_t kMaxVolumeIdBytes = 128;
// Records are small; anything larger is not one.
constexpr size_t kMaxVolumeRecordBytes = 1 << 20;

struct VolumeRecord {
  std::string name;
  StringMap parameters;  // as checked: csi.storage.k8s.io/ keys dropped, onDelete set
  int64_t capacity_bytes = 0;

  bool retain_on_delete() const;
  bool operator==(const VolumeRecord&) const = default;
};

// ".freshfs-<name>.json"
std::string VolumeRecordName(const std::string& volume_name);

std::string FormatVolumeRecord(const VolumeRecord& record);

// kInternal "volume metadata <where> is corrupt" for anything but a record.
Result<VolumeRecord> ParseVolumeRecord(std::string_view text, const std::string& where);

}  // namespace freshfs::csi
