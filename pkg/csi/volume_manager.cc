#include "csi/volume_manager.h"

namespace freshfs::csi {

namespace {
constexpr const char* kNotImplemented = "volume publishing is not implemented yet";
}

Status NotReadyVolumeManager::Publish(const VolumeSpec&) { return Unavailable(kNotImplemented); }

Status NotReadyVolumeManager::Unpublish(const std::string&, const std::string&) {
  return Status::Ok();
}

Result<VolumeStats> NotReadyVolumeManager::Stats(const std::string& volume_id,
                                                 const std::string& volume_path) {
  return NotFound("volume " + volume_id + " is not published at " + volume_path);
}

}  // namespace freshfs::csi
