#include "watch/watcher.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/quote.h"

namespace freshfs::watch {
namespace {

int64_t Ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

double SecondsSince(int64_t then_ns) { return double(Ns(Clock::now()) - then_ns) / 1e9; }

std::string_view ParentOf(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

}  // namespace

Watcher::Watcher(store::Store* store, Settings settings, metrics::Metrics* metrics)
    : store_(store), settings_(settings), metrics_(metrics) {}

Watcher::~Watcher() { Stop(); }

Status Watcher::Start() {
  last_full_start_ = Clock::now();
  stopping_ = false;
  stop_ = false;
  if (settings_.lazy) {
    // The root only: each directory is listed once the kernel looks into it.
    const Clock::time_point start = Clock::now();
    Status s = store_->CheckRoot();
    if (!s.ok()) return s;
    auto st = store_->StatFresh("");
    if (!st) return st.error();
    if (!S_ISDIR(st->st_mode)) return Error(ENOTDIR);
    const EntryState root = EntryState::From(*st);
    {
      std::lock_guard lock(mu_);
      snapshot_.Reconcile("", &root, nullptr, KeepSet{}, nullptr);
      watched_ = snapshot_.size();
    }
    // Nothing is cached yet: the bound starts now (a sync of the root).
    SyncFinished(
        Status::Ok(), metrics::SyncKind::kCached, start,
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    if (settings_.scan_interval.count() > 0) scan_thread_ = std::thread([this] { ScanLoop(); });
  } else if (!FullSync(/*report=*/false)) {
    return Error(EIO);
  }
  poll_thread_ = std::thread([this] { PollLoop(); });
  return Status::Ok();
}

void Watcher::Stop() {
  {
    std::lock_guard lock(poll_mu_);
    stopping_ = true;
    stop_ = true;
  }
  poll_cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  if (scan_thread_.joinable()) scan_thread_.join();
}

void Watcher::RequestSync() {
  {
    std::lock_guard lock(poll_mu_);
    sync_requested_ = true;
  }
  poll_cv_.notify_all();
}

void Watcher::PollLoop() {
  std::unique_lock lock(poll_mu_);
  for (;;) {
    auto wake = [&] { return stopping_ || sync_requested_; };
    if (settings_.poll_interval.count() > 0) {
      poll_cv_.wait_for(lock, settings_.poll_interval, wake);
    } else {
      poll_cv_.wait(lock, wake);
    }
    if (stopping_) return;
    // A full sync when asked for one (events were lost), or when the last
    // one is a full-sync interval old; cached syncs in between.
    bool full = !settings_.lazy &&
                (sync_requested_ || !cached_dirs_ || settings_.full_sync_interval.count() <= 0 ||
                 Clock::now() - last_full_start_ >= settings_.full_sync_interval);
    sync_requested_ = false;
    lock.unlock();
    if (full) {
      last_full_start_ = Clock::now();
      SyncNow();
    } else {
      CachedSync();
    }
    lock.lock();
  }
}

// Lazy: everything the kernel may serve lies in the directories it holds,
// which is what a cached sync lists.
bool Watcher::SyncNow() { return settings_.lazy ? CachedSync() : FullSync(/*report=*/true); }

bool Watcher::SyncCached() { return cached_dirs_ ? CachedSync() : SyncNow(); }

void Watcher::ScanLoop() {
  // The first scan soon after the mount (usage is unknown until then), off
  // the mount's path; then one per interval.
  auto wait = std::min<std::chrono::milliseconds>(settings_.scan_interval, kFirstScanDelay);
  std::unique_lock lock(poll_mu_);
  while (!poll_cv_.wait_for(lock, wait, [&] { return stopping_; })) {
    lock.unlock();
    ScanNow();
    lock.lock();
    wait = settings_.scan_interval;
  }
}

bool Watcher::ScanNow() {
  const Clock::time_point start = Clock::now();
  auto usage = store_->ScanUsage(stop_);
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  if (!usage) {
    if (usage.error().code != ECANCELED)
      spdlog::warn("background scan of the source failed: {}", usage.error().Describe());
    if (metrics_ && usage.error().code != ECANCELED) metrics_->SourceScanDone(took, false, 0, 0);
    return false;
  }
  spdlog::debug("background scan: {} entries, {} bytes in {:.2f}s", usage->entries, usage->bytes,
                took);
  if (metrics_) metrics_->SourceScanDone(took, true, usage->entries, usage->bytes);
  source_estimate_ = usage->entries;
  return true;
}

void Watcher::SyncFinished(Status s, metrics::SyncKind kind, Clock::time_point start,
                           double start_unix) {
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  if (metrics_) metrics_->SyncDone(took, s.ok(), start_unix, kind);
  if (!s.ok()) {
    if (!sync_failing_.exchange(true))
      spdlog::warn("sync of the source failed: {}; serving what was last seen",
                   s.error().Describe());
    return;
  }
  last_sync_start_ns_ = Ns(start);
  if (sync_failing_.exchange(false)) spdlog::info("sync of the source works again");
}

KeepSet Watcher::KeepLocked(Clock::time_point start) {
  // The mount's own changes in flight stay as recorded. So do those that
  // ended after this listing began: it may show the state before them.
  // (Older ones are settled: this listing began after them.)
  KeepSet keep = OwnLocked();
  for (auto it = own_ended_ns_.begin(); it != own_ended_ns_.end();) {
    if (it->second >= Ns(start)) {
      keep.Add(it->first);
      ++it;
    } else {
      it = own_ended_ns_.erase(it);
    }
  }
  return keep;
}

bool Watcher::CachedSync() {
  const Clock::time_point start = Clock::now();
  const double start_unix =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<std::string> dirs = cached_dirs_();
  std::sort(dirs.begin(), dirs.end());  // each directory after its parent
  if (settings_.lazy) {
    std::lock_guard lock(mu_);
    listed_since_drop_.clear();  // DropUnheld() asks the kernel again, later than this
    std::erase_if(dirs, [&](const std::string& d) { return !d.empty() && !looked_into_.count(d); });
  }
  if (SyncFromTree(dirs, start)) {
    SweepServed(start);
    DropUnheld();
    SyncFinished(Status::Ok(), metrics::SyncKind::kCached, start, start_unix);
    ::malloc_trim(0);
    return true;
  }
  if (const size_t page = store_->ListPageSize(); page > 0 && !settings_.lazy) {
    // Where listings cost requests, a cached sync must cost fewer than a
    // full one (ceil(entries / page) with one listing of the whole tree):
    // when the kernel holds many small directories, it does not.
    size_t cached = 0, full = 0;
    {
      std::lock_guard lock(mu_);
      for (const std::string& dir : dirs) cached += snapshot_.ChildCount(dir) / page + 1;
      full = snapshot_.size() / page + 1;
    }
    if (cached >= full) {
      spdlog::debug("cached sync would take {} listing requests, a full one {}: full sync", cached,
                    full);
      return FullSync(/*report=*/true);
    }
  }
  Status s = store_->CheckRoot();
  if (s.ok()) {
    // The root's own state (its parent's listing would say for the others).
    auto st = store_->StatFresh("");
    if (!st) s = st.error();
    if (st && !S_ISDIR(st->st_mode)) s = Error(ENOTDIR);
  }
  for (size_t i = 0; s.ok() && i < dirs.size(); ++i) {
    if (stop_) return false;  // unmounting: what is left does not matter
    const std::string& dir = dirs[i];
    auto entries = store_->ListFresh(dir);
    if (!entries) {
      // A directory that went away or became a file: its parent's listing
      // says so. One that cannot be read keeps what was known of it, as in
      // a full sync. Anything else (the network) fails the sync.
      const int e = entries.error().code;
      bool gone = !dir.empty() && (e == ENOENT || e == ENOTDIR);
      if (dir.empty() || (!gone && e != EACCES && e != EPERM)) s = entries.error();
      continue;
    }
    Listing listing;
    listing.AddDir("", std::move(*entries));
    listing.Finish();
    std::vector<Change> changes;
    bool recorded;
    {
      std::lock_guard lock(mu_);
      recorded = RecordDirLocked(dir, listing, start, &changes);
      watched_ = snapshot_.size();
    }
    // One the snapshot does not hold (yet) is read whole, as an event would
    // be; lazily, its parent's listing records it and the next sync lists it.
    if (!recorded && !settings_.lazy) Rescan(dir, /*deep=*/true);
    Deliver(std::move(changes), Clock::now());
  }
  if (s.ok()) SweepServed(start);
  if (settings_.lazy) DropUnheld();
  SyncFinished(s, metrics::SyncKind::kCached, start, start_unix);
  if (s.ok() && !dirs.empty()) ::malloc_trim(0);
  return s.ok();
}

bool Watcher::SyncFromTree(const std::vector<std::string>& dirs, Clock::time_point start) {
  const size_t page = store_->ListPageSize();
  if (!settings_.lazy || page == 0) return false;
  size_t requests = 0;  // what listing the directories one by one costs
  {
    std::lock_guard lock(mu_);
    for (const std::string& dir : dirs)
      requests += (snapshot_.Listed(dir) ? snapshot_.ChildCount(dir) / page : 0) + 1;
  }
  // Bounded: the store keeps what a listing of the whole source shows, and
  // memory must follow what the kernel holds, not the source.
  const size_t budget = std::min(requests * page, kTreeSyncMaxKeys);
  if (source_estimate_ > budget) return false;
  auto tree = store_->ListTreeUpTo("", budget);
  if (!tree) {
    // Bigger than that (known now, until a scan says otherwise), or a
    // failure the directory listings then meet and report.
    if (tree.error().code == E2BIG) source_estimate_ = budget + 1;
    return false;
  }
  source_estimate_ = tree->size();
  Listing listing;
  listing.AddTree(std::move(*tree));
  listing.Finish();
  for (const std::string& dir : dirs) {
    std::vector<Change> changes;
    {
      std::lock_guard lock(mu_);
      RecordDirLocked(dir, listing, start, &changes, dir);
      watched_ = snapshot_.size();
    }
    Deliver(std::move(changes), Clock::now());
  }
  return true;
}

bool Watcher::RecordDirLocked(const std::string& dir, const Listing& listing,
                              Clock::time_point start, std::vector<Change>* changes,
                              std::string_view listing_dir) {
  if (!settings_.lazy || snapshot_.Listed(dir))
    return snapshot_.ReconcileDir(dir, listing, KeepLocked(start), changes, listing_dir);
  // Its first listing. The kernel may hold names of it that lookups handed
  // it (recorded by ServedState(), compared as usual) and "no such file"
  // answers (Missed(): reported if the name exists now); nothing else.
  auto report_new = [this](const std::string& path) {
    return missed_overflow_ || missed_.count(path) > 0;
  };
  const std::function<bool(const std::string&)> report(report_new);
  if (!snapshot_.BaselineDir(dir, listing, KeepLocked(start), &report, changes, listing_dir))
    return false;
  first_listed_ns_[dir] = Ns(Clock::now());
  if (!missed_.empty())
    std::erase_if(missed_, [&](const std::string& p) { return ParentOf(p) == dir; });
  if (missed_.empty()) missed_overflow_ = false;
  return true;
}

void Watcher::WillList(const std::string& dir) {
  if (!settings_.lazy) return;
  {
    std::lock_guard lock(mu_);
    // (One the snapshot lacks yet, new since its parent's last listing: the
    // next sync records it through its parent, then lists it.)
    looked_into_.insert(dir);
    if (!snapshot_.Contains(dir) || snapshot_.Listed(dir)) return;
  }
  // Listed before the kernel is handed its listing, so the snapshot never
  // holds an older picture of it than the kernel. (On S3 the store keeps
  // this listing: the kernel's own comes from it, no second request.)
  const Clock::time_point start = Clock::now();
  auto entries = store_->ListFresh(dir);
  if (!entries) return;  // the kernel's listing fails the same way
  Listing listing;
  listing.AddDir("", std::move(*entries));
  listing.Finish();
  std::vector<Change> changes;
  {
    std::lock_guard lock(mu_);
    RecordDirLocked(dir, listing, start, &changes);
    listed_since_drop_.insert(dir);
    watched_ = snapshot_.size();
  }
  Deliver(std::move(changes), Clock::now());
}

void Watcher::DropUnheld() {
  // Asked after the syncs' listings: a directory the kernel looked into
  // meanwhile is in it, or in listed_since_drop_.
  std::vector<std::string> held_list = cached_dirs_();
  std::unordered_set<std::string> held(held_list.begin(), held_list.end());
  size_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    std::erase_if(looked_into_, [&](const std::string& d) {
      return !held.count(d) && !listed_since_drop_.count(d);
    });
    dropped = snapshot_.DropListings([&](const std::string& dir) {
      return looked_into_.count(dir) > 0 || listed_since_drop_.count(dir) > 0;
    });
    listed_since_drop_.clear();
    const int64_t old_ns = Ns(Clock::now() - kFirstListingRace);
    std::erase_if(first_listed_ns_, [&](const auto& f) { return f.second < old_ns; });
    std::erase_if(missed_,
                  [&](const std::string& p) { return !held.count(std::string(ParentOf(p))); });
    watched_ = snapshot_.size();
  }
  if (dropped > 0) spdlog::debug("forgot {} entries of directories the kernel let go", dropped);
  if (dirs_held_) dirs_held_(held);
}

bool Watcher::FullSync(bool report) {
  const Clock::time_point start = Clock::now();
  const double start_unix =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // Read everything first, holding no lock: the store may be slow.
  Listing listing;
  EntryState root;
  Status s = store_->CheckRoot();
  if (s.ok()) {
    auto st = store_->StatFresh("");
    if (!st) {
      s = st.error();
    } else {
      root = EntryState::From(*st);
      if (root.is_dir()) s = ReadTree(*store_, "", &listing);
    }
  }
  if (!s.ok()) {
    SyncFinished(s, metrics::SyncKind::kFull, start, start_unix);
    return false;
  }

  std::vector<Change> changes;
  {
    std::lock_guard lock(mu_);
    // What could not be read is kept too: the listing marks it unreadable.
    snapshot_.Reconcile("", &root, &listing, KeepLocked(start), report ? &changes : nullptr);
    watched_ = snapshot_.size();
  }
  if (report) {
    Deliver(std::move(changes), Clock::now());
    SweepServed(start);
  }
  SyncFinished(s, metrics::SyncKind::kFull, start, start_unix);
  // A sync of a big source allocates and frees its whole listing (about 180
  // bytes an entry); hand the freed pages back, or the daemon's RSS keeps
  // the peak of every sync.
  ::malloc_trim(0);
  return true;
}

bool Watcher::IsOwnLocked(std::string_view path) const {
  if (own_.empty()) return false;
  for (;;) {
    if (own_.count(std::string(path))) return true;
    if (path.empty()) return false;
    size_t slash = path.rfind('/');
    path = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
  }
}

KeepSet Watcher::OwnLocked() const {
  KeepSet keep;
  for (const auto& [path, count] : own_) keep.Add(path);
  return keep;
}

std::string Watcher::RecordableLocked(std::string path) const {
  while (!path.empty()) {
    const EntryState* parent = snapshot_.Find(ParentOf(path));
    if (parent && parent->is_dir()) break;
    path.resize(ParentOf(path).size());
  }
  return path;
}

std::vector<Change> Watcher::RescanLocked(std::string path, bool deep,
                                          std::unique_lock<std::mutex>& lock) {
  if (IsOwnLocked(path)) return {};
  // A path under a directory the snapshot does not hold (yet) is found by
  // reading that directory whole.
  if (std::string recordable = RecordableLocked(path); recordable != path) {
    // Lazily, what lies outside the directories recorded is nothing the
    // kernel holds.
    if (settings_.lazy) return {};
    path = std::move(recordable);
    deep = true;
  }
  const EntryState* known = snapshot_.Find(path);
  bool known_dir = known && known->is_dir();
  uint64_t known_ino = known ? known->ino : 0;
  lock.unlock();

  auto st = store_->StatFresh(path);
  bool now_dir = st && S_ISDIR(st->st_mode);
  // The subtree is read when a directory appears, disappears, is replaced,
  // or the caller asks; a directory whose own attributes changed is not.
  // (Lazily never: a directory is listed when the kernel looks into it.)
  bool subtree = !settings_.lazy && ((known_dir && !now_dir) ||
                                     (now_dir && (deep || !known_dir || known_ino != st->st_ino)));
  Fresh fresh = ReadFresh(path, st, subtree);

  lock.lock();
  if (IsOwnLocked(path)) return {};
  std::vector<Change> changes;
  RecordLocked(path, fresh, OwnLocked(), &changes);
  return changes;
}

Watcher::Fresh Watcher::ReadFresh(const std::string& path, const Result<struct stat>& st,
                                  bool subtree) {
  Fresh fresh;
  if (!st) return fresh;
  fresh.state = EntryState::From(*st);
  if (subtree && S_ISDIR(st->st_mode)) {
    fresh.subtree = true;
    // Unlistable although it was just there: it went away meanwhile.
    if (!ReadTree(*store_, path, &fresh.listing).ok()) fresh = Fresh{};
  }
  return fresh;
}

void Watcher::RecordLocked(const std::string& path, const Fresh& fresh, const KeepSet& keep,
                           std::vector<Change>* changes) {
  // A gone entry goes with everything under it, whether or not its subtree
  // was read. (Where the snapshot lacks the parent there is nowhere to
  // record it; the next full sync sees it.)
  snapshot_.Reconcile(path, fresh.state ? &*fresh.state : nullptr,
                      fresh.subtree ? &fresh.listing : nullptr, keep, changes);
  watched_ = snapshot_.size();
}

size_t Watcher::Rescan(const std::string& path, bool deep) {
  const Clock::time_point start = Clock::now();
  std::vector<Change> changes;
  {
    std::unique_lock lock(mu_);
    changes = RescanLocked(path, deep, lock);
  }
  size_t n = changes.size();
  Deliver(std::move(changes), Clock::now());
  SweepServed(start, path, deep);
  return n;
}

size_t Watcher::RescanRename(const std::string& from, const std::string& to) {
  const Clock::time_point start = Clock::now();
  std::vector<Change> gone, came;
  {
    std::unique_lock lock(mu_);
    gone = RescanLocked(from, true, lock);
    came = RescanLocked(to, true, lock);
  }
  auto top = [](const std::vector<Change>& changes, const std::string& path, ChangeKind kind) {
    return std::find_if(changes.begin(), changes.end(),
                        [&](const Change& c) { return c.path == path && c.kind == kind; });
  };
  auto deleted = top(gone, from, ChangeKind::kDeleted);
  auto created = top(came, to, ChangeKind::kCreated);
  std::vector<Change> changes;
  if (deleted != gone.end() && created != came.end()) {
    // One rename; what moved with a directory is implied by it.
    Change rename = *created;
    rename.kind = ChangeKind::kRenamed;
    rename.from = from;
    rename.was_dir = deleted->was_dir;
    changes.push_back(std::move(rename));
    for (auto& c : gone)
      if (!IsWithin(c.path, from)) changes.push_back(std::move(c));
    for (auto& c : came)
      if (!IsWithin(c.path, to)) changes.push_back(std::move(c));
  } else {
    changes = std::move(gone);
    changes.insert(changes.end(), came.begin(), came.end());
  }
  size_t n = changes.size();
  Deliver(std::move(changes), Clock::now());
  SweepServed(start, from, /*subtree=*/true);
  SweepServed(start, to, /*subtree=*/true);
  return n;
}

void Watcher::BeginOwnChange(const std::string& path) {
  std::lock_guard lock(mu_);
  ++own_[path];
}

void Watcher::EndOwnChange(const std::string& path, const struct stat* known_stat) {
  std::unique_lock lock(mu_);
  auto it = own_.find(path);
  if (it == own_.end()) return;
  if (--it->second == 0) own_.erase(it);
  // Record the result as seen, without reporting it: it is ours. (While
  // another change to the same path is still in flight, that one's End
  // records the final state.)
  if (IsOwnLocked(path)) return;
  own_[path] = 1;  // keep the path ours while we look at it unlocked
  const EntryState* known = snapshot_.Find(path);
  uint64_t known_ino = known ? known->ino : 0;
  bool known_dir = known && known->is_dir();
  lock.unlock();
  // A descriptor's attributes stand for the path only while the path still
  // names that file (it may have been renamed away since).
  Result<struct stat> st = Error{ENOENT};
  if (known_stat && known_stat->st_ino == known_ino && !S_ISDIR(known_stat->st_mode)) {
    st = *known_stat;
  } else {
    st = store_->StatFresh(path);
  }
  bool now_dir = st && S_ISDIR(st->st_mode);
  bool subtree = !settings_.lazy && (known_dir != now_dir || (now_dir && known_ino != st->st_ino));
  Fresh fresh = ReadFresh(path, st, subtree);
  lock.lock();
  RecordLocked(path, fresh, KeepSet{}, nullptr);  // seen, not reported: it is ours
  if (--own_[path] == 0) own_.erase(path);
  own_ended_ns_[path] = Ns(Clock::now());
  lock.unlock();
  // What the mount itself made of the path is recorded now: an entry it
  // handed the kernel there is settled (a name it removed is not a remote
  // deletion).
  std::lock_guard served(served_mu_);
  served_.erase(path);
}

bool Watcher::Revalidate(const std::string& path) {
  size_t n = Rescan(path, false);
  if (n > 0 && flush_) flush_();
  return n > 0;
}

void Watcher::Recheck(const std::string& path) { Rescan(path, false); }

void Watcher::ServedState(const std::string& path, const struct stat& st) {
  Served(path, st.st_mode & S_IFMT);
  if (!settings_.lazy) return;
  // Watched before the kernel gets it, so before it can look into it.
  if (S_ISDIR(st.st_mode) && dir_served_) dir_served_(path);
  const EntryState served = EntryState::From(st);
  const std::string parent(ParentOf(path));
  {
    std::lock_guard lock(mu_);
    looked_into_.insert(parent);
    if (IsOwnLocked(path)) return;
    const EntryState* known = snapshot_.Find(path);
    if (!known) {
      // A name of a directory not listed yet: what the kernel holds of it
      // is what the next listing compares with. (In a listed one the
      // kernel may cache a listing without it: the next sync reports it.)
      if (!snapshot_.Listed(parent)) {
        snapshot_.Reconcile(path, &served, nullptr, KeepSet{}, nullptr);
        watched_ = snapshot_.size();
      }
    } else if (ChangeKind kind; !(*known == served) && Classify(served, *known, &kind) &&
                                first_listed_ns_.count(parent)) {
      // The kernel was handed another state than the snapshot holds: a
      // lookup that raced its directory's first listing (older), or one
      // that saw a change before its event or sync did (newer). Either way
      // the kernel may cache data of another version than the one it was
      // just told of: record a state no source reports (an impossible
      // mtime), so the next event or sync on this name reports it as
      // modified and the kernel's data of it is invalidated. (Recording
      // the served state as is would make a newer one look settled; the
      // stale pages would stay forever. Reporting it now would retire the
      // inode just handed out.)
      EntryState unsettled = served;
      unsettled.mtime_ns = kUnsettledMtime;
      snapshot_.Reconcile(path, &unsettled, nullptr, KeepSet{}, nullptr);
    }
  }
}

void Watcher::Missed(const std::string& path) {
  if (!settings_.lazy || path.empty()) return;
  std::vector<Change> changes;
  {
    std::lock_guard lock(mu_);
    const std::string parent(ParentOf(path));
    looked_into_.insert(parent);
    if (const EntryState* known = snapshot_.Find(path)) {
      // Recorded by a first listing that ran while this lookup was under
      // way: the kernel may now cache "no such file" for a name that exists.
      if (first_listed_ns_.count(parent)) {
        Change c;
        c.kind = ChangeKind::kCreated;
        c.path = path;
        c.is_dir = known->is_dir();
        changes.push_back(std::move(c));
      }
    } else if (snapshot_.Contains(parent) && !snapshot_.Listed(parent)) {
      if (missed_.size() < kMissedMax) missed_.insert(path);
      else missed_overflow_ = true;
    }
  }
  Deliver(std::move(changes), Clock::now());
}

void Watcher::Served(const std::string& path, mode_t type) {
  std::lock_guard lock(served_mu_);
  if (served_.size() >= kServedMax && !served_.count(path)) {
    served_overflow_ = true;
    return;
  }
  served_.insert_or_assign(SmallString(path), std::pair<int64_t, mode_t>{Ns(Clock::now()), type});
}

void Watcher::SweepServed(Clock::time_point before, std::string_view under, bool subtree) {
  const int64_t before_ns = Ns(before);
  std::vector<std::pair<std::string, mode_t>> candidates;
  bool all_known = false;
  {
    std::lock_guard lock(served_mu_);
    if (!subtree) {
      // One path (a rescan of a file): no walk over everything served.
      auto it = served_.find(under);
      if (it != served_.end() && it->second.first < before_ns) {
        candidates.emplace_back(std::string(it->first), it->second.second);
        served_.erase(it);
      }
    }
    if (subtree && served_overflow_ && under.empty() && known_entries_) {
      served_overflow_ = false;
      served_.clear();
      all_known = true;
    }
    for (auto it = served_.begin(); subtree && it != served_.end();) {
      if (it->second.first < before_ns && IsWithin(it->first, under)) {
        candidates.emplace_back(std::string(it->first), it->second.second);
        served_.erase(it++);
      } else {
        ++it;
      }
    }
    if (served_.empty()) decltype(served_)().swap(served_);  // the array goes too
  }
  // Outside served_mu_: the inode table takes its own lock.
  if (all_known) candidates = known_entries_();
  if (candidates.empty()) return;
  std::vector<Change> changes;
  {
    std::lock_guard lock(mu_);
    for (auto& [path, type] : candidates) {
      if (path.empty() || snapshot_.Contains(path) || IsOwnLocked(path)) continue;
      Change c;
      c.kind = ChangeKind::kDeleted;
      c.path = std::move(path);
      c.was_dir = S_ISDIR(type);
      changes.push_back(std::move(c));
    }
  }
  if (changes.empty()) return;
  spdlog::debug("{} entries the kernel was given are gone, unseen by any listing", changes.size());
  // Directories before what was under them (the applier skips those).
  std::sort(changes.begin(), changes.end(),
            [](const Change& a, const Change& b) { return a.path < b.path; });
  Deliver(std::move(changes), Clock::now());
}

void Watcher::Heartbeat() { last_heartbeat_ns_ = Ns(Clock::now()); }

void Watcher::SetEventsHealthy(bool healthy) {
  if (healthy) Heartbeat();
  events_healthy_ = healthy;
}

double Watcher::StalenessSeconds() const {
  double bound = SecondsSince(last_sync_start_ns_.load());
  if (events_healthy_.load() && !sync_failing_.load())
    bound = std::min(bound, SecondsSince(last_heartbeat_ns_.load()));
  return std::max(bound, 0.0);
}

size_t Watcher::WatchedEntries() const { return watched_.load(); }

bool Watcher::Contains(const std::string& path) const {
  std::lock_guard lock(mu_);
  return snapshot_.Contains(path);
}

bool Watcher::Settled(const std::string& path, const EntryState& state) const {
  std::lock_guard lock(mu_);
  if (IsOwnLocked(path) || own_ended_ns_.count(path)) return false;
  const EntryState* known = snapshot_.Find(path);
  return known && *known == state;
}

Snapshot Watcher::CopySnapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

// By value: the callers move their changes in, and they are freed when this returns.
// NOLINTNEXTLINE(performance-unnecessary-value-param)
void Watcher::Deliver(std::vector<Change> changes, Clock::time_point detected) {
  if (spdlog::should_log(spdlog::level::debug)) {
    for (const Change& c : changes)
      spdlog::debug("remote change: {} {}", metrics::ChangeKindName(c.kind), Quoted(c.path));
  }
  if (!changes.empty() && sink_) sink_(changes, detected);
}

}  // namespace freshfs::watch
