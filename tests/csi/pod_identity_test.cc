// Per-pod identity end to end: freshfs-csi publishes an S3 volume with the
// pod's service-account token as kubelet passes it (tokenRequests), the
// volume's freshfs-mount assumes the role with it at the test STS
// (tests/support/aws_credentials_server.py) and reads through that server's
// S3 gatekeeper, which refuses expired or unknown session tokens. A
// republish with the next token reaches the running process (no remount).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "csi_binary.h"
#include "support/aws_credentials_server.h"
#include "support/s3rver.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace freshfs::testing;

constexpr const char* kRole = "arn:aws:iam::123456789012:role/team-reader";

std::string Tokens(const std::string& token) {
  return R"({"sts.amazonaws.com": {"token": ")" + token +
         R"(", "expirationTimestamp": "2030-01-01T00:00:00Z"}})";
}

class PodIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::permissions(tmp_.path(), fs::perms(0711));  // the volume's user reaches its dir
    std::ofstream(tmp_.path() / "csi.yaml") << "allowedDirRoots: []\n";
    ASSERT_TRUE(s3_.Start());
    ASSERT_EQ(s3_.Aws({"s3", "cp", "/etc/hostname", "s3://podbucket/team/host.txt"}).exit_code, 0);
    AwsCredentialsServer::Options options;
    options.lifetime_seconds = 6;
    options.unique = true;
    options.access_key_id = S3Server::kAccessKeyId;
    options.roles = {std::string(kRole) + "=token-1,token-2"};
    options.s3_upstream = s3_.endpoint();
    aws_ = std::make_unique<AwsCredentialsServer>(options);
    ASSERT_TRUE(aws_->Start());
    csi_ = std::make_unique<CsiProcess>(
        std::vector<std::string>{
            "--endpoint", "unix://" + (tmp_.path() / "csi.sock").string(), "--node-id", "node-a",
            "--config", (tmp_.path() / "csi.yaml").string(), "--state-dir",
            (tmp_.path() / "state").string(), "--mount-binary", FRESHFS_MOUNT_BIN},
        tmp_.path() / "log");
    auto channel = grpc::CreateChannel("unix://" + (tmp_.path() / "csi.sock").string(),
                                       grpc::InsecureChannelCredentials());
    ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + 20s)) << csi_->log();
    node_ = pb::Node::NewStub(channel);
  }
  void TearDown() override {
    for (const char* t : {"target", "target2"}) {
      const fs::path target = tmp_.path() / t;
      if (node_ && IsFuseMount(target)) {
        EXPECT_TRUE(Unpublish(*node_, t, target).ok());
      }
    }
  }

  pb::NodePublishVolumeRequest Request(const std::string& volume, const char* target,
                                       std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> context = {{"source", "s3://podbucket/team"},
                                                  {"s3Endpoint", aws_->s3_endpoint()},
                                                  {"s3PathStyle", "true"},
                                                  {"pollInterval", "1s"},
                                                  {"credentials", "pod"},
                                                  {"roleArn", kRole},
                                                  {"stsEndpoint", aws_->endpoint()}};
    for (auto& [k, v] : extra) context[k] = v;
    return PublishRequest(volume, tmp_.path() / target, context);
  }

  // The tokens the volume's process presented to STS, in order.
  std::vector<std::string> StsTokens() {
    std::vector<std::string> tokens;
    for (const auto& call : aws_->Log("sts")) tokens.push_back(call.at("token"));
    return tokens;
  }

  TempDir tmp_;
  S3Server s3_{"podbucket"};
  std::unique_ptr<AwsCredentialsServer> aws_;
  std::unique_ptr<CsiProcess> csi_;
  std::unique_ptr<pb::Node::Stub> node_;
};

