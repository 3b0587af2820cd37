// The Controller service: CreateVolume, DeleteVolume,
// ValidateVolumeCapabilities, ControllerGetCapabilities, the per-volume lock,
// and the server's controller / all modes.
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <future>
#include <set>

#include "csi/controller_service.h"
#include "csi_test_env.h"

namespace freshfs::csi::testing {
namespace {

void ExpectError(const grpc::Status& status, grpc::StatusCode code, const std::string& message) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_EQ(status.error_message(), message);
}

mode_t FileMode(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode;
}

pb::VolumeCapability MountCapability(
    pb::VolumeCapability::AccessMode::Mode mode =
        pb::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER) {
  pb::VolumeCapability capability;
  capability.mutable_mount();
  capability.mutable_access_mode()->set_mode(mode);
  return capability;
}

pb::VolumeCapability BlockCapability() {
  pb::VolumeCapability capability;
  capability.mutable_block();
  capability.mutable_access_mode()->set_mode(pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  return capability;
}

class ControllerTest : public CsiServerTest {
 protected:
  void SetUp() override {
    CsiServerTest::SetUp();
    options_.mode = Mode::kAll;
    ASSERT_NO_FATAL_FAILURE(StartServer());
    real_root_ = fs::canonical(root_).string();
  }

  // A valid CreateVolume of `name` in root_, as the external-provisioner
  // sends it.
  pb::CreateVolumeRequest CreateRequest(const std::string& name = "pvc-1") const {
    pb::CreateVolumeRequest request;
    request.set_name(name);
    request.mutable_capacity_range()->set_required_bytes(1 << 30);
    *request.add_volume_capabilities() = MountCapability();
    auto& parameters = *request.mutable_parameters();
    parameters["source"] = root_.string();
    parameters["pollInterval"] = "5s";
    parameters["csi.storage.k8s.io/pvc/name"] = "data";
    parameters["csi.storage.k8s.io/pvc/namespace"] = "team";
    parameters["csi.storage.k8s.io/pv/name"] = name;
    return request;
  }

  grpc::Status Create(const pb::CreateVolumeRequest& request,
                      pb::CreateVolumeResponse* response = nullptr) {
    grpc::ClientContext context;
    SetDeadline(&context);
    pb::CreateVolumeResponse scratch;
    return controller_->CreateVolume(&context, request, response ? response : &scratch);
  }

  grpc::Status Delete(const std::string& volume_id) {
    grpc::ClientContext context;
    SetDeadline(&context);
    pb::DeleteVolumeRequest request;
    request.set_volume_id(volume_id);
    pb::DeleteVolumeResponse response;
    return controller_->DeleteVolume(&context, request, &response);
  }

  grpc::Status Validate(const std::string& volume_id,
                        const std::vector<pb::VolumeCapability>& capabilities,
                        pb::ValidateVolumeCapabilitiesResponse* response) {
    grpc::ClientContext context;
    SetDeadline(&context);
    pb::ValidateVolumeCapabilitiesRequest request;
    request.set_volume_id(volume_id);
    for (const auto& c : capabilities) *request.add_volume_capabilities() = c;
    return controller_->ValidateVolumeCapabilities(&context, request, response);
  }

  std::string VolumeDir(const std::string& name) const { return real_root_ + "/" + name; }
  std::string MetadataFile(const std::string& name) const {
    return real_root_ + "/.freshfs-" + name + ".json";
  }

  std::string real_root_;
};

// --- capabilities and modes

TEST_F(ControllerTest, Capabilities) {
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::ControllerGetCapabilitiesResponse response;
  ASSERT_TRUE(controller_->ControllerGetCapabilities(&context, {}, &response).ok());
  ASSERT_EQ(response.capabilities_size(), 1);
  EXPECT_EQ(response.capabilities(0).rpc().type(),
            pb::ControllerServiceCapability::RPC::CREATE_DELETE_VOLUME);
}

TEST_F(ControllerTest, IdentityAdvertisesTheControllerService) {
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::GetPluginCapabilitiesResponse response;
  ASSERT_TRUE(identity_->GetPluginCapabilities(&context, {}, &response).ok());
  ASSERT_EQ(response.capabilities_size(), 1);
  EXPECT_EQ(response.capabilities(0).service().type(),
            pb::PluginCapability::Service::CONTROLLER_SERVICE);
}

TEST_F(ControllerTest, AllModeServesTheNodeToo) { ASSERT_TRUE(Publish(DirRequest()).ok()); }

TEST_F(CsiServerTest, ControllerModeNeedsNoVolumeManagerAndServesNoNode) {
  options_.mode = Mode::kController;
  options_.volumes = nullptr;
  ASSERT_NO_FATAL_FAILURE(StartServer());
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    pb::ControllerGetCapabilitiesResponse response;
    EXPECT_TRUE(controller_->ControllerGetCapabilities(&context, {}, &response).ok());
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  pb::NodeGetInfoResponse response;
  EXPECT_EQ(node_->NodeGetInfo(&context, {}, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

// --- CreateVolume argument checks

TEST_F(ControllerTest, CreateNameChecks) {
  auto request = CreateRequest("");
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT, "name is required");
  request.set_name("a/b");
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "name \"a/b\" contains \"/\": it must be a single directory name");
  request.set_name("..");
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "name \"..\" is not a valid directory name");
  request.set_name(".");
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "name \".\" is not a valid directory name");
  request.set_name(std::string(256, 'x'));
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT, "name is longer than 255 bytes");
  request.set_name(std::string("a\nb"));
  EXPECT_EQ(Create(request).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(std::distance(fs::directory_iterator(root_), fs::directory_iterator()), 1)
      << "only root_/vol: nothing created";
}

TEST_F(ControllerTest, CreateCapabilityChecks) {
  auto request = CreateRequest();
  request.clear_volume_capabilities();
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "volume_capabilities is required");
  *request.add_volume_capabilities() = MountCapability();
  *request.add_volume_capabilities() = BlockCapability();
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "volume_capabilities[1]: block access is not supported (freshfs volumes are "
              "filesystems: use a mount access type)");
  request.clear_volume_capabilities();
  *request.add_volume_capabilities() =
      MountCapability(pb::VolumeCapability::AccessMode::MULTI_NODE_SINGLE_WRITER);
  EXPECT_EQ(Create(request).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControllerTest, CreateCapacityChecks) {
  auto request = CreateRequest();
  request.mutable_capacity_range()->set_required_bytes(100);
  request.mutable_capacity_range()->set_limit_bytes(10);
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "capacity_range: required_bytes 100 exceeds limit_bytes 10");
  request.mutable_capacity_range()->set_required_bytes(-1);
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "capacity_range: byte counts must not be negative");
}

