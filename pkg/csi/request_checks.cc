#include "csi/request_checks.h"

#include <algorithm>

#include "util/quote.h"

namespace freshfs::csi {

namespace {

constexpr size_t kMaxName = 255;  // NAME_MAX

}  // namespace

bool HasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

Status CheckVolumeId(const std::string& volume_id) {
  if (volume_id.empty()) return InvalidArgument("volume_id is required");
  if (HasControlCharacter(volume_id)) {
    return InvalidArgument("volume_id " + Quoted(volume_id) + " contains control characters");
  }
  return Status::Ok();
}

Status CheckVolumeName(const std::string& name) {
  if (name.empty()) return InvalidArgument("name is required");
  if (HasControlCharacter(name)) {
    return InvalidArgument("name " + Quoted(name) + " contains control characters");
  }
  if (name.size() > kMaxName) {
    return InvalidArgument("name is longer than " + std::to_string(kMaxName) + " bytes");
  }
  if (name.find('/') != std::string::npos) {
    return InvalidArgument("name " + Quoted(name) +
                           " contains \"/\": it must be a single "
                           "directory name");
  }
  if (name == "." || name == "..") {
    return InvalidArgument("name " + Quoted(name) + " is not a valid directory name");
  }
  return Status::Ok();
}

}  // namespace freshfs::csi
