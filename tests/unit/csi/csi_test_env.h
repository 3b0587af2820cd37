// Test environment of the CSI unit tests: a temporary directory, a real
// freshfs-csi Server on a unix socket inside it (backed by a
// FakeVolumeManager), gRPC stubs talking to it, valid requests to start from,
// and a capture of everything logged.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "csi.grpc.pb.h"
#include "csi/server.h"
#include "fake_volume_manager.h"
#include "support/temp_dir.h"

namespace freshfs::csi::testing {

namespace pb = ::csi::v1;
namespace fs = std::filesystem;

// A fresh directory under /tmp (short: socket paths are limited to 107
// bytes), removed with everything in it.
using TempDir = freshfs::testing::TempDir;

// Routes spdlog's default logger into a string (all levels) while alive.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

inline void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
}

class CsiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path() / "data";
    fs::create_directories(root_ / "vol");
    options_.endpoint = "unix://" + (tmp_.path() / "plugin" / "csi.sock").string();
    options_.node_id = "node-1";
    options_.version = "1.2.3";
    options_.driver_config.allowed_dir_roots = {root_.string()};
    options_.volumes = &volumes_;
  }

  void TearDown() override {
    volumes_.Release();  // a test that failed while holding must not hang
    if (server_) server_->Shutdown();
  }

  // Starts the server with options_ and connects the stubs.
  void StartServer() {
    auto server = Server::Start(options_);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(*server);
    channel_ =
        grpc::CreateChannel("unix://" + server_->socket_path(), grpc::InsecureChannelCredentials());
    identity_ = pb::Identity::NewStub(channel_);
    node_ = pb::Node::NewStub(channel_);
    controller_ = pb::Controller::NewStub(channel_);
  }

  // A valid publish of the directory root_/vol.
  pb::NodePublishVolumeRequest DirRequest(const std::string& volume_id = "vol-1") const {
    pb::NodePublishVolumeRequest request;
    request.set_volume_id(volume_id);
    request.set_target_path((tmp_.path() / "pods" / volume_id / "mount").string());
    auto* capability = request.mutable_volume_capability();
    capability->mutable_mount();
    capability->mutable_access_mode()->set_mode(
        pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
    (*request.mutable_volume_context())["source"] = (root_ / "vol").string();
    return request;
  }

  // A valid publish of an S3 prefix, with credentials.
  pb::NodePublishVolumeRequest S3Request(const std::string& volume_id = "vol-s3") const {
    pb::NodePublishVolumeRequest request = DirRequest(volume_id);
    (*request.mutable_volume_context())["source"] = "s3://bucket/team/data";
    (*request.mutable_secrets())["accessKeyId"] = "AKIDEXAMPLE";
    (*request.mutable_secrets())["secretAccessKey"] = "wJalrXUtnFEMI-SECRET";
    return request;
  }

  grpc::Status Publish(const pb::NodePublishVolumeRequest& request) {
    grpc::ClientContext context;
    SetDeadline(&context);
    pb::NodePublishVolumeResponse response;
    return node_->NodePublishVolume(&context, request, &response);
  }

  grpc::Status Unpublish(const std::string& volume_id, const std::string& target_path) {
    grpc::ClientContext context;
    SetDeadline(&context);
    pb::NodeUnpublishVolumeRequest request;
    request.set_volume_id(volume_id);
    request.set_target_path(target_path);
    pb::NodeUnpublishVolumeResponse response;
    return node_->NodeUnpublishVolume(&context, request, &response);
  }

  grpc::Status Stats(const std::string& volume_id, const std::string& volume_path,
                     pb::NodeGetVolumeStatsResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context);
    pb::NodeGetVolumeStatsRequest request;
    request.set_volume_id(volume_id);
    request.set_volume_path(volume_path);
    return node_->NodeGetVolumeStats(&context, request, response);
  }

  TempDir tmp_;
  fs::path root_;  // the one allowedDirRoots entry
  FakeVolumeManager volumes_;
  ServerOptions options_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Identity::Stub> identity_;
  std::unique_ptr<pb::Node::Stub> node_;
  std::unique_ptr<pb::Controller::Stub> controller_;
};

// Server already started with the default options.
class CsiTest : public CsiServerTest {
 protected:
  void SetUp() override {
    CsiServerTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(StartServer());
  }
};

}  // namespace freshfs::csi::testing
