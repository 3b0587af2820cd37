// The built freshfs-csi binary as the chart runs it on a node (--mode node,
// a unix socket, a driver config, a state dir, --metrics-address), talked
// to over CSI gRPC the way kubelet does. Lets the chart's tests ask the
// binary itself what the chart must agree with: the driver's name and the
// metric families its one scrape endpoint exports.
//
// RAII: the destructor unpublishes what it published (falling back to a
// lazy unmount and SIGKILL of the volume's process), stops freshfs-csi by
// PID and removes its directory. Owned by one test; not thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "csi.grpc.pb.h"

namespace freshfs::testing {

class NodePlugin {
 public:
  // Directories under TestRoot(); `allowed_dir_root` is created and named
  // in the driver config.
  NodePlugin();
  ~NodePlugin();
  NodePlugin(const NodePlugin&) = delete;
  NodePlugin& operator=(const NodePlugin&) = delete;

  // Starts freshfs-csi with --metrics-address 127.0.0.1:0 and waits until it
  // answers on its socket and has logged its metrics port.
  ::testing::AssertionResult Start();

  // GetPluginInfo's name.
  std::optional<std::string> PluginName();

  // NodePublishVolume of `volume_id` at a new target under the plugin's
  // directory, with `attributes` and `secrets`. Returns the target.
  ::testing::AssertionResult Publish(const std::string& volume_id,
                                     const std::map<std::string, std::string>& attributes,
                                     const std::map<std::string, std::string>& secrets,
                                     std::string* target);
  // NodeUnpublishVolume.
  ::testing::AssertionResult Unpublish(const std::string& volume_id, const std::string& target);

  // The PID of the freshfs-mount serving `target`, from the state dir.
  pid_t ChildPid(const std::string& target) const;

  // The body of GET /metrics of the node's endpoint, or nullopt.
  std::optional<std::string> Scrape() const;

  const std::string& allowed_dir_root() const { return root_; }
  std::string Log() const;

 private:
  std::string dir_, root_, socket_, state_, log_;
  pid_t pid_ = -1;
  int metrics_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::map<std::string, std::string> published_;  // volume id -> target
};

// Metric family name -> type ("counter", "gauge", "histogram", ...) from
// the "# TYPE" lines of Prometheus text exposition `text`.
std::map<std::string, std::string> MetricFamilies(const std::string& text);

}  // namespace freshfs::testing
