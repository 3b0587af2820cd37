// Watcher: keeps a Snapshot of the source and turns every difference it
// finds into Changes for one sink, whichever way the difference was found:
//   - periodic syncs (the safety net; the only source that sees changes
//     other machines make to an NFS/SMB/CephFS directory). With a source of
//     cached directories and a full-sync interval, most polls are "cached
//     syncs": they list only the directories the kernel holds, one level
//     each, since everything the kernel may serve lies in them; a full sync
//     of the whole source runs once per full-sync interval;
//   - targeted rescans, fed by an event source (inotify) or by on-open
//     revalidation;
//   - the mount's own changes, which are recorded but never reported.
//
// Threads: Start() runs the initial scan on the caller's thread, then one
// poll thread. Rescan*() and the ChangeObserver methods may be called from
// any thread. The sink is called without the snapshot lock held, and must
// not block on the kernel (it only queues notifications).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "fs/change_observer.h"
#include "metrics/metrics.h"
#include "store/store.h"
#include "util/small_string.h"
#include "watch/snapshot.h"

namespace freshfs::watch {

using Clock = std::chrono::steady_clock;

class Watcher : public fs::ChangeObserver {
 public:
  struct Settings {
    std::chrono::milliseconds poll_interval{5000};  // 0: no periodic sync
    // How often a poll lists the whole source; the polls between are cached
    // syncs. 0: every poll is a full sync. (Needs set_cached_dirs().)
    std::chrono::milliseconds full_sync_interval{0};
    // Lazy (docs/scale.md, "Lazy mounts"): Start() records the root only;
    // the snapshot covers the directories the kernel holds, each listed
    // when the kernel first lists it or by the next cached sync, and forgets
    // those it no longer holds. Every sync is a cached one; full syncs give
    // way to a background scan of the whole source (`scan_interval`, 0:
    // none) that feeds only what needs a whole view (usage, the metrics).
    bool lazy = false;
    std::chrono::milliseconds scan_interval{0};
  };
  // Receives each batch of changes with the time they were detected.
  using Sink = std::function<void(const std::vector<Change>&, Clock::time_point)>;
  // Pushes queued notifications out; used by Revalidate() before it returns.
  using Flush = std::function<void()>;
  // The source paths of the directories the kernel holds (fs::InodeTable::
  // DirectoryPaths()).
  using CachedDirs = std::function<std::vector<std::string>()>;
  // Every entry the kernel holds, with its type (fs::InodeTable::Paths()):
  // what a sweep checks when too many entries were served to track each.
  using KnownEntries = std::function<std::vector<std::pair<std::string, mode_t>>()>;

  Watcher(store::Store* store, Settings settings, metrics::Metrics* metrics);
  ~Watcher() override;

  void set_sink(Sink sink) { sink_ = std::move(sink); }
  void set_flush(Flush flush) { flush_ = std::move(flush); }
  void set_cached_dirs(CachedDirs dirs) { cached_dirs_ = std::move(dirs); }
  void set_known_entries(KnownEntries known) { known_entries_ = std::move(known); }
  // Lazy: called with each directory handed to the kernel (it may look into
  // it from now on), and after each cached sync with the directories the
  // kernel still holds (it forgot the others). For event sources that watch
  // directories one by one (inotify).
  using DirServed = std::function<void(const std::string& dir)>;
  using DirsHeld = std::function<void(const std::unordered_set<std::string>& dirs)>;
  void set_dir_hooks(DirServed served, DirsHeld held) {
    dir_served_ = std::move(served);
    dirs_held_ = std::move(held);
  }

  // Scans the whole source (synchronously: the kernel must not cache anything
  // the snapshot has not seen), then starts the poll thread.
  Status Start();
  void Stop();

  // Runs a full sync now, on the calling thread. False if it failed.
  bool SyncNow();
  // Runs a cached sync now (a full one without set_cached_dirs()).
  bool SyncCached();
  // Asks the poll thread for a full sync as soon as possible (e.g. an event
  // source lost events).
  void RequestSync();

  // Re-reads `path` (with `deep`, or when it is a new directory, everything
  // under it) and reports what changed. Returns the number of changes.
  size_t Rescan(const std::string& path, bool deep);
  // Reports a rename the event source saw as one change, rescanning both ends.
  size_t RescanRename(const std::string& from, const std::string& to);

