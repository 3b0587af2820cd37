// Which volume capabilities freshfs supports: filesystem ("mount") access,
// fs_type empty or "freshfs", and these access modes:
//   SINGLE_NODE_WRITER, SINGLE_NODE_READER_ONLY, MULTI_NODE_READER_ONLY,
//   MULTI_NODE_MULTI_WRITER, SINGLE_NODE_SINGLE_WRITER, SINGLE_NODE_MULTI_WRITER.
// MULTI_NODE_SINGLE_WRITER is refused: freshfs cannot stop the other nodes'
// mounts from writing.
//
// Pure functions, thread-safe.
#pragma once

#include <string_view>

#include "csi.pb.h"
#include "csi/errors.h"

namespace freshfs::csi {

// kInvalid naming the problem when `capability` is not supported; `field` is
// the request field's name for messages ("volume_capability").
Status CheckVolumeCapability(const ::csi::v1::VolumeCapability& capability, std::string_view field);

// A mode whose volumes must be mounted read-only.
bool IsReaderOnly(::csi::v1::VolumeCapability::AccessMode::Mode mode);

}  // namespace freshfs::csi
