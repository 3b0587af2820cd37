#include "invalidate/change_applier.h"

#include <algorithm>
#include <chrono>
#include <string_view>

namespace freshfs::invalidate {
namespace {

std::string_view NameOf(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

void ChangeApplier::Notify(InvalType type, fuse_ino_t parent, fuse_ino_t ino, std::string name,
                           Clock::time_point detected) {
  Notification n;
  n.type = type;
  n.parent = parent;
  n.ino = ino;
  n.name = std::move(name);
  n.detected = detected;
  Push(std::move(n));
}

void ChangeApplier::Push(Notification n) {
  if (n.type == InvalType::kInodeData && log_) log_->Note(n.ino);
  if (batch_keys_.insert(Invalidator::KeyOf(n)).second) {
    batch_.push_back(std::move(n));
    return;
  }
  if (n.type != InvalType::kStore) return;
  // The newest content wins.
  for (Notification& queued : batch_)
    if (queued.type == InvalType::kStore && queued.ino == n.ino) queued.data = std::move(n.data);
}

void ChangeApplier::Gone(const std::string& path, bool is_dir, Clock::time_point detected) {
  fs::InodeTable::Resolved r = inodes_->Resolve(path);
  if (r.parent == 0) return;  // the kernel has nothing cached under an unknown parent
  std::string name(NameOf(path));
  if (r.ino != 0) {
    if (is_dir) Notify(InvalType::kExpireEntry, r.parent, 0, name, detected);
    else Notify(InvalType::kDelete, r.parent, r.ino, name, detected);
    if (on_content_change_) on_content_change_(r.ino);
    inodes_->Detach(r.parent, name);
  }
  Notify(InvalType::kInodeData, 0, r.parent, {}, detected);  // readdir cache, mtime
}

void ChangeApplier::Appeared(const std::string& path, Clock::time_point detected) {
  fs::InodeTable::Resolved r = inodes_->Resolve(path);
  if (r.parent == 0) return;
  std::string name(NameOf(path));
  if (r.ino != 0) {
    // The kernel holds an inode for an older object of this name.
    if (on_content_change_) on_content_change_(r.ino);
    inodes_->Detach(r.parent, name);
  }
  // Also drops a cached negative entry ("no such file") for the name.
  Notify(InvalType::kEntry, r.parent, 0, name, detected);
  Notify(InvalType::kInodeData, 0, r.parent, {}, detected);
}

void ChangeApplier::Replaced(const std::string& path, fs::InodeTable::Resolved r,
                             Clock::time_point detected) {
  // As after rename(2) over a local file: the old object loses the name
  // (descriptors open on it keep reading it, pages and all), and the next
  // lookup of the name makes a new inode with an empty page cache. The
  // second notification drops whatever the name points at by then, should
  // a lookup have raced ahead of the first.
  std::string name(NameOf(path));
  Notify(InvalType::kDelete, r.parent, r.ino, name, detected);
  Notify(InvalType::kEntry, r.parent, 0, name, detected);
  if (on_content_change_) on_content_change_(r.ino);
  inodes_->Retire(r.parent, name);
}

void ChangeApplier::CollapseNamesIntoEpoch(Clock::time_point detected) {
  auto is_name = [](const Notification& n) {
    return n.type == InvalType::kEntry || n.type == InvalType::kExpireEntry ||
           n.type == InvalType::kDelete;
  };
  size_t names = size_t(std::count_if(batch_.begin(), batch_.end(), is_name));
  if (names <= kEpochThreshold || !invalidator_->EpochSupported()) return;
  // A mass change: every cached name is revalidated at its next use instead.
  // Listings, attributes and pages still need their own notifications.
  std::erase_if(batch_, is_name);
  Notification epoch;
  epoch.type = InvalType::kEpoch;
  epoch.detected = detected;
  batch_.insert(batch_.begin(), std::move(epoch));
}

void ChangeApplier::Apply(const std::vector<watch::Change>& changes, Clock::time_point detected) {
  std::lock_guard lock(apply_mu_);
  batch_.clear();
  batch_keys_.clear();
  auto wall_now = std::chrono::system_clock::now().time_since_epoch();
  double now_s = std::chrono::duration<double>(wall_now).count();
  std::vector<std::string_view> gone_dirs;  // names under these need nothing more
  auto under_gone_dir = [&](std::string_view path) {
    for (std::string_view dir : gone_dirs)
      if (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
          path[dir.size()] == '/')
        return true;
    return false;
  };

  for (const watch::Change& c : changes) {
    if (metrics_) {
      metrics_->RemoteChange(c.kind);
      if (c.kind != metrics::ChangeKind::kDeleted && c.remote_mtime_ns > 0)
        metrics_->ChangeDetected(now_s - double(c.remote_mtime_ns) / 1e9);
    }
    if (under_gone_dir(c.path)) continue;
    switch (c.kind) {
      case metrics::ChangeKind::kCreated:
        Appeared(c.path, detected);
        break;
      case metrics::ChangeKind::kDeleted:
        Gone(c.path, c.was_dir, detected);
        if (c.was_dir) gone_dirs.push_back(c.path);
        break;
      case metrics::ChangeKind::kTypeChanged:
        Gone(c.path, c.was_dir, detected);
        gone_dirs.push_back(c.path);  // its old children went with it
        Appeared(c.path, detected);
        break;
      case metrics::ChangeKind::kRenamed:
        Gone(c.from, c.was_dir, detected);
        if (c.was_dir) gone_dirs.push_back(c.from);
        Appeared(c.path, detected);
        break;
      case metrics::ChangeKind::kModified:
      case metrics::ChangeKind::kAttributes: {
        fs::InodeTable::Resolved r = inodes_->Resolve(c.path);
        if (r.ino == 0) break;  // not cached: nothing to tell the kernel
        if (c.replaced) {
          // Even if the inode there already stands for the new version (a
          // lookup raced ahead): a slower lookup that read the source before
          // the change may still be handing the kernel an older one, and
          // only this notification, which waits for it, drops that.
          Replaced(c.path, r, detected);
          break;
        }
        bool data = c.kind == metrics::ChangeKind::kModified;
        if (data && on_content_change_) on_content_change_(r.ino);
        Notify(data ? InvalType::kInodeData : InvalType::kInodeAttr, 0, r.ino, {}, detected);
        if (data && pusher_) {
          if (auto content = pusher_(r.ino, c.path)) {
            Notification store;
            store.type = InvalType::kStore;
            store.ino = r.ino;
            store.data = std::move(*content);
            store.detected = detected;
            Push(std::move(store));
          }
        }
        break;
      }
      case metrics::ChangeKind::kCount:
        break;
    }
  }
  CollapseNamesIntoEpoch(detected);
  for (Notification& n : batch_) invalidator_->Enqueue(std::move(n));
  batch_.clear();
}

}  // namespace freshfs::invalidate
