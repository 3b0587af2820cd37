#include "csi/node_service.h"

#include <algorithm>
#include <filesystem>

#include "csi/dir_source.h"
#include "csi/mount_args.h"
#include "csi/request_checks.h"
#include "csi/volume_capability.h"
#include "csi/volume_context.h"
#include "csi/volume_credentials.h"
#include "util/quote.h"

namespace freshfs::csi {

namespace pb = ::csi::v1;

namespace {

// Set, absolute, and without "." or ".." components: kubelet never sends
// those, and a path that is not what it looks like has no business here.
Status CheckAbsolutePath(const std::string& field, const std::string& path) {
  if (path.empty()) return InvalidArgument(field + " is required");
  if (HasControlCharacter(path)) {
    return InvalidArgument(field + " " + Quoted(path) + " contains control characters");
  }
  if (path.front() != '/') {
    return InvalidArgument(field + " " + Quoted(path) + " is not an absolute path");
  }
  for (const auto& part : std::filesystem::path(path)) {
    if (part == "." || part == "..") {
      return InvalidArgument(field + " " + Quoted(path) + " has a \".\" or \"..\" component");
    }
  }
  return Status::Ok();
}

StringMap ToStringMap(const google::protobuf::Map<std::string, std::string>& map) {
  return StringMap(map.begin(), map.end());
}

Error Busy(const std::string& volume_id) {
  return Aborted("operation on volume " + volume_id + " already in progress");
}

// The pod's fsGroup, which kubelet passes as volume_mount_group because the
// node declares VOLUME_MOUNT_GROUP (and the CSIDriver has fsGroupPolicy
// File), instead of changing every file's group itself: the volume reports
// every entry as owned by that group (the `gid` attribute); S3 volumes
// without fileMode/dirMode also make their files and directories group
// writable (0664/0775), as kubelet's own fsGroup handling would. A `gid`
// attribute that names another group is refused: the pod could not write.
Status ApplyMountGroup(const std::string& group, VolumeSpec* spec) {
  if (group.empty()) return Status::Ok();
  if (group.size() > 10 || group.find_first_not_of("0123456789") != std::string::npos ||
      std::stoull(group) > 0xfffffffeull) {
    return InvalidArgument("volume_mount_group " + Quoted(group) + " is not a numeric group id");
  }
  auto& attributes = spec->attributes;
  if (auto gid = attributes.find("gid"); gid != attributes.end() && gid->second != group) {
    return InvalidArgument("volume attribute gid " + Quoted(gid->second) +
                           " and the pod's fsGroup " + Quoted(group) +
                           " name different groups; drop one of them");
  }
  attributes["gid"] = group;
  if (IsS3Spec(*spec)) {
    attributes.emplace("fileMode", "0664");
    attributes.emplace("dirMode", "0775");
  }
  return Status::Ok();
}

}  // namespace

Result<VolumeSpec> NodeService::CheckPublish(const pb::NodePublishVolumeRequest& request) const {
  if (Status s = CheckVolumeId(request.volume_id()); !s.ok()) return s.error();
  if (Status s = CheckAbsolutePath("target_path", request.target_path()); !s.ok()) return s.error();
  if (!request.has_volume_capability()) return InvalidArgument("volume_capability is required");
  if (Status s = CheckVolumeCapability(request.volume_capability(), "volume_capability"); !s.ok()) {
    return s.error();
  }
  auto context = CheckVolumeContext(ToStringMap(request.volume_context()));
  if (!context) return context.error();

  VolumeSpec spec;
  spec.volume_id = request.volume_id();
  spec.target_path = request.target_path();
  spec.read_only =
      request.readonly() || IsReaderOnly(request.volume_capability().access_mode().mode());
  const auto& flags = request.volume_capability().mount().mount_flags();
  spec.mount_flags.assign(flags.begin(), flags.end());
  spec.attributes = std::move(context->attributes);
  if (Status s = ApplyMountGroup(request.volume_capability().mount().volume_mount_group(), &spec);
      !s.ok())
    return s.error();

  if (context->s3) {
    auto credentials = CheckS3Credentials(spec.attributes, ToStringMap(request.volume_context()),
                                          ToStringMap(request.secrets()));
    if (!credentials) return credentials.error();
    spec.secrets = std::move(credentials->secrets);
    spec.pod_token = std::move(credentials->pod_token);
  } else {
    auto real = ResolveDirSource(context->dir_path, config_.allowed_dir_roots);
    if (!real) return real.error();
    spec.attributes["source"] = std::move(*real);
  }
  return spec;
}

Status NodeService::Publish(const pb::NodePublishVolumeRequest& request) {
  auto spec = CheckPublish(request);
  if (!spec) return spec.error();
  auto lock = locks_.TryLock(spec->volume_id);
  if (!lock) return Busy(spec->volume_id);
  return volumes_.Publish(*spec);
}

Status NodeService::Unpublish(const pb::NodeUnpublishVolumeRequest& request) {
  if (Status s = CheckVolumeId(request.volume_id()); !s.ok()) return s;
  if (Status s = CheckAbsolutePath("target_path", request.target_path()); !s.ok()) return s;
  auto lock = locks_.TryLock(request.volume_id());
  if (!lock) return Busy(request.volume_id());
  return volumes_.Unpublish(request.volume_id(), request.target_path());
}

Status NodeService::GetVolumeStats(const pb::NodeGetVolumeStatsRequest& request,
                                   pb::NodeGetVolumeStatsResponse* response) {
  if (Status s = CheckVolumeId(request.volume_id()); !s.ok()) return s;
  // Only a missing path is a bad request: any other path that no volume is
  // published at (relative ones too) is NOT_FOUND, as the spec's table says.
  if (request.volume_path().empty()) return InvalidArgument("volume_path is required");
  // No volume lock: stats are a read, and kubelet polls them; a poll during
  // a publish must not fail with ABORTED.
  auto stats = volumes_.Stats(request.volume_id(), request.volume_path());
  if (!stats) return stats.error();
  auto add_usage = [response](const VolumeUsage& usage, pb::VolumeUsage::Unit unit) {
    pb::VolumeUsage* out = response->add_usage();
    out->set_available(usage.available);
    out->set_total(usage.total);
    out->set_used(usage.used);
    out->set_unit(unit);
  };
  if (stats->bytes) add_usage(*stats->bytes, pb::VolumeUsage::BYTES);
  if (stats->inodes) add_usage(*stats->inodes, pb::VolumeUsage::INODES);
  response->mutable_volume_condition()->set_abnormal(stats->abnormal);
  response->mutable_volume_condition()->set_message(stats->condition_message);
  return Status::Ok();
}

grpc::Status NodeService::NodePublishVolume(grpc::ServerContext*,
                                            const pb::NodePublishVolumeRequest* request,
                                            pb::NodePublishVolumeResponse*) {
  return ToGrpcStatus(Publish(*request));
}

grpc::Status NodeService::NodeUnpublishVolume(grpc::ServerContext*,
                                              const pb::NodeUnpublishVolumeRequest* request,
                                              pb::NodeUnpublishVolumeResponse*) {
  return ToGrpcStatus(Unpublish(*request));
}

grpc::Status NodeService::NodeGetVolumeStats(grpc::ServerContext*,
                                             const pb::NodeGetVolumeStatsRequest* request,
                                             pb::NodeGetVolumeStatsResponse* response) {
  Status status = GetVolumeStats(*request, response);
  if (!status.ok()) response->Clear();
  return ToGrpcStatus(status);
}

grpc::Status NodeService::NodeGetCapabilities(grpc::ServerContext*,
                                              const pb::NodeGetCapabilitiesRequest*,
                                              pb::NodeGetCapabilitiesResponse* response) {
  // SINGLE_NODE_MULTI_WRITER tells kubelet that the SINGLE_NODE_SINGLE_WRITER
  // and SINGLE_NODE_MULTI_WRITER access modes are understood (ReadWriteOncePod).
  // VOLUME_MOUNT_GROUP: kubelet passes a pod's fsGroup at publish instead of
  // changing the group of every file in the volume (ApplyMountGroup).
  for (auto type : {pb::NodeServiceCapability::RPC::GET_VOLUME_STATS,
                    pb::NodeServiceCapability::RPC::VOLUME_CONDITION,
                    pb::NodeServiceCapability::RPC::SINGLE_NODE_MULTI_WRITER,
                    pb::NodeServiceCapability::RPC::VOLUME_MOUNT_GROUP}) {
    response->add_capabilities()->mutable_rpc()->set_type(type);
  }
  return grpc::Status::OK;
}

grpc::Status NodeService::NodeGetInfo(grpc::ServerContext*, const pb::NodeGetInfoRequest*,
                                      pb::NodeGetInfoResponse* response) {
  response->set_node_id(node_id_);
  response->set_max_volumes_per_node(0);  // no limit: each volume is one process
  return grpc::Status::OK;
}

}  // namespace freshfs::csi
