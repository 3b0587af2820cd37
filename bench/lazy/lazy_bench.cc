// Mounting a synthetic store of 10,000,000 entries lazily, in process
// (docs/scale.md, "Lazy mounts"): the real FileSystem, InodeTable and
// Watcher (lazy) on tests/fakes/synthetic_store.h, no kernel. Reports, as
// one JSON line per step:
//   mount       Watcher::Start() (what freshfs-mount waits for before it
//               mounts): seconds, store requests, RSS growth;
//   ls_root     opendir + readdirplus of the root: seconds, requests;
//   ls_deep     the lookups down to a leaf directory and its listing;
//   held        leaf directories listed (readdirplus) until the kernel
//               would hold 10,000 entries, then one cached sync: RSS growth
//               since the mount per entry held (inode table + snapshot),
//               and the heap in use per entry held, split by structure
//               (each freed in turn: the watcher, then the inode table);
//   eager       (--eager) the same store started the old way, with a full
//               scan, for comparison: seconds and RSS growth.
// With --s3 the store is the real S3Store on an in-memory bucket
// (tests/fakes/fake_object_client.h) of N objects laid out as bench/lazy-mount
// lays out s3rver's: 100 directories of 10 subdirectories of N/1,000 objects,
// so "other" in the heap split is mostly the S3 metadata cache (the bucket
// itself is filled before the mount and not counted).
// Usage: freshfs_bench_lazy [--entries N] [--hold N] [--eager] [--s3]
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "fakes/fake_object_client.h"
#include "fakes/synthetic_store.h"
#include "scale/rss.h"
#include "fs/filesystem.h"
#include "metrics/metrics.h"
#include "store/instrumented_store.h"
#include "store/s3_store.h"
#include "watch/watcher.h"

