// The AWS credential services for tests: STS, IMDS and container
// credentials as tests/support/aws_credentials_server.py serves them (their
// documented wire formats), optionally with an S3 gatekeeper in front of
// s3rver that refuses expired or unknown session tokens as S3 does.
//
// RAII: the destructor stops the server by PID. Not thread-safe; owned by
// one test.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace freshfs::testing {

class AwsCredentialsServer {
 public:
  struct Options {
    double lifetime_seconds = 3600;  // of every credential issued
    bool unique = false;             // new credentials at every fetch
    std::string access_key_id;       // fixed key id (s3rver wants S3RVER); empty: derived
    std::vector<std::string> roles;  // "ARN=TOKEN[,TOKEN...]": what STS accepts
    std::string imds_role;           // the instance's role; empty: none
    bool imds_v1 = false;            // no IMDSv2 token endpoint
    std::string container_token;     // the Authorization container requests need
    std::string s3_upstream;         // s3rver's endpoint: serve the gatekeeper
  };
  using Entry = std::map<std::string, std::string>;  // JSON values as text

  explicit AwsCredentialsServer(Options options);
  ~AwsCredentialsServer();
  AwsCredentialsServer(const AwsCredentialsServer&) = delete;
  AwsCredentialsServer& operator=(const AwsCredentialsServer&) = delete;

  ::testing::AssertionResult Start();

  std::string endpoint() const;     // http://127.0.0.1:PORT (STS, IMDS, /container/)
  std::string s3_endpoint() const;  // the gatekeeper
  // Requests received for `service` ("sts", "imds", "container", "s3"), in order.
  std::vector<Entry> Log(const std::string& service) const;
  // Credentials issued, in order (service, identity, access_key_id, secret,
  // token, expiration as Unix seconds, revoked).
  std::vector<Entry> Issued() const;
  // Every credential issued so far counts as expired from now on.
  void ExpireAll();
  void ResetLog();

 private:
  std::vector<Entry> Get(const std::string& path) const;

  const Options options_;
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int s3_port_ = 0;
};

}  // namespace freshfs::testing
