// The freshness contract (docs/freshness.md) on real mounts: a change made at the
// source becomes visible through the mount within a bound, in poll mode
// (--events none, 1 s poll) and in inotify mode (1 h poll, so only inotify can
// explain it); between changes cached reads, stats and opens never reach the
// daemon; the mount's own writes are not remote changes; revalidation on
// open; unmount with a queue full of invalidations; failed syncs and the
// staleness gauge. Each check polls the observable through the mount until a
// generous deadline and then asserts on how long it took.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <functional>
#include <iterator>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// ---------------------------------------------------------------- helpers

// A metric from scrape text, summed over the samples whose labels include
// `want`; -1 when none does.
double Value(const std::string& scrape, const std::string& name,
             const std::map<std::string, std::string>& want = {}) {
  return MetricSum(scrape, name, want).value_or(-1);
}

bool Contains(const std::optional<std::vector<std::string>>& names, const std::string& name) {
  return names && std::find(names->begin(), names->end(), name) != names->end();
}

// Overwrites `path` in place (no truncation, same size) with `data`.
int OverwriteInPlace(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = pwrite(fd, data.data(), data.size(), 0);
  int err = n == static_cast<ssize_t>(data.size()) ? 0 : (n < 0 ? errno : EIO);
  if (close(fd) != 0 && err == 0) err = errno;
  return err;
}

// Keeps a same-size change from landing in the same coarse timestamp tick as
// the previous write (mtime is what a stat-based diff compares).
void LetTimestampsMove() { std::this_thread::sleep_for(20ms); }

// ---------------------------------------------------------------- modes

enum class Mode { kPoll, kInotify };

std::string ModeName(const ::testing::TestParamInfo<Mode>& info) {
  return info.param == Mode::kPoll ? "Poll" : "Inotify";
}

class FreshnessTest : public ::testing::TestWithParam<Mode> {
 protected:
  bool poll() const { return GetParam() == Mode::kPoll; }

  // Change-source options: a 1 s poll and no events, or inotify with a poll
  // so long that only inotify can explain a timely change.
  std::vector<std::string> ModeArgs() const {
    if (poll()) return {"--events", "none", "--poll-interval", "1s"};
    return {"--events", "inotify", "--poll-interval", "1h"};
  }
  // Poll interval + 2 s, or 1.5 s for inotify.
  Ms Bound() const { return poll() ? Ms(3000) : Ms(1500); }
  // How long we keep looking before declaring "never".
  static constexpr Ms kDeadline = 10s;

  ::testing::AssertionResult Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = ModeArgs();
    args.insert(args.end(), {"--metrics-address", "127.0.0.1:0"});
    args.insert(args.end(), extra.begin(), extra.end());
    auto started = m_.Start(args);
    if (!started) return started;
    auto port = m_.MetricsPort();
    if (!port) return ::testing::AssertionFailure() << "no metrics port in the log\n" << m_.Log();
    port_ = *port;
    return ::testing::AssertionSuccess();
  }

  // The scrape text; "" (every Value -1) when the scrape fails.
  std::string MustScrape() {
    auto s = ScrapeMetrics(port_);
    EXPECT_TRUE(s) << "scrape of 127.0.0.1:" << port_ << " failed";
    return s ? *s : "";
  }

  // Waits for `pred` (through the mount) and checks the time against Bound().
  void ExpectVisible(const std::string& what, const std::function<bool()>& pred,
                     std::optional<Ms> bound = std::nullopt, Ms every = 10ms) {
    const Ms limit = bound.value_or(Bound());
    auto took = WaitFor(pred, std::max(kDeadline, limit * 2), every);
    ASSERT_TRUE(took) << what << ": not visible through the mount after "
                      << std::max(kDeadline, limit * 2).count() << " ms (bound " << limit.count()
                      << " ms)\n--- daemon log ---\n"
                      << m_.Log();
    EXPECT_LE(took->count(), limit.count()) << what << ": visible only after " << took->count()
                                            << " ms, bound " << limit.count() << " ms";
    std::printf("[   INFO   ] %s: visible after %lld ms\n", what.c_str(),
                static_cast<long long>(took->count()));
  }

  Mount m_;
  int port_ = 0;
};

