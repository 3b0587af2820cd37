// Helpers for the tests that run the freshfs-csi binary as kubelet meets it:
// the process, its socket, its metrics endpoint, the CSI calls the tests
// make, and what the driver's state says about a volume.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "csi.grpc.pb.h"
#include "support/temp_dir.h"

namespace freshfs::testing {

namespace pb = ::csi::v1;

std::string ReadFile(const std::filesystem::path& path);

// freshfs-csi with `args`, output into `log`. Stopped by PID.
class CsiProcess {
 public:
  struct Launch {
    // Run through this command first (e.g. `unshare --mount ...`), which
    // execs freshfs-csi in place: the pid stays freshfs-csi's.
    std::vector<std::string> wrapper;
    int cgroup_procs_fd = -1;  // a cgroup.procs to move into before exec
  };
  CsiProcess(std::vector<std::string> args, std::filesystem::path log);
  CsiProcess(std::vector<std::string> args, std::filesystem::path log, Launch launch);
  ~CsiProcess();

  // Exit status (code, or 128 + signal) once it exited within `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  void Signal(int signo);
  pid_t pid() const { return pid_; }
  std::string log() const { return ReadFile(log_); }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// A TCP port nobody listens on right now.
int FreePort();

// The body of GET /metrics on 127.0.0.1:`port`; "" when that fails.
std::string MetricsText(int port);

pb::NodePublishVolumeRequest PublishRequest(const std::string& volume,
                                            const std::filesystem::path& target,
                                            const std::map<std::string, std::string>& context);
grpc::Status Publish(pb::Node::Stub& node, const pb::NodePublishVolumeRequest& request);
grpc::Status Unpublish(pb::Node::Stub& node, const std::string& volume,
                       const std::filesystem::path& target);
// NodeGetVolumeStats' condition: "" when normal, else its message.
std::string VolumeCondition(pb::Node::Stub& node, const std::string& volume,
                            const std::filesystem::path& target);

// Whether a FUSE filesystem is mounted at `path`, and how many are stacked.
bool IsFuseMount(const std::filesystem::path& path);
int FuseMountCount(const std::filesystem::path& path);

// The pid of the freshfs-mount serving `target`, from the driver's state.
pid_t ChildPid(const std::filesystem::path& state_dir, const std::filesystem::path& target);

template <typename F>
bool Eventually(F f, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return f();
}

}  // namespace freshfs::testing
