// Temporary S3 credentials on a real mount: freshfs-mount gets them by web
// identity from the test STS (tests/support/aws_credentials_server.py) and
// talks to s3rver through that server's S3 gatekeeper, which refuses
// expired or unknown session tokens as S3 does (s3rver checks none). So
// what the gatekeeper saw is what the client really signed with: the
// session tokens change at every refresh, and none is ever refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "support/aws_credentials_server.h"
#include "support/http_client.h"
#include "support/s3_mount.h"

namespace freshfs::testing {
namespace {

using namespace std::chrono_literals;
constexpr const char* kRole = "arn:aws:iam::123456789012:role/reader";

std::string RandomBytes(size_t n) {
  std::mt19937 rng(42);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// The whole file, read through the mount after dropping its pages, so the
// bytes come from S3 again; nullopt with errno on failure.
std::optional<std::string> ReadFromS3(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return std::nullopt;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) data.append(buf, size_t(n));
  const int saved = errno;
  ::close(fd);
  if (n < 0) {
    errno = saved;
    return std::nullopt;
  }
  return data;
}

class S3CredentialsTest : public S3MountedTest {
 protected:
  void SetUp() override {
    S3MountedTest::SetUp();
    // The bucket's data goes in with s3rver's own keys; the mount has none.
    Put("data/blob", kBlob);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    token_file_ = m_.dir() + "/token";
    WriteToken("pod-token-1");
  }
  void TearDown() override { unsetenv("AWS_EC2_METADATA_DISABLED"); }

  void WriteToken(const std::string& token) {
    std::ofstream(token_file_ + ".tmp") << token;
    std::rename((token_file_ + ".tmp").c_str(), token_file_.c_str());
  }

  ::testing::AssertionResult StartServers(double lifetime_seconds) {
    AwsCredentialsServer::Options options;
    options.lifetime_seconds = lifetime_seconds;
    options.unique = true;
    options.access_key_id = S3Server::kAccessKeyId;  // all s3rver accepts
    options.roles = {std::string(kRole) + "=pod-token-1,pod-token-2"};
    options.s3_upstream = s3_.endpoint();
    aws_ = std::make_unique<AwsCredentialsServer>(options);
    return aws_->Start();
  }

  ::testing::AssertionResult MountWithWebIdentity(std::vector<std::string> extra = {}) {
    extra.insert(
        extra.end(),
        {"--s3-endpoint", aws_->s3_endpoint(), "--s3-path-style", "--s3-region", S3Server::kRegion,
         "--poll-interval", "1s", "--staging-dir", m_.dir() + "/staging", "--metrics-address",
         "127.0.0.1:0", "--s3-role-arn", kRole, "--s3-web-identity-token-file", token_file_,
         "--s3-sts-endpoint", aws_->endpoint()});
    return m_.Start(extra, "s3://test");
  }

  std::optional<double> Metric(const std::string& name,
                               const std::map<std::string, std::string>& labels = {}) {
    const auto text = Scrape();
    return text ? MetricSum(*text, name, labels) : std::nullopt;
  }