TEST_F(ControllerTest, CreateParameterChecks) {
  auto request = CreateRequest();
  request.mutable_parameters()->erase("source");
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "parameter source is required (the directory or s3://bucket[/prefix] to create "
              "volumes in)");

  // S3 sources need the provisioner secret's credentials (tests/csi creates
  // and deletes S3 volumes on a real server).
  request = CreateRequest();
  (*request.mutable_parameters())["source"] = "s3://bucket/team";
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "secret accessKeyId missing (s3:// sources need accessKeyId and secretAccessKey "
              "in the provisioner secret, csi.storage.k8s.io/provisioner-secret-name)");
  (*request.mutable_secrets())["accessKeyId"] = "AK";
  (*request.mutable_secrets())["secretAccessKey"] = "SK";
  (*request.mutable_parameters())["s3Endpoint"] =
      "http://"
      "an-endpoint-name-long-enough-to-push-the-volume-id-past-its-limit.objects.example.cluster."
      "internal:9000";
  {
    // Too long even hashed: only the endpoint can be shortened.
    const grpc::Status status = Create(request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(status.error_message().starts_with(
        "volume id too long: \"s3#http://an-endpoint-name-long-enough-to-push-the-volume-"
        "id-past-its-limit.objects.example.cluster.internal:9000;;;bucket;"))
        << status.error_message();
    EXPECT_TRUE(status.error_message().ends_with(
        "\" is 163 bytes, at most 128 (the id carries s3Endpoint, s3Region and the bucket: use "
        "a shorter endpoint name)"))
        << status.error_message();
  }

  request = CreateRequest();
  (*request.mutable_parameters())["pollIntervl"] = "5s";
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "unknown parameter \"pollIntervl\" (did you mean \"pollInterval\"?)");
  (*request.mutable_parameters())["zzz"] = "1";
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "unknown parameters \"pollIntervl\", \"zzz\"");

  request = CreateRequest();
  (*request.mutable_parameters())["onDelete"] = "keep";
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "parameter onDelete \"keep\": must be delete or retain");

  request = CreateRequest();
  (*request.mutable_parameters())["pollInterval"] = "5x";
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "volume attribute pollInterval \"5x\": unknown unit \"x\" (use ms, s, m or h)");

  request = CreateRequest();
  (*request.mutable_parameters())["s3Region"] = "eu-west-1";
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "volume attribute s3Region applies only to s3:// sources");

  request = CreateRequest();
  (*request.mutable_parameters())["source"] = "data";
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "volume attribute source \"data\": not an absolute path");
  EXPECT_EQ(std::distance(fs::directory_iterator(root_), fs::directory_iterator()), 1);
}

