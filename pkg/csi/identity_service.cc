#include "csi/identity_service.h"

namespace freshfs::csi {

namespace pb = ::csi::v1;

grpc::Status IdentityService::GetPluginInfo(grpc::ServerContext*, const pb::GetPluginInfoRequest*,
                                            pb::GetPluginInfoResponse* response) {
  response->set_name(kDriverName);
  response->set_vendor_version(version_);
  return grpc::Status::OK;
}

grpc::Status IdentityService::GetPluginCapabilities(grpc::ServerContext*,
                                                    const pb::GetPluginCapabilitiesRequest*,
                                                    pb::GetPluginCapabilitiesResponse* response) {
  // No VOLUME_ACCESSIBILITY_CONSTRAINTS: a freshfs volume is reachable from
  // every node (a network store, or a shared directory on each node).
  if (controller_) {
    response->add_capabilities()->mutable_service()->set_type(
        pb::PluginCapability::Service::CONTROLLER_SERVICE);
  }
  return grpc::Status::OK;
}

grpc::Status IdentityService::Probe(grpc::ServerContext*, const pb::ProbeRequest*,
                                    pb::ProbeResponse* response) {
  // Answering at all is the health signal: the server is up and its worker
  // threads are not all stuck.
  response->mutable_ready()->set_value(true);
  return grpc::Status::OK;
}

}  // namespace freshfs::csi
