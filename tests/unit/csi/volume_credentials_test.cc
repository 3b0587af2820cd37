// The credential modes of S3 volumes (secret, driver, pod): which
// combinations of attributes, secrets and pod tokens are accepted, what
// reaches the child's command line, and republish detection.
#include "csi/volume_credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "csi/mount_args.h"
#include "support/temp_dir.h"

namespace freshfs::csi {
namespace {

const std::string kTokens =
    R"({"sts.amazonaws.com": {"token": "pod-jwt", "expirationTimestamp": "2030-01-01T00:00:00Z"}})";
const StringMap kKeys = {{"accessKeyId", "AKID"}, {"secretAccessKey", "SECRET"}};
const StringMap kPod = {{"credentials", "pod"}, {"roleArn", "arn:aws:iam::1:role/r"}};

std::string ErrorOf(const StringMap& attributes, const StringMap& context,
                    const StringMap& secrets) {
  auto r = CheckS3Credentials(attributes, context, secrets);
  return r ? "" : r.error().message;
}

TEST(VolumeCredentialsTest, SecretIsTheDefaultAndNeedsKeys) {
  auto r = CheckS3Credentials({}, {}, kKeys);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->secrets.at("accessKeyId"), "AKID");
  EXPECT_TRUE(r->pod_token.empty());
  EXPECT_NE(ErrorOf({}, {}, {}).find("accessKeyId missing"), std::string::npos);
  EXPECT_NE(ErrorOf({{"roleArn", "arn"}}, {}, kKeys).find("roleArn needs credentials \"pod\""),
            std::string::npos);
  EXPECT_NE(ErrorOf({{"stsEndpoint", "http://sts"}}, {}, kKeys).find("stsEndpoint"),
            std::string::npos);
}

TEST(VolumeCredentialsTest, PodTakesTheTokenFromTheContextOrTheSecrets) {
  auto from_context = CheckS3Credentials(kPod, {{kServiceAccountTokensKey, kTokens}}, {});
  ASSERT_TRUE(from_context) << from_context.error().message;
  EXPECT_EQ(from_context->pod_token, "pod-jwt");
  EXPECT_TRUE(from_context->secrets.empty());
  auto from_secrets = CheckS3Credentials(kPod, {}, {{kServiceAccountTokensKey, kTokens}});
  ASSERT_TRUE(from_secrets) << from_secrets.error().message;
  EXPECT_EQ(from_secrets->pod_token, "pod-jwt");
}

TEST(VolumeCredentialsTest, PodRefusesWhatMakesNoSense) {
  const StringMap context = {{kServiceAccountTokensKey, kTokens}};
  EXPECT_NE(ErrorOf({{"credentials", "pod"}}, context, {}).find("needs volume attribute roleArn"),
            std::string::npos);
  EXPECT_NE(ErrorOf(kPod, context, kKeys).find("holds S3 keys"), std::string::npos);
  const std::string missing = ErrorOf(kPod, {}, {});
  EXPECT_NE(missing.find("kubelet sent no service-account token"), std::string::npos) << missing;
  EXPECT_NE(missing.find("tokenRequests"), std::string::npos) << missing;
  EXPECT_NE(ErrorOf({{"credentials", "node"}}, {}, {}).find("must be secret, driver or pod"),
            std::string::npos);
}

TEST(VolumeCredentialsTest, PodTokenAudience) {
  const std::string two =
      R"({"sts.amazonaws.com": {"token": "aws-jwt"}, "minio": {"token": "minio-jwt"}})";
  EXPECT_NE(ErrorOf(kPod, {{kServiceAccountTokensKey, two}}, {}).find("several audiences"),
            std::string::npos);
  StringMap minio = kPod;
  minio["tokenAudience"] = "minio";
  auto r = CheckS3Credentials(minio, {{kServiceAccountTokensKey, two}}, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->pod_token, "minio-jwt");
  minio["tokenAudience"] = "vault";
  const std::string wrong = ErrorOf(minio, {{kServiceAccountTokensKey, two}}, {});
  EXPECT_NE(wrong.find("no audience \"vault\""), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("\"minio\""), std::string::npos) << wrong;
  EXPECT_NE(ErrorOf(kPod, {{kServiceAccountTokensKey, "not json"}}, {}).find("not a JSON object"),
            std::string::npos);
  EXPECT_EQ(ErrorOf(kPod, {{kServiceAccountTokensKey, two}}, {}).find("jwt"), std::string::npos)
      << "a token in a message";
}

TEST(VolumeCredentialsTest, DriverTakesNoKeysNoRoleAndNoInlineVolumes) {
  EXPECT_EQ(ErrorOf({{"credentials", "driver"}}, {}, {}), "");
  EXPECT_NE(ErrorOf({{"credentials", "driver"}}, {}, kKeys).find("holds S3 keys"),
            std::string::npos);
  EXPECT_NE(ErrorOf({{"credentials", "driver"}, {"roleArn", "arn"}}, {}, {}).find("roleArn"),
            std::string::npos);
  EXPECT_NE(ErrorOf({{"credentials", "driver"}}, {{"csi.storage.k8s.io/ephemeral", "true"}}, {})
                .find("not for inline volumes"),
            std::string::npos);
}

TEST(VolumeCredentialsTest, PodVolumeCommandLineNamesTheTokenFileNotTheToken) {
  VolumeSpec spec;
  spec.volume_id = "v";
  spec.target_path = "/t";
  spec.attributes = {{"source", "s3://b"},
                     {"credentials", "pod"},
                     {"roleArn", "arn:aws:iam::1:role/r"},
                     {"stsEndpoint", "http://minio:9000"}};
  spec.pod_token = "pod-jwt";
  const auto argv = MountArgs("freshfs-mount", spec, {"/v/staging", "/v/cache", "/v/token"});
  const std::string line = [&] {
    std::string out;
    for (const auto& a : argv) out += a + " ";
    return out;
  }();
  EXPECT_NE(line.find("--s3-role-arn arn:aws:iam::1:role/r --s3-web-identity-token-file /v/token "
                      "--s3-sts-endpoint http://minio:9000"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("pod-jwt"), std::string::npos);
  EXPECT_EQ(line.find("--s3-credentials-file"), std::string::npos);
}

TEST(VolumeCredentialsTest, RepublishWithANewTokenIsTheSameVolume) {
  VolumeSpec a;
  a.volume_id = "v";
  a.attributes = kPod;
  a.pod_token = "one";
  VolumeSpec b = a;
  b.pod_token = "two";
  EXPECT_TRUE(SameButPodToken(a, b));
  b.attributes["pollInterval"] = "5s";
  EXPECT_FALSE(SameButPodToken(a, b));
  VolumeSpec keys = a;
  keys.pod_token.clear();
  EXPECT_FALSE(SameButPodToken(a, keys));
}

TEST(VolumeCredentialsTest, TokenFileIsReplacedWholeAndPrivate) {
  freshfs::testing::TempDir dir;
  VolumeSpec spec;
  spec.pod_token = "first";
  ASSERT_TRUE(WritePodToken(spec, dir.path().string(), {getuid(), getgid()}).ok());
  spec.pod_token = "second";
  ASSERT_TRUE(WritePodToken(spec, dir.path().string(), {getuid(), getgid()}).ok());
  const std::string path = PodTokenFile(dir.path().string());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "second");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0400u);
  EXPECT_FALSE(std::filesystem::exists(path + ".new"));
}

}  // namespace
}  // namespace freshfs::csi
