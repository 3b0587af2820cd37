// ChangeObserver: how FileSystem tells the freshness engine about the
// mount's own changes, so they are never mistaken for remote ones (and never
// invalidate the writer's own cached pages), and how it asks for an on-open
// revalidation.
//
// Called from FUSE worker threads; implementations must not block on the
// kernel (they may take short internal locks and do store I/O).
#pragma once

#include <sys/stat.h>

#include <string>

namespace freshfs::fs {

class ChangeObserver {
 public:
  virtual ~ChangeObserver() = default;
  // Brackets a change the mount itself makes at `path` (and, for a
  // directory, under it). Between the two calls the watcher ignores the
  // path; End records the result as already seen.
  // `known`: the entry's attributes right after the change, if the caller
  // has them (a write through an open descriptor); else End stats the path.
  virtual void BeginOwnChange(const std::string& path) = 0;
  virtual void EndOwnChange(const std::string& path, const struct stat* known = nullptr) = 0;
  // Checks `path` against the source now and pushes out anything stale
  // before returning. True if it had changed.
  virtual bool Revalidate(const std::string& path) = 0;
  // The source changed at `path` although the kernel may not have been told
  // (an open found another object there than the inode stands for): look
  // again and push out what is stale, without waiting for it.
  virtual void Recheck(const std::string& path) { (void)Revalidate(path); }
  // An entry at `path` (of type `type`) was handed to the kernel, which may
  // cache it from now on. A change source that never saw it (it came and
  // went between two syncs) must still tell the kernel when it goes.
  virtual void Served(const std::string& path, mode_t type) {
    (void)path;
    (void)type;
  }
  // The same with the attributes the kernel was given.
  virtual void ServedState(const std::string& path, const struct stat& st) {
    Served(path, st.st_mode & S_IFMT);
  }
  // A lookup of `path` answered "no such file" (the kernel may cache that).
  virtual void Missed(const std::string& path) { (void)path; }
  // Directory `dir` is about to be listed for the kernel (opendir): a
  // change source that builds its picture lazily lists it first.
  virtual void WillList(const std::string& dir) { (void)dir; }
};

// RAII bracket for one or two paths (rename has two).
class OwnChange {
 public:
  OwnChange(ChangeObserver* observer, std::string path, std::string second = {})
      : observer_(observer), path_(std::move(path)), second_(std::move(second)) {
    if (!observer_) return;
    observer_->BeginOwnChange(path_);
    if (!second_.empty()) observer_->BeginOwnChange(second_);
  }
  ~OwnChange() {
    if (!observer_) return;
    observer_->EndOwnChange(path_);
    if (!second_.empty()) observer_->EndOwnChange(second_);
  }
  OwnChange(const OwnChange&) = delete;
  OwnChange& operator=(const OwnChange&) = delete;

 private:
  ChangeObserver* observer_;
  std::string path_, second_;
};

}  // namespace freshfs::fs
