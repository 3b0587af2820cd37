// The credential chain against the reference: every link, in order, must
// give freshfs exactly the credentials botocore's own chain gets from the
// same environment, files and servers (tests/support/aws_credentials_server.py
// speaking STS, IMDS and container-credential wire formats). Then what the
// servers saw (the IMDSv2 token dance, the STS form), and the errors of
// broken links, which must name the link.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "s3/credential_chain.h"
#include "support/aws_credentials_server.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace freshfs::s3 {
namespace {

namespace stdfs = std::filesystem;
using freshfs::testing::AwsCredentialsServer;

constexpr const char* kRoleFromEnv = "arn:aws:iam::123456789012:role/from-env";
constexpr const char* kRoleFromProfile = "arn:aws:iam::123456789012:role/from-profile";

// Everything either chain reads from the environment.
const std::vector<std::string> kAwsVariables = {"AWS_ACCESS_KEY_ID",
                                                "AWS_SECRET_ACCESS_KEY",
                                                "AWS_SESSION_TOKEN",
                                                "AWS_SECURITY_TOKEN",
                                                "AWS_PROFILE",
                                                "AWS_DEFAULT_PROFILE",
                                                "AWS_ROLE_ARN",
                                                "AWS_WEB_IDENTITY_TOKEN_FILE",
                                                "AWS_ROLE_SESSION_NAME",
                                                "AWS_CONFIG_FILE",
                                                "AWS_SHARED_CREDENTIALS_FILE",
                                                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                                "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                                "AWS_EC2_METADATA_DISABLED",
                                                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                                "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
                                                "AWS_EC2_METADATA_V1_DISABLED",
                                                "AWS_ENDPOINT_URL",
                                                "AWS_ENDPOINT_URL_STS",
                                                "AWS_CA_BUNDLE",
                                                "AWS_REGION",
                                                "AWS_DEFAULT_REGION",
                                                "AWS_METADATA_SERVICE_TIMEOUT",
                                                "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
                                                "AWS_STS_REGIONAL_ENDPOINTS",
                                                "HOME"};

std::map<std::string, std::string> g_env;
const char* FakeGetEnv(const char* name) {
  const auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

struct Observed {
  std::string access_key, secret_key, token, error, source;
};

class CredentialChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stdfs::create_directories(dir_ / "home");
    AwsCredentialsServer::Options options;
    options.roles = {std::string(kRoleFromEnv) + "=env-token",
                     std::string(kRoleFromProfile) + "=profile-token"};
    options.imds_role = "node-role";
    options.container_token = "pod-identity-token";
    server_ = std::make_unique<AwsCredentialsServer>(options);
    ASSERT_TRUE(server_->Start());
    g_env = {{"HOME", (dir_ / "home").string()},
             {"AWS_REGION", "eu-west-1"},
             {"AWS_CONFIG_FILE", (dir_ / "config").string()},
             {"AWS_SHARED_CREDENTIALS_FILE", (dir_ / "credentials").string()},
             {"AWS_ENDPOINT_URL_STS", server_->endpoint()},
             {"AWS_EC2_METADATA_SERVICE_ENDPOINT", server_->endpoint()}};
  }
  void TearDown() override {
    server_.reset();
    g_env.clear();
  }

  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const stdfs::path path = dir_ / name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path.string();
  }

  Observed Freshfs() {
    CredentialChainSettings settings;
    settings.region = "eu-west-1";
    settings.getenv_fn = FakeGetEnv;
    ResolvedCredentials r = ResolveCredentials(settings);
    return {r.credentials.access_key_id, r.credentials.secret_access_key,
            r.credentials.session_token, r.error, r.credentials.source};
  }

  Observed Botocore() {
    std::vector<std::pair<std::string, std::string>> set(g_env.begin(), g_env.end());
    const auto run =
        freshfs::testing::RunToCompletionWithEnv({"python3", FRESHFS_BOTOCORE_CREDENTIALS_SCRIPT},
                                                 set, kAwsVariables, std::chrono::seconds(60));
    EXPECT_EQ(run.exit_code, 0) << run.Describe();
    const nlohmann::json doc = nlohmann::json::parse(run.stdout_text, nullptr, false);
    if (!doc.is_object()) {
      ADD_FAILURE() << run.Describe();
      return {};
    }
    if (doc.contains("error")) return {"", "", "", doc["error"].get<std::string>(), ""};
    return {doc["access_key"], doc["secret_key"], doc["token"], "", doc["method"]};
  }

  // Both chains agree, and freshfs names `source`. Returns what they found.
  Observed ExpectSameAsBotocore(const std::string& source, const std::string& botocore_method) {
    const Observed ours = Freshfs();
    const Observed reference = Botocore();
    EXPECT_EQ(ours.error, "");
    EXPECT_EQ(reference.error, "");
    EXPECT_FALSE(ours.access_key.empty());
    EXPECT_EQ(ours.access_key, reference.access_key) << "link: " << source;
    EXPECT_EQ(ours.secret_key, reference.secret_key) << "link: " << source;
    EXPECT_EQ(ours.token, reference.token) << "link: " << source;
    EXPECT_NE(ours.source.find(source), std::string::npos) << ours.source;
    EXPECT_EQ(reference.source, botocore_method);  // botocore names its provider here
    return ours;
  }

  freshfs::testing::TempDir tmp_{"chain"};
  stdfs::path dir_ = tmp_.path();
  std::unique_ptr<AwsCredentialsServer> server_;
};

