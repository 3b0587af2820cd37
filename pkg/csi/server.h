// The CSI gRPC server: listens on a unix socket, serves the Identity service
// and, by mode, the Node and Controller services,
// and passes every call through one interceptor that logs it (method,
// duration, status code, the request with secrets redacted; Probe at debug
// level) and counts it in CallStats.
//
// The socket file is owner-only (0600) from the moment it appears: gRPC binds
// it in a fresh private directory, it is chmod-ed there and then renamed into
// place, atomically replacing a stale socket from an earlier run. A socket
// that a live server still answers on is not replaced.
//
// Start() and Shutdown() from one thread; the services run on gRPC's threads.
#pragma once

#include <grpcpp/server.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "csi/call_stats.h"
#include "csi/driver_config.h"
#include "csi/errors.h"
#include "csi/volume_manager.h"

namespace prometheus {
class Registry;
}

namespace freshfs::csi {

enum class Mode { kNode, kController, kAll };

struct ServerOptions {
  std::string endpoint;  // unix:///path/csi.sock
  std::string node_id;   // NodeGetInfo
  Mode mode = Mode::kNode;
  std::string version;  // GetPluginInfo.vendor_version
  DriverConfig driver_config;
  VolumeManager* volumes = nullptr;          // required for the node service; not owned
  prometheus::Registry* registry = nullptr;  // optional: CSI call metrics go here
};

// The socket path of a "unix:///abs/path" (or "unix:/abs/path") endpoint;
// kInvalid for anything else.
Result<std::string> SocketPathFromEndpoint(std::string_view endpoint);

class Server {
 public:
  // Listens and serves until Shutdown(). The VolumeManager and the registry
  // must outlive the server.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // Shutdown()

  // Stops accepting calls, waits for running ones (up to a few seconds, then
  // cancels them) and removes the socket file if it is still ours.
  void Shutdown();

  const std::string& socket_path() const { return socket_path_; }
  const CallStats& call_stats() const { return *stats_; }

 private:
  Server() = default;

  std::string socket_path_;
  ino_t socket_inode_ = 0;
  std::unique_ptr<CallStats> stats_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace freshfs::csi
