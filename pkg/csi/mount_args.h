// How a checked VolumeSpec becomes a freshfs-mount command line (pure
// function, unit-tested). Secrets never appear here: S3 credentials reach
// the child through an inherited pipe named by --s3-credentials-file
// /dev/fd/N.
#pragma once

#include <string>
#include <vector>

#include "csi/volume_manager.h"

namespace freshfs::csi {

// Where one volume's files live under the driver's state directory.
struct VolumeDirs {
  std::string staging;  // --staging-dir
  std::string cache;    // --cache-dir, used when the spec sets cacheSize
};

// The fd number the child reads its S3 credentials from.
inline constexpr int kCredentialsFd = 3;

// argv for `freshfs-mount -f ... SOURCE TARGET`, argv[0] = `binary`.
std::vector<std::string> MountArgs(const std::string& binary, const VolumeSpec& spec,
                                   const VolumeDirs& dirs);

// The volume label of the child's metrics: the volume id, with characters a
// freshfs volume name cannot hold replaced by '_'.
std::string VolumeLabel(const std::string& volume_id);

// AWS credentials file text for the secrets of an S3 volume.
std::string CredentialsFileText(const std::map<std::string, std::string>& secrets);

}  // namespace freshfs::csi