// Every link configured at once, then taken away one at a time: each step
// uses the next link down, the same one botocore uses.
TEST_F(CredentialChainTest, EveryLinkInOrderAgreesWithBotocore) {
  // No trailing newline: botocore sends the file's bytes as they are (freshfs
  // trims whitespace), and kubelet and EKS write none.
  const std::string env_token = Write("env-token", "env-token");
  const std::string profile_token = Write("profile-token", "profile-token");
  const std::string process = Write("process.sh",
                                    "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": "
                                    "\"AKIAPROCESS\", \"SecretAccessKey\": \"process-secret\", "
                                    "\"SessionToken\": \"process-token\", \"Expiration\": "
                                    "\"2099-01-01T00:00:00Z\"}'\n",
                                    0700);
  const std::string config_with_role =
      "[default]\nregion = eu-west-1\nrole_arn = " + std::string(kRoleFromProfile) +
      "\nweb_identity_token_file = " + profile_token + "\nrole_session_name = from-profile\n";
  const std::string config_with_process =
      "[default]\ncredential_process = " + process +
      " --flag 'quoted arg'\n"
      "aws_access_key_id = AKIACONFIG\naws_secret_access_key = config-secret\n";
  const std::string config_with_keys =
      "[default]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = config-secret\n";
  Write("credentials",
        "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = file-secret\n");
  Write("config", config_with_role);
  g_env["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  g_env["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  g_env["AWS_ROLE_ARN"] = kRoleFromEnv;
  g_env["AWS_WEB_IDENTITY_TOKEN_FILE"] = env_token;
  g_env["AWS_ROLE_SESSION_NAME"] = "from-env";
  g_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server_->endpoint() + "/container/pod";
  g_env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "pod-identity-token";

  EXPECT_EQ(ExpectSameAsBotocore("environment", "env").access_key, "AKIAENV");
  g_env.erase("AWS_ACCESS_KEY_ID");
  g_env.erase("AWS_SECRET_ACCESS_KEY");

  ExpectSameAsBotocore("web identity (role " + std::string(kRoleFromEnv),
                       "assume-role-with-web-identity");
  g_env.erase("AWS_ROLE_ARN");
  g_env.erase("AWS_WEB_IDENTITY_TOKEN_FILE");
  g_env.erase("AWS_ROLE_SESSION_NAME");  // it would win over the profile's

  ExpectSameAsBotocore("web identity (role " + std::string(kRoleFromProfile),
                       "assume-role-with-web-identity");
  Write("config", config_with_process);

  EXPECT_EQ(
      ExpectSameAsBotocore("file " + (dir_ / "credentials").string(), "shared-credentials-file")
          .access_key,
      "AKIAFILE");
  stdfs::remove(dir_ / "credentials");

  EXPECT_EQ(ExpectSameAsBotocore("credential_process", "custom-process").access_key, "AKIAPROCESS");
  Write("config", config_with_keys);

  EXPECT_EQ(ExpectSameAsBotocore("config file", "config-file").access_key, "AKIACONFIG");
  stdfs::remove(dir_ / "config");

  ExpectSameAsBotocore("container credentials", "container-role");
  g_env.erase("AWS_CONTAINER_CREDENTIALS_FULL_URI");

  ExpectSameAsBotocore("instance metadata", "iam-role");

  // Each web identity link presented its own token to its own role, by form
  // POST, and asked exactly what botocore asked (ours first, then botocore's).
  const auto sts = server_->Log("sts");
  ASSERT_EQ(sts.size(), 4u);
  for (size_t i = 0; i < sts.size(); i += 2) {
    for (const char* field : {"role_arn", "token", "session_name"})
      EXPECT_EQ(sts[i].at(field), sts[i + 1].at(field)) << field;
  }
  EXPECT_EQ(sts[0].at("role_arn"), kRoleFromEnv);
  EXPECT_EQ(sts[0].at("token"), "env-token");
  EXPECT_EQ(sts[0].at("session_name"), "from-env");
  EXPECT_EQ(sts[0].at("content_type").rfind("application/x-www-form-urlencoded", 0), 0u);
  EXPECT_EQ(sts.back().at("role_arn"), kRoleFromProfile);
  EXPECT_EQ(sts.back().at("token"), "profile-token");
  EXPECT_EQ(sts.back().at("session_name"), "from-profile");
  // The container token travelled as the Authorization header.
  for (const auto& entry : server_->Log("container"))
    EXPECT_EQ(entry.at("authorization"), "pod-identity-token");
}

TEST_F(CredentialChainTest, ImdsV2TokenThenRoleThenCredentials) {
  const Observed found = ExpectSameAsBotocore("instance metadata", "iam-role");
  EXPECT_NE(found.source.find("node-role"), std::string::npos) << found.source;
  const auto imds = server_->Log("imds");
  ASSERT_GE(imds.size(), 3u);
  // Ours: PUT token (TTL 21600 s, as the SDKs ask), role name, credentials,
  // both GETs with the session token.
  EXPECT_EQ(imds[0].at("request"), "token");
  EXPECT_EQ(imds[0].at("ttl"), "21600");
  EXPECT_EQ(imds[1].at("request"), "role");
  EXPECT_EQ(imds[2].at("request"), "node-role");
  EXPECT_EQ(imds[1].at("token").rfind("imds-session-", 0), 0u);
  EXPECT_EQ(imds[2].at("token"), imds[1].at("token"));
}

TEST_F(CredentialChainTest, ContainerTokenFromFileIsReadAtEachFetch) {
  g_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server_->endpoint() + "/container/pod";
  g_env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] =
      Write("eks-pod-identity-token", "pod-identity-token");
  ExpectSameAsBotocore("container credentials", "container-role");
  Write("eks-pod-identity-token", "rotated-away");
  const Observed after = Freshfs();
  EXPECT_NE(after.error.find("container credentials"), std::string::npos) << after.error;
  EXPECT_NE(after.error.find("HTTP 401"), std::string::npos) << after.error;
}

