// A real S3 server for tests: s3rver (npm, see scripts/deps.sh) on
// 127.0.0.1, with its own data directory and a free port, plus the real
// `aws` CLI as an independent second client ("the other writer").
//
// S3Server is RAII: the destructor stops s3rver by PID and removes its
// directory. Stop() and Start() restart it on the same port and data, for
// outage tests. Not thread-safe; owned by one test.
//
// s3rver 3.7.1 facts the tests rely on: it accepts only its built-in
// account (access key id S3RVER; SigV4 signatures are not verified), requires
// x-amz-content-sha256, addresses buckets path-style at 127.0.0.1, and keeps
// LastModified to the second. Quirks (pinned in tests/unit/s3/client_test.cc):
// it ignores If-Match/If-None-Match on PUT and If-Match on GET, ignores
// encoding-type=url, omits a common prefix whose objects all lie two or more
// levels below it, gives multipart objects a plain MD5 ETag, and answers a
// Range GET of an empty object with a 206 that promises a byte it never sends.
#pragma once

#include <gtest/gtest.h>
#include <string>
#include <sys/types.h>
#include <vector>

#include "support/process.h"

namespace freshfs::testing {

// Path of the s3rver launcher (PROJECT/.tools/node_modules/.bin/s3rver).
const std::string& S3rverBinary();

class S3Server {
 public:
  // Credentials s3rver accepts.
  static constexpr const char* kAccessKeyId = "S3RVER";
  static constexpr const char* kSecretAccessKey = "S3RVER";
  static constexpr const char* kRegion = "us-east-1";

  // Creates the directory; the server runs after Start().
  explicit S3Server(std::string bucket = "test");
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  // Starts s3rver (with `--configure-bucket bucket()`) and waits until it
  // answers HTTP. The first start picks a free port (retrying with another
  // one if s3rver cannot bind); later starts reuse port and data.
  ::testing::AssertionResult Start();
  // Stops s3rver (SIGTERM, then SIGKILL); safe when not running.
  void Stop();
  // Stalls s3rver (SIGSTOP): requests hang unanswered, as on a stalled
  // network, until Resume() (SIGCONT). Stop() resumes it first.
  void Stall();
  void Resume();
  // Before Start(): preload tests/support/s3rver_atomic.js, which makes
  // s3rver replace, read, list and delete objects atomically as S3 does.
  // Stock s3rver rewrites an object's file in place and its ETag afterwards,
  // so a GET or LIST racing a PUT can see 0 bytes, a mix of the old and new
  // body, or new bytes under the old ETag. Off by default (the other tests
  // never race a PUT with a read).
  void set_atomic_writes(bool on) { atomic_writes_ = on; }
  bool running() const;

  const std::string& bucket() const { return bucket_; }
  int port() const { return port_; }
  std::string endpoint() const;  // "http://127.0.0.1:PORT"
  const std::string& data_dir() const { return data_dir_; }
  // s3rver's own output, for assertion messages.
  std::string Log() const;
  // Puts `keys`, each holding `body`, straight into the data directory in
  // s3rver's on-disk layout (as bench/s3-scale does), as hard links of one
  // object's files: a million objects in seconds and no space. s3rver
  // serves them as uploaded objects. False (with errno) on failure.
  bool LinkObjects(const std::vector<std::string>& keys, const std::string& body) const;

  // Runs `aws --endpoint-url endpoint() args...` with s3rver's credentials
  // and region, no CA bundle and no shared config. Prefers /usr/bin/aws
  // (Debian awscli) over whatever `aws` comes first in PATH.
  ProcessResult Aws(const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = 60s) const;

 private:
  ::testing::AssertionResult StartOnce(bool& port_in_use);

  const std::string bucket_;
  const std::string dir_;
  const std::string data_dir_;
  const std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool atomic_writes_ = false;
};

}  // namespace freshfs::testing
