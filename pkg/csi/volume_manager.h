// VolumeManager: what the node service asks of whoever really mounts volumes
// (the freshfs-mount process supervisor). The node service checks every
// argument first, so a VolumeManager only ever sees specs that passed those
// checks, and it serialises operations per volume id (a second concurrent
// call on the same volume gets ABORTED and never reaches the manager).
//
// Implementations must be thread-safe: calls for different volumes, and
// Stats() for any volume, arrive concurrently from gRPC worker threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "csi/errors.h"

namespace prometheus {
class Collectable;
}

namespace freshfs::csi {

// One NodePublishVolume, checked and normalised.
struct VolumeSpec {
  std::string volume_id;
  std::string target_path;  // absolute
  // The request's readonly flag, or a reader-only access mode.
  bool read_only = false;
  // VolumeCapability.mount.mount_flags, as given (PV mountOptions).
  std::vector<std::string> mount_flags;
  // Volume attributes (names as in docs/csi.md) that passed validation; the pod-info
  // keys kubelet adds are removed. "source" is canonical: for a directory the
  // symlink-free path that was checked against allowedDirRoots (mount that,
  // not what the user wrote), for S3 the s3:// URL as given.
  std::map<std::string, std::string> attributes;
  // S3 sources only: accessKeyId, secretAccessKey and optionally
  // sessionToken. Never log these, never put them in argv; the volume's state
  // file keeps them (root's, 0600) so that a restarted plugin can restart the
  // volume (docs/csi.md, "State and trust").
  std::map<std::string, std::string> secrets;
  // Volumes with credentials "pod": the pod's service-account token (from
  // kubelet at each publish), which the volume assumes roleArn with
  // (csi/volume_credentials.h). A secret like the above.
  std::string pod_token;

  bool operator==(const VolumeSpec&) const = default;
};

struct VolumeUsage {
  int64_t available = 0;
  int64_t total = 0;
  int64_t used = 0;
};

struct VolumeStats {
  std::optional<VolumeUsage> bytes;   // unset: not meaningful (e.g. S3)
  std::optional<VolumeUsage> inodes;  // unset: not meaningful
  bool abnormal = false;              // VolumeCondition.abnormal
  std::string condition_message;      // VolumeCondition.message
};

class VolumeManager {
 public:
  virtual ~VolumeManager() = default;

  // Mounts `spec` at spec.target_path and returns once the mount answers.
  // Idempotent: the same spec already published at that target is Ok; a
  // different spec at the same target, or the same volume id with a
  // different spec, is kAlreadyExists.
  virtual Status Publish(const VolumeSpec& spec) = 0;

  // Unmounts the volume at `target_path` and cleans up after it.
  // Idempotent: nothing published there is Ok.
  virtual Status Unpublish(const std::string& volume_id, const std::string& target_path) = 0;

  // Usage and condition of the volume published at `volume_path`;
  // kNotFound when no such volume is published there.
  virtual Result<VolumeStats> Stats(const std::string& volume_id,
                                    const std::string& volume_path) = 0;

  // What the node's metrics endpoint serves: `local` (freshfs-csi's own
  // series) merged with the series the volumes' processes export; or
  // nullptr when there is nothing to add to `local`.
  virtual std::shared_ptr<prometheus::Collectable> MetricsCollectable(
      const std::weak_ptr<prometheus::Collectable>& /*local*/) {
    return nullptr;
  }

  // On request (SIGHUP): moves every volume whose process runs another
  // freshfs-mount binary than the configured one to it, in place. Returns
  // at once; the work happens in the background.
  virtual void RequestUpgrades() {}
};

}  // namespace freshfs::csi
