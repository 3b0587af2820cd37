#include "support/s3_mount.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/http_client.h"

namespace freshfs::testing {

void S3MountedTest::SetUp() {
  // What a user of the mount would export; the daemon inherits it.
  setenv("AWS_ACCESS_KEY_ID", S3Server::kAccessKeyId, 1);
  setenv("AWS_SECRET_ACCESS_KEY", S3Server::kSecretAccessKey, 1);
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_PROFILE");
  ASSERT_TRUE(s3_.Start());
}

std::vector<std::string> S3MountedTest::MountArgs() const {
  return {"--s3-endpoint",
          s3_.endpoint(),
          "--s3-path-style",
          "--s3-region",
          S3Server::kRegion,
          "--poll-interval",
          "1s",
          "--staging-dir",
          m_.dir() + "/staging",
          "--metrics-address",
          "127.0.0.1:0"};
}

::testing::AssertionResult S3MountedTest::StartMount(const std::vector<std::string>& extra,
                                                     const std::string& source) {
  std::vector<std::string> args = MountArgs();
  args.insert(args.end(), extra.begin(), extra.end());
  return m_.Start(args, source);
}

ProcessResult S3MountedTest::RunMount(const std::string& source,
                                      const std::vector<std::pair<std::string, std::string>>& env,
                                      const std::string& endpoint) {
  return RunToCompletionWithEnv(
      {MountBinary(), "--s3-endpoint", endpoint.empty() ? s3_.endpoint() : endpoint,
       "--s3-path-style", "--staging-dir", m_.dir() + "/staging", source, m_.mnt()},
      env, {}, std::chrono::seconds(60));
}

std::string S3MountedTest::Get(const std::string& key) {
  auto r = s3_.Aws({"s3", "cp", "s3://" + s3_.bucket() + "/" + key, "-"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  return r.stdout_text;
}

void S3MountedTest::Put(const std::string& key, const std::string& data) {
  const std::string file = m_.dir() + "/put-body";
  std::ofstream(file, std::ios::binary | std::ios::trunc) << data;
  auto r = s3_.Aws({"s3", "cp", file, "s3://" + s3_.bucket() + "/" + key});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
}

std::set<std::string> S3MountedTest::Keys() {
  auto r = s3_.Aws({"s3api", "list-objects-v2", "--bucket", s3_.bucket(), "--query",
                    "Contents[].Key", "--output", "text"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  std::set<std::string> keys;
  std::istringstream in(r.stdout_text);
  std::string key;
  while (std::getline(in, key, '\t')) {
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    if (!key.empty() && key != "None") keys.insert(key);
  }
  return keys;
}

std::unique_ptr<s3::Client> S3MountedTest::Client() const {
  s3::ClientConfig config;
  config.endpoint = s3_.endpoint();
  config.path_style = true;
  config.region = S3Server::kRegion;
  config.credentials.access_key_id = S3Server::kAccessKeyId;
  config.credentials.secret_access_key = S3Server::kSecretAccessKey;
  return s3::Client::Create(config, s3_.bucket());
}

void S3MountedTest::PutDirect(const std::string& key, const std::string& data) {
  auto put = Client()->Put(key, data);
  ASSERT_TRUE(put) << put.error().Describe();
}

std::optional<std::string> S3MountedTest::Scrape() {
  auto port = m_.MetricsPort();
  if (!port) return std::nullopt;
  auto r = HttpRequest("GET", "http://127.0.0.1:" + std::to_string(*port) + "/metrics");
  if (r.status != 200) return std::nullopt;
  return r.body;
}

}  // namespace freshfs::testing