TEST_F(ControllerTest, CreateOutsideTheRootsIsRefused) {
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directories(outside);
  auto request = CreateRequest();
  (*request.mutable_parameters())["source"] = outside.string();
  ExpectError(Create(request), grpc::StatusCode::PERMISSION_DENIED,
              "source \"" + outside.string() + "\" is outside the allowed directory roots [" +
                  root_.string() + "]");
  (*request.mutable_parameters())["source"] = (root_ / ".." / "outside").string();
  EXPECT_EQ(Create(request).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(ControllerTest, CreateInAMissingParentIsNotFound) {
  auto request = CreateRequest();
  (*request.mutable_parameters())["source"] = (root_ / "missing").string();
  ExpectError(Create(request), grpc::StatusCode::NOT_FOUND,
              "source \"" + (root_ / "missing").string() + "\" does not exist");
}

// CSI allows names of 128 bytes, and ids of 128: under a long source the id
// is a hash, resolved through <root>/.freshfs-ids, and everything works as
// with a short id.
// The spec's error table: a content source (snapshot or clone) the
// controller does not support is INVALID_ARGUMENT, and nothing is made.
TEST_F(ControllerTest, CreateFromASnapshotOrVolumeIsRefused) {
  auto request = CreateRequest();
  request.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id("snap-1");
  ExpectError(Create(request), grpc::StatusCode::INVALID_ARGUMENT,
              "volume_content_source: freshfs volumes cannot be made from a snapshot or another "
              "volume (the controller has no CLONE_VOLUME or CREATE_DELETE_SNAPSHOT capability)");
  request.mutable_volume_content_source()->mutable_volume()->set_volume_id("dir:/x");
  EXPECT_EQ(Create(request).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(fs::exists(VolumeDir("pvc-1")));
}

TEST_F(ControllerTest, LongNamesUnderLongSourcesGetShortStableIds) {
  const fs::path parent = root_ / std::string(60, 'd');
  fs::create_directories(parent);
  const std::string name(128, 'n');
  auto request = CreateRequest(name);
  (*request.mutable_parameters())["source"] = parent.string();
  pb::CreateVolumeResponse response;
  grpc::Status created = Create(request, &response);
  ASSERT_TRUE(created.ok()) << created.error_message();
  const std::string id = response.volume().volume_id();
  EXPECT_LE(id.size(), 128u) << id;
  EXPECT_TRUE(id.starts_with("dir#")) << id;
  const std::string path = fs::canonical(parent).string() + "/" + name;
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_EQ(response.volume().volume_context().at("source"), path);
  const std::string index = real_root_ + "/.freshfs-ids/" + id.substr(4);
  EXPECT_EQ(FileMode(index) & 07777, 0600u);

  pb::CreateVolumeResponse again;
  ASSERT_TRUE(Create(request, &again).ok());
  EXPECT_EQ(again.volume().volume_id(), id);

  pb::ValidateVolumeCapabilitiesResponse validated;
  ASSERT_TRUE(Validate(id, {MountCapability()}, &validated).ok());
  EXPECT_TRUE(validated.has_confirmed());

  ASSERT_TRUE(Delete(id).ok());
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(index));
  EXPECT_TRUE(Delete(id).ok());  // twice: fine
  EXPECT_EQ(Validate(id, {MountCapability()}, &validated).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // A hashed id nobody made, or a malformed one: no such volume.
  EXPECT_EQ(Validate("dir#" + std::string(40, 'a'), {MountCapability()}, &validated).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Validate("dir#../../etc", {MountCapability()}, &validated).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// The sidecars send no secret to ValidateVolumeCapabilities: an S3 volume is
// judged by its id.
TEST_F(ControllerTest, ValidateOfAnS3VolumeWithoutSecretsJudgesTheId) {
  pb::ValidateVolumeCapabilitiesResponse response;
  grpc::Status s = Validate("s3:;;;data/team/pvc-1", {MountCapability()}, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(response.has_confirmed());
  response.Clear();
  ASSERT_TRUE(Validate("s3:;;;data/team/pvc-1", {BlockCapability()}, &response).ok());
  EXPECT_FALSE(response.has_confirmed());
  EXPECT_EQ(Validate("s3:;;;x/pvc-1", {MountCapability()}, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// --- CreateVolume

TEST_F(ControllerTest, CreateMakesTheDirectory) {
  pb::CreateVolumeResponse response;
  ASSERT_TRUE(Create(CreateRequest(), &response).ok());
  EXPECT_EQ(response.volume().volume_id(), "dir:" + VolumeDir("pvc-1"));
  EXPECT_EQ(response.volume().capacity_bytes(), 1 << 30);
  const auto& context = response.volume().volume_context();
  const std::map<std::string, std::string> expected{{"source", VolumeDir("pvc-1")},
                                                    {"pollInterval", "5s"}};
  const std::map<std::string, std::string> got(context.begin(), context.end());
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(S_ISDIR(FileMode(VolumeDir("pvc-1"))));
  EXPECT_EQ(FileMode(VolumeDir("pvc-1")) & 07777, 0750u);
  EXPECT_TRUE(S_ISREG(FileMode(MetadataFile("pvc-1"))));
  EXPECT_EQ(FileMode(MetadataFile("pvc-1")) & 07777, 0600u);
  EXPECT_FALSE(fs::exists(MetadataFile("pvc-1") + ".tmp"));
}

TEST_F(ControllerTest, CreatedVolumeContextIsAcceptedByTheNode) {
  pb::CreateVolumeResponse response;
  ASSERT_TRUE(Create(CreateRequest(), &response).ok());
  auto publish = DirRequest(response.volume().volume_id());
  *publish.mutable_volume_context() = response.volume().volume_context();
  ASSERT_TRUE(Publish(publish).ok());
}

TEST_F(ControllerTest, CreateWithoutCapacityReportsZero) {
  auto request = CreateRequest();
  request.clear_capacity_range();
  pb::CreateVolumeResponse response;
  ASSERT_TRUE(Create(request, &response).ok());
  EXPECT_EQ(response.volume().capacity_bytes(), 0);
}

TEST_F(ControllerTest, CreateIsIdempotent) {
  pb::CreateVolumeResponse first, second;
  ASSERT_TRUE(Create(CreateRequest(), &first).ok());
  std::ofstream(VolumeDir("pvc-1") + "/file") << "data";
  ASSERT_TRUE(Create(CreateRequest(), &second).ok());
  // (Map fields serialise in no fixed order: compare field by field.)
  EXPECT_EQ(first.volume().volume_id(), second.volume().volume_id());
  EXPECT_EQ(first.volume().capacity_bytes(), second.volume().capacity_bytes());
  const std::map<std::string, std::string> first_context(first.volume().volume_context().begin(),
                                                         first.volume().volume_context().end());
  const std::map<std::string, std::string> second_context(second.volume().volume_context().begin(),
                                                          second.volume().volume_context().end());
  EXPECT_EQ(first_context, second_context);
  EXPECT_TRUE(fs::exists(VolumeDir("pvc-1") + "/file"));
  // The provisioner's own keys are not part of the volume's identity.
  auto request = CreateRequest();
  (*request.mutable_parameters())["csi.storage.k8s.io/pvc/name"] = "other";
  EXPECT_TRUE(Create(request).ok());
  // onDelete: delete is the default.
  (*request.mutable_parameters())["onDelete"] = "delete";
  EXPECT_TRUE(Create(request).ok());
}

TEST_F(ControllerTest, CreateWithDifferentParametersConflicts) {
  ASSERT_TRUE(Create(CreateRequest()).ok());
  const std::string message =
      "volume pvc-1 already exists in " + real_root_ + " with different parameters";
  auto request = CreateRequest();
  (*request.mutable_parameters())["pollInterval"] = "10s";
  ExpectError(Create(request), grpc::StatusCode::ALREADY_EXISTS, message);
  request = CreateRequest();
  (*request.mutable_parameters())["onDelete"] = "retain";
  ExpectError(Create(request), grpc::StatusCode::ALREADY_EXISTS, message);
  request = CreateRequest();
  request.mutable_capacity_range()->set_required_bytes(int64_t{2} << 30);
  ExpectError(Create(request), grpc::StatusCode::ALREADY_EXISTS, message);
}

TEST_F(ControllerTest, AForeignDirectoryIsNotAdopted) {
  // root_/vol exists but was not made by the controller.
  ExpectError(Create(CreateRequest("vol")), grpc::StatusCode::ALREADY_EXISTS,
              "directory \"" + VolumeDir("vol") +
                  "\" already exists and was not created by freshfs for volume vol");
  EXPECT_FALSE(fs::exists(MetadataFile("vol")));
}

// --- DeleteVolume

TEST_F(ControllerTest, DeleteRemovesTheDirectoryTree) {
  pb::CreateVolumeResponse response;
  ASSERT_TRUE(Create(CreateRequest(), &response).ok());
  fs::create_directories(VolumeDir("pvc-1") + "/a/b");
  std::ofstream(VolumeDir("pvc-1") + "/a/b/file") << "data";
  fs::create_directory_symlink(root_ / "vol", VolumeDir("pvc-1") + "/link");
  std::ofstream(root_ / "vol" / "keep") << "data";

  ASSERT_TRUE(Delete(response.volume().volume_id()).ok());
  EXPECT_FALSE(fs::exists(VolumeDir("pvc-1")));
  EXPECT_FALSE(fs::exists(MetadataFile("pvc-1")));
  EXPECT_TRUE(fs::exists(root_ / "vol" / "keep")) << "symlinks are not followed";
  // Twice: already gone is OK.
  EXPECT_TRUE(Delete(response.volume().volume_id()).ok());
  // And the name can be used again.
  EXPECT_TRUE(Create(CreateRequest()).ok());
}

TEST_F(ControllerTest, DeleteWithRetainKeepsTheDirectory) {
  auto request = CreateRequest();
  (*request.mutable_parameters())["onDelete"] = "retain";
  pb::CreateVolumeResponse response;
  ASSERT_TRUE(Create(request, &response).ok());
  std::ofstream(VolumeDir("pvc-1") + "/file") << "data";

  ASSERT_TRUE(Delete(response.volume().volume_id()).ok());
  EXPECT_TRUE(fs::exists(VolumeDir("pvc-1") + "/file"));
  EXPECT_FALSE(fs::exists(MetadataFile("pvc-1")));
  EXPECT_TRUE(Delete(response.volume().volume_id()).ok());
  EXPECT_TRUE(fs::exists(VolumeDir("pvc-1") + "/file"));
}

TEST_F(ControllerTest, DeleteOfUnknownVolumesSucceeds) {
  EXPECT_TRUE(Delete("reqid").ok());  // not an id of ours (csi-sanity sends such)
  EXPECT_TRUE(Delete("dir:" + VolumeDir("never-created")).ok());
  EXPECT_TRUE(Delete("dir:" + real_root_ + "/missing/pvc-1").ok());
  // A directory without the controller's record is not touched.
  EXPECT_TRUE(Delete("dir:" + VolumeDir("vol")).ok());
  EXPECT_TRUE(fs::exists(VolumeDir("vol")));
}

TEST_F(ControllerTest, DeleteArgumentChecks) {
  ExpectError(Delete(""), grpc::StatusCode::INVALID_ARGUMENT, "volume_id is required");
  EXPECT_EQ(Delete("dir:/a\nb").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControllerTest, DeleteOutsideTheRootsIsRefused) {
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directories(outside / "victim");
  std::ofstream(outside / ".freshfs-victim.json")
      << R"({"name":"victim","parameters":{"onDelete":"delete"},"capacityBytes":0})";
  const std::string id = "dir:" + (outside / "victim").string();
  ExpectError(Delete(id), grpc::StatusCode::PERMISSION_DENIED,
              "volume_id \"" + id + "\": source \"" + outside.string() +
                  "\" is outside the allowed directory roots [" + root_.string() + "]");
  EXPECT_TRUE(fs::exists(outside / "victim"));
  // The root itself is not a volume under the root.
  EXPECT_EQ(Delete("dir:" + real_root_).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(fs::exists(root_ / "vol"));
  // Nor through a symlink in the root.
  fs::create_directory_symlink(outside, root_ / "escape");
  EXPECT_EQ(Delete("dir:" + real_root_ + "/escape/victim").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(fs::exists(outside / "victim"));
}

// --- ValidateVolumeCapabilities

TEST_F(ControllerTest, ValidateArgumentChecks) {
  pb::ValidateVolumeCapabilitiesResponse response;
  ExpectError(Validate("", {MountCapability()}, &response), grpc::StatusCode::INVALID_ARGUMENT,
              "volume_id is required");
  ExpectError(Validate("dir:" + VolumeDir("pvc-1"), {}, &response),
              grpc::StatusCode::INVALID_ARGUMENT, "volume_capabilities is required");
}

TEST_F(ControllerTest, ValidateOfAMissingVolumeIsNotFound) {
  pb::ValidateVolumeCapabilitiesResponse response;
  ExpectError(Validate("reqid", {MountCapability()}, &response), grpc::StatusCode::NOT_FOUND,
              "volume reqid does not exist");
  const std::string id = "dir:" + VolumeDir("pvc-1");
  ExpectError(Validate(id, {MountCapability()}, &response), grpc::StatusCode::NOT_FOUND,
              "volume " + id + " does not exist");
  ExpectError(Validate("dir:" + VolumeDir("vol"), {MountCapability()}, &response),
              grpc::StatusCode::NOT_FOUND, "volume dir:" + VolumeDir("vol") + " does not exist");
}

TEST_F(ControllerTest, ValidateConfirmsSupportedCapabilities) {
  pb::CreateVolumeResponse created;
  ASSERT_TRUE(Create(CreateRequest(), &created).ok());
  const std::string id = created.volume().volume_id();

  pb::ValidateVolumeCapabilitiesResponse response;
  ASSERT_TRUE(Validate(id,
                       {MountCapability(),
                        MountCapability(pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER)},
                       &response)
                  .ok());
  ASSERT_TRUE(response.has_confirmed());
  ASSERT_EQ(response.confirmed().volume_capabilities_size(), 2);
  EXPECT_EQ(response.confirmed().volume_capabilities(1).access_mode().mode(),
            pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  EXPECT_TRUE(response.message().empty());

  response.Clear();
  ASSERT_TRUE(Validate(id, {MountCapability(), BlockCapability()}, &response).ok());
  EXPECT_FALSE(response.has_confirmed());
  EXPECT_EQ(response.message(),
            "volume_capabilities[1]: block access is not supported (freshfs volumes are "
            "filesystems: use a mount access type)");

  ASSERT_TRUE(Delete(id).ok());
  EXPECT_EQ(Validate(id, {MountCapability()}, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

// --- the per-volume lock

// A ControllerService whose calls can be held inside the volume lock, served
// on its own socket.
TEST(ControllerLockTest, ConcurrentOperationsOnOneVolumeAreAborted) {
  TempDir tmp;
  const fs::path root = tmp.path() / "data";
  fs::create_directories(root);
  const std::string real_root = fs::canonical(root).string();

  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  DriverConfig config;
  config.allowed_dir_roots = {root.string()};
  ControllerService service(config, [&](const std::string&) {
    if (calls++ == 0) {
      entered.set_value();
      released.wait();
    }
  });
  const std::string socket = (tmp.path() / "ctl.sock").string();
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  auto stub = pb::Controller::NewStub(
      grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials()));

  pb::CreateVolumeRequest request;
  request.set_name("pvc-1");
  *request.add_volume_capabilities() = MountCapability();
  (*request.mutable_parameters())["source"] = root.string();
  auto create = [&] {
    grpc::ClientContext context;
    SetDeadline(&context);
    pb::CreateVolumeResponse response;
    return stub->CreateVolume(&context, request, &response);
  };
  const std::string id = "dir:" + real_root + "/pvc-1";
  const std::string busy = "operation on volume " + id + " already in progress";

  auto first = std::async(std::launch::async, create);
  entered.get_future().wait();
  ExpectError(create(), grpc::StatusCode::ABORTED, busy);
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    pb::DeleteVolumeRequest del;
    del.set_volume_id(id);
    pb::DeleteVolumeResponse response;
    ExpectError(stub->DeleteVolume(&context, del, &response), grpc::StatusCode::ABORTED, busy);
  }
  EXPECT_FALSE(fs::exists(real_root + "/pvc-1")) << "the aborted calls did nothing";
  release.set_value();
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(fs::exists(real_root + "/pvc-1"));
  // Released with the call.
  EXPECT_TRUE(create().ok());
  server->Shutdown();
}

}  // namespace
}  // namespace freshfs::csi::testing
