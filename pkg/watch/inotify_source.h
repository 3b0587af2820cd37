// InotifySource: feeds a Watcher from inotify for a local directory source.
//
// Watches every directory of the tree (adding watches as directories
// appear), batches the events it reads, and asks the Watcher to rescan each
// touched path once per batch; move pairs become one rename. A queue
// overflow triggers an immediate full sync; running out of watches
// (fs.inotify.max_user_watches) is logged once and leaves the periodic sync
// in charge of the staleness bound.
//
// One thread of its own; Start()/Stop() from the owner's thread.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "util/unique_fd.h"
#include "watch/watcher.h"

namespace freshfs::watch {

class InotifySource {
 public:
  // `root`: absolute path of the source directory, or "/proc/self/fd/N" for
  // one held open as descriptor N (watched through it, never by its name).
  // `trusted`: inotify sees every change to this filesystem (true for local
  // filesystems, false for network ones where other machines' writes raise
  // no event).
  // `held_only` (a lazy watcher): watches only the directories the kernel
  // holds (Watch() as each is handed to it, Retain() after each sync), so
  // the watch count follows what is held, not the tree; new directories
  // get no watch until the kernel looks them up.
  InotifySource(Watcher* watcher, std::string root, bool trusted, bool held_only = false);
  ~InotifySource();

  // Adds watches for every directory in `snapshot` and starts the thread.
  Status Start(const Snapshot& snapshot);
  void Stop();

  // Watches directory `rel` (a no-op before Start()). Any thread.
  void Watch(const std::string& rel);
  // Drops the watches of the directories not in `held` (the root stays).
  void Retain(const std::unordered_set<std::string>& held);
  size_t WatchCount() const;

 private:
  void Loop();
  void HandleBatch(const char* buf, size_t len);
  // Adds a watch on `rel` (and, if `recursive`, every directory under it).
  void AddWatches(const std::string& rel, bool recursive);
  bool AddWatch(const std::string& rel);
  std::string Join(const std::string& dir, const char* name) const;

  Watcher* watcher_;
  const std::string root_;
  const bool trusted_;
  const bool held_only_;
  std::atomic<bool> started_{false};
  UniqueFd fd_;
  UniqueFd stop_;  // eventfd that wakes the thread to stop
  mutable std::mutex mu_;
  std::unordered_map<int, std::string> paths_;  // watch descriptor -> relative dir
  std::atomic<bool> out_of_watches_{false};
  std::thread thread_;
};

// Whether inotify on the filesystem holding `path` sees every change made to
// it (false for NFS, SMB, CephFS, FUSE and other network filesystems).
bool FilesystemDeliversAllEvents(const std::string& path);

}  // namespace freshfs::watch
