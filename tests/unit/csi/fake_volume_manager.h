// FakeVolumeManager: a VolumeManager for tests of the CSI services. It keeps
// the published volumes in memory with the real contract (idempotent
// Publish/Unpublish, ALREADY_EXISTS for a conflicting spec, NOT_FOUND stats
// for unknown volumes), records every call, can be told to fail, and can
// hold Publish/Unpublish calls until released (to test concurrent calls).
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "csi/volume_manager.h"

namespace freshfs::csi::testing {

class FakeVolumeManager final : public VolumeManager {
 public:
  struct Call {
    std::string op;  // "Publish", "Unpublish" or "Stats"
    std::string volume_id;
    std::string path;  // target_path or volume_path
    VolumeSpec spec;   // Publish only
  };

  // --- set-up

  // The next calls fail with `error` instead of doing their work.
  void FailPublish(Error error) { Set(&publish_error_, std::move(error)); }
  void FailUnpublish(Error error) { Set(&unpublish_error_, std::move(error)); }
  // What Stats() reports for a published volume.
  void SetStats(VolumeStats stats) {
    std::lock_guard lock(mutex_);
    stats_ = std::move(stats);
  }

  // Publish and Unpublish calls wait inside the manager until Release().
  void Hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void Release() {
    std::lock_guard lock(mutex_);
    held_ = false;
    changed_.notify_all();
  }
  // Waits until `n` calls are waiting inside the manager.
  void WaitUntilHolding(int n) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return holding_ >= n; });
  }

  // --- inspection

  std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::optional<VolumeSpec> published(const std::string& target_path) const {
    std::lock_guard lock(mutex_);
    auto it = published_.find(target_path);
    if (it == published_.end()) return std::nullopt;
    return it->second;
  }

  // --- VolumeManager

  Status Publish(const VolumeSpec& spec) override {
    std::unique_lock lock(mutex_);
    calls_.push_back({"Publish", spec.volume_id, spec.target_path, spec});
    WaitWhileHeld(lock);
    if (publish_error_) return *publish_error_;
    if (auto it = published_.find(spec.target_path); it != published_.end()) {
      if (it->second == spec) return Status::Ok();
      return AlreadyExists("a different volume is published at " + spec.target_path);
    }
    for (const auto& [target, other] : published_) {
      if (other.volume_id == spec.volume_id && !SameVolume(other, spec)) {
        return AlreadyExists("volume " + spec.volume_id + " is published with other attributes");
      }
    }
    published_.emplace(spec.target_path, spec);
    return Status::Ok();
  }

  Status Unpublish(const std::string& volume_id, const std::string& target_path) override {
    std::unique_lock lock(mutex_);
    calls_.push_back({"Unpublish", volume_id, target_path, {}});
    WaitWhileHeld(lock);
    if (unpublish_error_) return *unpublish_error_;
    published_.erase(target_path);
    return Status::Ok();
  }

  Result<VolumeStats> Stats(const std::string& volume_id, const std::string& volume_path) override {
    std::lock_guard lock(mutex_);
    calls_.push_back({"Stats", volume_id, volume_path, {}});
    auto it = published_.find(volume_path);
    if (it == published_.end() || it->second.volume_id != volume_id) {
      return NotFound("volume " + volume_id + " is not published at " + volume_path);
    }
    return stats_;
  }

 private:
  // The same volume may be published at several targets (several pods).
  static bool SameVolume(const VolumeSpec& a, const VolumeSpec& b) {
    return a.attributes == b.attributes && a.secrets == b.secrets;
  }

  void Set(std::optional<Error>* slot, Error error) {
    std::lock_guard lock(mutex_);
    *slot = std::move(error);
  }

  void WaitWhileHeld(std::unique_lock<std::mutex>& lock) {
    ++holding_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !held_; });
    --holding_;
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  int holding_ = 0;
  std::vector<Call> calls_;
  std::map<std::string, VolumeSpec> published_;  // by target path
  std::optional<Error> publish_error_;
  std::optional<Error> unpublish_error_;
  VolumeStats stats_;
};

}  // namespace freshfs::csi::testing
