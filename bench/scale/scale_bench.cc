// freshfs_bench_scale: the watcher and the inode table at a million entries,
// in process, on a synthetic store (tests/fakes/synthetic_store.h).
//
// For each layout (flat: one directory; deep: ten-way directories, 5 levels)
// it runs the real pipeline - Watcher -> ChangeApplier -> InodeTable ->
// Invalidator - with a kernel stand-in that counts notifications, and prints
// one JSON object per line:
// CPU is the syncing thread's clock, split into listing_cpu_s (inside the
// store: producing the listing, what S3 parsing would cost), apply_cpu_s
// (inside the sink: ChangeApplier resolving inodes and queueing
// notifications) and diff_cpu_s (the rest: the watcher's own work).
//   initial_scan    the first full sync; RSS growth per tracked entry (after
//                   malloc_trim, /proc/self/statm); each later sync reports it
//                   again (tracked_bytes_per_entry_after, the inode table's
//                   share taken out), and the summary takes the largest
//   inode_table     RSS growth per entry once the kernel has looked up every
//                   entry (each one in the inode table)
//   unchanged_sync  (--repeat times) CPU split as above, changes reported and
//                   kernel notifications sent (both must be 0), peak RSS
//                   during the sync above the steady state, store requests
//   changed_sync    the same after --changes files changed (a third modified,
//                   a third deleted, a third created); the changes must match
//   summary         the goals (diff <= 1 s CPU beyond the listing, <= 200
//                   bytes per tracked entry, 0 notifications when unchanged)
//                   and whether they were met; the exit status is 1 if not.
//
// Usage: freshfs_bench_scale [--entries N] [--layout flat|deep|both]
//          [--changes K] [--repeat R] [--per-dir-listing] [--no-inodes]
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fakes/synthetic_store.h"
#include "scale/rss.h"
#include "fs/inode_table.h"
#include "invalidate/change_applier.h"
#include "invalidate/invalidator.h"
#include "invalidate/notifier.h"
#include "watch/watcher.h"

namespace freshfs {
namespace {

using testing::SyntheticStore;
using Layout = SyntheticStore::Layout;

constexpr double kDiffGoalCpuS = 1.0;
constexpr double kBytesPerEntryGoal = 200.0;

// Stands in for the kernel: counts what the Invalidator sends.
class CountingNotifier : public invalidate::KernelNotifier {
 public:
  int InvalEntry(fuse_ino_t, std::string_view) override { return Count(); }
  int ExpireEntry(fuse_ino_t, std::string_view) override { return Count(); }
  int Delete(fuse_ino_t, fuse_ino_t, std::string_view) override { return Count(); }
  int InvalInode(fuse_ino_t, off_t, off_t) override { return Count(); }
  int Store(fuse_ino_t, std::string_view) override { return Count(); }
  int IncrementEpoch() override {
    ++epoch_probes_;
    return -ENOSYS;  // a kernel without epochs: every name is notified singly
  }
  size_t sent() const { return sent_.load(); }

 private:
  int Count() {
    ++sent_;
    return 0;
  }
  std::atomic<size_t> sent_{0};
  std::atomic<size_t> epoch_probes_{0};
};

class Json {
 public:
  Json& Add(const char* key, const std::string& v) {
    Key(key);
    out_ << '"' << v << '"';
    return *this;
  }
  Json& Add(const char* key, const char* v) { return Add(key, std::string(v)); }
  Json& Add(const char* key, double v) {
    Key(key);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    out_ << buf;
    return *this;
  }
  Json& Add(const char* key, size_t v) {
    Key(key);
    out_ << v;
    return *this;
  }
  Json& Add(const char* key, bool v) {
    Key(key);
    out_ << (v ? "true" : "false");
    return *this;
  }
  void Print() {
    std::printf("{%s}\n", out_.str().c_str());
    std::fflush(stdout);
  }