TEST_F(CredentialChainTest, ContainerRelativeUriJoinsTheContainerHost) {
  g_env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/container/task";
  g_env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "pod-identity-token";
  CredentialChainSettings settings;
  settings.getenv_fn = FakeGetEnv;
  settings.container_endpoint = server_->endpoint();  // instead of 169.254.170.2
  const ResolvedCredentials r = ResolveCredentials(settings);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_NE(r.credentials.source.find("/container/task"), std::string::npos);
  EXPECT_NE(r.source, nullptr) << "temporary credentials must be refreshable";
  EXPECT_TRUE(r.credentials.expiration.has_value());
}

TEST_F(CredentialChainTest, ContainerFullUriOverPlainHttpMustBeLocal) {
  g_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://credentials.example.com/creds";
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("AWS_CONTAINER_CREDENTIALS_FULL_URI"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("loopback"), std::string::npos) << r.error;
}

TEST_F(CredentialChainTest, OptionsWinOverVariablesForWebIdentity) {
  g_env["AWS_ROLE_ARN"] = kRoleFromEnv;
  g_env["AWS_WEB_IDENTITY_TOKEN_FILE"] = Write("env-token", "env-token");
  CredentialChainSettings settings;
  settings.getenv_fn = FakeGetEnv;
  settings.role_arn = kRoleFromProfile;
  settings.web_identity_token_file = Write("pod-token", "profile-token");
  settings.sts_endpoint = server_->endpoint();
  g_env.erase("AWS_ENDPOINT_URL_STS");
  const ResolvedCredentials r = ResolveCredentials(settings);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(server_->Log("sts").back().at("role_arn"), kRoleFromProfile);
}

// --- broken links name themselves ----------------------------------------

TEST_F(CredentialChainTest, MissingWebIdentityTokenFileNamesTheSource) {
  g_env["AWS_ROLE_ARN"] = kRoleFromEnv;
  g_env["AWS_WEB_IDENTITY_TOKEN_FILE"] = (dir_ / "no-such-token").string();
  g_env["AWS_ACCESS_KEY_ID"] = "";
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("web identity"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find((dir_ / "no-such-token").string()), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;
  EXPECT_TRUE(server_->Log("imds").empty()) << "a broken link must not fall through to IMDS";
}

TEST_F(CredentialChainTest, RefusedWebIdentityTokenNamesTheSourceAndStsCode) {
  g_env["AWS_ROLE_ARN"] = kRoleFromEnv;
  g_env["AWS_WEB_IDENTITY_TOKEN_FILE"] = Write("bad-token", "forged-token-value");
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("web identity (role " + std::string(kRoleFromEnv)), std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("InvalidIdentityToken"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("forged-token-value"), std::string::npos) << "token in message";
  EXPECT_EQ(Botocore().access_key, "") << "botocore must refuse the same token";
}

TEST_F(CredentialChainTest, EmptyWebIdentityTokenFile) {
  g_env["AWS_ROLE_ARN"] = kRoleFromEnv;
  g_env["AWS_WEB_IDENTITY_TOKEN_FILE"] = Write("empty-token", "\n");
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("is empty"), std::string::npos) << r.error;
  EXPECT_TRUE(server_->Log("sts").empty());
}