namespace freshfs {
namespace {

using testing::SyntheticStore;
using Clock = std::chrono::steady_clock;

using bench::RssBytes;

// Bytes malloc hands out now (exact, unlike RSS: no pages, no trimming).
size_t HeapInUse() { return mallinfo2().uordblks + mallinfo2().hblkhd; }

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// freshfs_store_requests_total{op} summed over results.
double Requests(metrics::Metrics& m, const std::string& op) {
  double n = 0;
  for (const auto& family : m.registry()->Collect()) {
    if (family.name != "freshfs_store_requests_total") continue;
    for (const auto& metric : family.metric)
      for (const auto& label : metric.label)
        if (label.name == "op" && label.value == op) n += metric.counter.value;
  }
  return n;
}

struct Counts {
  double list = 0, stat = 0;
};
Counts Now(metrics::Metrics& m) { return {Requests(m, "list"), Requests(m, "stat")}; }

void Print(const char* step, double seconds, Counts before, Counts after, const std::string& more) {
  std::printf(
      "{\"step\": \"%s\", \"seconds\": %.6f, \"list_requests\": %.0f, "
      "\"stat_requests\": %.0f%s}\n",
      step, seconds, after.list - before.list, after.stat - before.stat, more.c_str());
  std::fflush(stdout);
}

// opendir + readdirplus of `ino` to the end, as `ls -l` has the kernel do.
size_t ListPlus(fs::FileSystem& fs, fuse_ino_t ino,
                std::vector<std::pair<std::string, fuse_ino_t>>* dirs) {
  auto dir = fs.OpenDir(ino);
  if (!dir) return 0;
  size_t n = 0;
  (void)fs.ReadDir(*dir, 0, /*plus=*/true, [&](const fs::DirItem& item) {
    if (item.entry.ino != 0) {
      ++n;
      if (dirs && S_ISDIR(item.entry.attr.st_mode))
        dirs->emplace_back(std::string(item.name), item.entry.ino);
    }
    return true;
  });
  fs.ReleaseDir(*dir);
  return n;
}

// An S3Store on an in-memory bucket of `objects` objects (see the top).
std::unique_ptr<store::Store> S3Bucket(size_t objects, const std::string& staging) {
  auto bucket = std::make_unique<testing::FakeObjectClient>();
  char name[64];
  for (int d = 0; d < 100; ++d) {
    std::snprintf(name, sizeof name, "d%03d/x", d);
    bucket->SetObject(name, "lazy object\n");
    for (int s = 0; s < 10; ++s)
      for (size_t i = 0; i < objects / 1000; ++i) {
        std::snprintf(name, sizeof name, "d%03d/s%02d/f%06zu", d, s, i);
        bucket->SetObject(name, "lazy object\n");
      }
  }
  store::S3StoreSettings settings;
  settings.staging_dir = staging;
  settings.metadata_ttl = std::chrono::seconds(30);  // freshfs-mount's with --poll-interval 0
  std::string error;
  auto s3 = store::S3Store::Open(std::move(bucket), settings, &error);
  if (!s3) {
    std::fprintf(stderr, "S3Store: %s\n", error.c_str());
    std::exit(1);
  }
  return std::move(*s3);
}

int Run(size_t entries, size_t hold, bool eager, bool s3) {
  char staging[] = "/tmp/freshfs-bench-lazy-XXXXXX";
  if (s3 && !mkdtemp(staging)) return 1;
  auto owned = std::make_unique<SyntheticStore>(SyntheticStore::Layout::kDeep, entries,
                                                /*tree_listing=*/false);
  SyntheticStore* synthetic = owned.get();
  std::unique_ptr<store::Store> source = s3 ? S3Bucket(entries, staging) : std::move(owned);
  const size_t rss0 = RssBytes();
  metrics::Metrics m("bench", "bench");
  fs::FileSystem fs(store::Instrument(std::move(source), &m), fs::FsSettings{});
  watch::Watcher::Settings ws;
  ws.poll_interval = std::chrono::milliseconds(0);  // syncs when asked
  ws.lazy = !eager;
  auto owned_watcher = std::make_unique<watch::Watcher>(&fs.store(), ws, &m);
  watch::Watcher& watcher = *owned_watcher;
  fs::InodeTable* table = &fs.inodes();
  watcher.set_cached_dirs([table] { return table->DirectoryPaths(); });
  fs.set_observer(&watcher);

  Counts c0 = Now(m);
  auto t = Clock::now();
  if (!watcher.Start().ok()) return 1;
  const double mount_s = Since(t);
  const size_t rss_mount = RssBytes();
  const size_t heap_mount = HeapInUse();
  Print(eager ? "eager_mount" : "mount", mount_s, c0, Now(m),
        ", \"entries\": " + std::to_string(entries) +
            ", \"rss_growth_bytes\": " + std::to_string(rss_mount - rss0) +
            ", \"watched_entries\": " + std::to_string(watcher.WatchedEntries()));
  if (eager) return 0;

  c0 = Now(m);
  t = Clock::now();
  std::vector<std::pair<std::string, fuse_ino_t>> top;
  size_t n = ListPlus(fs, fs::InodeTable::kRoot, &top);
  Print("ls_root", Since(t), c0, Now(m), ", \"names\": " + std::to_string(n));

  // Down to the first leaf by lookups (the names come from the store
  // itself, uncounted), then its listing.
  std::vector<std::string> chain;
  if (s3) chain = {"d099", "s09"};
  for (std::string dir; !s3;) {
    auto list = synthetic->List(dir);
    if (!list || list->empty() || !S_ISDIR((*list)[0].type)) break;
    chain.push_back((*list)[0].name);
    dir = store::JoinPath(dir, (*list)[0].name);
  }
  c0 = Now(m);
  t = Clock::now();
  fuse_ino_t ino = fs::InodeTable::kRoot;
  for (const std::string& name : chain) {
    auto e = fs.Lookup(ino, name);
    if (!e) return 1;
    ino = e->ino;
  }
  n = ListPlus(fs, ino, nullptr);
  Print("ls_deep", Since(t), c0, Now(m),
        ", \"depth\": " + std::to_string(chain.size()) + ", \"names\": " + std::to_string(n));

  // Leaf after leaf until the kernel would hold `hold` entries.
  c0 = Now(m);
  t = Clock::now();
  size_t leaves = 0;
  auto walk = [&](auto& self, fuse_ino_t dir_ino) -> void {
    std::vector<std::pair<std::string, fuse_ino_t>> subdirs;
    ListPlus(fs, dir_ino, &subdirs);
    if (subdirs.empty()) ++leaves;
    for (auto& [name, child] : subdirs) {
      if (table->Size() >= hold) return;
      self(self, child);
    }
  };
  walk(walk, fs::InodeTable::kRoot);
  watcher.SyncCached();  // the snapshot then covers every directory held
  const double held_s = Since(t);
  const size_t rss_held = RssBytes();
  const size_t held = table->Size();
  Print("held", held_s, c0, Now(m),
        ", \"entries_held\": " + std::to_string(held) +
            ", \"leaf_dirs\": " + std::to_string(leaves) +
            ", \"watched_entries\": " + std::to_string(watcher.WatchedEntries()) +
            ", \"rss_growth_bytes\": " + std::to_string(rss_held - rss_mount) +
            ", \"bytes_per_entry_held\": " +
            std::to_string(double(rss_held - rss_mount) / double(held)));
  // Where the bytes are: free the watcher (snapshot and its bookkeeping),
  // then every node of the inode table, measuring the heap in between.
  const size_t heap_held = HeapInUse();
  watcher.Stop();
  fs.set_observer(nullptr);
  owned_watcher.reset();
  const size_t heap_no_watcher = HeapInUse();
  for (const auto& node : table->HeldNodes()) table->Forget(node.ino, table->LookupCount(node.ino));
  const size_t heap_no_table = HeapInUse();
  auto per = [&](size_t bytes) { return std::to_string(double(bytes) / double(held)); };
  Print("heap", 0, c0, c0,
        ", \"entries_held\": " + std::to_string(held) + ", \"heap_bytes_per_entry_held\": " +
            per(heap_held - heap_mount) + ", \"watcher\": " + per(heap_held - heap_no_watcher) +
            ", \"inode_table\": " + per(heap_no_watcher - heap_no_table) +
            ", \"other\": " + per(heap_no_table > heap_mount ? heap_no_table - heap_mount : 0));
  if (s3) rmdir(staging);
  return 0;
}

}  // namespace
}  // namespace freshfs

int main(int argc, char** argv) {
  size_t entries = 10'000'000, hold = 10'000;
  bool eager = false, s3 = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--entries" && i + 1 < argc) entries = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--hold" && i + 1 < argc) hold = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--eager") eager = true;
    else if (a == "--s3") s3 = true;
    else {
      std::fprintf(stderr, "usage: %s [--entries N] [--hold N] [--eager] [--s3]\n", argv[0]);
      return 2;
    }
  }
  return freshfs::Run(entries, hold, eager, s3);
}