 private:
  void Key(const char* key) {
    if (!first_) out_ << ", ";
    first_ = false;
    out_ << '"' << key << "\": ";
  }
  std::ostringstream out_;
  bool first_ = true;
};

using bench::RssBytes;

// Peak RSS since the last ResetPeak() (VmHWM), 0 if unavailable.
size_t PeakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return size_t(std::atoll(line.c_str() + 6)) * 1024;
  return 0;
}

void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Args {
  size_t entries = 1'000'000;
  std::vector<Layout> layouts{Layout::kFlat, Layout::kDeep};
  size_t changes = 10'000;
  int repeat = 3;
  bool tree_listing = true;
  bool inodes = true;
};

// Hands every entry to the inode table as readdirplus would: the kernel
// then knows all of them, the worst case for the applier and for memory.
size_t LookUpEverything(SyntheticStore& store, fs::InodeTable& inodes) {
  size_t n = 0;
  auto walk = [&](auto& self, const std::string& dir, fuse_ino_t ino) -> void {
    auto entries = store.ListDetailed(dir);
    if (!entries) return;
    for (const auto& e : *entries) {
      fuse_ino_t child = inodes.Lookup(ino, e.name, e.attr.st_mode & S_IFMT);
      ++n;
      if (S_ISDIR(e.attr.st_mode)) self(self, store::JoinPath(dir, e.name), child);
    }
  };
  walk(walk, "", fs::InodeTable::kRoot);
  return n;
}

struct Outcome {
  double unchanged_diff_cpu_s = 0;
  double bytes_per_entry = 0;
  size_t unchanged_notifications = 0;
  size_t unchanged_changes = 0;
  bool changes_match = true;
};

Outcome RunLayout(const Args& args, Layout layout) {
  const char* name = layout == Layout::kFlat ? "flat" : "deep";
  const char* listing = args.tree_listing ? "tree" : "per-directory";
  SyntheticStore store(layout, args.entries, args.tree_listing);
  fs::InodeTable inodes;
  CountingNotifier kernel;
  invalidate::Invalidator invalidator(nullptr);
  invalidator.Start(&kernel);
  invalidate::ChangeApplier applier(&inodes, &invalidator, nullptr);
  watch::Watcher watcher(&store, watch::Watcher::Settings{std::chrono::milliseconds(0)}, nullptr);
  // Called on the thread that syncs (the bench's own).
  size_t delivered = 0;
  double apply_cpu_s = 0;
  watcher.set_sink([&](const std::vector<watch::Change>& changes, watch::Clock::time_point at) {
    double start = ThreadCpuSeconds();
    delivered += changes.size();
    applier.Apply(changes, at);
    apply_cpu_s += ThreadCpuSeconds() - start;
  });
  // A sync's CPU on this thread, split: answering inside the store (fetching
  // the listing), applying the changes, and the rest (the diff).
  struct Cpu {
    double listing = 0, diff = 0, apply = 0;
  };
  auto timed = [&](auto&& fn) {
    double thread0 = ThreadCpuSeconds(), store0 = store.cpu_seconds(), apply0 = apply_cpu_s;
    if (!fn()) {
      std::fprintf(stderr, "sync failed\n");
      std::exit(2);
    }
    Cpu cpu;
    cpu.listing = store.cpu_seconds() - store0;
    cpu.apply = apply_cpu_s - apply0;
    cpu.diff = ThreadCpuSeconds() - thread0 - cpu.listing - cpu.apply;
    return cpu;
  };
  auto base = [&](const char* what) {
    Json j;
    j.Add("case", what).Add("layout", name).Add("listing", listing);
    return j;
  };
  Outcome outcome;

  // The initial scan: what tracking costs.
  size_t rss_before = RssBytes();
  Cpu initial = timed([&] { return watcher.Start().ok(); });
  size_t tracked = watcher.WatchedEntries();
  size_t rss_tracked = RssBytes();
  outcome.bytes_per_entry = double(rss_tracked - rss_before) / double(tracked);
  base("initial_scan")
      .Add("entries", tracked)
      .Add("directories", store.directories() + 1)
      .Add("listing_cpu_s", initial.listing)
      .Add("diff_cpu_s", initial.diff)
      .Add("rss_growth_mb", double(rss_tracked - rss_before) / 1e6)
      .Add("bytes_per_entry", outcome.bytes_per_entry)
      .Print();

  size_t rss_steady = rss_tracked;
  size_t inode_growth = 0;
  if (args.inodes) {
    size_t known = LookUpEverything(store, inodes);
    rss_steady = RssBytes();
    inode_growth = rss_steady - rss_tracked;
    base("inode_table")
        .Add("entries", known)
        .Add("rss_growth_mb", double(rss_steady - rss_tracked) / 1e6)
        .Add("bytes_per_entry", double(rss_steady - rss_tracked) / double(known))
        .Add("watcher_plus_inodes_bytes_per_entry",
             double(rss_steady - rss_before) / double(tracked))
        .Print();
  }

  // One sync: what it cost, what it reported, what reached the kernel.
  auto sync = [&](const char* what, const SyntheticStore::Mutation* expected) {
    size_t sent_before = kernel.sent();
    size_t delivered_before = delivered;
    size_t tree_calls = store.list_tree_calls(), list_calls = store.list_calls(),
           stat_calls = store.stat_calls();
    size_t rss0 = RssBytes();
    ResetPeak();
    double process_cpu = ProcessCpuSeconds();
    auto wall = std::chrono::steady_clock::now();
    Cpu cpu = timed([&] { return watcher.SyncNow(); });
    auto synced = std::chrono::steady_clock::now();
    invalidator.Flush(std::chrono::seconds(60));
    auto flushed = std::chrono::steady_clock::now();
    size_t peak = PeakRssBytes();
    // What tracking costs now, after syncs came and went (fragmentation included).
    double tracked_bpe = (double(RssBytes()) - double(rss_before) - double(inode_growth)) /
                         double(watcher.WatchedEntries());
    outcome.bytes_per_entry = std::max(outcome.bytes_per_entry, tracked_bpe);
    size_t changes = delivered - delivered_before;
    size_t sent = kernel.sent() - sent_before;
    Json j = base(what);
    j.Add("entries", watcher.WatchedEntries())
        .Add("listing_cpu_s", cpu.listing)
        .Add("diff_cpu_s", cpu.diff)
        .Add("apply_cpu_s", cpu.apply)
        .Add("diff_plus_apply_cpu_s", cpu.diff + cpu.apply)
        .Add("process_cpu_s", ProcessCpuSeconds() - process_cpu)
        .Add("sync_wall_s", std::chrono::duration<double>(synced - wall).count())
        .Add("changes", changes)
        .Add("notifications", sent)
        .Add("notify_wall_s", std::chrono::duration<double>(flushed - synced).count())
        .Add("peak_rss_over_steady_mb", peak > rss0 ? double(peak - rss0) / 1e6 : 0.0)
        .Add("tracked_bytes_per_entry_after", tracked_bpe)
        .Add("list_tree_requests", store.list_tree_calls() - tree_calls)
        .Add("list_dir_requests", store.list_calls() - list_calls)
        .Add("stat_requests", store.stat_calls() - stat_calls);
    if (expected) {
      bool match = changes == expected->modified + expected->deleted + expected->created;
      outcome.changes_match = outcome.changes_match && match;
      j.Add("expected_changes", expected->modified + expected->deleted + expected->created)
          .Add("changes_match", match);
    }
    j.Print();
    return std::make_tuple(cpu, changes, sent);
  };

  std::vector<double> unchanged_diff;
  for (int i = 0; i < args.repeat; ++i) {
    auto [cpu, changes, sent] = sync("unchanged_sync", nullptr);
    unchanged_diff.push_back(cpu.diff + cpu.apply);
    outcome.unchanged_notifications += sent;
    outcome.unchanged_changes += changes;
  }
  outcome.unchanged_diff_cpu_s = Median(unchanged_diff);
  if (args.changes > 0) {
    SyntheticStore::Mutation m = store.Mutate(args.changes);
    sync("changed_sync", &m);
    auto [cpu, changes, sent] = sync("unchanged_sync", nullptr);
    outcome.unchanged_notifications += sent;
    outcome.unchanged_changes += changes;
  }
  watcher.Stop();
  invalidator.Stop();
  return outcome;
}

int Main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--entries") {
      args.entries = std::stoul(value());
    } else if (a == "--changes") {
      args.changes = std::stoul(value());
    } else if (a == "--repeat") {
      args.repeat = std::max(1, std::stoi(value()));
    } else if (a == "--layout") {
      std::string l = value();
      if (l == "flat") args.layouts = {Layout::kFlat};
      else if (l == "deep") args.layouts = {Layout::kDeep};
      else if (l != "both") {
        std::fprintf(stderr, "--layout: flat, deep or both\n");
        return 2;
      }
    } else if (a == "--per-dir-listing") {
      args.tree_listing = false;
    } else if (a == "--no-inodes") {
      args.inodes = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--entries N] [--layout flat|deep|both] [--changes K] "
                   "[--repeat R] [--per-dir-listing] [--no-inodes]\n",
                   argv[0]);
      return 2;
    }
  }
  bool all_met = true;
  for (Layout layout : args.layouts) {
    Outcome o = RunLayout(args, layout);
    bool met = o.unchanged_diff_cpu_s <= kDiffGoalCpuS && o.bytes_per_entry <= kBytesPerEntryGoal &&
               o.unchanged_notifications == 0 && o.unchanged_changes == 0 && o.changes_match;
    all_met = all_met && met;
    Json()
        .Add("case", "summary")
        .Add("layout", layout == Layout::kFlat ? "flat" : "deep")
        .Add("listing", args.tree_listing ? "tree" : "per-directory")
        .Add("entries", args.entries)
        .Add("unchanged_diff_cpu_s", o.unchanged_diff_cpu_s)
        .Add("diff_goal_cpu_s", kDiffGoalCpuS)
        .Add("max_bytes_per_entry", o.bytes_per_entry)
        .Add("bytes_per_entry_goal", kBytesPerEntryGoal)
        .Add("unchanged_notifications", o.unchanged_notifications)
        .Add("changes_match", o.changes_match)
        .Add("goals_met", met)
        .Print();
  }
  return all_met ? 0 : 1;
}

}  // namespace
}  // namespace freshfs

int main(int argc, char** argv) { return freshfs::Main(argc, argv); }
