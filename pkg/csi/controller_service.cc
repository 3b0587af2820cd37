#include "csi/controller_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

#include "config/options.h"
#include "csi/dir_volumes.h"
#include "csi/request_checks.h"
#include "csi/s3_volumes.h"
#include "csi/volume_capability.h"
#include "csi/volume_context.h"
#include "csi/volume_record.h"
#include "util/quote.h"

namespace freshfs::csi {

namespace pb = ::csi::v1;

namespace {

constexpr std::string_view kProvisionerPrefix = "csi.storage.k8s.io/";

// The node volume attributes a StorageClass may set (volume_context.h checks
// their values) and that are passed through to the volume context.
constexpr std::array<std::string_view, 15> kPassThrough{
    "pollInterval",
    "fullSyncInterval",
    "uid",
    "gid",
    "fileMode",
    "dirMode",
    "revalidateOnOpen",
    "s3Endpoint",
    "s3Region",
    "s3PathStyle",
    "cacheSize",
    // Where the nodes get credentials (csi/volume_credentials.h); the
    // controller itself always uses the provisioner secret.
    "credentials",
    "roleArn",
    "stsEndpoint",
    "tokenAudience",
};

Error Busy(const std::string& volume_id) {
  return Aborted("operation on volume " + volume_id + " already in progress");
}

// The provisioner secret's S3 credentials.
Result<StringMap> CheckProvisionerSecrets(
    const google::protobuf::Map<std::string, std::string>& secrets) {
  return CheckS3Secrets(StringMap(secrets.begin(), secrets.end()),
                        "the provisioner secret, csi.storage.k8s.io/provisioner-secret-name");
}

// The request's parameters checked: the provisioner's keys dropped, onDelete
// defaulted; `attributes` gets the node attributes to pass through.
struct CheckedParameters {
  StringMap parameters;
  StringMap attributes;  // without source
  bool s3 = false;
  std::string parent_path;  // directories: absolute, not yet checked against the roots
};

Result<CheckedParameters> CheckParameters(const StringMap& parameters) {
  CheckedParameters checked;
  std::vector<std::string> unknown;
  for (const auto& [key, value] : parameters) {
    if (key.starts_with(kProvisionerPrefix)) continue;
    if (key == "source" || key == "onDelete" ||
        std::find(kPassThrough.begin(), kPassThrough.end(), key) != kPassThrough.end()) {
      checked.parameters.emplace(key, value);
    } else {
      unknown.push_back(key);
    }
  }
  if (!unknown.empty()) {
    std::string message = unknown.size() == 1 ? "unknown parameter " : "unknown parameters ";
    for (size_t i = 0; i < unknown.size(); ++i) {
      message += (i == 0 ? "" : ", ") + Quoted(unknown[i]);
    }
    if (unknown.size() == 1) {
      std::vector<std::string_view> names{"source", "onDelete"};
      names.insert(names.end(), kPassThrough.begin(), kPassThrough.end());
      if (std::string close = config::ClosestName(unknown[0], names); !close.empty()) {
        message += " (did you mean " + Quoted(close) + "?)";
      }
    }
    return InvalidArgument(message);
  }

  const auto source = checked.parameters.find("source");
  if (source == checked.parameters.end()) {
    return InvalidArgument(
        "parameter source is required (the directory or s3://bucket[/prefix] "
        "to create volumes in)");
  }
  auto [on_delete, inserted] = checked.parameters.emplace("onDelete", "delete");
  if (on_delete->second != "delete" && on_delete->second != "retain") {
    return InvalidArgument("parameter onDelete " + Quoted(on_delete->second) +
                           ": must be delete or retain");
  }

  // The node's own check of the volume context the node will receive.
  StringMap context;
  for (const auto& [key, value] : checked.parameters) {
    if (key != "onDelete") context.emplace(key, value);
  }
  auto volume_context = CheckVolumeContext(context);
  if (!volume_context) return volume_context.error();
  checked.attributes = std::move(volume_context->attributes);
  checked.attributes.erase("source");
  checked.s3 = volume_context->s3;
  checked.parent_path = std::move(volume_context->dir_path);
  return checked;
}

Result<int64_t> CheckCapacity(const pb::CreateVolumeRequest& request) {
  if (!request.has_capacity_range()) return int64_t{0};
  const int64_t required = request.capacity_range().required_bytes();
  const int64_t limit = request.capacity_range().limit_bytes();
  if (required < 0 || limit < 0) {
    return InvalidArgument("capacity_range: byte counts must not be negative");
  }
  if (limit > 0 && required > limit) {
    return InvalidArgument("capacity_range: required_bytes " + std::to_string(required) +
                           " exceeds limit_bytes " + std::to_string(limit));
  }
  return required;
}

Status CheckCapabilities(
    const google::protobuf::RepeatedPtrField<pb::VolumeCapability>& capabilities) {
  if (capabilities.empty()) return InvalidArgument("volume_capabilities is required");
  for (int i = 0; i < capabilities.size(); ++i) {
    const std::string field = "volume_capabilities[" + std::to_string(i) + "]";
    if (Status s = CheckVolumeCapability(capabilities[i], field); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

Status ControllerService::Create(const pb::CreateVolumeRequest& request,
                                 pb::CreateVolumeResponse* response) {
  const std::string& name = request.name();
  if (Status s = CheckVolumeName(name); !s.ok()) return s;
  if (request.has_volume_content_source()) {
    // The spec's "source incompatible or not supported" row.
    return InvalidArgument(
        "volume_content_source: freshfs volumes cannot be made from a "
        "snapshot or another volume (the controller has no CLONE_VOLUME or "
        "CREATE_DELETE_SNAPSHOT capability)");
  }
  auto capacity = CheckCapacity(request);
  if (!capacity) return capacity.error();
  if (Status s = CheckCapabilities(request.volume_capabilities()); !s.ok()) return s;
  auto checked =
      CheckParameters(StringMap(request.parameters().begin(), request.parameters().end()));
  if (!checked) return checked.error();
  const VolumeRecord wanted{name, checked->parameters, *capacity};

  pb::Volume* volume = response->mutable_volume();
  auto& context = *volume->mutable_volume_context();
  if (checked->s3) {
    auto credentials = CheckProvisionerSecrets(request.secrets());
    if (!credentials) return credentials.error();
    auto planned = PlanS3Volume(checked->parameters, name);
    if (!planned) return planned.error();
    auto lock = Lock(planned->id());
    if (!lock) return Busy(planned->id());
    if (Status s = CreateS3Volume(*planned, wanted, *credentials); !s.ok()) return s;
    volume->set_volume_id(planned->id());
    context["source"] = planned->source();
  } else {
    auto planned = PlanDirVolume(checked->parent_path, name, config_.allowed_dir_roots);
    if (!planned) return planned.error();
    auto lock = Lock(planned->id());
    if (!lock) return Busy(planned->id());
    if (Status s = CreateDirVolume(*planned, wanted); !s.ok()) return s;
    volume->set_volume_id(planned->id());
    context["source"] = planned->path();
  }
  volume->set_capacity_bytes(*capacity);
  for (const auto& [key, value] : checked->attributes) context[key] = value;
  return Status::Ok();
}

Status ControllerService::Delete(const pb::DeleteVolumeRequest& request) {
  const std::string& volume_id = request.volume_id();
  if (Status s = CheckVolumeId(volume_id); !s.ok()) return s;
  if (auto s3 = ParseS3VolumeId(volume_id)) {
    auto credentials = CheckProvisionerSecrets(request.secrets());
    if (!credentials) return credentials.error();
    auto lock = Lock(volume_id);
    if (!lock) return Busy(volume_id);
    auto resolved = ResolveS3Volume(*s3, *credentials);
    if (!resolved) return resolved.error();
    if (!*resolved) return Status::Ok();  // its index is gone: deleted already
    return DeleteS3Volume(**resolved, *credentials);
  }
  auto dir = LocateDirVolume(volume_id, config_.allowed_dir_roots);
  if (!dir) return dir.error();
  if (!*dir) {
    // Not an id of ours, or its parent is gone: nothing to delete (CSI: OK).
    spdlog::info("DeleteVolume {}: no such volume", volume_id);
    return Status::Ok();
  }
  auto lock = Lock(volume_id);
  if (!lock) return Busy(volume_id);
  return DeleteDirVolume(**dir);
}

std::optional<VolumeLocks::Guard> ControllerService::Lock(const std::string& volume_id) {
  auto lock = locks_.TryLock(volume_id);
  if (lock && locked_hook_) locked_hook_(volume_id);
  return lock;
}

// Whether the volume an id names exists; kNotFound when it cannot.
Result<bool> ControllerService::Exists(
    const std::string& volume_id, const google::protobuf::Map<std::string, std::string>& secrets) {
  if (auto s3 = ParseS3VolumeId(volume_id)) {
    auto credentials = CheckProvisionerSecrets(secrets);
    if (!credentials) return credentials.error();
    auto resolved = ResolveS3Volume(*s3, *credentials);
    if (!resolved) return resolved.error();
    if (!*resolved) return false;
    return S3VolumeExists(**resolved, *credentials);
  }
  auto dir = LocateDirVolume(volume_id, config_.allowed_dir_roots);
  if (!dir) return dir.error();
  if (!*dir) return false;
  return DirVolumeExists(**dir);
}

Status ControllerService::Validate(const pb::ValidateVolumeCapabilitiesRequest& request,
                                   pb::ValidateVolumeCapabilitiesResponse* response) {
  const std::string& volume_id = request.volume_id();
  if (Status s = CheckVolumeId(volume_id); !s.ok()) return s;
  if (request.volume_capabilities().empty()) {
    return InvalidArgument("volume_capabilities is required");
  }
  // The external-provisioner and external-attacher send no secret here: an
  // S3 volume is then judged by its id (which names the bucket and prefix),
  // and looked up only when credentials come along.
  const bool judge_by_id = ParseS3VolumeId(volume_id) && request.secrets().empty();
  if (!judge_by_id) {
    auto exists = Exists(volume_id, request.secrets());
    if (!exists) return exists.error();
    if (!*exists) return NotFound("volume " + volume_id + " does not exist");
  }

  for (int i = 0; i < request.volume_capabilities_size(); ++i) {
    const std::string field = "volume_capabilities[" + std::to_string(i) + "]";
    if (Status s = CheckVolumeCapability(request.volume_capabilities(i), field); !s.ok()) {
      response->set_message(s.error().message);
      return Status::Ok();
    }
  }
  *response->mutable_confirmed()->mutable_volume_capabilities() = request.volume_capabilities();
  return Status::Ok();
}

grpc::Status ControllerService::CreateVolume(grpc::ServerContext*,
                                             const pb::CreateVolumeRequest* request,
                                             pb::CreateVolumeResponse* response) {
  Status status = Create(*request, response);
  if (!status.ok()) response->Clear();
  return ToGrpcStatus(status);
}

grpc::Status ControllerService::DeleteVolume(grpc::ServerContext*,
                                             const pb::DeleteVolumeRequest* request,
                                             pb::DeleteVolumeResponse*) {
  return ToGrpcStatus(Delete(*request));
}

grpc::Status ControllerService::ValidateVolumeCapabilities(
    grpc::ServerContext*, const pb::ValidateVolumeCapabilitiesRequest* request,
    pb::ValidateVolumeCapabilitiesResponse* response) {
  Status status = Validate(*request, response);
  if (!status.ok()) response->Clear();
  return ToGrpcStatus(status);
}

grpc::Status ControllerService::ControllerGetCapabilities(
    grpc::ServerContext*, const pb::ControllerGetCapabilitiesRequest*,
    pb::ControllerGetCapabilitiesResponse* response) {
  response->add_capabilities()->mutable_rpc()->set_type(
      pb::ControllerServiceCapability::RPC::CREATE_DELETE_VOLUME);
  return grpc::Status::OK;
}

}  // namespace freshfs::csi