TEST_F(PodIdentityTest, PodTokenAssumesTheRoleAndARepublishHandsOverTheNext) {
  const fs::path target = tmp_.path() / "target";
  auto request = Request("pod-vol", "target",
                         {{"csi.storage.k8s.io/serviceAccount.tokens", Tokens("token-1")}});
  const grpc::Status published = Publish(*node_, request);
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi_->log();
  EXPECT_EQ(ReadFile(target / "host.txt"), ReadFile("/etc/hostname"));
  ASSERT_FALSE(StsTokens().empty());
  EXPECT_EQ(StsTokens().front(), "token-1");

  // The token is in the volume's own file (for its user alone) and the
  // 0600 state, never in an argv, the environment or the plugin's log.
  const pid_t child = ChildPid(tmp_.path() / "state", target);
  ASSERT_GT(child, 0);
  for (const char* what : {"cmdline", "environ"})
    EXPECT_EQ(ReadFile("/proc/" + std::to_string(child) + "/" + what).find("token-1"),
              std::string::npos);
  EXPECT_EQ(csi_->log().find("token-1"), std::string::npos);
  for (const auto& entry : fs::recursive_directory_iterator(tmp_.path() / "state")) {
    if (!entry.is_regular_file() || ReadFile(entry.path()).find("token-1") == std::string::npos)
      continue;
    struct stat st {};
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 077, 0u) << entry.path();
    if (entry.path().filename() == "token") {
      EXPECT_EQ(st.st_uid, 65534u);
    }
  }

  // kubelet publishes again (requiresRepublish) with the next token: same
  // process, same mount, and its next refresh presents the new token.
  (*request.mutable_volume_context())["csi.storage.k8s.io/serviceAccount.tokens"] =
      Tokens("token-2");
  const grpc::Status republished = Publish(*node_, request);
  ASSERT_TRUE(republished.ok()) << republished.error_message();
  EXPECT_EQ(ChildPid(tmp_.path() / "state", target), child);
  EXPECT_EQ(FuseMountCount(target), 1);
  ASSERT_TRUE(Eventually([&] { return StsTokens().back() == "token-2"; }, 15s))
      << "the running volume never used the new token\n"
      << csi_->log();
  EXPECT_EQ(ReadFile(target / "host.txt"), ReadFile("/etc/hostname"));
  std::set<std::string> verdicts;
  for (const auto& request : aws_->Log("s3")) verdicts.insert(request.at("verdict"));
  EXPECT_EQ(verdicts, std::set<std::string>{"ok"});

  // Newer kubelets put the tokens into the secrets.
  const fs::path target2 = tmp_.path() / "target2";
  auto in_secrets = Request("pod-vol2", "target2");
  (*in_secrets.mutable_secrets())["csi.storage.k8s.io/serviceAccount.tokens"] = Tokens("token-2");
  const grpc::Status second = Publish(*node_, in_secrets);
  ASSERT_TRUE(second.ok()) << second.error_message() << "\n" << csi_->log();
  EXPECT_EQ(ReadFile(target2 / "host.txt"), ReadFile("/etc/hostname"));
}

TEST_F(PodIdentityTest, BadOrMissingTokensAreRefusedNamingTheSource) {
  // No token at all: kubelet was not asked for one.
  auto missing = Request("pod-vol", "target");
  grpc::Status s = Publish(*node_, missing);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("serviceAccount.tokens"), std::string::npos)
      << s.error_message();
  // Keys in the secret of a pod-identity volume.
  auto keys = Request("pod-vol", "target",
                      {{"csi.storage.k8s.io/serviceAccount.tokens", Tokens("token-1")}});
  (*keys.mutable_secrets())["accessKeyId"] = "AKID";
  (*keys.mutable_secrets())["secretAccessKey"] = "SECRET";
  s = Publish(*node_, keys);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("holds S3 keys"), std::string::npos) << s.error_message();
  // A token STS refuses: the volume does not start, and says why.
  auto refused =
      Request("pod-vol", "target",
              {{"csi.storage.k8s.io/serviceAccount.tokens", Tokens("token-of-another-pod")}});
  s = Publish(*node_, refused);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.error_message().find("web identity (role " + std::string(kRole)), std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find("InvalidIdentityToken"), std::string::npos) << s.error_message();
  EXPECT_EQ(s.error_message().find("token-of-another-pod"), std::string::npos);
  EXPECT_FALSE(IsFuseMount(tmp_.path() / "target"));
}

}  // namespace
