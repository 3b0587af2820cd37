// NodeUnpublishVolume, NodeGetVolumeStats, NodeGetCapabilities, NodeGetInfo,
// the per-volume lock, and the Node RPCs freshfs does not implement.
#include <future>
#include <set>

#include "csi_test_env.h"

namespace freshfs::csi::testing {
namespace {

void ExpectError(const grpc::Status& status, grpc::StatusCode code, const std::string& message) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_EQ(status.error_message(), message);
}

using NodeTest = CsiTest;

// --- NodeUnpublishVolume

TEST_F(NodeTest, UnpublishArgumentChecks) {
  ExpectError(Unpublish("", "/var/lib/kubelet/pods/x/mount"), grpc::StatusCode::INVALID_ARGUMENT,
              "volume_id is required");
  ExpectError(Unpublish("vol-1", ""), grpc::StatusCode::INVALID_ARGUMENT,
              "target_path is required");
  ExpectError(Unpublish("vol-1", "mount"), grpc::StatusCode::INVALID_ARGUMENT,
              "target_path \"mount\" is not an absolute path");
  ExpectError(Unpublish("vol-1", "/a/./b"), grpc::StatusCode::INVALID_ARGUMENT,
              "target_path \"/a/./b\" has a \".\" or \"..\" component");
  EXPECT_TRUE(volumes_.calls().empty());
}

TEST_F(NodeTest, UnpublishAfterPublish) {
  const auto request = DirRequest();
  ASSERT_TRUE(Publish(request).ok());
  ASSERT_TRUE(Unpublish("vol-1", request.target_path()).ok());
  EXPECT_FALSE(volumes_.published(request.target_path()));
  const auto calls = volumes_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].op, "Unpublish");
  EXPECT_EQ(calls[1].volume_id, "vol-1");
  EXPECT_EQ(calls[1].path, request.target_path());
}

TEST_F(NodeTest, UnpublishOfAnUnpublishedVolumeSucceeds) {
  EXPECT_TRUE(Unpublish("never-published", "/var/lib/kubelet/pods/x/mount").ok());
  EXPECT_TRUE(Unpublish("never-published", "/var/lib/kubelet/pods/x/mount").ok());
}

TEST_F(NodeTest, UnpublishErrorsMapToTheirCodes) {
  volumes_.FailUnpublish(Internal("umount: device is busy"));
  ExpectError(Unpublish("vol-1", "/var/lib/kubelet/pods/x/mount"), grpc::StatusCode::INTERNAL,
              "umount: device is busy");
}

// --- NodeGetVolumeStats

TEST_F(NodeTest, StatsArgumentChecks) {
  pb::NodeGetVolumeStatsResponse response;
  ExpectError(Stats("", "/p", &response), grpc::StatusCode::INVALID_ARGUMENT,
              "volume_id is required");
  ExpectError(Stats("vol-1", "", &response), grpc::StatusCode::INVALID_ARGUMENT,
              "volume_path is required");
}

