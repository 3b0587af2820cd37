// CSI Node service: publishes volumes on this node. Every RPC checks its
// arguments first (INVALID_ARGUMENT with a precise message), then enforces
// the driver config (allowedDirRoots), then takes the volume's try-lock
// (ABORTED when another operation on that volume is running) and hands the
// normalised request to the VolumeManager. Errors reach gRPC through
// ToGrpcStatus() only.
//
// Called from gRPC worker threads concurrently; the VolumeManager must
// outlive the service.
#pragma once

#include <string>

#include "csi.grpc.pb.h"
#include "csi/driver_config.h"
#include "csi/errors.h"
#include "csi/volume_locks.h"
#include "csi/volume_manager.h"

namespace freshfs::csi {

class NodeService final : public ::csi::v1::Node::Service {
 public:
  NodeService(std::string node_id, DriverConfig config, VolumeManager& volumes)
      : node_id_(std::move(node_id)), config_(std::move(config)), volumes_(volumes) {}

  grpc::Status NodePublishVolume(grpc::ServerContext* context,
                                 const ::csi::v1::NodePublishVolumeRequest* request,
                                 ::csi::v1::NodePublishVolumeResponse* response) override;
  grpc::Status NodeUnpublishVolume(grpc::ServerContext* context,
                                   const ::csi::v1::NodeUnpublishVolumeRequest* request,
                                   ::csi::v1::NodeUnpublishVolumeResponse* response) override;
  grpc::Status NodeGetVolumeStats(grpc::ServerContext* context,
                                  const ::csi::v1::NodeGetVolumeStatsRequest* request,
                                  ::csi::v1::NodeGetVolumeStatsResponse* response) override;
  grpc::Status NodeGetCapabilities(grpc::ServerContext* context,
                                   const ::csi::v1::NodeGetCapabilitiesRequest* request,
                                   ::csi::v1::NodeGetCapabilitiesResponse* response) override;
  grpc::Status NodeGetInfo(grpc::ServerContext* context,
                           const ::csi::v1::NodeGetInfoRequest* request,
                           ::csi::v1::NodeGetInfoResponse* response) override;

 private:
  // The request checked and turned into what the VolumeManager mounts.
  Result<VolumeSpec> CheckPublish(const ::csi::v1::NodePublishVolumeRequest& request) const;
  Status Publish(const ::csi::v1::NodePublishVolumeRequest& request);
  Status Unpublish(const ::csi::v1::NodeUnpublishVolumeRequest& request);
  Status GetVolumeStats(const ::csi::v1::NodeGetVolumeStatsRequest& request,
                        ::csi::v1::NodeGetVolumeStatsResponse* response);

  const std::string node_id_;
  const DriverConfig config_;
  VolumeManager& volumes_;
  VolumeLocks locks_;
};

}  // namespace freshfs::csi
