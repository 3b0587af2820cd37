#include "csi/volume_credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "util/quote.h"

namespace freshfs::csi {
namespace {

std::string Get(const StringMap& map, const std::string& key) {
  const auto it = map.find(key);
  return it == map.end() ? std::string() : it->second;
}

bool HasKeys(const StringMap& secrets) {
  return secrets.contains("accessKeyId") || secrets.contains("secretAccessKey") ||
         secrets.contains("sessionToken");
}

Error Refused(const std::string& mode, const std::string& why) {
  return InvalidArgument("volume attribute credentials " + Quoted(mode) + ": " + why);
}

}  // namespace

Result<std::string> PodTokenFor(const std::string& tokens_json, const std::string& audience) {
  const nlohmann::json doc = nlohmann::json::parse(tokens_json, nullptr, false);
  if (!doc.is_object()) {
    return InvalidArgument(std::string(kServiceAccountTokensKey) + " is not a JSON object");
  }
  std::string audiences;
  for (const auto& [name, entry] : doc.items())
    audiences += (audiences.empty() ? "" : ", ") + Quoted(name);
  nlohmann::json entry;
  if (!audience.empty()) {
    if (!doc.contains(audience)) {
      return InvalidArgument("the pod's service-account tokens have no audience " +
                             Quoted(audience) + " (volume attribute tokenAudience; kubelet sent: " +
                             (audiences.empty() ? "none" : audiences) +
                             "; see the chart's csiDriver.tokenRequests)");
    }
    entry = doc[audience];
  } else if (doc.size() == 1) {
    entry = doc.begin().value();
  } else {
    return InvalidArgument("the pod's service-account tokens are for several audiences (" +
                           (audiences.empty() ? std::string("none") : audiences) +
                           "): name one in volume attribute tokenAudience");
  }
  if (!entry.is_object() || !entry.contains("token") || !entry["token"].is_string() ||
      entry["token"].get<std::string>().empty()) {
    return InvalidArgument("the pod's service-account token entry has no token");
  }
  return entry["token"].get<std::string>();
}

Result<S3Credentials> CheckS3Credentials(const StringMap& attributes, const StringMap& context,
                                         const StringMap& secrets) {
  const std::string mode =
      attributes.contains("credentials") ? Get(attributes, "credentials") : "secret";
  const bool role = attributes.contains("roleArn");
  S3Credentials out;
  if (mode == "secret") {
    if (role) {
      return InvalidArgument(
          "volume attribute roleArn needs credentials \"pod\" (the role is "
          "assumed with the pod's service-account token)");
    }
    for (const char* attribute : {"stsEndpoint", "tokenAudience"}) {
      if (attributes.contains(attribute)) {
        return InvalidArgument("volume attribute " + std::string(attribute) +
                               " applies only to credentials \"pod\"");
      }
    }
    auto checked = CheckS3Secrets(secrets);
    if (!checked) return checked.error();
    out.secrets = std::move(*checked);
    return out;
  }
  if (mode != "driver" && mode != "pod") {
    return InvalidArgument("volume attribute credentials " + Quoted(mode) +
                           ": must be secret, driver or pod");
  }
  if (HasKeys(secrets)) {
    return Refused(mode,
                   "the node publish secret holds S3 keys, which would not be used: "
                   "drop them, or use credentials \"secret\"");
  }
  if (mode == "driver") {
    if (role || attributes.contains("tokenAudience")) {
      return Refused(mode, "roleArn and tokenAudience apply only to credentials \"pod\"");
    }
    if (Get(context, "csi.storage.k8s.io/ephemeral") == "true") {
      return Refused(mode, "not for inline volumes: their author would get the node's identity");
    }
    return out;
  }
  if (!role || Get(attributes, "roleArn").empty()) {
    return Refused(mode, "needs volume attribute roleArn (the role the pod's token assumes)");
  }
  // Newer kubelets put the tokens into the secrets, older ones into the
  // volume context.
  std::string tokens = Get(secrets, kServiceAccountTokensKey);
  if (tokens.empty()) tokens = Get(context, kServiceAccountTokensKey);
  if (tokens.empty()) {
    return Refused(mode, "kubelet sent no service-account token (" +
                             std::string(kServiceAccountTokensKey) +
                             "): the CSIDriver needs tokenRequests (Helm value "
                             "csiDriver.tokenRequests)");
  }
  auto token = PodTokenFor(tokens, Get(attributes, "tokenAudience"));
  if (!token) return token.error();
  out.pod_token = std::move(*token);
  return out;
}

std::vector<std::string> CredentialArgs(const VolumeSpec& spec, const std::string& token_file) {
  const auto mode = spec.attributes.find("credentials");
  if (mode == spec.attributes.end() || mode->second != "pod" ||
      !spec.attributes.contains("roleArn"))
    return {};  // CheckS3Credentials refuses a pod volume without a role
  std::vector<std::string> args{"--s3-role-arn", spec.attributes.at("roleArn"),
                                "--s3-web-identity-token-file", token_file};
  if (const auto sts = spec.attributes.find("stsEndpoint"); sts != spec.attributes.end()) {
    args.insert(args.end(), {"--s3-sts-endpoint", sts->second});
  }
  return args;
}

std::string PodTokenFile(const std::string& volume_dir) { return volume_dir + "/token"; }

Status WritePodToken(const VolumeSpec& spec, const std::string& volume_dir,
                     std::pair<uid_t, gid_t> owner) {
  if (spec.pod_token.empty()) return Status::Ok();
  const std::string path = PodTokenFile(volume_dir);
  const std::string temporary = path + ".new";
  ::unlink(temporary.c_str());
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
  if (fd < 0) return Internal("pod token file " + Quoted(temporary) + ": " + std::strerror(errno));
  bool ok = ::fchown(fd, owner.first, owner.second) == 0;
  size_t done = 0;
  while (ok && done < spec.pod_token.size()) {
    const ssize_t n = ::write(fd, spec.pod_token.data() + done, spec.pod_token.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += size_t(n);
  }
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = ok ? errno : saved;
    ::unlink(temporary.c_str());
    return Internal("pod token file " + Quoted(path) + ": " + std::strerror(error));
  }
  return Status::Ok();
}

bool SameButPodToken(const VolumeSpec& a, const VolumeSpec& b) {
  VolumeSpec a_without = a, b_without = b;
  a_without.pod_token.clear();
  b_without.pod_token.clear();
  return a_without == b_without && !a.pod_token.empty() && !b.pod_token.empty();
}

}  // namespace freshfs::csi
