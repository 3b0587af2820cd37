#include "csi_binary.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/http_client.h"

namespace freshfs::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

CsiProcess::CsiProcess(std::vector<std::string> args, fs::path log)
    : CsiProcess(std::move(args), std::move(log), Launch{}) {}

CsiProcess::CsiProcess(std::vector<std::string> args, fs::path log, Launch launch)
    : log_(std::move(log)) {
  args.insert(args.begin(), FRESHFS_CSI_BIN);
  args.insert(args.begin(), launch.wrapper.begin(), launch.wrapper.end());
  // Everything allocated before fork(): gRPC threads may hold malloc's lock.
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    if (launch.cgroup_procs_fd >= 0 && ::write(launch.cgroup_procs_fd, "0", 1) != 1) ::_exit(126);
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
}

CsiProcess::~CsiProcess() {
  if (pid_ > 0 && !exit_status_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::optional<int> CsiProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exit_status_ && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } else {
      std::this_thread::sleep_for(20ms);
    }
  }
  return exit_status_;
}

void CsiProcess::Signal(int signo) { ::kill(pid_, signo); }

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string MetricsText(int port) { return ScrapeMetrics(port).value_or(""); }

pb::NodePublishVolumeRequest PublishRequest(const std::string& volume, const fs::path& target,
                                            const std::map<std::string, std::string>& context) {
  pb::NodePublishVolumeRequest publish;
  publish.set_volume_id(volume);
  publish.set_target_path(target.string());
  publish.mutable_volume_capability()->mutable_mount();
  publish.mutable_volume_capability()->mutable_access_mode()->set_mode(
      pb::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
  for (const auto& [k, v] : context) (*publish.mutable_volume_context())[k] = v;
  return publish;
}

grpc::Status Publish(pb::Node::Stub& node, const pb::NodePublishVolumeRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 60s);
  pb::NodePublishVolumeResponse response;
  return node.NodePublishVolume(&context, request, &response);
}

grpc::Status Unpublish(pb::Node::Stub& node, const std::string& volume, const fs::path& target) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 60s);
  pb::NodeUnpublishVolumeRequest request;
  request.set_volume_id(volume);
  request.set_target_path(target.string());
  pb::NodeUnpublishVolumeResponse response;
  return node.NodeUnpublishVolume(&context, request, &response);
}

std::string VolumeCondition(pb::Node::Stub& node, const std::string& volume,
                            const fs::path& target) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  pb::NodeGetVolumeStatsRequest request;
  request.set_volume_id(volume);
  request.set_volume_path(target.string());
  pb::NodeGetVolumeStatsResponse stats;
  grpc::Status s = node.NodeGetVolumeStats(&context, request, &stats);
  if (!s.ok()) return "NodeGetVolumeStats failed: " + s.error_message();
  if (!stats.volume_condition().abnormal()) return "";
  return stats.volume_condition().message();
}

int FuseMountCount(const fs::path& path) {
  std::ifstream in("/proc/self/mounts");
  std::string dev, mnt, type;
  std::string rest;
  int count = 0;
  while (in >> dev >> mnt >> type && std::getline(in, rest))
    if (mnt == path.string() && type.rfind("fuse", 0) == 0) ++count;
  return count;
}

bool IsFuseMount(const fs::path& path) { return FuseMountCount(path) > 0; }

pid_t ChildPid(const fs::path& state_dir, const fs::path& target) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir / "volumes", ec)) {
    if (entry.path().extension() != ".json") continue;
    const std::string text = ReadFile(entry.path());
    if (text.find("\"" + target.string() + "\"") == std::string::npos) continue;
    size_t at = text.find("\"pid\":");
    if (at != std::string::npos) return pid_t(std::atoi(text.c_str() + at + 6));
  }
  return -1;
}

}  // namespace freshfs::testing
