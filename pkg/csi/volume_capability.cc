#include "csi/volume_capability.h"

#include <string>

#include "util/quote.h"

namespace freshfs::csi {

namespace pb = ::csi::v1;
using Mode = pb::VolumeCapability::AccessMode;

Status CheckVolumeCapability(const pb::VolumeCapability& capability, std::string_view field) {
  const std::string name(field);
  switch (capability.access_type_case()) {
    case pb::VolumeCapability::kBlock:
      return InvalidArgument(name + ": block access is not supported (freshfs volumes are "
                             "filesystems: use a mount access type)");
    case pb::VolumeCapability::ACCESS_TYPE_NOT_SET:
      return InvalidArgument(name + ": access type is required (mount)");
    case pb::VolumeCapability::kMount:
      break;
  }
  const std::string& fs_type = capability.mount().fs_type();
  if (!fs_type.empty() && fs_type != "freshfs") {
    return InvalidArgument(name + ".mount.fs_type " + Quoted(fs_type) +
                           " is not supported (leave it empty or use \"freshfs\")");
  }
  if (!capability.has_access_mode() || capability.access_mode().mode() == Mode::UNKNOWN) {
    return InvalidArgument(name + ".access_mode is required");
  }
  switch (capability.access_mode().mode()) {
    case Mode::SINGLE_NODE_WRITER:
    case Mode::SINGLE_NODE_READER_ONLY:
    case Mode::MULTI_NODE_READER_ONLY:
    case Mode::MULTI_NODE_MULTI_WRITER:
    case Mode::SINGLE_NODE_SINGLE_WRITER:
    case Mode::SINGLE_NODE_MULTI_WRITER:
      return Status::Ok();
    default: {
      const int mode = capability.access_mode().mode();
      std::string mode_name = Mode::Mode_Name(capability.access_mode().mode());
      if (mode_name.empty()) mode_name = std::to_string(mode);  // newer than our csi.proto
      return InvalidArgument(name + ".access_mode " + mode_name + " is not supported");
    }
  }
}

bool IsReaderOnly(Mode::Mode mode) {
  return mode == Mode::SINGLE_NODE_READER_ONLY || mode == Mode::MULTI_NODE_READER_ONLY;
}

}  // namespace freshfs::csi