// 1. Same-size in-place change of a file whose pages the kernel caches.
TEST_P(FreshnessTest, InPlaceSameSizeChangeIsVisible) {
  const std::string v1 = Pattern(64 * 1024, 1), v2 = Pattern(64 * 1024, 2);
  ASSERT_EQ(WriteFile(m_.Src("f"), v1), 0);
  ASSERT_TRUE(Start());
  ASSERT_EQ(ReadFile(m_.Mnt("f")), v1);
  ASSERT_EQ(ReadFile(m_.Mnt("f")), v1);  // now served from the page cache

  LetTimestampsMove();
  ASSERT_EQ(OverwriteInPlace(m_.Src("f"), v2), 0);
  ExpectVisible("in-place change", [&] { return ReadFile(m_.Mnt("f")) == v2; });
  auto st = Stat(m_.Mnt("f"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_size, static_cast<off_t>(v2.size()));
}

// 2. A cached negative lookup and a cached listing, then the name appears.
TEST_P(FreshnessTest, CreatedNameReplacesNegativeEntry) {
  ASSERT_EQ(WriteFile(m_.Src("existing"), "x"), 0);
  ASSERT_TRUE(Start());
  EXPECT_TRUE(FailsWith(Stat(m_.Mnt("late")) ? 0 : -1, ENOENT));
  EXPECT_TRUE(FailsWith(Stat(m_.Mnt("late")) ? 0 : -1, ENOENT));  // cached negative
  auto before = ListDir(m_.mnt());
  ASSERT_TRUE(before);
  EXPECT_FALSE(Contains(before, "late"));

  ASSERT_EQ(WriteFile(m_.Src("late"), "late data"), 0);
  ExpectVisible("stat of created name", [&] { return Stat(m_.Mnt("late")).has_value(); });
  ExpectVisible("created name in listing", [&] { return Contains(ListDir(m_.mnt()), "late"); });
  EXPECT_EQ(ReadFile(m_.Mnt("late")), "late data");
}

// 3a. Deletion of a file the kernel knows (dentry, attributes, pages).
TEST_P(FreshnessTest, DeletionIsVisible) {
  ASSERT_EQ(WriteFile(m_.Src("victim"), "soon gone"), 0);
  ASSERT_EQ(WriteFile(m_.Src("stays"), "stays"), 0);
  ASSERT_TRUE(Start());
  ASSERT_EQ(ReadFile(m_.Mnt("victim")), "soon gone");
  ASSERT_TRUE(Stat(m_.Mnt("victim")));
  ASSERT_TRUE(Contains(ListDir(m_.mnt()), "victim"));

  ASSERT_EQ(unlink(m_.Src("victim").c_str()), 0);
  ExpectVisible("deletion (stat)", [&] { return !Stat(m_.Mnt("victim")) && errno == ENOENT; });
  ExpectVisible("deletion (listing)", [&] {
    auto names = ListDir(m_.mnt());
    return names && !Contains(names, "victim") && Contains(names, "stays");
  });
  EXPECT_TRUE(FailsWith(open(m_.Mnt("victim").c_str(), O_RDONLY), ENOENT));
  EXPECT_EQ(ReadFile(m_.Mnt("stays")), "stays");
}

// 3b. Rename a -> b at the source.
TEST_P(FreshnessTest, RenameIsVisible) {
  ASSERT_EQ(WriteFile(m_.Src("a"), "content of a"), 0);
  ASSERT_TRUE(Start());
  ASSERT_EQ(ReadFile(m_.Mnt("a")), "content of a");
  EXPECT_FALSE(Stat(m_.Mnt("b")));  // cached negative for b
  ASSERT_TRUE(ListDir(m_.mnt()));

  ASSERT_EQ(rename(m_.Src("a").c_str(), m_.Src("b").c_str()), 0);
  ExpectVisible("rename a -> b", [&] {
    if (Stat(m_.Mnt("a")) || errno != ENOENT) return false;
    if (ReadFile(m_.Mnt("b")) != "content of a") return false;
    auto names = ListDir(m_.mnt());
    return Contains(names, "b") && !Contains(names, "a");
  });
}

// 3c. A directory (listed, child known) replaced by a file.
TEST_P(FreshnessTest, DirectoryReplacedByFile) {
  ASSERT_EQ(mkdir(m_.Src("x").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m_.Src("x/c"), "child"), 0);
  ASSERT_TRUE(Start());
  ASSERT_TRUE(Contains(ListDir(m_.Mnt("x")), "c"));
  ASSERT_EQ(ReadFile(m_.Mnt("x/c")), "child");

  ASSERT_EQ(unlink(m_.Src("x/c").c_str()), 0);
  ASSERT_EQ(rmdir(m_.Src("x").c_str()), 0);
  ASSERT_EQ(WriteFile(m_.Src("x"), "now a file"), 0);
  ExpectVisible("directory replaced by file", [&] {
    auto st = Lstat(m_.Mnt("x"));
    return st && S_ISREG(st->st_mode) && ReadFile(m_.Mnt("x")) == "now a file";
  });
  EXPECT_FALSE(Stat(m_.Mnt("x/c")));
  EXPECT_TRUE(errno == ENOTDIR || errno == ENOENT) << ErrnoName(errno);
}

// 3d. A file (read, pages cached) replaced by a directory.
TEST_P(FreshnessTest, FileReplacedByDirectory) {
  ASSERT_EQ(WriteFile(m_.Src("y"), "a file"), 0);
  ASSERT_TRUE(Start());
  ASSERT_EQ(ReadFile(m_.Mnt("y")), "a file");

  ASSERT_EQ(unlink(m_.Src("y").c_str()), 0);
  ASSERT_EQ(mkdir(m_.Src("y").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m_.Src("y/inner"), "inner"), 0);
  ExpectVisible("file replaced by directory", [&] {
    auto st = Lstat(m_.Mnt("y"));
    return st && S_ISDIR(st->st_mode) && Contains(ListDir(m_.Mnt("y")), "inner") &&
           ReadFile(m_.Mnt("y/inner")) == "inner";
  });
}

// 3e. chmod at the source; the mode is visible via stat through the mount.
TEST_P(FreshnessTest, ChmodIsVisible) {
  ASSERT_EQ(WriteFile(m_.Src("p"), "perm"), 0);
  ASSERT_EQ(chmod(m_.Src("p").c_str(), 0644), 0);
  ASSERT_TRUE(Start());
  auto st = Stat(m_.Mnt("p"));
  ASSERT_TRUE(st);
  ASSERT_EQ(st->st_mode & 07777, 0644u);

  ASSERT_EQ(chmod(m_.Src("p").c_str(), 0600), 0);
  ExpectVisible("chmod 0644 -> 0600", [&] {
    auto s = Stat(m_.Mnt("p"));
    return s && (s->st_mode & 07777) == 0600;
  });
}

// 3f. 10,000 entries listed once; 500 deleted and 500 created at once.
TEST_P(FreshnessTest, MassChangeInLargeDirectoryConverges) {
  constexpr int kEntries = 10000;
  const std::string big = m_.Src("big");
  ASSERT_EQ(mkdir(big.c_str(), 0755), 0);
  char name[32];
  for (int i = 0; i < kEntries; ++i) {
    std::snprintf(name, sizeof name, "/f%05d", i);
    int fd = open((big + name).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  ASSERT_TRUE(Start());
  auto listed = ListDir(m_.Mnt("big"));
  ASSERT_TRUE(listed);
  ASSERT_EQ(SortedNames(listed).size(), static_cast<size_t>(kEntries));

  std::vector<std::string> deleted, created;
  for (int i = 0; i < kEntries; i += kEntries / 500) {
    std::snprintf(name, sizeof name, "f%05d", i);
    deleted.push_back(name);
    ASSERT_EQ(unlink((big + "/" + name).c_str()), 0);
  }
  for (int i = 0; i < 500; ++i) {
    std::snprintf(name, sizeof name, "n%05d", i);
    created.push_back(name);
    ASSERT_EQ(WriteFile(big + "/" + name, ""), 0);
  }
  ASSERT_EQ(deleted.size(), 500u);
  const std::vector<std::string> want = SortedNames(ListDir(big));
  ASSERT_EQ(want.size(), static_cast<size_t>(kEntries));

  // Converged: the listing is exactly the source's, no deleted name is still
  // reachable (readdirplus gave the kernel dentries for all of them), and
  // every new name is. All within one bound, measured from the change.
  std::vector<std::string> last;
  int stale = 0, absent = 0;
  ExpectVisible(
      "1,000 changes in a 10,000-entry directory",
      [&] {
        last = SortedNames(ListDir(m_.Mnt("big")));
        if (last != want) return false;
        stale = absent = 0;
        for (const auto& n : deleted)
          if (Stat(m_.Mnt("big/" + n))) ++stale;
        for (const auto& n : created)
          if (!Stat(m_.Mnt("big/" + n))) ++absent;
        return stale == 0 && absent == 0;
      },
      poll() ? Ms(6000) : Ms(5000), 50ms);
  if (last != want) {
    std::vector<std::string> extra, missing;
    std::set_difference(last.begin(), last.end(), want.begin(), want.end(),
                        std::back_inserter(extra));
    std::set_difference(want.begin(), want.end(), last.begin(), last.end(),
                        std::back_inserter(missing));
    ADD_FAILURE() << "listing differs: " << extra.size() << " stale names (first "
                  << (extra.empty() ? "-" : extra.front()) << "), " << missing.size()
                  << " missing (first " << (missing.empty() ? "-" : missing.front()) << ")";
  }
  EXPECT_EQ(stale, 0) << "deleted names still stat-able through the mount";
  EXPECT_EQ(absent, 0) << "created names not stat-able through the mount";
}

// 4. Between changes, cached reads and stats never reach the daemon.
TEST_P(FreshnessTest, CachedReadsAndStatsDoNotReachDaemon) {
  const std::string data = Pattern(256 * 1024, 7);
  ASSERT_EQ(WriteFile(m_.Src("hot"), data), 0);
  ASSERT_TRUE(Start());
  ASSERT_EQ(ReadFile(m_.Mnt("hot")), data);
  ASSERT_TRUE(Stat(m_.Mnt("hot")));

  const std::string before = MustScrape();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(ReadFile(m_.Mnt("hot")), data);
    ASSERT_TRUE(Stat(m_.Mnt("hot")));
  }
  const std::string after = MustScrape();
  for (const char* op : {"read", "lookup", "getattr"}) {
    double b = Value(before, "freshfs_fuse_requests_total", {{"op", op}});
    double a = Value(after, "freshfs_fuse_requests_total", {{"op", op}});
    EXPECT_GE(b, 0) << "no series for op=" << op;
    EXPECT_EQ(a, b) << "op=" << op << " reached the daemon " << (a - b)
                    << " times during 100 cached reads+stats";
  }
  std::printf("[   INFO   ] open requests during 100 cached reads: %g\n",
              Value(after, "freshfs_fuse_requests_total", {{"op", "open"}}) -
                  Value(before, "freshfs_fuse_requests_total", {{"op", "open"}}));
}

// 4b. On a read-only mount, open does not reach the daemon after the first.
TEST_P(FreshnessTest, ReadOnlyOpenIsZeroRoundTrip) {
  const std::string data = Pattern(64 * 1024, 8);
  ASSERT_EQ(WriteFile(m_.Src("ro"), data), 0);
  ASSERT_EQ(WriteFile(m_.Src("ro2"), "second"), 0);
  ASSERT_TRUE(Start({"--read-only"}));
  ASSERT_EQ(ReadFile(m_.Mnt("ro")), data);
  ASSERT_EQ(ReadFile(m_.Mnt("ro2")), "second");
  ASSERT_TRUE(Stat(m_.Mnt("ro")));

  const std::string before = MustScrape();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(ReadFile(m_.Mnt("ro")), data);
    ASSERT_EQ(ReadFile(m_.Mnt("ro2")), "second");
    ASSERT_TRUE(Stat(m_.Mnt("ro")));
  }
  const std::string after = MustScrape();
  for (const char* op : {"open", "read", "lookup", "getattr"}) {
    double b = Value(before, "freshfs_fuse_requests_total", {{"op", op}});
    double a = Value(after, "freshfs_fuse_requests_total", {{"op", op}});
    EXPECT_GE(b, 0) << "no series for op=" << op;
    EXPECT_EQ(a, b) << "op=" << op << " reached the daemon " << (a - b)
                    << " times on a --read-only mount";
  }
}

// 5. An unchanged file keeps its page cache across opens, also across syncs.
TEST_P(FreshnessTest, UnchangedFileKeepsPageCacheAcrossOpens) {
  const std::string data = Pattern(128 * 1024, 9);
  ASSERT_EQ(WriteFile(m_.Src("keep"), data), 0);
  ASSERT_EQ(WriteFile(m_.Src("other"), "other"), 0);
  ASSERT_TRUE(Start());
  ASSERT_EQ(ReadFile(m_.Mnt("keep")), data);
  // A change elsewhere, and (poll mode) a full sync in between, must not
  // cost this file its pages.
  ASSERT_EQ(WriteFile(m_.Src("other"), "changed"), 0);
  std::this_thread::sleep_for(poll() ? 1500ms : 500ms);

  const std::string before = MustScrape();
  for (int i = 0; i < 20; ++i) {
    int fd = open(m_.Mnt("keep").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << ErrnoName(errno);
    std::string got(data.size() + 1, '\0');
    size_t done = 0;
    for (;;) {
      ssize_t n = read(fd, got.data() + done, got.size() - done);
      ASSERT_GE(n, 0) << ErrnoName(errno);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    close(fd);
    got.resize(done);
    ASSERT_EQ(got, data);
  }
  const std::string after = MustScrape();
  double b = Value(before, "freshfs_fuse_requests_total", {{"op", "read"}});
  double a = Value(after, "freshfs_fuse_requests_total", {{"op", "read"}});
  EXPECT_EQ(a, b) << "20 open+read+close cycles of an unchanged file sent " << (a - b)
                  << " read requests";
}

// 6. The mount's own writes are not remote changes.
TEST_P(FreshnessTest, OwnWritesAreNotRemoteChanges) {
  ASSERT_EQ(WriteFile(m_.Src("existing"), Pattern(8192, 10)), 0);
  ASSERT_TRUE(Start());
  ASSERT_EQ(ReadFile(m_.Mnt("existing")), Pattern(8192, 10));

  const std::string mine = Pattern(100 * 1000, 11), overwrite = Pattern(8192, 12);
  ASSERT_EQ(WriteFile(m_.Mnt("mine"), mine), 0);
  ASSERT_EQ(OverwriteInPlace(m_.Mnt("existing"), overwrite), 0);
  ASSERT_EQ(mkdir(m_.Mnt("mydir").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m_.Mnt("mydir/inner"), "inner"), 0);
  ASSERT_EQ(rename(m_.Mnt("mydir/inner").c_str(), m_.Mnt("mydir/renamed").c_str()), 0);
  EXPECT_EQ(ReadFile(m_.Src("mine")), mine) << "write did not reach the source";

  std::this_thread::sleep_for(poll() ? 2500ms : 2000ms);
  const std::string s = MustScrape();
  auto changes = MetricSum(s, "freshfs_remote_changes_total");
  ASSERT_TRUE(changes) << "no freshfs_remote_changes_total series";
  EXPECT_EQ(*changes, 0) << "own writes counted as remote changes:\n"
                         <<
      [&] {
        std::string out;
        for (const char* k :
             {"created", "modified", "attributes", "deleted", "type_changed", "renamed"})
          out += std::string(k) + "=" +
                 std::to_string(Value(s, "freshfs_remote_changes_total", {{"kind", k}})) + " ";
        return out;
      }();
  EXPECT_EQ(ReadFile(m_.Mnt("mine")), mine);
  EXPECT_EQ(ReadFile(m_.Mnt("existing")), overwrite);
  EXPECT_EQ(ReadFile(m_.Mnt("mydir/renamed")), "inner");
}

// 8. Unmount while thousands of invalidations are queued: clean exit.
TEST_P(FreshnessTest, UnmountWithQueuedInvalidations) {
  ASSERT_EQ(mkdir(m_.Src("d").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m_.Src("d/seed"), "seed"), 0);
  ASSERT_TRUE(Start());
  ASSERT_TRUE(ListDir(m_.Mnt("d")));
  ASSERT_TRUE(Stat(m_.Mnt("d/seed")));

  char name[32];
  for (int i = 0; i < 5000; ++i) {
    std::snprintf(name, sizeof name, "/x%05d", i);
    int fd = open((m_.Src("d") + name).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  const auto start = Clock::now();
  auto code = m_.UnmountAndWait(10s);
  const auto took = std::chrono::duration_cast<Ms>(Clock::now() - start);
  ASSERT_TRUE(code.has_value()) << "daemon still running 10 s after fusermount3 -u\n" << m_.Log();
  EXPECT_EQ(*code, 0) << m_.Log();
  EXPECT_FALSE(IsFuseMountpoint(m_.mnt()));
  std::printf("[   INFO   ] daemon exited %lld ms after fusermount3 -u\n",
              static_cast<long long>(took.count()));
}

INSTANTIATE_TEST_SUITE_P(Modes, FreshnessTest, ::testing::Values(Mode::kPoll, Mode::kInotify),
                         ModeName);

// ---------------------------------------------------------------- single-mode tests

class FreshnessSingleTest : public ::testing::Test {
 protected:
  ::testing::AssertionResult Start(std::vector<std::string> args) {
    args.insert(args.end(), {"--metrics-address", "127.0.0.1:0"});
    auto started = m_.Start(args);
    if (!started) return started;
    auto port = m_.MetricsPort();
    if (!port) return ::testing::AssertionFailure() << "no metrics port in the log\n" << m_.Log();
    port_ = *port;
    return ::testing::AssertionSuccess();
  }
  std::optional<double> Metric(const std::string& name) {
    auto s = ScrapeMetrics(port_);
    if (!s) return std::nullopt;
    return MetricSum(*s, name);
  }

  Mount m_;
  int port_ = 0;
};

// Polls between full syncs list only the directories the kernel holds: with
// 40 directories in the source and the kernel holding the root and one of
// them, each sync lists two; a change there still shows within the bound,
// and a directory looked into for the first time shows what it holds now.
TEST_F(FreshnessSingleTest, CachedSyncsListOnlyTheDirectoriesTheKernelHolds) {
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(mkdir(m_.Src("d" + std::to_string(i)).c_str(), 0755), 0);
    ASSERT_EQ(WriteFile(m_.Src("d" + std::to_string(i) + "/f"), "one"), 0);
  }
  ASSERT_TRUE(
      Start({"--events", "none", "--poll-interval", "200ms", "--full-sync-interval", "1h"}));
  ASSERT_EQ(ReadFile(m_.Mnt("d0/f")), "one");
  auto value = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    auto text = ScrapeMetrics(port_);
    return text ? MetricSum(*text, name, labels).value_or(-1) : -1;
  };
  auto cached = [&] { return value("freshfs_syncs_total", {{"kind", "cached"}}); };
  auto lists = [&] { return value("freshfs_store_requests_total", {{"op", "list"}}); };
  const double cached0 = cached(), lists0 = lists();
  const double full0 = value("freshfs_syncs_total", {{"kind", "full"}});
  ASSERT_TRUE(WaitFor([&] { return cached() >= cached0 + 5; }, 10s, 20ms)) << m_.Log();
  const double syncs = cached() - cached0, listed = lists() - lists0;
  EXPECT_LE(listed, 2 * syncs + 2) << syncs << " syncs listed " << listed << " directories";
  EXPECT_GE(listed, 2 * syncs - 2) << syncs << " syncs listed " << listed << " directories";
  EXPECT_EQ(value("freshfs_syncs_total", {{"kind", "full"}}), full0);

  LetTimestampsMove();
  ASSERT_EQ(WriteFile(m_.Src("d0/f"), "two!"), 0);
  auto took = WaitFor([&] { return ReadFile(m_.Mnt("d0/f")) == "two!"; }, 10s, 10ms);
  ASSERT_TRUE(took) << "d0/f never changed through the mount\n" << m_.Log();
  EXPECT_LE(took->count(), 2200) << "a 200 ms poll took " << took->count() << " ms";
  ASSERT_EQ(WriteFile(m_.Src("d39/f"), "changed while nobody looked"), 0);
  EXPECT_EQ(ReadFile(m_.Mnt("d39/f")), "changed while nobody looked");
}

// 7. --revalidate-on-open: the very next open sees a change, without waiting.
TEST_F(FreshnessSingleTest, RevalidateOnOpenSeesChangeImmediately) {
  ASSERT_EQ(WriteFile(m_.Src("r"), Pattern(16384, 20)), 0);
  ASSERT_TRUE(Start({"--revalidate-on-open", "--poll-interval", "1h", "--events", "none"}));
  ASSERT_EQ(ReadFile(m_.Mnt("r")), Pattern(16384, 20));
  ASSERT_EQ(ReadFile(m_.Mnt("r")), Pattern(16384, 20));

  for (unsigned round = 21; round < 24; ++round) {
    LetTimestampsMove();
    const std::string next = Pattern(16384, round);
    ASSERT_EQ(OverwriteInPlace(m_.Src("r"), next), 0);
    EXPECT_EQ(ReadFile(m_.Mnt("r")), next) << "same-size change, round " << round;
  }
  LetTimestampsMove();
  const std::string longer = Pattern(40000, 30);
  ASSERT_EQ(WriteFile(m_.Src("r"), longer), 0);
  EXPECT_EQ(ReadFile(m_.Mnt("r")), longer) << "size-changing rewrite";
  auto st = Stat(m_.Mnt("r"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_size, 40000);
}

// --push-small-files: after an in-place change of a small file that was read,
// the new content is pushed into the page cache, so reading it again costs no
// read request; without the option the first read after the change does.
TEST_F(FreshnessSingleTest, PushSmallFilesServesChangedContentFromThePageCache) {
  for (bool push : {false, true}) {
    SCOPED_TRACE(push ? "with --push-small-files" : "without");
    Mount mount;
    ASSERT_EQ(WriteFile(mount.Src("p"), Pattern(4096, 40)), 0);
    std::vector<std::string> args = {"--events", "inotify",           "--poll-interval",
                                     "1h",       "--metrics-address", "127.0.0.1:0"};
    if (push) args.push_back("--push-small-files");
    ASSERT_TRUE(mount.Start(args));
    auto port = mount.MetricsPort();
    ASSERT_TRUE(port);
    auto reads = [&] {
      auto s = ScrapeMetrics(*port);
      return s ? Value(*s, "freshfs_fuse_requests_total", {{"op", "read"}}) : -1;
    };
    auto stores = [&] {
      auto s = ScrapeMetrics(*port);
      return s ? Value(*s, "freshfs_invalidations_total", {{"type", "store"}, {"result", "ok"}})
               : -1;
    };
    ASSERT_EQ(ReadFile(mount.Mnt("p")), Pattern(4096, 40));
    LetTimestampsMove();
    const std::string next = Pattern(4096, 41);
    ASSERT_EQ(OverwriteInPlace(mount.Src("p"), next), 0);
    if (push) {
      ASSERT_TRUE(WaitFor([&] { return stores() >= 1; }, 5s)) << mount.Log();
    } else {
      std::this_thread::sleep_for(500ms);  // the change is seen and invalidated by now
    }
    double before = reads();
    EXPECT_EQ(ReadFile(mount.Mnt("p")), next);
    // A request is counted once its handler is done, which may be just after
    // the reply reached the reader.
    if (push) {
      std::this_thread::sleep_for(200ms);
      EXPECT_EQ(reads(), before) << "the pushed content should have been served";
    } else {
      EXPECT_TRUE(WaitFor([&] { return reads() > before; }, 2s))
          << "without a push the changed file is read again";
    }
  }
}

// 9. Failed syncs: errors are counted, staleness grows, then recovers.
TEST_F(FreshnessSingleTest, FailedSyncsGrowStalenessUntilRecovery) {
  ASSERT_EQ(WriteFile(m_.Src("f"), "f"), 0);
  ASSERT_TRUE(Start({"--events", "none", "--poll-interval", "500ms"}));
  ASSERT_EQ(ReadFile(m_.Mnt("f")), "f");
  ASSERT_TRUE(WaitFor([&] { return Metric("freshfs_staleness_seconds").value_or(99) < 2; }, 5s))
      << "staleness not below 2 s on a healthy mount: "
      << Metric("freshfs_staleness_seconds").value_or(-1);
  const double errors_before = Metric("freshfs_sync_errors_total").value_or(-1);
  ASSERT_GE(errors_before, 0) << "no freshfs_sync_errors_total series";

  const std::string away = m_.dir() + "/source-away";
  ASSERT_EQ(rename(m_.source().c_str(), away.c_str()), 0);
  struct RenameBack {
    std::string from, to;
    ~RenameBack() {
      if (!from.empty()) rename(from.c_str(), to.c_str());
    }
  } guard{away, m_.source()};

  auto took = WaitFor(
      [&] { return Metric("freshfs_sync_errors_total").value_or(-1) > errors_before; }, 5s, 50ms);
  EXPECT_TRUE(took) << "freshfs_sync_errors_total stayed at " << errors_before
                    << " for 5 s after the source directory was renamed away (still "
                    << Metric("freshfs_sync_errors_total").value_or(-1) << "); staleness now "
                    << Metric("freshfs_staleness_seconds").value_or(-1) << "\n--- daemon log ---\n"
                    << m_.Log();
  auto s1 = Metric("freshfs_staleness_seconds");
  std::this_thread::sleep_for(1s);
  auto s2 = Metric("freshfs_staleness_seconds");
  ASSERT_TRUE(s1 && s2);
  EXPECT_GT(*s2, *s1 + 0.5) << "staleness did not keep growing while syncs fail: " << *s1
                            << " then " << *s2;

  ASSERT_EQ(rename(away.c_str(), m_.source().c_str()), 0);
  guard.from.clear();
  auto recovered =
      WaitFor([&] { return Metric("freshfs_staleness_seconds").value_or(99) < 2; }, 5s, 50ms);
  EXPECT_TRUE(recovered) << "staleness did not drop below 2 s after the source came back: "
                         << Metric("freshfs_staleness_seconds").value_or(-1) << "\n"
                         << m_.Log();
  EXPECT_EQ(ReadFile(m_.Mnt("f")), "f");
}

}  // namespace
}  // namespace freshfs::testing
