// NodePublishVolume through a real gRPC client: argument checks, volume
// attributes, S3 secrets, allowedDirRoots, and what reaches the VolumeManager.
#include <unistd.h>

#include <fstream>

#include "csi_test_env.h"

namespace freshfs::csi::testing {
namespace {

using AccessMode = pb::VolumeCapability::AccessMode;

void ExpectError(const grpc::Status& status, grpc::StatusCode code, const std::string& message) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_EQ(status.error_message(), message);
}

class NodePublishTest : public CsiTest {
 protected:
  void ExpectInvalid(const pb::NodePublishVolumeRequest& request, const std::string& message) {
    ExpectError(Publish(request), grpc::StatusCode::INVALID_ARGUMENT, message);
    EXPECT_TRUE(volumes_.calls().empty()) << "a refused request reached the VolumeManager";
  }

  // The spec the VolumeManager got from the last Publish.
  VolumeSpec LastSpec() {
    auto calls = volumes_.calls();
    EXPECT_FALSE(calls.empty());
    return calls.empty() ? VolumeSpec{} : calls.back().spec;
  }
};

TEST_F(NodePublishTest, ValidDirectoryRequestReachesTheVolumeManager) {
  auto request = DirRequest();
  request.mutable_volume_capability()->mutable_mount()->add_mount_flags("noatime");
  (*request.mutable_volume_context())["pollInterval"] = "30s";
  ASSERT_TRUE(Publish(request).ok());

  const VolumeSpec spec = LastSpec();
  EXPECT_EQ(spec.volume_id, "vol-1");
  EXPECT_EQ(spec.target_path, request.target_path());
  EXPECT_FALSE(spec.read_only);
  EXPECT_EQ(spec.mount_flags, std::vector<std::string>{"noatime"});
  EXPECT_EQ(spec.attributes.at("source"), fs::canonical(root_ / "vol").string());
  EXPECT_EQ(spec.attributes.at("pollInterval"), "30s");
  EXPECT_TRUE(spec.secrets.empty());
}

// A pod's fsGroup (VOLUME_MOUNT_GROUP): the volume reports that group, and
// S3 volumes without explicit modes become group writable.
TEST_F(NodePublishTest, VolumeMountGroupBecomesTheVolumesGroup) {
  auto request = DirRequest();
  request.mutable_volume_capability()->mutable_mount()->set_volume_mount_group("2000");
  ASSERT_TRUE(Publish(request).ok());
  EXPECT_EQ(LastSpec().attributes.at("gid"), "2000");
  EXPECT_EQ(LastSpec().attributes.count("fileMode"), 0u);  // a directory keeps the source's modes

  auto s3 = S3Request("vol-s3");
  s3.mutable_volume_capability()->mutable_mount()->set_volume_mount_group("2000");
  ASSERT_TRUE(Publish(s3).ok());
  EXPECT_EQ(LastSpec().attributes.at("gid"), "2000");
  EXPECT_EQ(LastSpec().attributes.at("fileMode"), "0664");
  EXPECT_EQ(LastSpec().attributes.at("dirMode"), "0775");

  auto explicit_modes = S3Request("vol-s3b");
  explicit_modes.mutable_volume_capability()->mutable_mount()->set_volume_mount_group("2000");
  (*explicit_modes.mutable_volume_context())["fileMode"] = "0640";
  (*explicit_modes.mutable_volume_context())["gid"] = "2000";
  ASSERT_TRUE(Publish(explicit_modes).ok());
  EXPECT_EQ(LastSpec().attributes.at("fileMode"), "0640");
}

TEST_F(NodePublishTest, VolumeMountGroupThatMakesNoSenseIsRefused) {
  auto request = DirRequest();
  request.mutable_volume_capability()->mutable_mount()->set_volume_mount_group("staff");
  ExpectInvalid(request, "volume_mount_group \"staff\" is not a numeric group id");
  request.mutable_volume_capability()->mutable_mount()->set_volume_mount_group("99999999999");
  ExpectInvalid(request, "volume_mount_group \"99999999999\" is not a numeric group id");
  request.mutable_volume_capability()->mutable_mount()->set_volume_mount_group("2000");
  (*request.mutable_volume_context())["gid"] = "1000";
  ExpectInvalid(request,
                "volume attribute gid \"1000\" and the pod's fsGroup \"2000\" name "
                "different groups; drop one of them");
}

// A PV's mountOptions shape the volume; they never choose where a root
// process writes, listens or reads its config.
TEST_F(NodePublishTest, MountFlagsAreLimitedToWhatAVolumeMaySay) {
  int n = 0;
  for (const char* flags : {"noatime,nodev", "ro", "poll_interval=10s,uid=1000",
                            "x-systemd.automount", "entry-timeout=1s", "_netdev"}) {
    auto request = DirRequest("vol-ok-" + std::to_string(n++));
    request.mutable_volume_capability()->mutable_mount()->add_mount_flags(flags);
    EXPECT_TRUE(Publish(request).ok()) << flags;
  }
  for (const char* flags : {"metrics-address=0.0.0.0:0", "noatime,log_file=/etc/x",
                            "events-address=:80", "config=/etc/shadow", "staging_dir=/",
                            "s3-credentials-file=/root/k", "ready-fd=3", "cache-dir=/"}) {
    auto bad = DirRequest("vol-bad");
    bad.mutable_volume_capability()->mutable_mount()->add_mount_flags(flags);
    const grpc::Status status = Publish(bad);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << flags;
    EXPECT_NE(status.error_message().find("is not accepted from a volume"), std::string::npos)
        << status.error_message();
  }
}

TEST_F(NodePublishTest, MissingVolumeId) {
  auto request = DirRequest();
  request.clear_volume_id();
  ExpectInvalid(request, "volume_id is required");
}

TEST_F(NodePublishTest, VolumeIdWithControlCharacters) {
  auto request = DirRequest("vol\n1");
  ExpectInvalid(request, "volume_id \"vol\\n1\" contains control characters");
}

TEST_F(NodePublishTest, MissingTargetPath) {
  auto request = DirRequest();
  request.clear_target_path();
  ExpectInvalid(request, "target_path is required");
}

TEST_F(NodePublishTest, RelativeTargetPath) {
  auto request = DirRequest();
  request.set_target_path("pods/x/mount");
  ExpectInvalid(request, "target_path \"pods/x/mount\" is not an absolute path");
}

TEST_F(NodePublishTest, TargetPathWithDotDot) {
  auto request = DirRequest();
  request.set_target_path("/var/lib/kubelet/pods/../../../etc");
  ExpectInvalid(request,
                "target_path \"/var/lib/kubelet/pods/../../../etc\" has a \".\" or "
                "\"..\" component");
}

TEST_F(NodePublishTest, MissingVolumeCapability) {
  auto request = DirRequest();
  request.clear_volume_capability();
  ExpectInvalid(request, "volume_capability is required");
}

TEST_F(NodePublishTest, BlockAccessRefused) {
  auto request = DirRequest();
  request.mutable_volume_capability()->mutable_block();
  ExpectInvalid(request,
                "volume_capability: block access is not supported (freshfs volumes are "
                "filesystems: use a mount access type)");
}

TEST_F(NodePublishTest, MissingAccessType) {
  auto request = DirRequest();
  request.mutable_volume_capability()->clear_access_type();
  ExpectInvalid(request, "volume_capability: access type is required (mount)");
}

TEST_F(NodePublishTest, ForeignFsTypeRefused) {
  auto request = DirRequest();
  request.mutable_volume_capability()->mutable_mount()->set_fs_type("ext4");
  ExpectInvalid(request,
                "volume_capability.mount.fs_type \"ext4\" is not supported (leave it empty or "
                "use \"freshfs\")");
}

TEST_F(NodePublishTest, FreshfsFsTypeAccepted) {
  auto request = DirRequest();
  request.mutable_volume_capability()->mutable_mount()->set_fs_type("freshfs");
  EXPECT_TRUE(Publish(request).ok());
}

TEST_F(NodePublishTest, MissingAccessMode) {
  auto request = DirRequest();
  request.mutable_volume_capability()->clear_access_mode();
  ExpectInvalid(request, "volume_capability.access_mode is required");
}

TEST_F(NodePublishTest, UnknownAccessModeRefused) {
  auto request = DirRequest();
  request.mutable_volume_capability()->mutable_access_mode()->set_mode(AccessMode::UNKNOWN);
  ExpectInvalid(request, "volume_capability.access_mode is required");
}

TEST_F(NodePublishTest, MultiNodeSingleWriterRefused) {
  auto request = DirRequest();
  request.mutable_volume_capability()->mutable_access_mode()->set_mode(
      AccessMode::MULTI_NODE_SINGLE_WRITER);
  ExpectInvalid(request, "volume_capability.access_mode MULTI_NODE_SINGLE_WRITER is not supported");
}

TEST_F(NodePublishTest, SupportedAccessModesAndTheirReadOnlyness) {
  const std::pair<AccessMode::Mode, bool> modes[] = {
      {AccessMode::SINGLE_NODE_WRITER, false},        {AccessMode::SINGLE_NODE_READER_ONLY, true},
      {AccessMode::MULTI_NODE_READER_ONLY, true},     {AccessMode::MULTI_NODE_MULTI_WRITER, false},
      {AccessMode::SINGLE_NODE_SINGLE_WRITER, false}, {AccessMode::SINGLE_NODE_MULTI_WRITER, false},
  };
  for (const auto& [mode, read_only] : modes) {
    SCOPED_TRACE(AccessMode::Mode_Name(mode));
    auto request = DirRequest("vol-" + AccessMode::Mode_Name(mode));
    request.mutable_volume_capability()->mutable_access_mode()->set_mode(mode);
    ASSERT_TRUE(Publish(request).ok());
    EXPECT_EQ(LastSpec().read_only, read_only);
  }
}

TEST_F(NodePublishTest, ReadonlyFlagHonoured) {
  auto request = DirRequest();
  request.set_readonly(true);
  ASSERT_TRUE(Publish(request).ok());
  EXPECT_TRUE(LastSpec().read_only);
}

TEST_F(NodePublishTest, MissingSource) {
  auto request = DirRequest();
  request.mutable_volume_context()->erase("source");
  ExpectInvalid(request,
                "volume attribute source is required (a directory path or s3://bucket[/prefix])");
}

TEST_F(NodePublishTest, UnknownAttributeIsNamed) {
  auto request = DirRequest();
  (*request.mutable_volume_context())["color"] = "blue";
  ExpectInvalid(request, "unknown volume attribute \"color\"");
}

TEST_F(NodePublishTest, MisspelledAttributeGetsASuggestion) {
  auto request = DirRequest();
  (*request.mutable_volume_context())["pollIntervall"] = "5s";
  ExpectInvalid(request,
                "unknown volume attribute \"pollIntervall\" (did you mean \"pollInterval\"?)");
}

TEST_F(NodePublishTest, MountOptionSpellingIsNotAnAttribute) {
  auto request = DirRequest();
  (*request.mutable_volume_context())["poll-interval"] = "5s";
  ExpectInvalid(request,
                "unknown volume attribute \"poll-interval\" (did you mean \"pollInterval\"?)");
}

struct BadValue {
  std::string attribute;
  std::string value;
  std::string message;
};

TEST_F(NodePublishTest, BadAttributeValuesAreNamed) {
  const BadValue cases[] = {
      {"pollInterval", "5x",
       "volume attribute pollInterval \"5x\": unknown unit \"x\" (use ms, s, m or h)"},
      {"pollInterval", "25h", "volume attribute pollInterval \"25h\": must be at most 24h"},
      {"uid", "root", "volume attribute uid \"root\": not a number"},
      {"gid", "-1", "volume attribute gid \"-1\": must not be negative"},
      {"fileMode", "0999", "volume attribute fileMode \"0999\": not an octal mode (e.g. 0644)"},
      {"dirMode", "017777",
       "volume attribute dirMode \"017777\": permission bits only, at most 07777"},
      {"revalidateOnOpen", "maybe",
       "volume attribute revalidateOnOpen \"maybe\": not a boolean (use true or false)"},
  };
  for (const BadValue& c : cases) {
    SCOPED_TRACE(c.attribute + "=" + c.value);
    auto request = DirRequest();
    (*request.mutable_volume_context())[c.attribute] = c.value;
    ExpectInvalid(request, c.message);
  }
}

TEST_F(NodePublishTest, BadS3AttributeValuesAreNamed) {
  const BadValue cases[] = {
      {"s3Endpoint", "minio:9000",
       "volume attribute s3Endpoint \"minio:9000\": must start with http:// or https://"},
      {"s3Region", "", "volume attribute s3Region \"\": must not be empty"},
      {"s3PathStyle", "sometimes",
       "volume attribute s3PathStyle \"sometimes\": not a boolean (use true or false)"},
      {"cacheSize", "lots", "volume attribute cacheSize \"lots\": not a size (e.g. 512M, 10G)"},
  };
  for (const BadValue& c : cases) {
    SCOPED_TRACE(c.attribute + "=" + c.value);
    auto request = S3Request();
    (*request.mutable_volume_context())[c.attribute] = c.value;
    ExpectInvalid(request, c.message);
  }
}

TEST_F(NodePublishTest, EveryAttributeWithAValidValue) {
  auto request = S3Request();
  auto& context = *request.mutable_volume_context();
  context["pollInterval"] = "1m30s";
  context["s3Endpoint"] = "http://127.0.0.1:9000";
  context["s3Region"] = "eu-west-1";
  context["s3PathStyle"] = "true";
  context["uid"] = "1000";
  context["gid"] = "1000";
  context["fileMode"] = "0644";
  context["dirMode"] = "0755";
  context["revalidateOnOpen"] = "yes";
  context["cacheSize"] = "10G";
  ASSERT_TRUE(Publish(request).ok());
  const VolumeSpec spec = LastSpec();
  EXPECT_EQ(spec.attributes.size(), 11u);
  EXPECT_EQ(spec.attributes.at("source"), "s3://bucket/team/data");
  EXPECT_EQ(spec.attributes.at("cacheSize"), "10G");
}

TEST_F(NodePublishTest, S3OnlyAttributesRefusedForDirectories) {
  for (const char* attribute : {"s3Endpoint", "s3Region", "s3PathStyle", "cacheSize"}) {
    SCOPED_TRACE(attribute);
    auto request = DirRequest();
    auto& context = *request.mutable_volume_context();
    context[attribute] = std::string(attribute) == "s3Endpoint"    ? "http://minio:9000"
                         : std::string(attribute) == "s3PathStyle" ? "true"
                         : std::string(attribute) == "cacheSize"   ? "1G"
                                                                   : "us-east-1";
    ExpectInvalid(request,
                  "volume attribute " + std::string(attribute) + " applies only to s3:// sources");
  }
}

TEST_F(NodePublishTest, PodInfoKeysAcceptedAndDropped) {
  auto request = DirRequest();
  auto& context = *request.mutable_volume_context();
  context["csi.storage.k8s.io/pod.name"] = "web-0";
  context["csi.storage.k8s.io/pod.namespace"] = "default";
  context["csi.storage.k8s.io/pod.uid"] = "2c9a0d6e-0000-4000-8000-000000000000";
  context["csi.storage.k8s.io/serviceAccount.name"] = "default";
  context["csi.storage.k8s.io/ephemeral"] = "true";
  ASSERT_TRUE(Publish(request).ok());
  EXPECT_EQ(LastSpec().attributes.size(), 1u) << "only source should remain";
}

TEST_F(NodePublishTest, OtherKubernetesKeysAreUnknown) {
  auto request = DirRequest();
  (*request.mutable_volume_context())["csi.storage.k8s.io/pvc/name"] = "data";
  ExpectInvalid(request, "unknown volume attribute \"csi.storage.k8s.io/pvc/name\"");
}

TEST_F(NodePublishTest, RelativeDirectorySourceRefused) {
  auto request = DirRequest();
  (*request.mutable_volume_context())["source"] = "data/vol";
  ExpectInvalid(request, "volume attribute source \"data/vol\": not an absolute path");
}

TEST_F(NodePublishTest, UnsupportedSchemeRefused) {
  auto request = DirRequest();
  (*request.mutable_volume_context())["source"] = "nfs://server/export";
  ExpectInvalid(request,
                "volume attribute source \"nfs://server/export\": unsupported scheme \"nfs\" (use "
                "/path or file:///path)");
}

TEST_F(NodePublishTest, MalformedS3SourceRefused) {
  auto request = S3Request();
  (*request.mutable_volume_context())["source"] = "s3://b";
  ExpectInvalid(request,
                "volume attribute source \"s3://b\": bucket name \"b\" must be 3 to 255 "
                "characters (s3://bucket[/prefix])");
}

TEST_F(NodePublishTest, FileUrlSourceIsADirectory) {
  auto request = DirRequest();
  (*request.mutable_volume_context())["source"] = "File://" + (root_ / "vol").string();
  ASSERT_TRUE(Publish(request).ok());
  EXPECT_EQ(LastSpec().attributes.at("source"), fs::canonical(root_ / "vol").string());
}

// --- S3 secrets

TEST_F(NodePublishTest, S3CredentialsPassedThrough) {
  auto request = S3Request();
  (*request.mutable_secrets())["sessionToken"] = "FwoGZXIvYXdzE-TOKEN";
  (*request.mutable_secrets())["unrelated"] = "dropped";
  ASSERT_TRUE(Publish(request).ok());
  const std::map<std::string, std::string> expected{{"accessKeyId", "AKIDEXAMPLE"},
                                                    {"secretAccessKey", "wJalrXUtnFEMI-SECRET"},
                                                    {"sessionToken", "FwoGZXIvYXdzE-TOKEN"}};
  EXPECT_EQ(LastSpec().secrets, expected);
}

TEST_F(NodePublishTest, S3WithoutSecrets) {
  auto request = S3Request();
  request.clear_secrets();
  ExpectInvalid(request,
                "secret accessKeyId missing (s3:// sources need accessKeyId and secretAccessKey "
                "in the node publish secret)");
}

TEST_F(NodePublishTest, S3WithoutSecretAccessKey) {
  auto request = S3Request();
  request.mutable_secrets()->erase("secretAccessKey");
  ExpectInvalid(request,
                "secret secretAccessKey missing (s3:// sources need accessKeyId and "
                "secretAccessKey in the node publish secret)");
}

TEST_F(NodePublishTest, S3WithEmptyAccessKeyId) {
  auto request = S3Request();
  (*request.mutable_secrets())["accessKeyId"] = "";
  ExpectInvalid(request, "secret accessKeyId is empty");
}

TEST_F(NodePublishTest, DirectoryVolumesGetNoSecrets) {
  auto request = DirRequest();
  (*request.mutable_secrets())["accessKeyId"] = "AKIDEXAMPLE";
  ASSERT_TRUE(Publish(request).ok());
  EXPECT_TRUE(LastSpec().secrets.empty());
}

// --- allowedDirRoots

TEST_F(NodePublishTest, DirectoryOutsideTheRootsDenied) {
  auto request = DirRequest();
  (*request.mutable_volume_context())["source"] = "/etc";
  ExpectError(Publish(request), grpc::StatusCode::PERMISSION_DENIED,
              "source \"/etc\" is outside the allowed directory roots [" + root_.string() + "]");
  EXPECT_TRUE(volumes_.calls().empty());
}

TEST_F(NodePublishTest, DotDotEscapeDenied) {
  auto request = DirRequest();
  const std::string source = root_.string() + "/vol/../../..";
  (*request.mutable_volume_context())["source"] = source;
  ExpectError(
      Publish(request), grpc::StatusCode::PERMISSION_DENIED,
      "source \"" + source + "\" is outside the allowed directory roots [" + root_.string() + "]");
}

TEST_F(NodePublishTest, PrefixOfARootIsNotUnderIt) {
  fs::create_directories(root_.string() + "-other");
  auto request = DirRequest();
  (*request.mutable_volume_context())["source"] = root_.string() + "-other";
  EXPECT_EQ(Publish(request).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(NodePublishTest, SymlinkEscapeDenied) {
  fs::create_directories(tmp_.path() / "secret");
  fs::create_directory_symlink(tmp_.path() / "secret", root_ / "link");
  auto request = DirRequest();
  const std::string source = (root_ / "link").string();
  (*request.mutable_volume_context())["source"] = source;
  ExpectError(
      Publish(request), grpc::StatusCode::PERMISSION_DENIED,
      "source \"" + source + "\" is outside the allowed directory roots [" + root_.string() + "]");
  EXPECT_TRUE(volumes_.calls().empty());
}

// Through a symlink that points out, a missing directory, a file and a
// directory all get the one refusal: no error tells what exists outside.
TEST_F(NodePublishTest, RefusalsThroughASymlinkRevealNothingOutside) {
  fs::create_directories(tmp_.path() / "outside" / "dir");
  std::ofstream(tmp_.path() / "outside" / "file") << "x";
  fs::create_directory_symlink(tmp_.path() / "outside", root_ / "out");
  const std::string refused = " is outside the allowed directory roots [" + root_.string() + "]";
  for (const char* leaf : {"dir", "file", "missing", "missing/deeper", "file/sub"}) {
    auto request = DirRequest();
    const std::string source = (root_ / "out" / leaf).string();
    (*request.mutable_volume_context())["source"] = source;
    ExpectError(Publish(request), grpc::StatusCode::PERMISSION_DENIED,
                "source \"" + source + "\"" + refused);
  }
}

TEST_F(NodePublishTest, SymlinkThenDotDotEscapeDenied) {
  // Lexically "<root>/deep/.." is the root itself; physically it is the
  // parent of the symlink's target, outside.
  fs::create_directories(tmp_.path() / "outside" / "sub");
  fs::create_directory_symlink(tmp_.path() / "outside" / "sub", root_ / "deep");
  auto request = DirRequest();
  (*request.mutable_volume_context())["source"] = (root_ / "deep").string() + "/..";
  EXPECT_EQ(Publish(request).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(NodePublishTest, SymlinkInsideTheRootIsResolved) {
  fs::create_directory_symlink(root_ / "vol", root_ / "alias");
  auto request = DirRequest();
  (*request.mutable_volume_context())["source"] = (root_ / "alias").string();
  ASSERT_TRUE(Publish(request).ok());
  EXPECT_EQ(LastSpec().attributes.at("source"), fs::canonical(root_ / "vol").string());
}

TEST_F(NodePublishTest, MissingDirectoryUnderARootIsNotFound) {
  auto request = DirRequest();
  const std::string source = (root_ / "nope").string();
  (*request.mutable_volume_context())["source"] = source;
  ExpectError(Publish(request), grpc::StatusCode::NOT_FOUND,
              "source \"" + source + "\" does not exist");
}

TEST_F(NodePublishTest, FileUnderARootIsNotADirectory) {
  std::ofstream(root_ / "file.txt") << "x";
  auto request = DirRequest();
  const std::string source = (root_ / "file.txt").string();
  (*request.mutable_volume_context())["source"] = source;
  ExpectInvalid(request, "source \"" + source + "\" is not a directory");
}

TEST_F(NodePublishTest, RootItselfAllowed) {
  auto request = DirRequest();
  (*request.mutable_volume_context())["source"] = root_.string() + "/";
  ASSERT_TRUE(Publish(request).ok());
  EXPECT_EQ(LastSpec().attributes.at("source"), fs::canonical(root_).string());
}

// A restart with no allowedDirRoots: directory volumes are off entirely.
class NodePublishNoRootsTest : public CsiServerTest {};

TEST_F(NodePublishNoRootsTest, DirectorySourcesDisabled) {
  options_.driver_config.allowed_dir_roots.clear();
  ASSERT_NO_FATAL_FAILURE(StartServer());
  auto request = DirRequest();
  const std::string source = (root_ / "vol").string();
  ExpectError(Publish(request), grpc::StatusCode::PERMISSION_DENIED,
              "source \"" + source +
                  "\": directory sources are disabled on this node (the "
                  "driver config lists no allowedDirRoots)");
  // S3 volumes still work.
  EXPECT_TRUE(Publish(S3Request()).ok());
}

// --- what the VolumeManager says

TEST_F(NodePublishTest, RepeatedPublishIsIdempotent) {
  ASSERT_TRUE(Publish(DirRequest()).ok());
  EXPECT_TRUE(Publish(DirRequest()).ok());
  EXPECT_EQ(volumes_.calls().size(), 2u);
}

TEST_F(NodePublishTest, ConflictingPublishAtTheSameTargetAlreadyExists) {
  ASSERT_TRUE(Publish(DirRequest()).ok());
  auto request = DirRequest();
  request.set_readonly(true);
  ExpectError(Publish(request), grpc::StatusCode::ALREADY_EXISTS,
              "a different volume is published at " + request.target_path());
}

TEST_F(NodePublishTest, VolumeManagerErrorsMapToTheirCodes) {
  const std::pair<Error, grpc::StatusCode> cases[] = {
      {NotFound("gone"), grpc::StatusCode::NOT_FOUND},
      {Unavailable("volume publishing is not implemented yet"), grpc::StatusCode::UNAVAILABLE},
      {Internal("freshfs-mount exited with status 1"), grpc::StatusCode::INTERNAL},
      {PermissionDenied("no"), grpc::StatusCode::PERMISSION_DENIED},
  };
  for (const auto& [error, code] : cases) {
    SCOPED_TRACE(error.message);
    volumes_.FailPublish(error);
    ExpectError(Publish(DirRequest()), code, error.message);
  }
}

}  // namespace
}  // namespace freshfs::csi::testing
