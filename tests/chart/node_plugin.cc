#include "chart/node_plugin.h"

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/http_client.h"
#include "support/mount.h"
#include "support/process.h"

#ifndef FRESHFS_CSI_BIN
#error "FRESHFS_CSI_BIN must name the freshfs-csi binary under test"
#endif

namespace freshfs::testing {
namespace {

namespace fs = std::filesystem;
namespace pb = ::csi::v1;

std::chrono::system_clock::time_point Deadline(std::chrono::seconds s) {
  return std::chrono::system_clock::now() + s;
}

}  // namespace

NodePlugin::NodePlugin()
    : dir_(MakeTempDir("node-plugin")),
      root_(dir_ + "/data"),
      socket_(dir_ + "/plugin/csi.sock"),
      state_(dir_ + "/state"),
      log_(dir_ + "/freshfs-csi.log") {
  fs::create_directories(root_);
  fs::create_directories(dir_ + "/plugin");
  // S3 volumes' processes run as nobody and must reach their directories
  // in the state dir (as under /var/lib on a node).
  for (fs::path p = dir_; p != "/tmp" && p.has_relative_path(); p = p.parent_path())
    fs::permissions(p, fs::perms::others_exec | fs::perms::group_exec, fs::perm_options::add);
  std::ofstream(dir_ + "/driver.yaml") << "allowedDirRoots: [" << root_ << "]\n";
}

NodePlugin::~NodePlugin() {
  for (const auto& [volume, target] : std::map(published_)) {
    const pid_t child = ChildPid(target);
    if (!Unpublish(volume, target)) {
      Unmount(target);
      if (child > 0) ::kill(child, SIGKILL);
    }
  }
  channel_.reset();
  if (pid_ > 0) StopProcess(pid_);
  RemoveTree(dir_);
}

::testing::AssertionResult NodePlugin::Start() {
  pid_ = SpawnWithLog(
      {FRESHFS_CSI_BIN, "--mode", "node", "--endpoint", "unix://" + socket_, "--node-id",
       "chart-test-node", "--config", dir_ + "/driver.yaml", "--state-dir", state_,
       "--mount-binary", MountBinary(), "--metrics-address", "127.0.0.1:0"},
      log_);
  if (pid_ < 0) return ::testing::AssertionFailure() << "cannot start " << FRESHFS_CSI_BIN;
  channel_ = grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials());
  if (!channel_->WaitForConnected(Deadline(std::chrono::seconds(20))))
    return ::testing::AssertionFailure() << "freshfs-csi does not answer on " << socket_ << ":\n"
                                         << Log();
  const std::string marker = "metrics at http://127.0.0.1:";
  const std::string log = Log();
  const size_t at = log.find(marker);
  if (at == std::string::npos)
    return ::testing::AssertionFailure() << "no metrics port in the log:\n" << log;
  metrics_port_ = std::atoi(log.c_str() + at + marker.size());
  return ::testing::AssertionSuccess();
}

std::optional<std::string> NodePlugin::PluginName() {
  auto identity = pb::Identity::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(Deadline(std::chrono::seconds(10)));
  pb::GetPluginInfoResponse info;
  if (!identity->GetPluginInfo(&context, {}, &info).ok()) return std::nullopt;
  return info.name();
}

::testing::AssertionResult NodePlugin::Publish(const std::string& volume_id,
                                               const std::map<std::string, std::string>& attributes,
                                               const std::map<std::string, std::string>& secrets,
                                               std::string* target) {
  *target = dir_ + "/target-" + volume_id;
  pb::NodePublishVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_target_path(*target);
  request.mutable_volume_capability()->mutable_mount();
  request.mutable_volume_capability()->mutable_access_mode()->set_mode(
      pb::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
  for (const auto& [k, v] : attributes) (*request.mutable_volume_context())[k] = v;
  for (const auto& [k, v] : secrets) (*request.mutable_secrets())[k] = v;
  auto node = pb::Node::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(Deadline(std::chrono::seconds(60)));
  pb::NodePublishVolumeResponse response;
  const grpc::Status status = node->NodePublishVolume(&context, request, &response);
  if (!status.ok())
    return ::testing::AssertionFailure()
           << "NodePublishVolume " << volume_id << ": " << status.error_message() << "\n"
           << Log();
  published_[volume_id] = *target;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult NodePlugin::Unpublish(const std::string& volume_id,
                                                 const std::string& target) {
  auto node = pb::Node::NewStub(channel_);
  pb::NodeUnpublishVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_target_path(target);
  grpc::ClientContext context;
  context.set_deadline(Deadline(std::chrono::seconds(60)));
  pb::NodeUnpublishVolumeResponse response;
  const grpc::Status status = node->NodeUnpublishVolume(&context, request, &response);
  if (!status.ok())
    return ::testing::AssertionFailure()
           << "NodeUnpublishVolume " << volume_id << ": " << status.error_message();
  published_.erase(volume_id);
  return ::testing::AssertionSuccess();
}

pid_t NodePlugin::ChildPid(const std::string& target) const {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_ + "/volumes", ec)) {
    if (entry.path().extension() != ".json") continue;
    const nlohmann::json record =
        nlohmann::json::parse(ReadFileOrEmpty(entry.path()), nullptr, /*allow_exceptions=*/false);
    if (!record.is_object() || record.value("target_path", "") != target) continue;
    return record.value("pid", pid_t(-1));
  }
  return -1;
}

std::optional<std::string> NodePlugin::Scrape() const {
  if (metrics_port_ <= 0) return std::nullopt;
  return ScrapeMetrics(metrics_port_);
}

std::string NodePlugin::Log() const { return ReadFileOrEmpty(log_); }

std::map<std::string, std::string> MetricFamilies(const std::string& text) {
  std::map<std::string, std::string> families;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string hash, keyword, name, type;
    if (words >> hash >> keyword >> name >> type && hash == "#" && keyword == "TYPE")
      families[name] = type;
  }
  return families;
}

}  // namespace freshfs::testing
