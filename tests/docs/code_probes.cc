#include "code_probes.h"

#include "config/options.h"
#include "csi/controller_service.h"
#include "csi/driver_config.h"
#include "csi/volume_context.h"
#include "doc_tables.h"

namespace freshfs::docs {
namespace {

bool StartsWith(const std::string& s, std::string_view prefix) { return s.starts_with(prefix); }

}  // namespace

bool VolumeAttributeKnown(const std::string& name) {
  StringMap context{{"source", kProbeS3Source}};
  if (name != "source") context[name] = "docs-probe";
  auto checked = csi::CheckVolumeContext(context);
  return checked || !StartsWith(checked.error().message, "unknown volume attribute");
}

bool VolumeContextIgnores(const std::string& key) {
  auto checked = csi::CheckVolumeContext({{"source", "/srv/docs-probe"}, {key, "docs-probe"}});
  return checked && !checked->attributes.contains(key);
}

grpc::Status CreateVolumeWith(const StringMap& parameters) {
  csi::ControllerService service{csi::DriverConfig{}};
  ::csi::v1::CreateVolumeRequest request;
  request.set_name("pvc-docs");
  auto* capability = request.add_volume_capabilities();
  capability->mutable_mount();
  capability->mutable_access_mode()->set_mode(
      ::csi::v1::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
  for (const auto& [key, value] : parameters) (*request.mutable_parameters())[key] = value;
  grpc::ServerContext context;
  ::csi::v1::CreateVolumeResponse response;
  return service.CreateVolume(&context, &request, &response);
}

bool StorageClassParameterKnown(const std::string& name) {
  StringMap parameters{{"source", kProbeS3Source}};
  if (name != "source") parameters[name] = "docs-probe";
  const std::string message = CreateVolumeWith(parameters).error_message();
  return !StartsWith(message, "unknown parameter") &&
         !StartsWith(message, "unknown volume attribute");
}

bool PassedParameterChecks(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) return true;
  return StartsWith(status.error_message(), "secret ");  // the provisioner secret comes next
}

std::set<std::string> RequiredSecretKeys() {
  std::set<std::string> required;
  StringMap secrets;
  for (int round = 0; round < 16; ++round) {
    auto checked = csi::CheckS3Secrets(secrets);
    if (checked) return required;
    // "secret accessKeyId missing (...)" or "secret accessKeyId is empty"
    const std::string& message = checked.error().message;
    if (!StartsWith(message, "secret ")) break;
    const std::string key = message.substr(7, message.find(' ', 7) - 7);
    if (required.contains(key)) break;
    required.insert(key);
    secrets[key] = "docs-probe";
  }
  return {"<CheckS3Secrets() never succeeded: see code_probes.cc>"};
}

std::set<std::string> KeptSecretKeys(const std::set<std::string>& candidates) {
  StringMap secrets;
  for (const std::string& key : candidates) secrets[key] = "docs-probe";
  auto checked = csi::CheckS3Secrets(secrets);
  std::set<std::string> kept;
  if (!checked) return kept;
  for (const auto& [key, value] : *checked) kept.insert(key);
  return kept;
}

std::set<std::string> DriverConfigKeys() {
  auto parsed = csi::ParseDriverConfig("docsProbeUnknownKey: 1\n", "probe.yaml");
  if (parsed) return {};
  // "config probe.yaml line 1: unknown key "docsProbeUnknownKey" (known: a, b)"
  const std::string& message = parsed.error().message;
  const size_t open = message.find("(known: ");
  if (open == std::string::npos) return {};
  std::string list = message.substr(open + 8, message.rfind(')') - open - 8);
  std::set<std::string> keys;
  for (size_t start = 0; start <= list.size();) {
    size_t comma = list.find(", ", start);
    keys.insert(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 2;
  }
  return keys;
}

std::set<std::string> CandidateNames() {
  std::set<std::string> names{"source",   "onDelete",   "readOnly",    "mountOptions",
                              "fsType",   "volumeName", "endpoint",    "region",
                              "bucket",   "prefix",     "pathStyle",   "cacheDir",
                              "s3Bucket", "s3Prefix",   "credentials", "secretName"};
  for (const config::Setting& setting : config::Settings()) {
    names.insert(CamelCase(setting.name));
  }
  return names;
}

}  // namespace freshfs::docs
