// The server around the services: Identity, the unix socket (permissions,
// stale and live sockets), the call log with secrets stripped, call counts
// and their Prometheus series.
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "csi_test_env.h"
#include "csi/identity_service.h"

namespace freshfs::csi::testing {
namespace {

using ServerTest = CsiServerTest;

mode_t FileMode(const fs::path& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

// A socket file nobody listens on: what a killed freshfs-csi leaves behind.
void MakeStaleSocket(const fs::path& path) {
  fs::create_directories(path.parent_path());
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
}

// --- Identity

TEST_F(ServerTest, PluginInfo) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::GetPluginInfoResponse response;
  ASSERT_TRUE(identity_->GetPluginInfo(&context, {}, &response).ok());
  EXPECT_EQ(response.name(), "freshfs.csi.dev");
  EXPECT_EQ(response.vendor_version(), "1.2.3");
}

TEST_F(ServerTest, NodePluginHasNoControllerCapability) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::GetPluginCapabilitiesResponse response;
  ASSERT_TRUE(identity_->GetPluginCapabilities(&context, {}, &response).ok());
  EXPECT_EQ(response.capabilities_size(), 0);
}

TEST(IdentityServiceTest, ControllerCapabilityWhenRunningAController) {
  IdentityService identity("1.2.3", /*controller=*/true);
  pb::GetPluginCapabilitiesResponse response;
  ASSERT_TRUE(identity.GetPluginCapabilities(nullptr, nullptr, &response).ok());
  ASSERT_EQ(response.capabilities_size(), 1);
  EXPECT_EQ(response.capabilities(0).service().type(),
            pb::PluginCapability::Service::CONTROLLER_SERVICE);
}

TEST_F(ServerTest, ProbeIsReady) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::ProbeResponse response;
  ASSERT_TRUE(identity_->Probe(&context, {}, &response).ok());
  ASSERT_TRUE(response.has_ready());
  EXPECT_TRUE(response.ready().value());
}

// --- the socket

TEST_F(ServerTest, SocketIsOwnerOnly) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const mode_t mode = FileMode(server_->socket_path());
  EXPECT_TRUE(S_ISSOCK(mode));
  EXPECT_EQ(mode & 07777, 0600u);
  // The directory it created is not world-readable either.
  EXPECT_EQ(FileMode(fs::path(server_->socket_path()).parent_path()) & 07777, 0750u);
}

TEST_F(ServerTest, NoBindLeftoversNextToTheSocket) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const fs::path dir = fs::path(server_->socket_path()).parent_path();
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"csi.sock"});
}

TEST_F(ServerTest, StaleSocketIsReplaced) {
  const fs::path socket = tmp_.path() / "plugin" / "csi.sock";
  ASSERT_NO_FATAL_FAILURE(MakeStaleSocket(socket));
  ASSERT_TRUE(S_ISSOCK(FileMode(socket)));
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::ProbeResponse response;
  EXPECT_TRUE(identity_->Probe(&context, {}, &response).ok());
  EXPECT_EQ(FileMode(socket) & 07777, 0600u);
}

TEST_F(ServerTest, LiveSocketIsNotTakenOver) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto second = Server::Start(options_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(second.error().message,
            "socket \"" + server_->socket_path() + "\" is in use: another server answers on it");
  // The first server still serves.
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::ProbeResponse response;
  EXPECT_TRUE(identity_->Probe(&context, {}, &response).ok());
}

TEST_F(ServerTest, NonSocketFileIsNotReplaced) {
  const fs::path socket = tmp_.path() / "plugin" / "csi.sock";
  fs::create_directories(socket.parent_path());
  std::ofstream(socket) << "precious";
  auto server = Server::Start(options_);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().message,
            "socket \"" + socket.string() + "\" exists and is not a socket; not replacing it");
  EXPECT_TRUE(fs::is_regular_file(socket));
}

TEST_F(ServerTest, ShutdownRemovesTheSocket) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string socket = server_->socket_path();
  server_->Shutdown();
  EXPECT_FALSE(fs::exists(fs::symlink_status(socket)));
}

// kubelet keeps its connection open: an idle client must not delay a stop.
TEST_F(ServerTest, ShutdownIsPromptWithAConnectedClient) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::ProbeResponse response;
  ASSERT_TRUE(identity_->Probe(&context, {}, &response).ok());
  const auto start = std::chrono::steady_clock::now();
  server_->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(ServerTest, ShutdownLeavesASuccessorsSocketAlone) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string socket = server_->socket_path();
  // Someone replaced our socket (a newer instance after we hung).
  ::unlink(socket.c_str());
  ASSERT_NO_FATAL_FAILURE(MakeStaleSocket(socket));
  server_->Shutdown();
  EXPECT_TRUE(fs::exists(fs::symlink_status(socket)));
}

