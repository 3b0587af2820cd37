// Argument checks shared by the CSI services: the ids and names kubelet and
// the sidecars send. Pure functions; errors are kInvalid naming the field.
#pragma once

#include <string>
#include <string_view>

#include "csi/errors.h"

namespace freshfs::csi {

// Whether `s` holds a byte below 0x20 or DEL.
bool HasControlCharacter(std::string_view s);

// Set and without control characters.
Status CheckVolumeId(const std::string& volume_id);

// A CreateVolume name usable as one directory entry / key component: not
// empty, at most 255 bytes, no '/', no control characters, not "." or "..".
Status CheckVolumeName(const std::string& name);

}  // namespace freshfs::csi
