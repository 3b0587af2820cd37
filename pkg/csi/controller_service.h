// CSI Controller service: dynamic provisioning of DIRECTORY volumes. A
// StorageClass names a parent directory (parameter `source`, under the driver
// config's allowedDirRoots); CreateVolume makes <source>/<name> (mode 0750)
// and DeleteVolume removes it again (or keeps it, with onDelete: retain).
// Dynamic provisioning of S3 prefixes is not supported yet: an s3:// source
// is refused with INVALID_ARGUMENT "dynamic provisioning of S3 volumes is not
// supported yet".
//
// StorageClass parameters:
//   source      required: the parent directory (absolute path or file:///path)
//   onDelete    optional: delete (default) or retain
//   pollInterval, uid, gid, fileMode, dirMode, revalidateOnOpen
//               optional node volume attributes, checked as the node checks
//               them (volume_context.h) and passed through to the volume
//               context the node receives
//   csi.storage.k8s.io/*  the external-provisioner's own keys: accepted, dropped
// Anything else is INVALID_ARGUMENT naming it.
//
// State lives on disk, next to the volumes, so that any controller replica
// can serve any call: <source>/.freshfs-<name>.json (0600) records the
// parameters a volume was created with (idempotent CreateVolume, conflict
// detection, onDelete). It is written before the directory is created and
// removed after it is deleted, so only directories with such a file are ever
// deleted, and a directory without one is never adopted (ALREADY_EXISTS).
//
// Volume ids are "dir:" + the absolute real path of the volume directory, so
// DeleteVolume needs no other input. CSI recommends ids of at most 128 bytes;
// a longer one is refused with INVALID_ARGUMENT "volume path too long for a
// volume id" (so volume paths are limited to 124 bytes).
//
// Every RPC checks its arguments first, then allowedDirRoots, then takes the
// volume's try-lock (keyed by the volume id; ABORTED when another operation
// on the volume is running). Errors reach gRPC through ToGrpcStatus() only.
//
// Called from gRPC worker threads concurrently.
#pragma once

#include <functional>
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
  Status Validate(const ::csi::v1::ValidateVolumeCapabilitiesRequest& request,
                  ::csi::v1::ValidateVolumeCapabilitiesResponse* response);

  const DriverConfig config_;
  const LockedHook locked_hook_;
  VolumeLocks locks_;
};

}  // namespace freshfs::csi
