#include "csi/controller_service.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "config/options.h"
#include "csi/dir_source.h"
#include "csi/volume_capability.h"
#include "csi/volume_context.h"
#include "util/quote.h"
#include "util/unique_fd.h"

namespace freshfs::csi {

namespace pb = ::csi::v1;

namespace {

constexpr std::string_view kIdPrefix = "dir:";
constexpr size_t kMaxVolumeId = 128;  // what CSI recommends COs to accept
constexpr size_t kMaxName = 255;      // NAME_MAX
constexpr mode_t kVolumeDirMode = 0750;
constexpr std::string_view kProvisionerPrefix = "csi.storage.k8s.io/";

// The node volume attributes a StorageClass may set (volume_context.h checks
// their values). The S3-only ones are listed so that the node's check names
// them ("applies only to s3:// sources") rather than calling them unknown.
constexpr std::array<std::string_view, 10> kPassThrough{
    "pollInterval", "uid",        "gid",         "fileMode", "dirMode",
    "revalidateOnOpen", "s3Endpoint", "s3Region", "s3PathStyle", "cacheSize",
};

bool HasControlCharacter(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string Errno(int error) { return std::strerror(error); }

Error Busy(const std::string& volume_id) {
  return Aborted("operation on volume " + volume_id + " already in progress");
}

Status CheckVolumeId(const std::string& volume_id) {
  if (volume_id.empty()) return InvalidArgument("volume_id is required");
  if (HasControlCharacter(volume_id)) {
    return InvalidArgument("volume_id " + Quoted(volume_id) + " contains control characters");
  }
  return Status::Ok();
}

// A name that is one safe directory entry.
Status CheckName(const std::string& name) {
  if (name.empty()) return InvalidArgument("name is required");
  if (HasControlCharacter(name)) {
    return InvalidArgument("name " + Quoted(name) + " contains control characters");
  }
  if (name.size() > kMaxName) {
    return InvalidArgument("name is longer than " + std::to_string(kMaxName) + " bytes");
  }
  if (name.find('/') != std::string::npos) {
    return InvalidArgument("name " + Quoted(name) + " contains \"/\": it must be a single "
                           "directory name");
  }
  if (name == "." || name == "..") {
    return InvalidArgument("name " + Quoted(name) + " is not a valid directory name");
  }
  return Status::Ok();
}

std::string MetadataPath(const std::string& parent, const std::string& name) {
  return (parent == "/" ? "" : parent) + "/.freshfs-" + name + ".json";
}

std::string VolumePath(const std::string& parent, const std::string& name) {
  return (parent == "/" ? "" : parent) + "/" + name;
}

// A volume as its id names it.
struct VolumeRef {
  std::string parent;  // real path, under allowedDirRoots
  std::string name;
  std::string path() const { return VolumePath(parent, name); }
  std::string metadata() const { return MetadataPath(parent, name); }
};

// The parent and name in a volume id, or nullopt when the id is not one this
// controller makes ("dir:" + an absolute, lexically normal path).
std::optional<VolumeRef> ParseVolumeId(const std::string& volume_id) {
  if (!volume_id.starts_with(kIdPrefix)) return std::nullopt;
  const std::string path = volume_id.substr(kIdPrefix.size());
  if (path.size() < 2 || path.front() != '/' || path.back() == '/') return std::nullopt;
  if (std::filesystem::path(path).lexically_normal().string() != path) return std::nullopt;
  const size_t slash = path.rfind('/');
  VolumeRef ref{slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
  if (!CheckName(ref.name).ok()) return std::nullopt;
  return ref;
}

// The volume an id names, checked against the roots: nullopt when it cannot
// exist (not our id, or its parent directory is gone); kPermissionDenied
// when it lies outside allowedDirRoots.
Result<std::optional<VolumeRef>> LocateVolume(const std::string& volume_id,
                                              const std::vector<std::string>& roots) {
  auto ref = ParseVolumeId(volume_id);
  if (!ref) return std::optional<VolumeRef>();
  auto real = ResolveDirSource(ref->parent, roots);
  if (!real) {
    if (real.error().code == ErrorCode::kNotFound) return std::optional<VolumeRef>();
    return Error{real.error().code, "volume_id " + Quoted(volume_id) + ": " + real.error().message};
  }
  if (*real != ref->parent) {
    return PermissionDenied("volume_id " + Quoted(volume_id) +
                            ": its directory leads through a symlink");
  }
  return ref;
}

// What <parent>/.freshfs-<name>.json records.
struct Metadata {
  std::string name;
  StringMap parameters;  // as checked: csi.storage.k8s.io/ keys dropped, onDelete set
  int64_t capacity_bytes = 0;

  bool operator==(const Metadata&) const = default;
};

Result<std::optional<Metadata>> ReadMetadata(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<Metadata>();
    return Internal("volume metadata " + Quoted(path) + ": " + Errno(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Internal("volume metadata " + Quoted(path) + " is not a regular file");
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<Metadata>();
    return Internal("cannot open volume metadata " + Quoted(path) + ": " + Errno(errno));
  }
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("cannot read volume metadata " + Quoted(path) + ": " + Errno(errno));
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > (1 << 20)) break;
  }
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const Error corrupt = Internal("volume metadata " + Quoted(path) + " is corrupt");
  if (!json.is_object()) return corrupt;
  Metadata metadata;
  try {
    metadata.name = json.at("name").get<std::string>();
    metadata.parameters = json.at("parameters").get<StringMap>();
    metadata.capacity_bytes = json.at("capacityBytes").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    return corrupt;
  }
  return std::optional<Metadata>(std::move(metadata));
}

Status WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal(Errno(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Written to a temporary file and renamed into place: readers see all or nothing.
Status WriteMetadata(const std::string& path, const Metadata& metadata) {
  nlohmann::json json;
  json["name"] = metadata.name;
  json["parameters"] = metadata.parameters;
  json["capacityBytes"] = metadata.capacity_bytes;
  const std::string temp = path + ".tmp";
  const std::string failed = "cannot write volume metadata " + Quoted(path) + ": ";
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return Internal(failed + Errno(errno));
  Status written = WriteAll(fd.get(), json.dump() + "\n");
  if (written.ok() && ::fchmod(fd.get(), 0600) != 0) written = Internal(Errno(errno));
  if (written.ok() && ::fsync(fd.get()) != 0) written = Internal(Errno(errno));
  if (written.ok() && ::rename(temp.c_str(), path.c_str()) != 0) written = Internal(Errno(errno));
  if (!written.ok()) {
    ::unlink(temp.c_str());
    return Internal(failed + written.message());
  }
  return Status::Ok();
}

Status RemoveMetadata(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Internal("cannot remove volume metadata " + Quoted(path) + ": " + Errno(errno));
  }
  return Status::Ok();
}

// The request's parameters checked: the provisioner's keys dropped, onDelete
// defaulted; `attributes` gets the node attributes to pass through.
struct CheckedParameters {
  StringMap parameters;
  StringMap attributes;     // without source
  std::string parent_path;  // absolute, not yet checked against the roots
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
    return InvalidArgument("parameter source is required (the directory to create volumes in)");
  }
  if (StartsWithNoCase(source->second, "s3://")) {
    return InvalidArgument("dynamic provisioning of S3 volumes is not supported yet");
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
  if (Status s = CheckName(request.name()); !s.ok()) return s;
  auto capacity = CheckCapacity(request);
  if (!capacity) return capacity.error();
  if (Status s = CheckCapabilities(request.volume_capabilities()); !s.ok()) return s;
  auto checked =
      CheckParameters(StringMap(request.parameters().begin(), request.parameters().end()));
  if (!checked) return checked.error();

  auto parent = ResolveDirSource(checked->parent_path, config_.allowed_dir_roots);
  if (!parent) return parent.error();
  const std::string& name = request.name();
  const std::string path = VolumePath(*parent, name);
  const std::string volume_id = std::string(kIdPrefix) + path;
  if (volume_id.size() > kMaxVolumeId) {
    return InvalidArgument("volume path too long for a volume id: " + Quoted(volume_id) + " is " +
                           std::to_string(volume_id.size()) + " bytes, at most " +
                           std::to_string(kMaxVolumeId));
  }

  auto lock = locks_.TryLock(volume_id);
  if (!lock) return Busy(volume_id);
  if (locked_hook_) locked_hook_(volume_id);

  const Metadata wanted{name, checked->parameters, *capacity};
  const std::string metadata_path = MetadataPath(*parent, name);
  auto existing = ReadMetadata(metadata_path);
  if (!existing) return existing.error();
  struct stat st;
  if (*existing) {
    if (**existing != wanted) {
      return AlreadyExists("volume " + name + " already exists in " + *parent +
                           " with different parameters");
    }
  } else {
    // No record: only a directory this controller never made can be there.
    if (::lstat(path.c_str(), &st) == 0) {
      return AlreadyExists("directory " + Quoted(path) +
                           " already exists and was not created by freshfs for volume " + name);
    }
    if (Status s = WriteMetadata(metadata_path, wanted); !s.ok()) return s;
  }

  if (::mkdir(path.c_str(), kVolumeDirMode) == 0) {
    if (::chmod(path.c_str(), kVolumeDirMode) != 0) {  // whatever the umask
      return Internal("chmod " + Quoted(path) + ": " + Errno(errno));
    }
    spdlog::info("created volume directory {}", path);
  } else if (errno == EEXIST) {
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Internal("volume path " + Quoted(path) + " exists and is not a directory");
    }
  } else {
    return Internal("cannot create directory " + Quoted(path) + ": " + Errno(errno));
  }

  pb::Volume* volume = response->mutable_volume();
  volume->set_volume_id(volume_id);
  volume->set_capacity_bytes(*capacity);
  auto& context = *volume->mutable_volume_context();
  context["source"] = path;
  for (const auto& [key, value] : checked->attributes) context[key] = value;
  return Status::Ok();
}

Status ControllerService::Delete(const pb::DeleteVolumeRequest& request) {
  const std::string& volume_id = request.volume_id();
  if (Status s = CheckVolumeId(volume_id); !s.ok()) return s;
  auto ref = LocateVolume(volume_id, config_.allowed_dir_roots);
  if (!ref) return ref.error();
  if (!*ref) {
    // Not an id of ours, or its parent is gone: nothing to delete (CSI: OK).
    spdlog::info("DeleteVolume {}: no such volume", volume_id);
    return Status::Ok();
  }

  auto lock = locks_.TryLock(volume_id);
  if (!lock) return Busy(volume_id);
  if (locked_hook_) locked_hook_(volume_id);

  // Only a directory with its record was made by this controller.
  auto metadata = ReadMetadata((*ref)->metadata());
  if (!metadata) return metadata.error();
  if (!*metadata) return Status::Ok();  // already deleted (or retained)

  const std::string path = (*ref)->path();
  if ((*metadata)->parameters["onDelete"] == "retain") {
    spdlog::info("volume {} deleted; its directory {} is retained", volume_id, path);
  } else {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);  // does not follow symlinks
    if (ec) return Internal("cannot remove " + Quoted(path) + ": " + ec.message());
    spdlog::info("removed volume directory {}", path);
  }
  return RemoveMetadata((*ref)->metadata());
}

Status ControllerService::Validate(const pb::ValidateVolumeCapabilitiesRequest& request,
                                   pb::ValidateVolumeCapabilitiesResponse* response) {
  const std::string& volume_id = request.volume_id();
  if (Status s = CheckVolumeId(volume_id); !s.ok()) return s;
  if (request.volume_capabilities().empty()) {
    return InvalidArgument("volume_capabilities is required");
  }
  auto ref = LocateVolume(volume_id, config_.allowed_dir_roots);
  if (!ref) return ref.error();
  const Error not_found = NotFound("volume " + volume_id + " does not exist");
  if (!*ref) return not_found;
  auto metadata = ReadMetadata((*ref)->metadata());
  if (!metadata) return metadata.error();
  struct stat st;
  if (!*metadata || ::lstat((*ref)->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return not_found;
  }

  for (int i = 0; i < request.volume_capabilities_size(); ++i) {
    const std::string field = "volume_capabilities[" + std::to_string(i) + "]";
    if (Status s = CheckVolumeCapability(request.volume_capabilities(i), field); !s.ok()) {
      response->set_message(s.message());
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
