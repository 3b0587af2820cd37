// freshfs-csi's life: logging, driver config, metrics endpoint, the volume
// manager, the gRPC server, and a clean stop on SIGTERM/SIGINT.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>

#include "csi/errors.h"
#include "csi/server.h"
#include "csi/volume_manager.h"

namespace prometheus {
class Registry;
}

namespace freshfs::csi {

// The command line of freshfs-csi (see cmd/freshfs-csi/main.cc).
struct RunOptions {
  std::string endpoint;                            // --endpoint unix:///path/csi.sock
  std::string node_id;                             // --node-id
  Mode mode = Mode::kNode;                         // --mode node|controller|all
  std::string state_dir = "/var/lib/freshfs-csi";  // --state-dir (for the volume manager)
  std::optional<std::string> metrics_address;      // --metrics-address HOST:PORT
  std::optional<std::string> config_file;          // --config: driver config (driver_config.h)
  bool debug = false;                              // --debug
  std::string mount_binary;  // --mount-binary (default: next to freshfs-csi, else PATH)
  std::string child_cgroup;  // --child-cgroup: cgroup v2 dir for volume processes
  std::pair<uid_t, gid_t> s3_user{65534, 65534};  // --s3-user UID:GID
  std::string version;                            // the freshfs version
};

// Makes the VolumeManager the node service publishes through; it may add
// its series to `registry`, which the metrics endpoint serves.
using VolumeManagerFactory = std::function<Result<std::unique_ptr<VolumeManager>>(
    const RunOptions& options, const DriverConfig& config, prometheus::Registry& registry)>;

// Serves until SIGTERM or SIGINT. Returns the process exit code: 0 after a
// clean stop, 1 when start-up failed (the reason is logged). Call from
// main's thread before any other thread exists: it blocks the termination
// signals for every thread it creates.
int Run(const RunOptions& options, const VolumeManagerFactory& make_volume_manager);

}  // namespace freshfs::csi
