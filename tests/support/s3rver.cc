#include "support/s3rver.h"

#include <signal.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/mount.h"

namespace freshfs::testing {
namespace {

using Clock = std::chrono::steady_clock;

// s3rver under a loaded machine (sanitized test binaries next to it) can take
// several seconds to start node.
constexpr auto kStartTimeout = 30s;
constexpr int kPortAttempts = 5;

// A port that was free a moment ago (bind to 0, read it back, close).
int PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Whether something on 127.0.0.1:port answers an HTTP request.
bool AnswersHttp(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    char reply[8] = {};
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()) &&
        recv(fd, reply, sizeof reply, MSG_WAITALL) == static_cast<ssize_t>(sizeof reply)) {
      ok = std::memcmp(reply, "HTTP/1.", 7) == 0;
    }
  }
  close(fd);
  return ok;
}

}  // namespace

const std::string& S3rverBinary() {
  static const std::string path = FRESHFS_S3RVER_BIN;
  return path;
}

S3Server::S3Server(std::string bucket)
    : bucket_(std::move(bucket)),
      dir_(MakeTempDir("s3rver")),
      data_dir_(dir_ + "/data"),
      log_path_(dir_ + "/s3rver.log") {
  mkdir(data_dir_.c_str(), 0755);
}

S3Server::~S3Server() {
  Stop();
  RemoveTree(dir_);
}

std::string S3Server::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string S3Server::Log() const { return ReadFileOrEmpty(log_path_); }

namespace {

std::string Md5Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    char byte[3];
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

bool WriteWholeFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  return bool(out.flush());
}

}  // namespace

bool S3Server::LinkObjects(const std::vector<std::string>& keys, const std::string& body) const {
  static constexpr const char* kEndings[] = {"._S3rver_object", "._S3rver_object.md5",
                                             "._S3rver_metadata.json"};
  const std::string contents[] = {body, Md5Hex(body),
                                  "{\"content-type\": \"binary/octet-stream\"}"};
  const std::string bucket_dir = data_dir_ + "/" + bucket_;
  std::string made;  // the last directory made (keys come grouped)
  std::string proto;
  for (size_t n = 0; n < keys.size(); ++n) {
    const std::string& key = keys[n];
    if (n % 60000 == 0) {  // ext4 allows 65,000 links to one file
      proto = dir_ + "/proto" + std::to_string(n);
      for (int i = 0; i < 3; ++i)
        if (!WriteWholeFile(proto + kEndings[i], contents[i])) return false;
    }
    const std::string path = bucket_dir + "/" + key;
    const std::string parent = path.substr(0, path.rfind('/'));
    if (parent != made) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) return false;
      made = parent;
    }
    for (const char* ending : kEndings)
      if (::link((proto + ending).c_str(), (path + ending).c_str()) != 0 && errno != EEXIST)
        return false;
  }
  return true;
}

bool S3Server::running() const { return pid_ > 0 && ProcessAlive(pid_); }

void S3Server::Stall() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void S3Server::Resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

void S3Server::Stop() {
  if (pid_ <= 0) return;
  Resume();  // a stalled process would not see SIGTERM
  StopProcess(pid_);
  pid_ = -1;
}

::testing::AssertionResult S3Server::Start() {
  if (running()) return ::testing::AssertionSuccess();
  if (access(S3rverBinary().c_str(), X_OK) != 0) {
    return ::testing::AssertionFailure()
           << S3rverBinary() << " is missing: run scripts/deps.sh to install s3rver";
  }
  const bool first_start = port_ == 0;
  ::testing::AssertionResult result = ::testing::AssertionFailure();
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    if (first_start) port_ = PickFreePort();
    bool port_in_use = false;
    result = StartOnce(port_in_use);
    if (result || !port_in_use) return result;
    // Someone took the port between PickFreePort() and s3rver's bind, or a
    // restart came before the old socket was released.
    if (!first_start) std::this_thread::sleep_for(500ms);
  }
  return result;
}

::testing::AssertionResult S3Server::StartOnce(bool& port_in_use) {
  const size_t log_start = Log().size();
  // s3rver encrypts ListObjectsV2 continuation tokens with DES, which
  // Node >= 17 (OpenSSL 3) only offers with the legacy provider: without it
  // every truncated listing is a 500. env(1) execs, so the PID stays s3rver's.
  std::string node_options = "NODE_OPTIONS=--openssl-legacy-provider";
  if (atomic_writes_) node_options += " --require " FRESHFS_S3RVER_ATOMIC_JS;
  pid_ = SpawnWithLog({"/usr/bin/env", node_options, S3rverBinary(), "-d", data_dir_, "-a",
                       "127.0.0.1", "-p", std::to_string(port_), "--configure-bucket", bucket_},
                      log_path_);
  if (pid_ < 0) {
    return ::testing::AssertionFailure()
           << "cannot start " << S3rverBinary() << ": " << std::strerror(errno);
  }
  const auto deadline = Clock::now() + kStartTimeout;
  const std::string ready = "listening on 127.0.0.1:" + std::to_string(port_);
  for (;;) {
    if (auto status = WaitForChild(pid_, 0ms)) {
      pid_ = -1;
      const std::string log = Log().substr(log_start);
      port_in_use = log.find("EADDRINUSE") != std::string::npos;
      return ::testing::AssertionFailure()
             << "s3rver exited with status " << *status << " on port " << port_ << ":\n"
             << log;
    }
    // Our s3rver's own line, not just anything answering on the port.
    if (Log().find(ready, log_start) != std::string::npos && AnswersHttp(port_)) {
      return ::testing::AssertionSuccess();
    }
    if (Clock::now() >= deadline) {
      Stop();
      return ::testing::AssertionFailure()
             << "s3rver did not answer on port " << port_ << " within "
             << std::chrono::duration_cast<std::chrono::seconds>(kStartTimeout).count() << "s:\n"
             << Log().substr(log_start);
    }
    std::this_thread::sleep_for(50ms);
  }
}

ProcessResult S3Server::Aws(const std::vector<std::string>& args,
                            std::chrono::milliseconds timeout) const {
  // The first `aws` in PATH may be a pyenv shim without awscli behind it.
  const std::string aws = access("/usr/bin/aws", X_OK) == 0 ? "/usr/bin/aws" : "aws";
  std::vector<std::string> argv{aws, "--endpoint-url", endpoint()};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string no_file = dir_ + "/no-aws-config";
  return RunToCompletionWithEnv(
      argv,
      {{"AWS_ACCESS_KEY_ID", kAccessKeyId},
       {"AWS_SECRET_ACCESS_KEY", kSecretAccessKey},
       {"AWS_DEFAULT_REGION", kRegion},
       {"AWS_EC2_METADATA_DISABLED", "true"},
       {"AWS_CONFIG_FILE", no_file},
       {"AWS_SHARED_CREDENTIALS_FILE", no_file},
       {"AWS_PAGER", ""}},
      {"AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"},
      timeout);
}

}  // namespace freshfs::testing
