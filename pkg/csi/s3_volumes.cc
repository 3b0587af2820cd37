#include "csi/s3_volumes.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <memory>
#include <string_view>
#include <vector>

#include "config/options.h"
#include "s3/client.h"
#include "csi/request_checks.h"
#include "s3/sigv4.h"
#include "util/quote.h"

namespace freshfs::csi {

namespace {

constexpr std::string_view kIdPrefix = "s3:";
constexpr std::string_view kHashedIdPrefix = "s3#";
constexpr char kSeparator = ';';
constexpr size_t kIdHashDigits = 40;
constexpr std::string_view kIndexPrefix = ".freshfs-ids/";

// ENDPOINT ";" REGION ";" PATHSTYLE ";"
std::string Location(const S3Volume& volume) {
  std::string location;
  for (const std::string* field : {&volume.endpoint, &volume.region, &volume.path_style}) {
    location += *field;
    location += kSeparator;
  }
  return location;
}

std::string Join(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "/" + name;
}

Error FromS3(const s3::Error& error, const std::string& doing) {
  const std::string message = doing + ": " + error.Describe();
  switch (error.ToErrno()) {
    case EACCES:
      return PermissionDenied(message);
    case ENOENT:
      return NotFound(message);
    case EIO:
      return Unavailable(message);
    default:
      return Internal(message);
  }
}

std::unique_ptr<s3::Client> Connect(const S3Volume& volume, const StringMap& credentials) {
  s3::ClientConfig config;
  config.endpoint = volume.endpoint;
  if (!volume.region.empty()) config.region = volume.region;
  config.path_style = volume.path_style == "true";
  auto secret = [&](const char* key) {
    const auto it = credentials.find(key);
    return it == credentials.end() ? std::string() : it->second;
  };
  config.credentials.access_key_id = secret("accessKeyId");
  config.credentials.secret_access_key = secret("secretAccessKey");
  config.credentials.session_token = secret("sessionToken");
  config.credentials.source = "provisioner secret";
  return s3::Client::Create(std::move(config), volume.bucket);
}

Result<std::optional<VolumeRecord>> ReadRecord(s3::Client& client, const S3Volume& volume) {
  std::string text(kMaxVolumeRecordBytes, '\0');
  auto read = client.GetRange(volume.record_key(), 0, text.size(), text.data());
  const std::string where = "s3://" + volume.bucket + "/" + volume.record_key();
  if (!read) {
    if (read.error().http_status == 404 && read.error().code == "NoSuchKey") {
      return std::optional<VolumeRecord>();
    }
    return FromS3(read.error(), "reading volume metadata " + where);
  }
  text.resize(*read);
  auto record = ParseVolumeRecord(text, where);
  if (!record) return record.error();
  return std::optional<VolumeRecord>(std::move(*record));
}

// Whether any object lies under the volume's prefix.
Result<bool> HoldsObjects(s3::Client& client, const S3Volume& volume) {
  auto listing = client.List(volume.prefix(), "", 1);
  if (!listing) return FromS3(listing.error(), "listing the volume's prefix");
  return !listing->objects.empty() || !listing->common_prefixes.empty();
}

}  // namespace

std::string S3Volume::id() const {
  if (!unresolved_hash.empty())
    return std::string(kHashedIdPrefix) + Location(*this) + bucket + kSeparator + unresolved_hash;
  std::string full = std::string(kIdPrefix) + Location(*this) + bucket + "/" + Join(parent, name);
  if (full.size() <= kMaxVolumeIdBytes) return full;
  return std::string(kHashedIdPrefix) + Location(*this) + bucket + kSeparator +
         s3::Sha256Hex(full).substr(0, kIdHashDigits);
}

std::string S3Volume::index_key() const {
  const std::string volume_id = id();
  if (!volume_id.starts_with(kHashedIdPrefix)) return "";
  return std::string(kIndexPrefix) + volume_id.substr(volume_id.size() - kIdHashDigits);
}

std::string S3Volume::prefix() const { return Join(parent, name) + "/"; }
std::string S3Volume::record_key() const { return Join(parent, VolumeRecordName(name)); }
std::string S3Volume::source() const { return "s3://" + bucket + "/" + Join(parent, name); }

bool IsS3VolumeId(const std::string& volume_id) {
  return volume_id.starts_with(kIdPrefix) || volume_id.starts_with(kHashedIdPrefix);
}

Result<S3Volume> PlanS3Volume(const StringMap& parameters, const std::string& name) {
  auto parameter = [&](const char* key) {
    const auto it = parameters.find(key);
    return it == parameters.end() ? std::string() : it->second;
  };
  S3Volume volume;
  std::string reason;
  const auto source = config::ParseS3Source(parameter("source"), &reason);
  if (!source) return InvalidArgument("parameter source: " + reason);
  volume.bucket = source->bucket;
  volume.parent = source->prefix;
  if (!volume.parent.empty()) volume.parent.pop_back();  // the trailing '/'
  volume.name = name;
  volume.endpoint = parameter("s3Endpoint");
  while (!volume.endpoint.empty() && volume.endpoint.back() == '/') volume.endpoint.pop_back();
  volume.region = parameter("s3Region");
  if (const std::string style = parameter("s3PathStyle"); !style.empty()) {
    const auto on = config::ParseBool(style);
    if (!on) return InvalidArgument("parameter s3PathStyle " + Quoted(style) + ": not a boolean");
    volume.path_style = *on ? "true" : "false";
  }
  for (const auto& [key, value] :
       {std::pair{"s3Endpoint", volume.endpoint}, std::pair{"s3Region", volume.region}}) {
    if (value.find(kSeparator) != std::string::npos) {
      return InvalidArgument("parameter " + std::string(key) + " " + Quoted(value) +
                             ": must not contain ';' (volume ids carry it)");
    }
  }
  const std::string id = volume.id();
  if (id.size() > kMaxVolumeIdBytes) {
    return InvalidArgument("volume id too long: " + Quoted(id) + " is " +
                           std::to_string(id.size()) + " bytes, at most " +
                           std::to_string(kMaxVolumeIdBytes) +
                           " (the id carries s3Endpoint, s3Region and the bucket: use a "
                           "shorter endpoint name)");
  }
  return volume;
}

std::optional<S3Volume> ParseS3VolumeId(const std::string& volume_id) {
  if (!IsS3VolumeId(volume_id)) return std::nullopt;
  const bool hashed = volume_id.starts_with(kHashedIdPrefix);
  std::string_view rest = std::string_view(volume_id).substr(kIdPrefix.size());
  S3Volume volume;
  for (std::string* field : {&volume.endpoint, &volume.region, &volume.path_style}) {
    const size_t end = rest.find(kSeparator);
    if (end == std::string_view::npos) return std::nullopt;
    *field = std::string(rest.substr(0, end));
    rest.remove_prefix(end + 1);
  }
  if (!volume.path_style.empty() && volume.path_style != "true" && volume.path_style != "false") {
    return std::nullopt;
  }
  if (hashed) {
    const size_t end = rest.find(kSeparator);
    if (end == std::string_view::npos) return std::nullopt;
    volume.bucket = std::string(rest.substr(0, end));
    volume.unresolved_hash = std::string(rest.substr(end + 1));
    std::string reason;
    if (volume.unresolved_hash.size() != kIdHashDigits ||
        volume.unresolved_hash.find_first_not_of("0123456789abcdef") != std::string::npos ||
        !config::ParseS3Source("s3://" + volume.bucket, &reason) || volume.id() != volume_id)
      return std::nullopt;
    return volume;
  }
  const size_t first = rest.find('/'), last = rest.rfind('/');
  if (first == std::string_view::npos) return std::nullopt;
  volume.bucket = std::string(rest.substr(0, first));
  volume.name = std::string(rest.substr(last + 1));
  if (last > first) volume.parent = std::string(rest.substr(first + 1, last - first - 1));
  // Exactly what PlanS3Volume() would have made.
  std::string reason;
  if (!config::ParseS3Source(volume.source(), &reason) || !CheckVolumeName(volume.name).ok() ||
      volume.id() != volume_id) {
    return std::nullopt;
  }
  return volume;
}

Result<std::optional<S3Volume>> ResolveS3Volume(const S3Volume& volume,
                                                const StringMap& credentials) {
  if (volume.unresolved_hash.empty()) return std::optional<S3Volume>(volume);
  auto client = Connect(volume, credentials);
  const std::string key = volume.index_key();
  std::string text(4096, '\0');
  auto read = client->GetRange(key, 0, text.size(), text.data());
  if (!read) {
    if (read.error().http_status == 404) return std::optional<S3Volume>();
    return FromS3(read.error(), "reading the volume index s3://" + volume.bucket + "/" + key);
  }
  text.resize(*read);
  // "<parent>\n<name>\n"
  const size_t newline = text.find('\n');
  if (newline == std::string::npos || text.empty() || text.back() != '\n')
    return Internal("volume index s3://" + volume.bucket + "/" + key + " is corrupt");
  S3Volume resolved = volume;
  resolved.unresolved_hash.clear();
  resolved.parent = text.substr(0, newline);
  resolved.name = text.substr(newline + 1, text.size() - newline - 2);
  if (resolved.id() != volume.id() || !CheckVolumeName(resolved.name).ok())
    return Internal("volume index s3://" + volume.bucket + "/" + key + " names another volume");
  return std::optional<S3Volume>(std::move(resolved));
}

Status CreateS3Volume(const S3Volume& volume, const VolumeRecord& wanted,
                      const StringMap& credentials) {
  auto client = Connect(volume, credentials);
  auto existing = ReadRecord(*client, volume);
  if (!existing) return existing.error();
  if (*existing) {
    if (**existing != wanted) {
      return AlreadyExists("volume " + volume.name + " already exists in s3://" + volume.bucket +
                           "/" + volume.parent + " with different parameters");
    }
  } else {
    auto occupied = HoldsObjects(*client, volume);
    if (!occupied) return occupied.error();
    if (*occupied) {
      return AlreadyExists("prefix s3://" + volume.bucket + "/" + volume.prefix() +
                           " already holds objects not created by freshfs for volume " +
                           volume.name);
    }
    if (const std::string index = volume.index_key(); !index.empty()) {
      auto indexed = client->Put(index, volume.parent + "\n" + volume.name + "\n");
      if (!indexed) return FromS3(indexed.error(), "writing the volume index");
    }
    auto put = client->Put(volume.record_key(), FormatVolumeRecord(wanted));
    if (!put) return FromS3(put.error(), "writing volume metadata");
  }
  auto marker = client->Put(volume.prefix(), "");
  if (!marker) return FromS3(marker.error(), "creating the volume's prefix");
  spdlog::info("created S3 volume {}", volume.source());
  return Status::Ok();
}

Status DeleteS3Volume(const S3Volume& volume, const StringMap& credentials) {
  auto client = Connect(volume, credentials);
  auto record = ReadRecord(*client, volume);
  if (!record) return record.error();
  if (!*record) return Status::Ok();  // already deleted (or retained)

  if ((*record)->retain_on_delete()) {
    spdlog::info("volume {} deleted; its objects under {} are retained", volume.id(),
                 volume.source());
  } else {
    auto listing = client->List(volume.prefix(), "");
    if (!listing) return FromS3(listing.error(), "listing the volume's objects");
    std::vector<std::string> keys;
    keys.reserve(listing->objects.size());
    for (const s3::ObjectInfo& object : listing->objects) keys.push_back(object.key);
    if (auto deleted = client->DeleteMany(keys); !deleted) {
      return FromS3(deleted.error(), "deleting the volume's objects");
    }
    spdlog::info("removed S3 volume {} ({} objects)", volume.source(), keys.size());
  }
  auto removed = client->Delete(volume.record_key());
  if (!removed) return FromS3(removed.error(), "removing volume metadata");
  if (const std::string index = volume.index_key(); !index.empty()) {
    auto unindexed = client->Delete(index);
    if (!unindexed) return FromS3(unindexed.error(), "removing the volume index");
  }
  return Status::Ok();
}

Result<bool> S3VolumeExists(const S3Volume& volume, const StringMap& credentials) {
  auto client = Connect(volume, credentials);
  auto record = ReadRecord(*client, volume);
  if (!record) return record.error();
  return record->has_value();
}

}  // namespace freshfs::csi
