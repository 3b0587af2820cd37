// A NodePublishVolume as a pod or PV author shapes it: volume attributes
// (volumeAttributes, StorageClass parameters, inline volumes), mountOptions
// (mount_flags), secrets and the fsGroup, through the node service's checks
// (csi/node_service.h, volume_context.h, volume_capability.h) to the
// freshfs-mount command line (csi/mount_args.h) and the child's own parser
// of it (config/cli.h).
//
// Input, one item a line: "o:FLAGS" a mount_flags entry, "secret:KEY=VALUE",
// "group:GID" the volume_mount_group, "readonly", else "KEY=VALUE" a volume
// attribute. Directory sources may lie under /tmp/freshfs-fuzz-root.
//
// Properties: a refused request has a one-line message; for an accepted
// one, whatever its attributes and flags, the child's command line parses
// to what freshfs-csi decides and no volume can change: metrics on
// 127.0.0.1:0, no log file, config file, event listener, CA, profile or
// token file, staging and cache directories and descriptors as given, and
// read-only when the volume is.
#include <grpcpp/grpcpp.h>

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/cli.h"
#include "csi/mount_args.h"
#include "csi/node_service.h"
#include "fuzz_check.h"

namespace fcsi = freshfs::csi;
namespace pb = ::csi::v1;

namespace {

constexpr const char* kRoot = "/tmp/freshfs-fuzz-root";

// Keeps the spec of the last Publish.
class RecordingVolumes final : public fcsi::VolumeManager {
 public:
  std::optional<fcsi::VolumeSpec> spec;
  fcsi::Status Publish(const fcsi::VolumeSpec& s) override {
    spec = s;
    return fcsi::Status::Ok();
  }
  fcsi::Status Unpublish(const std::string&, const std::string&) override {
    return fcsi::Status::Ok();
  }
  fcsi::Result<fcsi::VolumeStats> Stats(const std::string&, const std::string&) override {
    return fcsi::VolumeStats{};
  }
};

pb::NodePublishVolumeRequest Request(std::string_view text) {
  pb::NodePublishVolumeRequest request;
  request.set_volume_id("pv-fuzz");
  request.set_target_path("/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pv-fuzz/mount");
  pb::VolumeCapability* capability = request.mutable_volume_capability();
  capability->mutable_access_mode()->set_mode(pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  pb::VolumeCapability::MountVolume* mount = capability->mutable_mount();
  auto split = [](std::string_view item) {
    const size_t eq = item.find('=');
    return std::pair{std::string(item.substr(0, eq)), eq == std::string_view::npos
                                                          ? std::string()
                                                          : std::string(item.substr(eq + 1))};
  };
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.starts_with("o:")) {
      mount->add_mount_flags(std::string(line.substr(2)));
    } else if (line.starts_with("secret:")) {
      auto [key, value] = split(line.substr(7));
      (*request.mutable_secrets())[key] = value;
    } else if (line.starts_with("group:")) {
      mount->set_volume_mount_group(std::string(line.substr(6)));
    } else if (line == "readonly") {
      request.set_readonly(true);
    } else {
      auto [key, value] = split(line);
      (*request.mutable_volume_context())[key] = value;
    }
  }
  return request;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool made_root =
      (::mkdir(kRoot, 0755), ::mkdir("/tmp/freshfs-fuzz-root/sub", 0755), true);
  (void)made_root;
  RecordingVolumes volumes;
  fcsi::NodeService node("node-1", fcsi::DriverConfig{{kRoot}}, volumes);
  const pb::NodePublishVolumeRequest request = Request(freshfs::fuzz::AsText(data, size));
  pb::NodePublishVolumeResponse response;
  const grpc::Status status = node.NodePublishVolume(nullptr, &request, &response);
  if (!status.ok()) {
    FUZZ_CHECK(!volumes.spec && freshfs::fuzz::OneLine(status.error_message()),
               "a refused request publishes nothing and says why in one line");
    return 0;
  }
  FUZZ_CHECK(volumes.spec.has_value(), "an accepted request is published");
  const fcsi::VolumeSpec& spec = *volumes.spec;
  const bool s3 = fcsi::IsS3Spec(spec);

  const std::vector<std::string> argv =
      fcsi::MountArgs("freshfs-mount", spec, {"/state/staging", "/state/cache"});
  std::vector<const char*> args;
  for (const std::string& a : argv) args.push_back(a.c_str());
  const auto parsed =
      freshfs::config::ParseCommandLine(static_cast<int>(args.size()), args.data(), "0");
  if (parsed.action != freshfs::config::ParseResult::Action::kRun) {
    // Values of mount options are the child's to judge (it reports ERROR).
    FUZZ_CHECK(parsed.exit_code == freshfs::config::kUsageExitCode &&
                   freshfs::fuzz::OneLine(parsed.output),
               "the child refuses a bad value as a usage error");
    return 0;
  }
  const freshfs::config::Options& o = parsed.options;
  FUZZ_CHECK(o.metrics_address == "127.0.0.1:0", "metrics stay on 127.0.0.1:0");
  FUZZ_CHECK(!o.log_file && !o.config_file && !o.events_address && !o.events_token_file,
             "no log file, config file or event listener from a volume");
  FUZZ_CHECK(!o.s3_ca_file && !o.s3_profile && !o.s3_role_arn && !o.s3_web_identity_token_file,
             "no CA, profile or token file from a volume");
  FUZZ_CHECK(o.staging_dir == "/state/staging" && (!o.cache_dir || *o.cache_dir == "/state/cache"),
             "staging and cache directories are the driver's");
  FUZZ_CHECK(o.ready_fd == fcsi::kReadyFd && o.mountpoint == "/dev/fd/4" && o.allow_other,
             "descriptors are the driver's");
  FUZZ_CHECK(o.source == (s3 ? spec.attributes.at("source") : std::string("/dev/fd/5")),
             "the source is the checked one");
  FUZZ_CHECK(s3 ? o.s3_credentials_file == "/dev/fd/3" : !o.s3_credentials_file,
             "credentials come only from the driver's memory file");
  FUZZ_CHECK(o.volume_name == fcsi::VolumeLabel(spec.volume_id), "the volume label is the id's");
  FUZZ_CHECK(!fcsi::IsReadOnlySpec(spec) || o.read_only, "a read-only volume's child is read-only");
  return 0;
}
