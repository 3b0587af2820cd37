// CSI Controller service: dynamic provisioning. A StorageClass names where
// volumes are made (parameter `source`); CreateVolume makes one named after
// the volume there and DeleteVolume removes it again (or keeps it, with
// onDelete: retain):
//   - a directory under the driver config's allowedDirRoots: <source>/<name>
//     (dir_volumes.h);
//   - s3://bucket[/prefix]: the prefix <prefix>/<name>/, using the
//     provisioner secret's credentials (s3_volumes.h).
//
// StorageClass parameters:
//   source      required: the parent directory (absolute path or file:///path)
//               or s3://bucket[/prefix]
//   onDelete    optional: delete (default) or retain
//   pollInterval, uid, gid, fileMode, dirMode, revalidateOnOpen, cacheSize,
//   s3Endpoint, s3Region, s3PathStyle
//               optional node volume attributes, checked as the node checks
//               them (volume_context.h) and passed through to the volume
//               context the node receives
//   csi.storage.k8s.io/*  the external-provisioner's own keys: accepted, dropped
// Anything else is INVALID_ARGUMENT naming it.
//
// State lives next to the volumes (a .freshfs-<name>.json record, see
// volume_record.h), so that any controller replica can serve any call, and
// volume ids carry everything DeleteVolume needs ("dir:<path>" or
// "s3:<endpoint>;<region>;<style>;<bucket>/<prefix>", at most 128 bytes).
//
// Every RPC checks its arguments first, then allowedDirRoots or secrets, then
// takes the volume's try-lock (keyed by the volume id; ABORTED when another
// operation on the volume is running). Errors reach gRPC through
// ToGrpcStatus() only.
//
// Called from gRPC worker threads concurrently.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "csi.grpc.pb.h"
#include "csi/driver_config.h"
#include "csi/errors.h"
#include "csi/volume_locks.h"

namespace freshfs::csi {

class ControllerService final : public ::csi::v1::Controller::Service {
 public:
  // For tests: called with the volume id while CreateVolume/DeleteVolume hold
  // the volume's lock, before they touch the filesystem.
  using LockedHook = std::function<void(const std::string& volume_id)>;

  explicit ControllerService(DriverConfig config, LockedHook locked_hook = nullptr)
      : config_(std::move(config)), locked_hook_(std::move(locked_hook)) {}

  grpc::Status CreateVolume(grpc::ServerContext* context,
                            const ::csi::v1::CreateVolumeRequest* request,
                            ::csi::v1::CreateVolumeResponse* response) override;
  grpc::Status DeleteVolume(grpc::ServerContext* context,
                            const ::csi::v1::DeleteVolumeRequest* request,
                            ::csi::v1::DeleteVolumeResponse* response) override;
  grpc::Status ValidateVolumeCapabilities(
      grpc::ServerContext* context, const ::csi::v1::ValidateVolumeCapabilitiesRequest* request,
      ::csi::v1::ValidateVolumeCapabilitiesResponse* response) override;
  grpc::Status ControllerGetCapabilities(
      grpc::ServerContext* context, const ::csi::v1::ControllerGetCapabilitiesRequest* request,
      ::csi::v1::ControllerGetCapabilitiesResponse* response) override;

 private:
  Status Create(const ::csi::v1::CreateVolumeRequest& request,
                ::csi::v1::CreateVolumeResponse* response);
  Status Delete(const ::csi::v1::DeleteVolumeRequest& request);
  // The volume's try-lock (nullopt when another call holds it); runs the
  // test hook once it is held.
  std::optional<VolumeLocks::Guard> Lock(const std::string& volume_id);
  Result<bool> Exists(const std::string& volume_id,
                      const google::protobuf::Map<std::string, std::string>& secrets);
  Status Validate(const ::csi::v1::ValidateVolumeCapabilitiesRequest& request,
                  ::csi::v1::ValidateVolumeCapabilitiesResponse* response);

  const DriverConfig config_;
  const LockedHook locked_hook_;
  VolumeLocks locks_;
};

}  // namespace freshfs::csi
