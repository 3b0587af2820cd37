// MountSupervisor: the real VolumeManager. One freshfs-mount process per
// published target, so one volume's failure never touches another.
//
//   Publish    starts `freshfs-mount -f ...` (csi/mount_args.h) in its own
//              session, S3 secrets through an inherited pipe, and returns
//              once the target is a FUSE mount; on a timeout or an early
//              exit it kills the child, cleans up and reports the child's
//              last words.
//   supervise  a thread checks every child; one that died has its dead
//              mount detached (ENOTCONN) and is started again at the same
//              target with backoff (0.5 s doubling to 30 s), counted in
//              freshfs_csi_child_restarts_total.
//   state      every published volume is a 0600 file in <state>/volumes
//              (the spec, secrets included, and the child's pid): a new
//              freshfs-csi (after a crash or an upgrade) re-adopts live
//              children and restores dead ones. Children outlive
//              freshfs-csi; the destructor leaves them running.
//   Unpublish  unmounts, stops the child by PID, removes the target
//              directory, the state file and the staging directory (unless
//              it holds failed uploads).
//
// Thread-safe. Calls for one volume are serialised by the node service.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "csi/volume_manager.h"

namespace prometheus {
class Collectable;
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
}  // namespace prometheus

namespace freshfs::csi {

// freshfs-mount next to this executable if there is one, else "freshfs-mount"
// looked up in PATH.
std::string DefaultMountBinary();

class MountSupervisor final : public VolumeManager {
 public:
  struct Settings {
    std::string mount_binary;  // freshfs-mount
    std::string state_dir;
    std::chrono::milliseconds ready_timeout{30000};
    std::chrono::milliseconds check_interval{500};
  };
  struct Child {
    std::string volume;  // metrics label
    int port = 0;        // the child's metrics endpoint on 127.0.0.1
  };

  // Creates the state directory (0700), re-adopts or restores what it lists,
  // starts supervising.
  static Result<std::unique_ptr<MountSupervisor>> Start(Settings settings,
                                                        prometheus::Registry* registry);
  ~MountSupervisor() override;

  Status Publish(const VolumeSpec& spec) override;
  Status Unpublish(const std::string& volume_id, const std::string& target_path) override;
  Result<VolumeStats> Stats(const std::string& volume_id, const std::string& volume_path) override;

  // Running children, for the node's metrics endpoint.
  std::vector<Child> Children() const;
  // Their series, labelled by volume, merged with `local` (csi/child_metrics.h).
  std::shared_ptr<prometheus::Collectable> MetricsCollectable(
      std::weak_ptr<prometheus::Collectable> local) override;

 private:
  struct Volume;
  MountSupervisor(Settings settings, prometheus::Registry* registry);
  std::string StateFile(const std::string& target) const;
  std::string VolumeDir(const std::string& target) const;
  // Starts the child for `v` and waits for its mount. Called without mu_.
  Status Launch(Volume& v);
  void SaveState(const Volume& v) const;
  void Restore();
  void Supervise();
  void CheckOne(const std::string& target);
  Status StopChild(Volume& v);

  const Settings settings_;
  prometheus::Family<prometheus::Counter>* restarts_ = nullptr;
  prometheus::Gauge* published_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Volume>> volumes_;  // by target path
  bool stopping_ = false;
  std::thread supervisor_;
};

}  // namespace freshfs::csi
