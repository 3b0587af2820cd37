// MountSupervisor: the real VolumeManager. One freshfs-mount process per
// published target, so one volume's failure never touches another; the
// mechanics of one volume are in csi/volume_process.h, what is kept on disk
// in csi/volume_state.h.
//
//   Publish    mounts the target (freshfs-csi holds the FUSE connection),
//              starts freshfs-mount on it and returns once it reported
//              READY; on failure nothing is left and the error says why.
//   supervise  a thread checks every child; one that died has its
//              connection aborted and is started again at the same target
//              with backoff (0.5 s doubling to 30 s), counted in
//              freshfs_csi_child_restarts_total.
//   restore    a new freshfs-csi (replaced container, crash, upgrade)
//              re-adopts live children by pid and start time and takes back
//              its duplicates of their fds; volumes whose child is gone are
//              mounted again. The destructor leaves children running.
//   Unpublish  unmounts, stops the child, removes its cgroup, the target
//              directory, the state and the volume directory (unless it
//              holds failed uploads).
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
#include "csi/volume_process.h"
#include "csi/volume_state.h"

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
    std::vector<std::string> allowed_dir_roots;  // checked again at every (re)start
    std::string child_cgroup;                    // empty: children stay in our cgroup
    std::pair<uid_t, gid_t> s3_user{65534, 65534};
  };
  struct Child {
    std::string volume;  // metrics label
    int port = 0;        // the child's metrics endpoint on 127.0.0.1
  };

  // Opens the state directory, re-adopts or restores what it lists, starts
  // supervising.
  static Result<std::unique_ptr<MountSupervisor>> Start(Settings settings,
                                                        prometheus::Registry* registry);
  ~MountSupervisor() override;

  Status Publish(const VolumeSpec& spec) override;
  Status Unpublish(const std::string& volume_id, const std::string& target_path) override;
  Result<VolumeStats> Stats(const std::string& volume_id, const std::string& volume_path) override;
  void RequestUpgrades() override;

  // Running children, for the node's metrics endpoint.
  std::vector<Child> Children() const;
  // Their series, labelled by volume, merged with `local` (csi/child_metrics.h).
  std::shared_ptr<prometheus::Collectable> MetricsCollectable(
      const std::weak_ptr<prometheus::Collectable>& local) override;

 private:
  struct Volume;
  MountSupervisor(Settings settings, ProcessSettings process, VolumeStateStore store,
                  prometheus::Registry* registry);
  std::shared_ptr<Volume> MakeVolume(const VolumeSpec& spec) const;
  void Save(const Volume& v) const;
  void Restore();
  void UpgradeToOurBinary(Volume& v);
  void UpgradeOne(const std::string& target);
  void Supervise();
  void CheckOne(const std::string& target);
  void UpdatePublished();

  const Settings settings_;
  const ProcessSettings process_;
  const VolumeStateStore store_;
  prometheus::Family<prometheus::Counter>* restarts_ = nullptr;
  prometheus::Family<prometheus::Counter>* resumes_ = nullptr;
  prometheus::Family<prometheus::Counter>* upgrades_ = nullptr;
  prometheus::Gauge* published_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Volume>> volumes_;  // by target path
  bool stopping_ = false;
  bool upgrades_requested_ = false;
  std::thread supervisor_;
};

}  // namespace freshfs::csi
