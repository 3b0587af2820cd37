// CSI Identity service: who the plugin is (GetPluginInfo), which optional
// services it runs (GetPluginCapabilities) and whether it is healthy (Probe,
// polled by the livenessprobe sidecar).
//
// Stateless; gRPC calls it from any worker thread.
#pragma once

#include <string>

#include "csi.grpc.pb.h"

namespace freshfs::csi {

// The driver name users write in PVs, StorageClasses and CSIDriver objects.
inline constexpr const char* kDriverName = "freshfs.csi.dev";

class IdentityService final : public ::csi::v1::Identity::Service {
 public:
  // `version`: the freshfs version; `controller`: whether this process also
  // serves the Controller service (advertised as CONTROLLER_SERVICE).
  IdentityService(std::string version, bool controller)
      : version_(std::move(version)), controller_(controller) {}

  grpc::Status GetPluginInfo(grpc::ServerContext* context,
                             const ::csi::v1::GetPluginInfoRequest* request,
                             ::csi::v1::GetPluginInfoResponse* response) override;
  grpc::Status GetPluginCapabilities(grpc::ServerContext* context,
                                     const ::csi::v1::GetPluginCapabilitiesRequest* request,
                                     ::csi::v1::GetPluginCapabilitiesResponse* response) override;
  grpc::Status Probe(grpc::ServerContext* context, const ::csi::v1::ProbeRequest* request,
                     ::csi::v1::ProbeResponse* response) override;

 private:
  const std::string version_;
  const bool controller_;
};

}  // namespace freshfs::csi
