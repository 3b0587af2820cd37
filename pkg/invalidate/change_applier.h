// ChangeApplier: turns the watcher's changes into the smallest set of kernel
// notifications that removes every stale view of them (docs/freshness.md,
// "What the kernel is told"), updates the inode table to match, and counts them.
//
//   created        inval_entry(parent, name) (drops a cached negative entry)
//                  + parent's data (readdir cache) and attributes
//   deleted        notify_delete(parent, child, name) when the kernel knows the
//                  child, + parent; nothing for names under a deleted directory
//   modified       inval_inode(ino, 0, 0): attributes and cached pages;
//                  replaced (a new object under the name: a rename over it,
//                  a new S3 ETag): notify_delete(parent, ino, name), so the
//                  name gets a new inode and old descriptors keep theirs
//   attributes     inval_inode(ino, -1, 0)
//   type changed   deleted + created
//   renamed        deleted at the old name + created at the new one
// Directory entries (which may carry a submount) are expired rather than
// invalidated, so a mount on them is not detached (FUSE_CAP_EXPIRE_ONLY; the
// Invalidator falls back to inval_entry where the kernel lacks it).
// Entries the kernel never looked up need nothing.
//
// Called on watcher threads and from open (revalidation); only queues.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "fs/inode_table.h"
#include "fs/invalidation_log.h"
#include "invalidate/invalidator.h"
#include "metrics/metrics.h"
#include "watch/snapshot.h"

namespace freshfs::invalidate {

class ChangeApplier {
 public:
  ChangeApplier(fs::InodeTable* inodes, Invalidator* invalidator, metrics::Metrics* metrics)
      : inodes_(inodes), invalidator_(invalidator), metrics_(metrics) {}

  // Called with each inode whose content changed at the source (the
  // filesystem drops descriptors it cached for it).
  void set_on_content_change(std::function<void(fuse_ino_t)> fn) {
    on_content_change_ = std::move(fn);
  }

  // Optional: where data invalidations are noted before they are queued,
  // so replies that raced them repeat them (fs::InvalidationLog).
  void set_invalidation_log(fs::InvalidationLog* log) { log_ = log; }

  // Optional: the new content of a changed file to push into the page cache
  // right after its invalidation (notify_store), or nullopt to skip it.
  using Pusher = std::function<std::optional<std::string>(fuse_ino_t, const std::string& path)>;
  void set_pusher(Pusher pusher) { pusher_ = std::move(pusher); }

  // Above this many name notifications in one batch, one epoch increment
  // (where the kernel has it) replaces them all.
  static constexpr size_t kEpochThreshold = 256;

  void Apply(const std::vector<watch::Change>& changes, Clock::time_point detected);

 private:
  void Gone(const std::string& path, bool is_dir, Clock::time_point detected);
  void Appeared(const std::string& path, Clock::time_point detected);
  void Replaced(const std::string& path, fs::InodeTable::Resolved r, Clock::time_point detected);
  void Push(Notification n);  // into batch_, once per key
  void CollapseNamesIntoEpoch(Clock::time_point detected);
  void Notify(InvalType type, fuse_ino_t parent, fuse_ino_t ino, std::string name,
              Clock::time_point detected);

  // Notifications of the batch being applied, each once, in first-seen order
  // (a parent touched by many changes is invalidated once per batch).
  std::vector<Notification> batch_;
  std::unordered_set<std::string> batch_keys_;
  std::mutex apply_mu_;  // batches from different threads don't interleave

  fs::InodeTable* inodes_;
  Invalidator* invalidator_;
  metrics::Metrics* metrics_;
  std::function<void(fuse_ino_t)> on_content_change_;
  Pusher pusher_;
  fs::InvalidationLog* log_ = nullptr;
};

}  // namespace freshfs::invalidate