TEST_F(CredentialChainTest, HalfAWebIdentityIsAnError) {
  g_env["AWS_ROLE_ARN"] = kRoleFromEnv;
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("AWS_WEB_IDENTITY_TOKEN_FILE"), std::string::npos) << r.error;
}

TEST_F(CredentialChainTest, FailingCredentialProcessNamesTheProfile) {
  const std::string fails = Write("fails.sh", "#!/bin/sh\nexit 3\n", 0700);
  Write("config", "[profile build]\ncredential_process = " + fails + "\n");
  g_env["AWS_PROFILE"] = "build";
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("credential_process (profile [build])"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("exit status 3"), std::string::npos) << r.error;
}

TEST_F(CredentialChainTest, NamedProfileMissingEverywhere) {
  Write("credentials", "[default]\naws_access_key_id = A\naws_secret_access_key = B\n");
  g_env["AWS_PROFILE"] = "staging";
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("[staging]"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("\"default\""), std::string::npos) << r.error;
  EXPECT_NE(Botocore().error.find("staging"), std::string::npos);
}

TEST_F(CredentialChainTest, ImdsWithoutRoleAfterEverythingElse) {
  AwsCredentialsServer no_role({});
  ASSERT_TRUE(no_role.Start());
  g_env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = no_role.endpoint();
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("no S3 credentials found"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("AWS_ACCESS_KEY_ID"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("instance metadata"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("no IAM role"), std::string::npos) << r.error;
}

TEST_F(CredentialChainTest, ImdsDisabled) {
  g_env["AWS_EC2_METADATA_DISABLED"] = "true";
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("AWS_EC2_METADATA_DISABLED"), std::string::npos) << r.error;
  EXPECT_TRUE(server_->Log("imds").empty());
}

TEST_F(CredentialChainTest, ImdsV1FallbackOnlyWhenAllowed) {
  AwsCredentialsServer v1({.imds_role = "old-role", .imds_v1 = true});
  ASSERT_TRUE(v1.Start());
  g_env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = v1.endpoint();
  EXPECT_NE(ExpectSameAsBotocore("instance metadata", "iam-role").source.find("old-role"),
            std::string::npos);
  g_env["AWS_EC2_METADATA_V1_DISABLED"] = "true";
  const Observed r = Freshfs();
  EXPECT_NE(r.error.find("PUT /latest/api/token"), std::string::npos) << r.error;
}

// --- parsers ---------------------------------------------------------------

TEST(CredentialsJsonTest, ImdsErrorCodeIsReported) {
  const CredentialsResult r = ParseCredentialsJson(
      R"({"Code": "AssumeRoleUnauthorizedAccess", "Message": "denied"})", "IMDS");
  EXPECT_NE(r.error.find("AssumeRoleUnauthorizedAccess"), std::string::npos) << r.error;
}

TEST(CredentialsJsonTest, NotJsonAndMissingKeys) {
  EXPECT_NE(ParseCredentialsJson("<html>", "x").error.find("not a JSON object"), std::string::npos);
  EXPECT_NE(ParseCredentialsJson(R"({"AccessKeyId": "A"})", "x").error.find("SecretAccessKey"),
            std::string::npos);
  EXPECT_NE(ParseCredentialsJson(
                R"({"AccessKeyId": "A", "SecretAccessKey": "S", "Expiration": "soon"})", "x")
                .error.find("not a time"),
            std::string::npos);
}

TEST(SplitCommandTest, QuotesAndBackslashesAsShlex) {
  EXPECT_EQ(SplitCommand("a 'b c' \"d \\\"e\" f\\ g"),
            (std::vector<std::string>{"a", "b c", "d \"e", "f g"}));
  EXPECT_EQ(SplitCommand("  x  ''  "), (std::vector<std::string>{"x", ""}));
  EXPECT_TRUE(SplitCommand("a 'b").empty());
}

}  // namespace
}  // namespace freshfs::s3
