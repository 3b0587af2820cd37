// Per-volume try-locks: the node service holds one for the duration of each
// Publish/Unpublish, so two operations on one volume never overlap, while
// operations on different volumes never wait for each other. A caller that
// finds the volume busy does not wait: it answers ABORTED and the CO retries
// (what the CSI spec asks for).
//
// Thread-safe.
#pragma once

#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace freshfs::csi {

class VolumeLocks {
 public:
  // Holds one volume's lock; releases it when destroyed.
  class Guard {
   public:
    Guard(Guard&& other) noexcept
        : locks_(std::exchange(other.locks_, nullptr)), id_(std::move(other.id_)) {}
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    ~Guard() {
      if (locks_ != nullptr) locks_->Release(id_);
    }

   private:
    friend class VolumeLocks;
    Guard(VolumeLocks* locks, std::string id) : locks_(locks), id_(std::move(id)) {}
    VolumeLocks* locks_;
    std::string id_;
  };

  // The lock of `volume_id`, or nullopt when another caller holds it.
  std::optional<Guard> TryLock(const std::string& volume_id) {
    std::lock_guard lock(mutex_);
    if (!busy_.insert(volume_id).second) return std::nullopt;
    return Guard(this, volume_id);
  }

 private:
  void Release(const std::string& volume_id) {
    std::lock_guard lock(mutex_);
    busy_.erase(volume_id);
  }

  std::mutex mutex_;
  std::set<std::string> busy_;
};

}  // namespace freshfs::csi
