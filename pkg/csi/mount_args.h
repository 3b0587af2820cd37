// How a checked VolumeSpec becomes a freshfs-mount command line (pure
// function, unit-tested). Secrets never appear here: S3 credentials reach
// the child through an inherited memory file named by --s3-credentials-file
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
  std::string token;    // the pod's service-account token (credentials "pod")
};

// The fds a volume's freshfs-mount inherits, by number.
inline constexpr int kCredentialsFd = 3;  // S3 credentials (a sealed memfd), S3 volumes only
inline constexpr int kFuseFd = 4;         // the FUSE connection freshfs-csi mounted
inline constexpr int kSourceFd = 5;       // the source directory, directory volumes only
inline constexpr int kReadyFd = 6;        // where it reports READY <port> or ERROR <message>
inline constexpr int kStateFd = 7;        // its resume state (a memfd freshfs-csi keeps)
inline constexpr int kControlFd = 8;      // its control socket (listening; freshfs-csi keeps it)

// Whether the spec's source is an S3 URL (else a directory).
bool IsS3Spec(const VolumeSpec& spec);

// Whether the volume is mounted read-only: the request says so, or its
// mount flags hold "ro".
bool IsReadOnlySpec(const VolumeSpec& spec);

// argv for `freshfs-mount -f ... --ready-fd 6 SOURCE /dev/fd/4`, argv[0] =
// `binary`; SOURCE is the S3 URL, or /dev/fd/5 for a directory.
std::vector<std::string> MountArgs(const std::string& binary, const VolumeSpec& spec,
                                   const VolumeDirs& dirs);

// The volume label of the child's metrics: the volume id, with characters a
// freshfs volume name cannot hold replaced by '_'.
std::string VolumeLabel(const std::string& volume_id);

// AWS credentials file text for the secrets of an S3 volume.
std::string CredentialsFileText(const std::map<std::string, std::string>& secrets);

}  // namespace freshfs::csi
