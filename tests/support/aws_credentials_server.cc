#include "support/aws_credentials_server.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include "support/http_client.h"
#include "support/process.h"

namespace freshfs::testing {
namespace {

int ReadPort(const std::string& path) {
  const std::string text = ReadFileOrEmpty(path);
  return text.empty() ? 0 : std::stoi(text);
}

}  // namespace

AwsCredentialsServer::AwsCredentialsServer(Options options) : options_(std::move(options)) {
  char tmpl[] = "/tmp/freshfs-awscreds-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) dir_ = tmpl;
}

AwsCredentialsServer::~AwsCredentialsServer() {
  if (pid_ > 0) StopProcess(pid_);
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

::testing::AssertionResult AwsCredentialsServer::Start() {
  if (dir_.empty()) return ::testing::AssertionFailure() << "mkdtemp failed";
  std::vector<std::string> argv{"python3",     FRESHFS_AWS_CREDENTIALS_SERVER,
                                "--port-file", dir_ + "/port",
                                "--lifetime",  std::to_string(options_.lifetime_seconds)};
  if (options_.unique) argv.push_back("--unique");
  if (!options_.access_key_id.empty())
    argv.insert(argv.end(), {"--access-key-id", options_.access_key_id});
  for (const std::string& role : options_.roles) argv.insert(argv.end(), {"--role", role});
  if (!options_.imds_role.empty()) argv.insert(argv.end(), {"--imds-role", options_.imds_role});
  if (options_.imds_v1) argv.push_back("--imds-v1");
  if (!options_.container_token.empty())
    argv.insert(argv.end(), {"--container-token", options_.container_token});
  if (!options_.s3_upstream.empty()) {
    argv.insert(argv.end(),
                {"--s3-upstream", options_.s3_upstream, "--s3-port-file", dir_ + "/s3-port"});
  }
  pid_ = SpawnWithLog(argv, dir_ + "/log");
  if (pid_ < 0) return ::testing::AssertionFailure() << "cannot start python3";
  const bool up = WaitFor(
                      [&] {
                        port_ = ReadPort(dir_ + "/port");
                        s3_port_ = options_.s3_upstream.empty() ? 1 : ReadPort(dir_ + "/s3-port");
                        return (port_ > 0 && s3_port_ > 0) || !ProcessAlive(pid_);
                      },
                      std::chrono::seconds(20))
                      .has_value();
  if (!up || port_ == 0 || s3_port_ == 0) {
    return ::testing::AssertionFailure()
           << "aws_credentials_server.py did not start: " << ReadFileOrEmpty(dir_ + "/log");
  }
  return ::testing::AssertionSuccess();
}

std::string AwsCredentialsServer::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string AwsCredentialsServer::s3_endpoint() const {
  return "http://127.0.0.1:" + std::to_string(s3_port_);
}

std::vector<AwsCredentialsServer::Entry> AwsCredentialsServer::Get(const std::string& path) const {
  std::vector<Entry> entries;
  const HttpResult result = HttpRequest("GET", endpoint() + path);
  const nlohmann::json doc = nlohmann::json::parse(result.body, nullptr, false);
  if (!doc.is_array()) {
    ADD_FAILURE() << "GET " << path << ": " << result.status << " " << result.body << result.error;
    return entries;
  }
  for (const auto& item : doc) {
    Entry entry;
    for (const auto& [key, value] : item.items())
      entry[key] = value.is_string() ? value.get<std::string>() : value.dump();
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::vector<AwsCredentialsServer::Entry> AwsCredentialsServer::Log(
    const std::string& service) const {
  std::vector<Entry> out;
  for (Entry& e : Get("/_log"))
    if (e["service"] == service) out.push_back(std::move(e));
  return out;
}

std::vector<AwsCredentialsServer::Entry> AwsCredentialsServer::Issued() const {
  return Get("/_issued");
}

void AwsCredentialsServer::ExpireAll() {
  EXPECT_EQ(HttpRequest("POST", endpoint() + "/_expire").status, 200);
}

void AwsCredentialsServer::ResetLog() {
  EXPECT_EQ(HttpRequest("POST", endpoint() + "/_reset-log").status, 200);
}

}  // namespace freshfs::testing