TEST(SocketPathTest, Endpoints) {
  EXPECT_EQ(*SocketPathFromEndpoint("unix:///csi/csi.sock"), "/csi/csi.sock");
  EXPECT_EQ(*SocketPathFromEndpoint("unix:/csi/csi.sock"), "/csi/csi.sock");
  EXPECT_EQ(SocketPathFromEndpoint("tcp://127.0.0.1:10000").error().message,
            "endpoint \"tcp://127.0.0.1:10000\": only unix sockets are supported "
            "(unix:///path/to/csi.sock)");
  EXPECT_EQ(SocketPathFromEndpoint("unix://csi.sock").error().message,
            "endpoint \"unix://csi.sock\": the socket path must be absolute "
            "(unix:///path/to/csi.sock)");
  EXPECT_EQ(SocketPathFromEndpoint("/csi/csi.sock").error().code, ErrorCode::kInvalid);
  EXPECT_EQ(SocketPathFromEndpoint("unix:///csi/").error().code, ErrorCode::kInvalid);
  EXPECT_EQ(SocketPathFromEndpoint("unix://" + std::string(200, 'x')).error().code,
            ErrorCode::kInvalid);
}

// --- the call log

TEST_F(ServerTest, SecretsNeverReachTheLog) {
  LogCapture log;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto request = S3Request();
  (*request.mutable_secrets())["sessionToken"] = "FwoGZXIvYXdzE-TOKEN";
  (*request.mutable_volume_context())["csi.storage.k8s.io/serviceAccount.tokens"] =
      "{\"audience\":{\"token\":\"eyJhbGciOi-JWT\"}}";
  // kubelet sends the pod's tokens whenever the CSIDriver asks for them; a
  // volume with credentials from its secret just does not use them.
  EXPECT_TRUE(Publish(request).ok());
  (*request.mutable_volume_context()).erase("csi.storage.k8s.io/serviceAccount.tokens");
  EXPECT_TRUE(Publish(request).ok());
  request.clear_target_path();
  EXPECT_FALSE(Publish(request).ok());

  const std::string text = log.text();
  for (const char* secret :
       {"AKIDEXAMPLE", "wJalrXUtnFEMI-SECRET", "FwoGZXIvYXdzE-TOKEN", "eyJhbGciOi-JWT"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in the log:\n" << text;
  }
  // Which secrets were sent is still visible.
  EXPECT_NE(text.find("key: \"secretAccessKey\" value: \"***\""), std::string::npos) << text;
  EXPECT_NE(text.find("s3://bucket/team/data"), std::string::npos) << text;
}

TEST_F(ServerTest, EachCallIsLoggedWithMethodCodeAndDuration) {
  LogCapture log;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(Publish(DirRequest()).ok());
  EXPECT_EQ(Unpublish("", "/x").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const std::string text = log.text();
  EXPECT_NE(text.find("[info] CSI NodePublishVolume OK in "), std::string::npos) << text;
  EXPECT_NE(text.find("ms: volume_id: \"vol-1\""), std::string::npos) << text;
  EXPECT_NE(text.find("[warning] CSI NodeUnpublishVolume INVALID_ARGUMENT in "), std::string::npos)
      << text;
  EXPECT_NE(text.find("ms: volume_id is required; request: target_path: \"/x\""), std::string::npos)
      << text;
}

TEST_F(ServerTest, ProbeIsLoggedAtDebugLevel) {
  LogCapture log;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::ProbeResponse response;
  ASSERT_TRUE(identity_->Probe(&context, {}, &response).ok());
  server_->Shutdown();  // the log line is written after the reply went out
  const std::string text = log.text();
  EXPECT_NE(text.find("[debug] CSI Probe OK in "), std::string::npos) << text;
  EXPECT_EQ(text.find("[info] CSI Probe"), std::string::npos) << text;
}

// --- call counts and metrics

double SampleValue(prometheus::Registry& registry, const std::string& family,
                   const std::map<std::string, std::string>& labels) {
  for (const auto& f : registry.Collect()) {
    if (f.name != family) continue;
    for (const auto& metric : f.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      if (f.type == prometheus::MetricType::Histogram) {
        return static_cast<double>(metric.histogram.sample_count);
      }
      return metric.counter.value;
    }
  }
  return -1;
}

TEST_F(ServerTest, CallsAreCountedByMethodAndCode) {
  prometheus::Registry registry;
  options_.registry = &registry;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(Publish(DirRequest()).ok());
  ASSERT_TRUE(Publish(DirRequest()).ok());
  auto bad = DirRequest();
  bad.clear_volume_id();
  ASSERT_FALSE(Publish(bad).ok());
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::NodeStageVolumeResponse response;
  ASSERT_FALSE(node_->NodeStageVolume(&context, {}, &response).ok());
  server_->Shutdown();  // every call's interceptor has finished

  const CallStats& stats = server_->call_stats();
  EXPECT_EQ(stats.Count("NodePublishVolume", "OK"), 2u);
  EXPECT_EQ(stats.Count("NodePublishVolume", "INVALID_ARGUMENT"), 1u);
  EXPECT_EQ(stats.Count("NodeStageVolume", "UNIMPLEMENTED"), 1u);

  EXPECT_EQ(SampleValue(registry, "freshfs_csi_calls_total",
                        {{"method", "NodePublishVolume"}, {"code", "OK"}}),
            2);
  EXPECT_EQ(SampleValue(registry, "freshfs_csi_calls_total",
                        {{"method", "NodePublishVolume"}, {"code", "INVALID_ARGUMENT"}}),
            1);
  EXPECT_EQ(
      SampleValue(registry, "freshfs_csi_call_duration_seconds", {{"method", "NodePublishVolume"}}),
      3);
}

}  // namespace
}  // namespace freshfs::csi::testing
