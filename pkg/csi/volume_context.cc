#include "csi/volume_context.h"

#include <array>
#include <cctype>
#include <string_view>
#include <vector>

#include "config/options.h"
#include "util/quote.h"

namespace freshfs::csi {
namespace {

struct Attribute {
  std::string_view name;     // as users write it (docs/csi.md, "Volumes")
  std::string_view setting;  // the freshfs-mount option with the same meaning
  bool s3_only;
};

// "source" is checked on its own; every other attribute is an option of
// freshfs-mount and parsed exactly as freshfs-mount parses it, so the
// two cannot disagree about what a valid value is.
// An empty setting: not a freshfs-mount option, checked with the secrets
// (csi/volume_credentials.h).
constexpr std::array<Attribute, 15> kAttributes{{
    {"pollInterval", "poll-interval", false},
    {"fullSyncInterval", "full-sync-interval", false},
    {"s3Endpoint", "s3-endpoint", true},
    {"s3Region", "s3-region", true},
    {"s3PathStyle", "s3-path-style", true},
    {"uid", "uid", false},
    {"gid", "gid", false},
    {"fileMode", "file-mode", false},
    {"dirMode", "dir-mode", false},
    {"revalidateOnOpen", "revalidate-on-open", false},
    {"cacheSize", "cache-size", true},
    {"credentials", "", true},
    {"roleArn", "s3-role-arn", true},
    {"stsEndpoint", "s3-sts-endpoint", true},
    {"tokenAudience", "", true},
}};

constexpr std::string_view kSource = "source";

// What kubelet adds to the volume context of a driver with podInfoOnMount,
// and of inline ephemeral volumes. Accepted and ignored.
// The service-account tokens (tokenRequests) are read by
// CheckS3Credentials, never kept as attributes.
constexpr std::array<std::string_view, 6> kPodInfoKeys{
    "csi.storage.k8s.io/serviceAccount.tokens", "csi.storage.k8s.io/pod.name",
    "csi.storage.k8s.io/pod.namespace",         "csi.storage.k8s.io/pod.uid",
    "csi.storage.k8s.io/serviceAccount.name",   "csi.storage.k8s.io/ephemeral",
};

const Attribute* FindAttribute(std::string_view name) {
  for (const Attribute& a : kAttributes) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

bool IsPodInfoKey(std::string_view key) {
  for (std::string_view k : kPodInfoKeys) {
    if (k == key) return true;
  }
  return false;
}

Error UnknownAttribute(const std::string& name) {
  std::vector<std::string_view> names{kSource};
  for (const Attribute& a : kAttributes) names.push_back(a.name);
  std::string message = "unknown volume attribute " + Quoted(name);
  if (std::string close = config::ClosestName(name, names); !close.empty()) {
    message += " (did you mean " + Quoted(close) + "?)";
  }
  return InvalidArgument(message);
}

// "file://..." in any case (CheckSource() accepts the scheme case-insensitively).
bool IsFileUrl(std::string_view source) {
  constexpr std::string_view kScheme = "file://";
  if (source.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(source[i])) != kScheme[i]) return false;
  }
  return true;
}

Status CheckSourceValue(const std::string& source, CheckedVolumeContext* checked) {
  const std::string prefix = "volume attribute source " + Quoted(source) + ": ";
  if (auto reason = config::CheckSource(source)) return InvalidArgument(prefix + *reason);
  std::string reason;
  if (config::ParseS3Source(source, &reason)) {
    checked->s3 = true;
    return Status::Ok();
  }
  // freshfs-mount resolves relative paths against its working directory;
  // the node plugin's working directory means nothing to a volume's author.
  if (source.front() != '/' && !IsFileUrl(source)) {
    return InvalidArgument(prefix + "not an absolute path");
  }
  checked->dir_path = config::DirSourcePath(source);
  if (checked->dir_path.empty()) return InvalidArgument(prefix + "not a directory path");
  return Status::Ok();
}

}  // namespace

Result<CheckedVolumeContext> CheckVolumeContext(const StringMap& context) {
  CheckedVolumeContext checked;
  config::Options scratch;  // SetOption() needs somewhere to put the value
  for (const auto& [name, value] : context) {
    if (IsPodInfoKey(name)) continue;
    if (name == kSource) {
      checked.attributes.emplace(name, value);
      continue;
    }
    const Attribute* attribute = FindAttribute(name);
    if (attribute == nullptr) return UnknownAttribute(name);
    if (attribute->setting.empty()) {
      if (value.empty()) return InvalidArgument("volume attribute " + name + " is empty");
      checked.attributes.emplace(name, value);
      continue;
    }
    if (auto reason = config::SetOption(scratch, attribute->setting, value)) {
      return InvalidArgument("volume attribute " + name + " " + Quoted(value) + ": " + *reason);
    }
    checked.attributes.emplace(name, value);
  }

  const auto source = checked.attributes.find(std::string(kSource));
  if (source == checked.attributes.end()) {
    return InvalidArgument(
        "volume attribute source is required (a directory path or "
        "s3://bucket[/prefix])");
  }
  if (Status s = CheckSourceValue(source->second, &checked); !s.ok()) return s.error();

  if (!checked.s3) {
    for (const Attribute& a : kAttributes) {
      if (a.s3_only && checked.attributes.contains(std::string(a.name))) {
        return InvalidArgument("volume attribute " + std::string(a.name) +
                               " applies only to s3:// sources");
      }
    }
  }
  return checked;
}

Result<StringMap> CheckS3Secrets(const StringMap& secrets, std::string_view which) {
  StringMap credentials;
  for (std::string_view key : {"accessKeyId", "secretAccessKey", "sessionToken"}) {
    const auto it = secrets.find(std::string(key));
    const bool required = key != "sessionToken";
    if (it == secrets.end()) {
      if (!required) continue;
      return InvalidArgument("secret " + std::string(key) +
                             " missing (s3:// sources need accessKeyId and secretAccessKey in " +
                             std::string(which) + ")");
    }
    if (it->second.empty()) {
      if (!required) continue;
      return InvalidArgument("secret " + std::string(key) + " is empty");
    }
    credentials.emplace(it->first, it->second);
  }
  return credentials;
}

}  // namespace freshfs::csi
