#include "watch/inotify_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <linux/magic.h>

namespace freshfs::watch {
namespace {

constexpr uint32_t kDirMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE |
                              IN_MOVED_FROM | IN_MOVED_TO | IN_DONT_FOLLOW | IN_ONLYDIR |
                              IN_EXCL_UNLINK;

}  // namespace

bool FilesystemDeliversAllEvents(const std::string& path) {
  struct statfs st;
  if (::statfs(path.c_str(), &st) != 0) return false;
  switch (static_cast<unsigned long>(st.f_type)) {
    case NFS_SUPER_MAGIC:
    case SMB_SUPER_MAGIC:
    case 0xFE534D42UL:  // SMB2
    case 0xFF534D42UL:  // CIFS
    case 0x00C36400UL:  // CephFS
    case 0x65735546UL:  // FUSE
    case V9FS_MAGIC:
    case AFS_SUPER_MAGIC:
    case 0x01161970UL:  // GFS2
    case 0x7461636FUL:  // OCFS2
    case 0x0BD00BD0UL:  // Lustre
      return false;
    default:
      return true;
  }
}

InotifySource::InotifySource(Watcher* watcher, std::string root, bool trusted, bool held_only)
    : watcher_(watcher), root_(std::move(root)), trusted_(trusted), held_only_(held_only) {}

void InotifySource::Watch(const std::string& rel) {
  if (started_) AddWatch(rel);
}

void InotifySource::Retain(const std::unordered_set<std::string>& held) {
  std::lock_guard lock(mu_);
  for (auto it = paths_.begin(); it != paths_.end();) {
    if (!it->second.empty() && !held.count(it->second)) {
      ::inotify_rm_watch(fd_.get(), it->first);  // its IN_IGNORED finds no path: skipped
      it = paths_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t InotifySource::WatchCount() const {
  std::lock_guard lock(mu_);
  return paths_.size();
}

InotifySource::~InotifySource() { Stop(); }

std::string InotifySource::Join(const std::string& dir, const char* name) const {
  return store::JoinPath(dir, name);
}

bool InotifySource::AddWatch(const std::string& rel) {
  // The root with a trailing slash: given as /proc/self/fd/N (a directory
  // held open), it is a magic link, which IN_DONT_FOLLOW would watch instead
  // of the directory it leads to.
  std::string abs = root_ + "/" + rel;
  int wd = ::inotify_add_watch(fd_.get(), abs.c_str(), kDirMask);
  if (wd < 0) {
    if (errno == ENOSPC && !out_of_watches_.exchange(true)) {
      spdlog::warn(
          "out of inotify watches (raise fs.inotify.max_user_watches); changes under "
          "\"{}\" and other unwatched directories show up at the next periodic sync",
          rel);
      watcher_->SetEventsHealthy(false);
      watcher_->RequestSync();  // whatever the missing watch would have seen
    }
    return false;
  }
  std::lock_guard lock(mu_);
  paths_[wd] = rel;  // a directory moved within the tree keeps its wd: update its path
  return true;
}

void InotifySource::AddWatches(const std::string& rel, bool recursive) {
  std::deque<std::string> dirs{rel};
  while (!dirs.empty()) {
    std::string dir = std::move(dirs.front());
    dirs.pop_front();
    if (!AddWatch(dir) || !recursive) continue;
    std::string abs = dir.empty() ? root_ : root_ + "/" + dir;
    DIR* d = ::opendir(abs.c_str());
    if (!d) continue;
    while (struct dirent* e = ::readdir(d)) {
      if (e->d_type != DT_DIR) continue;
      std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      dirs.push_back(Join(dir, e->d_name));
    }
    ::closedir(d);
  }
}

Status InotifySource::Start(const Snapshot& snapshot) {
  fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd_.valid()) return Error(errno);
  stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_.valid()) return Error(errno);
  started_ = true;
  snapshot.ForEach([this](const std::string& path, const EntryState& state) {
    if (state.is_dir()) AddWatch(path);
  });
  if (held_only_) AddWatch("");
  watcher_->SetEventsHealthy(trusted_ && !out_of_watches_);
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void InotifySource::Stop() {
  started_ = false;
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
  thread_.join();
  watcher_->SetEventsHealthy(false);
}

void InotifySource::Loop() {
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, 500);
    if (n < 0 && errno != EINTR) {
      spdlog::error("inotify poll failed: {}", std::strerror(errno));
      watcher_->SetEventsHealthy(false);
      return;
    }
    if (fds[1].revents) return;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      // Drain everything queued now: one batch, each path rescanned once.
      std::string batch;
      for (;;) {
        ssize_t len = ::read(fd_.get(), buf, sizeof buf);
        if (len <= 0) break;
        batch.append(buf, size_t(len));
      }
      HandleBatch(batch.data(), batch.size());
    }
    // Everything the kernel queued up to the read above is handled.
    if (trusted_ && !out_of_watches_) watcher_->Heartbeat();
  }
}

void InotifySource::HandleBatch(const char* buf, size_t len) {
  struct Work {
    std::string path;
    bool deep = false;
    std::string rename_from;  // set for a paired move
  };
  std::vector<Work> work;
  std::unordered_map<uint32_t, std::string> moved_from;  // cookie -> path
  std::unordered_map<std::string, size_t> index;         // path -> work slot
  bool overflow = false;
  auto add = [&](const std::string& path, bool deep) {
    auto [it, fresh] = index.try_emplace(path, work.size());
    if (fresh) work.push_back(Work{path, deep, {}});
    else work[it->second].deep |= deep;
  };

  for (size_t off = 0; off + sizeof(inotify_event) <= len;) {
    const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
    off += sizeof(inotify_event) + ev->len;
    if (ev->mask & IN_Q_OVERFLOW) {
      overflow = true;
      continue;
    }
    std::string dir;
    {
      std::lock_guard lock(mu_);
      auto it = paths_.find(ev->wd);
      if (it == paths_.end()) continue;
      if (ev->mask & IN_IGNORED) {
        paths_.erase(it);
        continue;
      }
      dir = it->second;
    }
    std::string path = ev->len > 0 ? Join(dir, ev->name) : dir;
    bool is_dir = ev->mask & IN_ISDIR;
    if (ev->mask & IN_MOVED_FROM) {
      moved_from[ev->cookie] = path;
    } else if (ev->mask & IN_MOVED_TO) {
      // (Held only: a directory moved in is looked up before it is held;
      // one moved within keeps its watch, dropped at the next Retain().)
      if (is_dir && !held_only_) AddWatches(path, true);
      auto from = moved_from.find(ev->cookie);
      if (from != moved_from.end()) {
        work.push_back(Work{path, true, from->second});
        moved_from.erase(from);
      } else {
        add(path, true);
      }
    } else if (ev->mask & IN_CREATE) {
      // Before the rescan, so nothing slips between (held only: the kernel
      // looks it up first, which adds the watch).
      if (is_dir && !held_only_) AddWatches(path, true);
      add(path, true);
    } else {
      add(path, false);
    }
  }
  for (auto& [cookie, path] : moved_from) add(path, false);  // moved out of the tree

  if (overflow) {
    spdlog::info("inotify queue overflowed; running a full sync");
    watcher_->SyncNow();
    return;
  }
  for (const Work& w : work) {
    if (!w.rename_from.empty()) watcher_->RescanRename(w.rename_from, w.path);
    else watcher_->Rescan(w.path, w.deep);
  }
}

}  // namespace freshfs::watch