  // fs::ChangeObserver
  void BeginOwnChange(const std::string& path) override;
  void EndOwnChange(const std::string& path, const struct stat* known = nullptr) override;
  bool Revalidate(const std::string& path) override;
  void Recheck(const std::string& path) override;
  void Served(const std::string& path, mode_t type) override;
  void ServedState(const std::string& path, const struct stat& st) override;
  void Missed(const std::string& path) override;
  void WillList(const std::string& dir) override;

  // Lazy: runs one background scan of the whole source now (false if it
  // failed or was stopped).
  bool ScanNow();

  // An event source that sees every change keeps the bound tight: it calls
  // Heartbeat() whenever it has delivered everything up to now, and
  // SetEventsHealthy(false) once it may have missed something.
  void Heartbeat();
  void SetEventsHealthy(bool healthy);

  // Upper bound, in seconds, on the age of the oldest view the mount may
  // still be serving: time since the start of the last complete successful
  // full sync, or since the last heartbeat of a healthy event source, if
  // that is more recent.
  double StalenessSeconds() const;
  size_t WatchedEntries() const;
  bool Contains(const std::string& path) const;  // in the snapshot
  // Whether the snapshot holds exactly `state` at `path` and the mount is
  // not changing the path itself: whatever the watcher found there was
  // handed on to the kernel's notifications.
  bool Settled(const std::string& path, const EntryState& state) const;
  Snapshot CopySnapshot() const;  // for tests and diagnostics

 private:
  void PollLoop();
  // Scans everything and diffs against the snapshot; `report`: deliver the
  // changes (false for the initial scan, which only sets the baseline).
  bool FullSync(bool report);
  // Lists each of the directories the kernel holds and records what changed
  // in them (their children's own state; nothing deeper).
  bool CachedSync();
  // Lazy: lists `dir` once and records it as its first listing (what the
  // kernel may hold of it is compared, the rest recorded unreported).
  // `recorded_before`: a listing begun before it counts as its first.
  void ListFirst(const std::string& dir);
  // Records one directory's listing begun at `start` (its first one when
  // the snapshot did not list it yet); false if the snapshot lacks `dir`.
  bool RecordDirLocked(const std::string& dir, const Listing& listing, Clock::time_point start,
                       std::vector<Change>* changes, std::string_view listing_dir = {});
  // Lazy, where listings cost requests: when the whole source takes no more
  // requests than listing `dirs` one by one (a bucket of at most
  // kTreeSyncMaxKeys keys), one listing
  // of the whole tree serves them all (and shows what some servers leave
  // out of a directory's listing: s3rver, prefixes two levels deep).
  // False when it did not run (the caller lists them one by one).
  bool SyncFromTree(const std::vector<std::string>& dirs, Clock::time_point start);
  // Lazy: forgets the listings of directories the kernel no longer holds.
  void DropUnheld();
  void ScanLoop();
  // Metrics, the staleness bound and logs after a sync of either kind.
  void SyncFinished(Status s, metrics::SyncKind kind, Clock::time_point start, double start_unix);
  // The paths a sync whose listing began at `start` leaves as recorded.
  KeepSet KeepLocked(Clock::time_point start);
  bool IsOwnLocked(std::string_view path) const;
  // The paths the mount is changing itself: a sync leaves them as recorded.
  KeepSet OwnLocked() const;
  void Deliver(std::vector<Change> changes, Clock::time_point detected);
  // Entries served to the kernel before `before` (`under` and, with
  // `subtree`, everything within it; "" is the root) that the snapshot does
  // not hold are gone from the source, though no listing ever showed them
  // (they came and went between two): reported as deleted, so the kernel
  // drops them too. The rest are settled (the snapshot holds them: later
  // changes are found as any other).
  void SweepServed(Clock::time_point before, std::string_view under = {}, bool subtree = true);
  // What the source holds at `path` now: its state (none if gone) and, with
  // `subtree` (for a directory), everything under it.
  struct Fresh {
    std::optional<EntryState> state;
    Listing listing;
    bool subtree = false;
  };
  Fresh ReadFresh(const std::string& path, const Result<struct stat>& st, bool subtree);
  void RecordLocked(const std::string& path, const Fresh& fresh, const KeepSet& keep,
                    std::vector<Change>* changes);
  // The nearest of `path` and its ancestors whose parent directory the
  // snapshot holds (only there can a scan be recorded).
  std::string RecordableLocked(std::string path) const;
  std::vector<Change> RescanLocked(std::string path, bool deep, std::unique_lock<std::mutex>& lock);