  const std::string kBlob = RandomBytes(300 * 1024);
  std::string token_file_;
  std::unique_ptr<AwsCredentialsServer> aws_;
};

TEST_F(S3CredentialsTest, RefreshesUnderAReaderWithoutAFailedRead) {
  ASSERT_TRUE(StartServers(/*lifetime_seconds=*/8));
  // Every open asks S3 (one HEAD), so every read needs valid credentials.
  ASSERT_TRUE(MountWithWebIdentity({"--revalidate-on-open"}));
  // 26 s of reads: about four refreshes (8 s credentials are fetched again
  // 2.7 s, less up to 0.8 s of jitter, before they expire). Another writer
  // replaces the object every 20 reads, so reads GET new data too.
  int reads = 0, versions = 1;
  std::string expected = kBlob;
  const auto end = std::chrono::steady_clock::now() + 26s;
  while (std::chrono::steady_clock::now() < end) {
    if (reads > 0 && reads % 20 == 0) {
      expected = kBlob + std::to_string(versions++);
      Put("data/blob", expected);
    }
    const auto data = ReadFromS3(m_.Mnt("data/blob"));
    ASSERT_TRUE(data.has_value()) << "read " << reads << ": " << strerror(errno) << "\n"
                                  << m_.LogTail();
    ASSERT_TRUE(*data == expected) << "read " << reads << " (version " << versions << ")";
    ++reads;
    std::this_thread::sleep_for(50ms);
  }
  const auto s3 = aws_->Log("s3");
  std::set<std::string> tokens;
  size_t heads = 0, gets = 0;
  for (const auto& request : s3) {
    EXPECT_EQ(request.at("verdict"), "ok") << request.at("method") << " " << request.at("path");
    tokens.insert(request.at("token"));
    if (request.at("path").find("/data/blob") == std::string::npos) continue;
    heads += request.at("method") == "HEAD";
    gets += request.at("method") == "GET";
  }
  EXPECT_GE(heads, size_t(reads)) << "opens were answered without S3";
  EXPECT_GE(gets, size_t(versions)) << "new versions were read without S3";
  // Signed with the credentials of at least four fetches (mount + 3 refreshes).
  EXPECT_GE(tokens.size(), 4u);
  const auto sts = aws_->Log("sts");
  EXPECT_GE(sts.size(), tokens.size());
  for (const auto& call : sts) EXPECT_EQ(call.at("token"), "pod-token-1");
  EXPECT_GE(Metric("freshfs_s3_credential_refreshes_total", {{"result", "ok"}}).value_or(0), 3);
  EXPECT_EQ(Metric("freshfs_s3_credential_refreshes_total", {{"result", "error"}}).value_or(0), 0);
  const double expiry = Metric("freshfs_s3_credentials_expiry_seconds").value_or(-1);
  EXPECT_GT(expiry, 0);
  EXPECT_LE(expiry, 8);
  // The log names the source, never a secret or session token.
  const std::string log = m_.Log();
  EXPECT_NE(log.find("s3 credentials: from web identity (role " + std::string(kRole)),
            std::string::npos)
      << log;
  for (const auto& issued : aws_->Issued()) {
    EXPECT_EQ(log.find(issued.at("secret")), std::string::npos);
    EXPECT_EQ(log.find(issued.at("token")), std::string::npos);
  }
  EXPECT_EQ(log.find("pod-token-1"), std::string::npos);
}

TEST_F(S3CredentialsTest, ExpiredTokenIsAnsweredByOneRefresh) {
  ASSERT_TRUE(StartServers(/*lifetime_seconds=*/3600));
  ASSERT_TRUE(MountWithWebIdentity());
  ASSERT_EQ(ReadFromS3(m_.Mnt("data/blob")).value_or(""), kBlob);
  aws_->ResetLog();
  // S3 now says every session token so far has expired, long before its
  // Expiration: the next requests (the read's, the poller's) are refused
  // once, the provider fetches once, and they go through again.
  aws_->ExpireAll();
  const auto data = ReadFromS3(m_.Mnt("data/blob"));
  ASSERT_TRUE(data.has_value()) << strerror(errno) << "\n" << m_.LogTail();
  EXPECT_EQ(*data, kBlob);
  std::this_thread::sleep_for(2s);  // a poll or two with the new credentials
  EXPECT_EQ(aws_->Log("sts").size(), 1u) << "one refresh for every refused request";
  std::set<std::string> refused, accepted;
  for (const auto& request : aws_->Log("s3")) {
    (request.at("verdict") == "ok" ? accepted : refused).insert(request.at("token"));
  }
  EXPECT_EQ(refused.size(), 1u) << "only the old token was refused";
  EXPECT_EQ(accepted.size(), 1u) << "everything after used the new one";
  EXPECT_FALSE(accepted.empty() || refused.empty() || *accepted.begin() == *refused.begin());
  EXPECT_EQ(Metric("freshfs_s3_credential_refreshes_total", {{"result", "ok"}}).value_or(0), 1);
  EXPECT_NE(m_.Log().find("s3 refused expired credentials"), std::string::npos);
}

TEST_F(S3CredentialsTest, RefusedTokenFailsTheMountNamingTheSource) {
  ASSERT_TRUE(StartServers(3600));
  WriteToken("not-a-token-sts-knows");
  const ProcessResult r = RunToCompletionWithEnv(
      {MountBinary(), "--s3-endpoint", aws_->s3_endpoint(), "--s3-path-style", "--staging-dir",
       m_.dir() + "/staging", "--s3-role-arn", kRole, "--s3-web-identity-token-file", token_file_,
       "--s3-sts-endpoint", aws_->endpoint(), "s3://test", m_.mnt()},
      {}, {}, 60s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("web identity (role " + std::string(kRole)), std::string::npos)
      << r.Describe();
  EXPECT_NE(r.stderr_text.find("InvalidIdentityToken"), std::string::npos) << r.Describe();
  EXPECT_EQ(r.stderr_text.find("not-a-token-sts-knows"), std::string::npos) << r.Describe();
  EXPECT_FALSE(IsFuseMountpoint(m_.mnt()));
}

}  // namespace
}  // namespace freshfs::testing