// The spec's table: a path no volume is published at is NOT_FOUND, relative
// or not.
TEST_F(NodeTest, StatsOfAPathWithNoVolumeIsNotFound) {
  pb::NodeGetVolumeStatsResponse response;
  EXPECT_EQ(Stats("vol-1", "p", &response).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Stats("vol-1", "/a/../b", &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(NodeTest, StatsOfAnUnknownVolumeIsNotFound) {
  pb::NodeGetVolumeStatsResponse response;
  ExpectError(Stats("vol-9", "/var/lib/kubelet/pods/x/mount", &response),
              grpc::StatusCode::NOT_FOUND,
              "volume vol-9 is not published at /var/lib/kubelet/pods/x/mount");
}

TEST_F(NodeTest, StatsOfAPublishedVolume) {
  const auto request = DirRequest();
  ASSERT_TRUE(Publish(request).ok());
  VolumeStats stats;
  stats.bytes = VolumeUsage{.available = 600, .total = 1000, .used = 400};
  stats.inodes = VolumeUsage{.available = 90, .total = 100, .used = 10};
  stats.abnormal = true;
  stats.condition_message = "staleness 95s exceeds the bound of 60s";
  volumes_.SetStats(stats);

  pb::NodeGetVolumeStatsResponse response;
  ASSERT_TRUE(Stats("vol-1", request.target_path(), &response).ok());
  ASSERT_EQ(response.usage_size(), 2);
  EXPECT_EQ(response.usage(0).unit(), pb::VolumeUsage::BYTES);
  EXPECT_EQ(response.usage(0).available(), 600);
  EXPECT_EQ(response.usage(0).total(), 1000);
  EXPECT_EQ(response.usage(0).used(), 400);
  EXPECT_EQ(response.usage(1).unit(), pb::VolumeUsage::INODES);
  EXPECT_EQ(response.usage(1).used(), 10);
  EXPECT_TRUE(response.volume_condition().abnormal());
  EXPECT_EQ(response.volume_condition().message(), "staleness 95s exceeds the bound of 60s");
}

TEST_F(NodeTest, StatsWithoutUsageStillReportTheCondition) {
  const auto request = S3Request();
  ASSERT_TRUE(Publish(request).ok());
  pb::NodeGetVolumeStatsResponse response;
  ASSERT_TRUE(Stats("vol-s3", request.target_path(), &response).ok());
  EXPECT_EQ(response.usage_size(), 0);
  ASSERT_TRUE(response.has_volume_condition());
  EXPECT_FALSE(response.volume_condition().abnormal());
}

// --- capabilities and info

TEST_F(NodeTest, Capabilities) {
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::NodeGetCapabilitiesResponse response;
  ASSERT_TRUE(node_->NodeGetCapabilities(&context, {}, &response).ok());
  std::set<int> types;
  for (const auto& capability : response.capabilities()) types.insert(capability.rpc().type());
  EXPECT_EQ(types, (std::set<int>{pb::NodeServiceCapability::RPC::GET_VOLUME_STATS,
                                  pb::NodeServiceCapability::RPC::VOLUME_CONDITION,
                                  pb::NodeServiceCapability::RPC::SINGLE_NODE_MULTI_WRITER,
                                  pb::NodeServiceCapability::RPC::VOLUME_MOUNT_GROUP}));
}

TEST_F(NodeTest, Info) {
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::NodeGetInfoResponse response;
  ASSERT_TRUE(node_->NodeGetInfo(&context, {}, &response).ok());
  EXPECT_EQ(response.node_id(), "node-1");
  EXPECT_EQ(response.max_volumes_per_node(), 0);
  EXPECT_FALSE(response.has_accessible_topology());
}

TEST_F(NodeTest, StageIsUnimplemented) {
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::NodeStageVolumeResponse response;
  EXPECT_EQ(node_->NodeStageVolume(&context, {}, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(NodeTest, ExpandIsUnimplemented) {
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::NodeExpandVolumeResponse response;
  EXPECT_EQ(node_->NodeExpandVolume(&context, {}, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(NodeTest, ControllerServiceIsNotServedByANodePlugin) {
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::CreateVolumeResponse response;
  EXPECT_EQ(controller_->CreateVolume(&context, {}, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

// --- the per-volume lock

TEST_F(NodeTest, ConcurrentPublishOfTheSameVolumeIsAborted) {
  volumes_.Hold();
  auto first = std::async(std::launch::async, [&] { return Publish(DirRequest("vol-1")); });
  volumes_.WaitUntilHolding(1);

  ExpectError(Publish(DirRequest("vol-1")), grpc::StatusCode::ABORTED,
              "operation on volume vol-1 already in progress");
  ExpectError(Unpublish("vol-1", DirRequest("vol-1").target_path()), grpc::StatusCode::ABORTED,
              "operation on volume vol-1 already in progress");
  EXPECT_EQ(volumes_.calls().size(), 1u) << "the aborted calls must not reach the manager";

  volumes_.Release();
  EXPECT_TRUE(first.get().ok());
  // The lock is released with the call: the volume is usable again.
  EXPECT_TRUE(Unpublish("vol-1", DirRequest("vol-1").target_path()).ok());
}

TEST_F(NodeTest, ConcurrentUnpublishOfTheSameVolumeIsAborted) {
  const auto request = DirRequest("vol-1");
  ASSERT_TRUE(Publish(request).ok());
  volumes_.Hold();
  auto first =
      std::async(std::launch::async, [&] { return Unpublish("vol-1", request.target_path()); });
  volumes_.WaitUntilHolding(1);
  ExpectError(Unpublish("vol-1", request.target_path()), grpc::StatusCode::ABORTED,
              "operation on volume vol-1 already in progress");
  volumes_.Release();
  EXPECT_TRUE(first.get().ok());
}

TEST_F(NodeTest, DifferentVolumesDoNotWaitForEachOther) {
  volumes_.Hold();
  auto first = std::async(std::launch::async, [&] { return Publish(DirRequest("vol-1")); });
  auto second = std::async(std::launch::async, [&] { return Publish(DirRequest("vol-2")); });
  // Both calls are inside the manager at once.
  volumes_.WaitUntilHolding(2);
  volumes_.Release();
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(second.get().ok());
}

TEST_F(NodeTest, StatsDuringAPublishOfTheSameVolumeAreNotAborted) {
  const auto request = DirRequest("vol-1");
  ASSERT_TRUE(Publish(request).ok());
  volumes_.Hold();
  auto republish = std::async(std::launch::async, [&] { return Publish(request); });
  volumes_.WaitUntilHolding(1);
  pb::NodeGetVolumeStatsResponse response;
  EXPECT_TRUE(Stats("vol-1", request.target_path(), &response).ok());
  volumes_.Release();
  EXPECT_TRUE(republish.get().ok());
}

}  // namespace
}  // namespace freshfs::csi::testing