  store::Store* store_;
  const Settings settings_;
  metrics::Metrics* metrics_;
  Sink sink_;
  Flush flush_;
  CachedDirs cached_dirs_;
  KnownEntries known_entries_;

  mutable std::mutex mu_;  // guards snapshot_ and own_
  Snapshot snapshot_;
  std::unordered_map<std::string, int> own_;               // path -> changes in flight
  std::unordered_map<std::string, int64_t> own_ended_ns_;  // path -> when our change ended

  std::atomic<int64_t> last_sync_start_ns_{0};  // steady clock, successful syncs only
  Clock::time_point last_full_start_{};         // poll thread only: the last full sync attempted
  std::atomic<int64_t> last_heartbeat_ns_{0};
  std::atomic<bool> events_healthy_{false};
  // While syncs fail, events prove nothing (the source may be gone or
  // replaced under the watches), so only the last good sync bounds staleness.
  std::atomic<bool> sync_failing_{false};
  std::atomic<size_t> watched_{0};

  // Lazy only, under mu_. Names in directories not listed yet that the
  // kernel was told do not exist (their first listing reports them if they
  // do), bounded: past kMissedMax every new name of a first listing is
  // reported.
  static constexpr size_t kMissedMax = 100'000;
  // How long after a directory's first listing a lookup begun before it may
  // still arrive (ServedState()/Missed() compare then).
  static constexpr std::chrono::seconds kFirstListingRace{60};
  // The mtime of a recorded state the kernel may not hold (ServedState()):
  // no source reports it, so the next comparison always finds a change.
  static constexpr int64_t kUnsettledMtime = INT64_MIN;
  static constexpr std::chrono::milliseconds kFirstScanDelay{1'000};
  // SyncFromTree() only for sources of at most this many keys.
  static constexpr size_t kTreeSyncMaxKeys = 10'000;
  std::unordered_set<std::string> missed_;
  bool missed_overflow_ = false;
  // Directories listed for the first time lately, with when: a lookup in
  // flight then may have handed the kernel an older view than the listing
  // recorded, which ServedState()/Missed() report when it arrives.
  std::unordered_map<std::string, int64_t> first_listed_ns_;
  // Directories listed by WillList() since the last DropUnheld(): the held
  // set that drop works from may predate them.
  std::unordered_set<std::string> listed_since_drop_;
  // Directories the kernel looked into (a lookup in it, or its listing):
  // only those can hold anything it caches. One it holds but never looked
  // into (readdirplus of its parent handed it over) is not synced.
  std::unordered_set<std::string> looked_into_;
  DirServed dir_served_;
  DirsHeld dirs_held_;
  std::thread scan_thread_;
  // Keys in the whole source as last seen (a tree listing, a scan, or a
  // lower bound after a tree listing gave up), 0 when unknown.
  std::atomic<size_t> source_estimate_{0};

  // Entries handed to the kernel since the last sweep: path -> (when, type).
  // Bounded: past kServedMax, the next sweep checks every entry the kernel
  // holds instead. One flat array (short paths inline), given back whole
  // once a sweep empties it: an entry per name the kernel was handed, freed
  // a poll later, must not leave the heap full of holes between what stays
  // (docs/scale.md, "Memory per entry held").
  static constexpr size_t kServedMax = 100'000;
  struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view path) const noexcept {
      return absl::Hash<std::string_view>{}(path);
    }
  };
  std::mutex served_mu_;  // a leaf: never held while taking mu_
  absl::flat_hash_map<SmallString, std::pair<int64_t, mode_t>, PathHash, std::equal_to<>> served_;
  bool served_overflow_ = false;

  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stopping_ = false;
  std::atomic<bool> stop_{false};  // stopping_, for a sync under way to give up early
  bool sync_requested_ = false;
  std::thread poll_thread_;
};

}  // namespace freshfs::watch
