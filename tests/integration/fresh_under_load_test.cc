// Freshness under concurrency (issue 21): readers busy through the mount
// while another writer changes the same files at the source as fast as it
// can, for FRESHFS_LOAD_SECONDS (default 20) seconds.
//
//   ReplacedFiles*    32 files of 64 KiB in a directory; the writer writes a
//                     temporary file and renames it over the target, so the
//                     source only ever holds whole versions. 8 readers
//                     open+read+close whole files and check each read is ONE
//                     version: zero torn reads, zero errors.
//   ReplacedObjects*  the same on S3 (s3rver): 16 objects, the writer PUTs new
//                     versions (with --events-address: and POSTs an event
//                     after each PUT). s3rver runs with atomic writes
//                     (S3Server::set_atomic_writes): stock s3rver itself
//                     serves torn and empty bodies under concurrent PUTs.
//   InPlaceRewrites*  the writer pwrite()s whole new contents into the files in
//                     place: readers may see mixed versions (the source shows
//                     them too), but no errors.
//   Names*            4 readers list the directory, stat and open names
//                     (ENOENT tolerated) while the writer creates, deletes and
//                     renames among 200 names.
//
// After the writer stops, within the bound (inotify and S3 events 2 s,
// directory polling 1 s poll + 3 s, S3 polling 1 s poll + 4 s), the mount must
// show exactly the source: every file's content; for Names also the listing,
// and every name absent at the source is ENOENT on stat and open, the names
// the readers saw included. Checked by polling through the mount until twice
// the bound (+1 s), so a file stale for good is reported with its versions.
//
// Content: every 4 KiB page starts with "<name> version <N> page <P>\n",
// the rest of the page is a pattern derived from (name, N, P), so a read can
// be told apart as one whole version, a mix of versions (which pages from
// which), or a page that no version ever held.
//
// Each test prints one line "[ LOAD     ] {json}" with its counts (reads,
// torn reads, errors, writes, time to converge, ...); bench/fresh-under-load
// runs these tests repeatedly and tabulates those lines. A watchdog kills the
// daemon (the kernel then fails every call blocked in the mount) when a test
// overruns, so a hung reader fails the test instead of hanging it.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"
#include "support/s3_mount.h"
#include "support/s3rver.h"

namespace freshfs::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

constexpr size_t kPage = 4096;
constexpr size_t kFileSize = 64 * 1024;
constexpr int kDirFiles = 32;
constexpr int kS3Objects = 16;
constexpr int kReaders = 8;
constexpr int kNameReaders = 4;
constexpr int kNamePool = 200;

// Seconds each workload runs: FRESHFS_LOAD_SECONDS, default 20.
int LoadSeconds() { return SecondsFromEnv("FRESHFS_LOAD_SECONDS", 20); }

long long ToMs(Clock::duration d) { return std::chrono::duration_cast<Ms>(d).count(); }

// ---------------------------------------------------------------- contents

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Fnv(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string PageHeader(const std::string& name, uint64_t version, size_t page) {
  return name + " version " + std::to_string(version) + " page " + std::to_string(page) + "\n";
}

// Page `page` of version `version` of `name`, `len` (<= kPage) bytes.
void FillPage(char* out, size_t len, const std::string& name, uint64_t version, size_t page) {
  const std::string header = PageHeader(name, version, page);
  size_t at = std::min(header.size(), len);
  std::memcpy(out, header.data(), at);
  uint64_t state = Fnv(name) ^ (version * 0xd6e8feb86659fd93ull) ^ (page << 48);
  while (at < len) {
    uint64_t r = SplitMix(state);
    size_t n = std::min(sizeof r, len - at);
    std::memcpy(out + at, &r, n);
    at += n;
  }
}

// Version `version` of file `name`: `size` bytes, page by page.
std::string Content(const std::string& name, uint64_t version, size_t size = kFileSize) {
  std::string out(size, '\0');
  for (size_t p = 0; p * kPage < size; ++p)
    FillPage(out.data() + p * kPage, std::min(kPage, size - p * kPage), name, version, p);
  return out;
}

// Which version of `name` page `page` of `data` is, if any version's page is
// exactly these bytes.
std::optional<uint64_t> PageVersion(const std::string& name, const std::string& data, size_t page) {
  const size_t off = page * kPage;
  const size_t len = std::min(kPage, data.size() - off);
  const std::string prefix = name + " version ";
  if (len < prefix.size() || data.compare(off, prefix.size(), prefix) != 0) return std::nullopt;
  size_t at = off + prefix.size();
  uint64_t version = 0;
  size_t digits = 0;
  while (at < off + len && digits < 19 && data[at] >= '0' && data[at] <= '9') {
    version = version * 10 + static_cast<uint64_t>(data[at++] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  char expected[kPage];
  FillPage(expected, len, name, version, page);
  if (std::memcmp(expected, data.data() + off, len) != 0) return std::nullopt;
  return version;
}

// What one read returned.
enum class Torn { kNone, kMixed, kSize, kForeign };

struct Verdict {
  bool whole = false;               // exactly one version, every page, right size
  std::optional<uint64_t> version;  // that version (or the first page's, if any)
  // Why not whole: pages of two or more versions (kMixed), a size no version
  // has (kSize: short, empty or long), a page no version ever held (kForeign).
  Torn kind = Torn::kNone;
  std::string detail;  // for a torn read: which pages came from where
};

Verdict Classify(const std::string& name, const std::string& data, size_t size = kFileSize) {
  Verdict v;
  std::vector<std::optional<uint64_t>> pages;
  for (size_t p = 0; p * kPage < data.size(); ++p) pages.push_back(PageVersion(name, data, p));
  if (!pages.empty()) v.version = pages[0];
  bool one = !pages.empty() && pages[0].has_value();
  for (const auto& p : pages) one = one && p == pages[0];
  v.whole = one && data.size() == size;
  if (v.whole) return v;
  const bool foreign =
      std::any_of(pages.begin(), pages.end(), [](const auto& p) { return !p.has_value(); });
  v.kind = data.size() != size ? Torn::kSize : foreign ? Torn::kForeign : Torn::kMixed;
  std::ostringstream d;
  if (data.size() != size) d << data.size() << " bytes (every version has " << size << "); ";
  // Runs of pages with the same version: "pages 0-14 v373, page 15 v501".
  for (size_t i = 0; i < pages.size();) {
    size_t j = i;
    while (j + 1 < pages.size() && pages[j + 1] == pages[i]) ++j;
    if (i > 0) d << ", ";
    d << (i == j ? "page " + std::to_string(i)
                 : "pages " + std::to_string(i) + "-" + std::to_string(j))
      << (pages[i] ? " v" + std::to_string(*pages[i]) : " matching no version");
    i = j + 1;
  }
  v.detail = d.str();
  return v;
}

std::string Describe(const std::string& name, const std::optional<std::string>& data) {
  if (!data) return "unreadable";
  Verdict v = Classify(name, *data);
  if (v.whole) return "v" + std::to_string(*v.version);
  return "torn (" + v.detail + ")";
}

// ---------------------------------------------------------------- plumbing

// Counts events from any thread and keeps the first few descriptions.
class Tally {
 public:
  // `key`: samples with a key already kept are counted, not kept again
  // (a torn page cache shows the same torn read many times).
  void Add(std::string what, const std::string& key = "") {
    std::lock_guard lock(mu_);
    ++count_;
    if (samples_.size() < 12 && (key.empty() || keys_.insert(key).second))
      samples_.push_back(std::move(what));
  }
  long count() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  std::string Samples() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& s : samples_) out += "\n  " + s;
    if (count_ > static_cast<long>(samples_.size()))
      out += "\n  ... " + std::to_string(count_ - static_cast<long>(samples_.size())) +
             " more (repeats of a sample not shown)";
    return out;
  }

 private:
  mutable std::mutex mu_;
  long count_ = 0;
  std::vector<std::string> samples_;
  std::set<std::string> keys_;
};

// Fails the test and kills the daemon (the kernel then aborts the FUSE
// connection, so every call blocked in the mount returns) when the test is
// still running `limit` after it was armed; aborts the process if even that
// does not let the test finish within another minute.
class Watchdog {
 public:
  Watchdog(std::chrono::seconds limit, pid_t daemon)
      : thread_([this, limit, daemon] {
          std::unique_lock lock(mu_);
          if (cv_.wait_for(lock, limit, [&] { return disarmed_; })) return;
          std::fprintf(stderr,
                       "watchdog: test still running %lld s after it started; killing the "
                       "daemon (pid %d) to abort the FUSE connection\n",
                       static_cast<long long>(limit.count()), static_cast<int>(daemon));
          ADD_FAILURE() << "watchdog: test still running " << limit.count()
                        << " s after it started (a hung read?); daemon killed";
          if (daemon > 0) kill(daemon, SIGKILL);
          if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return disarmed_; })) {
            std::fprintf(stderr, "watchdog: still hung a minute after killing the daemon\n");
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      disarmed_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread thread_;
};

// The threads of one workload. Stop() asks them to finish; a thread still
// running 30 s later is hung in the mount: the test fails and the daemon is
// killed to release it; if even that does not, the process aborts.
class Workers {
 public:
  explicit Workers(pid_t daemon) : daemon_(daemon) {}
  ~Workers() { Stop(); }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  const std::atomic<bool>& stopping() const { return stop_; }

  void Spawn(std::function<void()> body) {
    threads_.emplace_back([this, body = std::move(body)] {
      body();
      std::lock_guard lock(mu_);
      ++finished_;
      cv_.notify_all();
    });
  }

  // Returns whether every thread finished in time.
  bool Stop() {
    if (joined_) return ok_;
    stop_ = true;
    const size_t total = threads_.size();
    std::unique_lock lock(mu_);
    ok_ = cv_.wait_for(lock, std::chrono::seconds(30), [&] { return finished_ == total; });
    if (!ok_) {
      ADD_FAILURE() << (total - finished_) << " of " << total
                    << " threads still running 30 s after the stop signal: hung in the mount; "
                       "killing the daemon";
      if (daemon_ > 0) kill(daemon_, SIGKILL);
      if (!cv_.wait_for(lock, std::chrono::seconds(20), [&] { return finished_ == total; })) {
        std::fprintf(stderr, "threads still stuck after killing the daemon; aborting\n");
        std::abort();
      }
    }
    lock.unlock();
    for (auto& t : threads_) t.join();
    joined_ = true;
    return ok_;
  }

 private:
  pid_t daemon_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t finished_ = 0;
  bool joined_ = false;
  bool ok_ = true;
};

// One workload's outcome, printed as one line for bench/fresh-under-load.
struct LoadReport {
  std::string workload;  // replace | inplace | names
  std::string source;    // dir | s3
  std::string changes;   // inotify | poll | events
  double seconds = 0;    // how long the writer ran
  int readers = 0;
  long reads = 0;         // whole-file reads (names: stats and reads that succeeded)
  long listings = 0;      // names: directory listings
  long torn = 0;          // reads that are not one whole version (inplace: allowed)
  long torn_mixed = 0;    //   of those: pages of two or more versions
  long torn_size = 0;     //   a size no version has (short or empty)
  long torn_foreign = 0;  //   a page no version held
  long errors = 0;        // reader errors (names: other than ENOENT)
  long writes = 0;        // changes made at the source
  long write_errors = 0;
  std::optional<long long> converge_ms;  // writer stopped -> mount equals the source
  long long bound_ms = 0;
  long long deadline_ms = 0;
  long stale = 0;   // differences left at the last check (0 when converged)
  long ghosts = 0;  // names: names gone at the source that still stat or open
  std::optional<double> staleness_metric;  // freshfs_staleness_seconds after the check
};

void Print(const LoadReport& r) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = std::string(info->test_suite_name()) + "." + info->name();
  char metric[32] = "null";
  if (r.staleness_metric) std::snprintf(metric, sizeof metric, "%.3f", *r.staleness_metric);
  std::printf(
      "[ LOAD     ] {\"test\":\"%s\",\"workload\":\"%s\",\"source\":\"%s\",\"changes\":\"%s\","
      "\"seconds\":%.1f,\"readers\":%d,\"reads\":%ld,\"listings\":%ld,\"torn\":%ld,"
      "\"torn_mixed\":%ld,\"torn_size\":%ld,\"torn_foreign\":%ld,\"errors\":%ld,\"writes\":%ld,"
      "\"write_errors\":%ld,\"converge_ms\":%s,"
      "\"bound_ms\":%lld,\"deadline_ms\":%lld,\"stale\":%ld,\"ghosts\":%ld,"
      "\"staleness_metric_s\":%s}\n",
      test.c_str(), r.workload.c_str(), r.source.c_str(), r.changes.c_str(), r.seconds, r.readers,
      r.reads, r.listings, r.torn, r.torn_mixed, r.torn_size, r.torn_foreign, r.errors, r.writes,
      r.write_errors, r.converge_ms ? std::to_string(*r.converge_ms).c_str() : "null", r.bound_ms,
      r.deadline_ms, r.stale, r.ghosts, metric);
  std::fflush(stdout);
  ::testing::Test::RecordProperty("reads", std::to_string(r.reads));
  ::testing::Test::RecordProperty("torn", std::to_string(r.torn));
  ::testing::Test::RecordProperty("errors", std::to_string(r.errors));
  ::testing::Test::RecordProperty("writes", std::to_string(r.writes));
  ::testing::Test::RecordProperty("converge_ms",
                                  r.converge_ms ? std::to_string(*r.converge_ms) : "never");
  ::testing::Test::RecordProperty("stale", std::to_string(r.stale));
}

std::optional<double> Staleness(const Mount& m) {
  auto port = m.MetricsPort();
  if (!port) return std::nullopt;
  auto text = ScrapeMetrics(*port);
  if (!text) return std::nullopt;
  return MetricSum(*text, "freshfs_staleness_seconds");
}

// Polls `differences` (through the mount) until it reports none or the
// deadline (twice the bound + 1 s after the writer stopped) passes. Returns
// the time from `writer_done` to the first clean check.
std::optional<long long> Converge(const std::function<std::vector<std::string>()>& differences,
                                  Clock::time_point writer_done, Ms bound,
                                  std::vector<std::string>& last, long long& deadline_ms) {
  const Ms deadline = bound * 2 + Ms(1000);
  deadline_ms = deadline.count();
  for (;;) {
    last = differences();
    const auto now = Clock::now();
    if (last.empty()) return ToMs(now - writer_done);
    if (now - writer_done >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Ms(20));
  }
}

std::string Join(const std::vector<std::string>& lines, size_t max = 40) {
  std::string out;
  for (size_t i = 0; i < lines.size() && i < max; ++i) out += "\n  " + lines[i];
  if (lines.size() > max) out += "\n  ... " + std::to_string(lines.size() - max) + " more";
  return out;
}

// ---------------------------------------------------------------- whole files

// A source of whole-file versions: names, how to write version N of file i,
// and what the source holds now.
struct FileSource {
  std::vector<std::string> names;
  std::function<std::string(size_t)> mount_path;
  // Writes version `v` of file i; returns "" or what failed.
  std::function<std::string(size_t i, uint64_t v)> write;
  // The source's current bytes of file i (nullopt: unreadable).
  std::function<std::optional<std::string>(size_t i)> current;
};

// Readers re-read whole files through the mount while one writer writes new
// versions at the source for LoadSeconds(); then the mount must converge to
// the source within `bound`. `torn_allowed`: mixed versions are what the
// source itself shows (in-place rewrites); counted, not failed.
void RunWholeFileWorkload(const Mount& m, const FileSource& src, LoadReport report, Ms bound,
                          bool torn_allowed) {
  const int seconds = LoadSeconds();
  Watchdog watchdog(std::chrono::seconds(seconds + 150), m.pid());
  const size_t n = src.names.size();
  std::vector<std::atomic<uint64_t>> latest(n);  // last version written, per file
  for (auto& l : latest) l = 1;                  // version 1 is in place before the mount
  std::atomic<long> reads{0}, writes{0}, torn_mixed{0}, torn_size{0}, torn_foreign{0};
  Tally torn, errors, write_errors;
  Clock::time_point writer_done{};
  Clock::time_point start = Clock::now();
  {
    Workers workers(m.pid());
    const auto& stop = workers.stopping();
    for (int r = 0; r < kReaders; ++r) {
      workers.Spawn([&, r] {
        std::mt19937 rng(1000 + r);
        while (!stop.load(std::memory_order_relaxed)) {
          const size_t i = rng() % n;
          auto data = ReadFile(src.mount_path(i));
          if (!data) {
            const int err = errno;
            errors.Add("read " + src.names[i] + ": " + ErrnoName(err),
                       src.names[i] + ErrnoName(err));
            continue;
          }
          reads.fetch_add(1, std::memory_order_relaxed);
          Verdict v = Classify(src.names[i], *data);
          if (!v.whole) {
            torn.Add(src.names[i] + " (source at v" + std::to_string(latest[i].load()) +
                         "): " + v.detail,
                     src.names[i] + v.detail);
            (v.kind == Torn::kMixed  ? torn_mixed
             : v.kind == Torn::kSize ? torn_size
                                     : torn_foreign)
                .fetch_add(1, std::memory_order_relaxed);
          }
        }
      });
    }
    workers.Spawn([&] {
      std::mt19937 rng(4242);
      while (!stop.load(std::memory_order_relaxed)) {
        const size_t i = rng() % n;
        const uint64_t v = latest[i].load() + 1;
        std::string err = src.write(i, v);
        if (!err.empty()) {
          write_errors.Add(err);
          continue;
        }
        latest[i] = v;
        writes.fetch_add(1, std::memory_order_relaxed);
      }
      writer_done = Clock::now();
    });
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    ASSERT_TRUE(workers.Stop()) << m.LogTail();
  }
  report.seconds = std::chrono::duration<double>(writer_done - start).count();
  report.readers = kReaders;
  report.reads = reads;
  report.torn = torn.count();
  report.torn_mixed = torn_mixed;
  report.torn_size = torn_size;
  report.torn_foreign = torn_foreign;
  report.errors = errors.count();
  report.writes = writes;
  report.write_errors = write_errors.count();
  report.bound_ms = bound.count();

  // The writer has stopped: every file through the mount must equal the
  // source within the bound.
  auto differences = [&] {
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) {
      auto want = src.current(i);
      auto got = ReadFile(src.mount_path(i));
      if (!got) {
        out.push_back(src.names[i] + ": read through the mount failed: " + ErrnoName(errno));
      } else if (!want) {
        out.push_back(src.names[i] + ": source unreadable");
      } else if (*got != *want) {
        out.push_back(src.names[i] + ": mount shows " + Describe(src.names[i], got) + ", source " +
                      Describe(src.names[i], want));
      }
    }
    return out;
  };
  std::vector<std::string> stale;
  report.converge_ms = Converge(differences, writer_done, bound, stale, report.deadline_ms);
  report.stale = static_cast<long>(stale.size());
  report.staleness_metric = Staleness(m);
  Print(report);

  EXPECT_EQ(write_errors.count(), 0)
      << "the writer failed at the source:" << write_errors.Samples();
  EXPECT_GT(report.writes, 0);
  EXPECT_GT(report.reads, 0);
  if (!torn_allowed) {
    EXPECT_EQ(report.torn, 0) << report.torn << " of " << report.reads
                              << " reads were not one whole version of a file the source only "
                                 "ever held whole ("
                              << report.torn_mixed << " mixed versions, " << report.torn_size
                              << " of a wrong size, " << report.torn_foreign
                              << " with a page no version held):" << torn.Samples();
  } else if (report.torn > 0) {
    std::printf("[   INFO   ] %ld of %ld reads mixed versions (allowed: in-place rewrites)\n",
                report.torn, report.reads);
  }
  EXPECT_EQ(report.errors, 0) << report.errors << " reads failed:" << errors.Samples();
  if (!report.converge_ms) {
    ADD_FAILURE() << stale.size() << " of " << n << " files still differ from the source "
                  << report.deadline_ms << " ms after the writer stopped (bound " << bound.count()
                  << " ms; freshfs_staleness_seconds "
                  << (report.staleness_metric ? std::to_string(*report.staleness_metric) : "?")
                  << "):" << Join(stale);
  } else {
    EXPECT_LE(*report.converge_ms, bound.count())
        << "the mount equalled the source only " << *report.converge_ms
        << " ms after the writer stopped";
  }
  EXPECT_TRUE(m.DaemonAlive()) << "daemon died under load\n" << m.LogTail();
}

// Change-source variants of a directory mount.
std::vector<std::string> DirArgs(const std::string& changes) {
  std::vector<std::string> args{"--metrics-address", "127.0.0.1:0"};
  if (changes == "poll") args.insert(args.end(), {"--events", "none", "--poll-interval", "1s"});
  return args;  // "inotify": the defaults
}
Ms DirBound(const std::string& changes) { return changes == "poll" ? Ms(1000 + 3000) : Ms(2000); }

std::string FileName(int i) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "f%02d", i);
  return buf;
}

// Writes `data` at offset 0 of the existing file `path` without truncating.
std::string RewriteInPlace(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return "open " + path + ": " + ErrnoName(errno);
  std::string err;
  ssize_t w = pwrite(fd, data.data(), data.size(), 0);
  if (w != static_cast<ssize_t>(data.size()))
    err = "pwrite " + path + ": " + (w < 0 ? ErrnoName(errno) : "short write");
  if (close(fd) != 0 && err.empty()) err = "close " + path + ": " + ErrnoName(errno);
  return err;
}

void DirWholeFiles(const std::string& changes, bool in_place) {
  Mount m;
  FileSource src;
  for (int i = 0; i < kDirFiles; ++i) {
    src.names.push_back(FileName(i));
    ASSERT_EQ(WriteFile(m.Src(FileName(i)), Content(FileName(i), 1)), 0);
  }
  ASSERT_TRUE(m.Start(DirArgs(changes)));
  src.mount_path = [&](size_t i) { return m.Mnt(src.names[i]); };
  src.current = [&](size_t i) { return ReadFile(m.Src(src.names[i])); };
  if (in_place) {
    src.write = [&](size_t i, uint64_t v) {
      return RewriteInPlace(m.Src(src.names[i]), Content(src.names[i], v));
    };
  } else {
    // A whole new file renamed over the old one: the source is never torn.
    src.write = [&](size_t i, uint64_t v) -> std::string {
      const std::string tmp = m.Src(".tmp-" + src.names[i]);
      if (int e = WriteFile(tmp, Content(src.names[i], v)); e != 0)
        return "write " + tmp + ": " + ErrnoName(e);
      if (rename(tmp.c_str(), m.Src(src.names[i]).c_str()) != 0)
        return "rename " + tmp + ": " + ErrnoName(errno);
      return "";
    };
  }
  LoadReport report;
  report.workload = in_place ? "inplace" : "replace";
  report.source = "dir";
  report.changes = changes;
  RunWholeFileWorkload(m, src, report, DirBound(changes), in_place);
}

TEST(FreshUnderLoad, ReplacedFilesInotify) { DirWholeFiles("inotify", false); }
TEST(FreshUnderLoad, ReplacedFilesPolling) { DirWholeFiles("poll", false); }
TEST(FreshUnderLoad, InPlaceRewritesInotify) { DirWholeFiles("inotify", true); }
TEST(FreshUnderLoad, InPlaceRewritesPolling) { DirWholeFiles("poll", true); }

// ---------------------------------------------------------------- names

std::string PoolName(int i) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "n%03d", i);
  return buf;
}

// A source of names: create, delete and rename at the source, and what it
// holds now (name -> bytes).
struct NameSource {
  std::string mount_dir;
  std::function<std::string(const std::string& name, const std::string& data)> create;
  std::function<std::string(const std::string& name)> remove;
  // `data` is what `from` holds (S3 renames by PUT + DELETE).
  std::function<std::string(const std::string& from, const std::string& to,
                            const std::string& data)>
      rename;
  std::function<std::optional<std::map<std::string, std::string>>()> current;
  std::chrono::microseconds pause{0};  // between two changes
};

// What a reader may get while the writer runs: the name went away between
// the listing (or the open) and the call. Anything else is an error (at
// commit ad0cebc some reads of S3 names the writer was deleting or
// replacing failed with EIO: those count).
bool NameMayBeGone(int err) { return err == ENOENT; }

// `initial`: what the source holds before the mount (pool index -> bytes).
void RunNamesWorkload(const Mount& m, const NameSource& src,
                      std::vector<std::optional<std::string>> initial, LoadReport report,
                      Ms bound) {
  const int seconds = LoadSeconds();
  Watchdog watchdog(std::chrono::seconds(seconds + 150), m.pid());
  std::atomic<long> reads{0}, listings{0}, writes{0};
  Tally errors, write_errors;
  std::mutex seen_mu;
  std::set<std::string> seen;  // names the readers listed, stat'ed or opened
  Clock::time_point writer_done{};
  const Clock::time_point start = Clock::now();
  auto path = [&](const std::string& name) { return src.mount_dir + "/" + name; };
  {
    Workers workers(m.pid());
    const auto& stop = workers.stopping();
    for (int r = 0; r < kNameReaders; ++r) {
      workers.Spawn([&, r] {
        std::mt19937 rng(2000 + r);
        std::set<std::string> mine;
        while (!stop.load(std::memory_order_relaxed)) {
          auto listing = ListDir(src.mount_dir);
          if (!listing) {
            errors.Add("list " + src.mount_dir + ": " + ErrnoName(errno));
            continue;
          }
          listings.fetch_add(1, std::memory_order_relaxed);
          auto names = SortedNames(listing);
          mine.insert(names.begin(), names.end());
          for (int k = 0; k < 4; ++k) {
            // Mostly listed names; some straight from the pool, so names the
            // watcher may not have seen yet get looked up too.
            const std::string name = !names.empty() && rng() % 4 != 0
                                         ? names[rng() % names.size()]
                                         : PoolName(static_cast<int>(rng() % kNamePool));
            const bool do_stat = rng() % 2 == 0;
            const bool ok =
                do_stat ? Stat(path(name)).has_value() : ReadFile(path(name)).has_value();
            if (ok) {
              reads.fetch_add(1, std::memory_order_relaxed);
              mine.insert(name);
            } else if (!NameMayBeGone(errno)) {
              const int err = errno;
              errors.Add(std::string(do_stat ? "stat " : "read ") + name + ": " + ErrnoName(err),
                         name + ErrnoName(err));
            }
          }
        }
        std::lock_guard lock(seen_mu);
        seen.insert(mine.begin(), mine.end());
      });
    }
    workers.Spawn([&] {
      std::mt19937 rng(4343);
      std::vector<std::optional<std::string>> content = initial;
      uint64_t generation = 1;
      auto live = [&] {
        std::vector<int> out;
        for (int i = 0; i < kNamePool; ++i)
          if (content[i]) out.push_back(i);
        return out;
      };
      while (!stop.load(std::memory_order_relaxed)) {
        auto present = live();
        int op = static_cast<int>(rng() % 3);  // 0 create, 1 delete, 2 rename
        if (present.size() < 60) op = 0;
        if (present.size() > 140 && op == 0) op = 1;
        std::string err;
        if (op == 0) {
          int i = static_cast<int>(rng() % kNamePool);
          for (int tries = 0; content[i] && tries < 20; ++tries)
            i = static_cast<int>(rng() % kNamePool);
          std::string data = Content(PoolName(i), ++generation, 512 + rng() % 12288);
          err = src.create(PoolName(i), data);
          if (err.empty()) content[i] = std::move(data);
        } else if (op == 1) {
          const int i = present[rng() % present.size()];
          err = src.remove(PoolName(i));
          if (err.empty()) content[i].reset();
        } else {
          const int from = present[rng() % present.size()];
          int to = static_cast<int>(rng() % kNamePool);
          if (to == from) to = (to + 1) % kNamePool;
          err = src.rename(PoolName(from), PoolName(to), *content[from]);
          if (err.empty()) {
            content[to] = std::move(content[from]);
            content[from].reset();
          }
        }
        if (!err.empty()) {
          write_errors.Add(err);
        } else {
          writes.fetch_add(1, std::memory_order_relaxed);
        }
        if (src.pause.count() > 0) std::this_thread::sleep_for(src.pause);
      }
      writer_done = Clock::now();
    });
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    ASSERT_TRUE(workers.Stop()) << m.LogTail();
  }
  report.seconds = std::chrono::duration<double>(writer_done - start).count();
  report.readers = kNameReaders;
  report.reads = reads;
  report.listings = listings;
  report.errors = errors.count();
  report.writes = writes;
  report.write_errors = write_errors.count();
  report.bound_ms = bound.count();

  // The writer has stopped: within the bound the listing equals the source's
  // names, every name there stats and reads with the source's bytes, and
  // every other name of the pool (the ones the readers saw included) is
  // ENOENT on stat and on open.
  long ghosts = 0;
  auto differences = [&] {
    std::vector<std::string> out;
    ghosts = 0;
    auto want = src.current();
    if (!want) return std::vector<std::string>{"the source cannot be listed"};
    auto tag = [&](const std::string& name) {
      return seen.count(name) ? " [seen by readers]" : "";
    };
    auto listing = ListDir(src.mount_dir);
    if (!listing) {
      out.push_back("listing through the mount failed: " + ErrnoName(errno));
    } else {
      auto got = SortedNames(listing);
      for (const auto& name : got)
        if (!want->count(name)) out.push_back("listing shows " + name + ", gone at the source");
      for (const auto& [name, _] : *want)
        if (!std::binary_search(got.begin(), got.end(), name))
          out.push_back("listing lacks " + name + ", present at the source");
    }
    for (int i = 0; i < kNamePool; ++i) {
      const std::string name = PoolName(i);
      auto it = want->find(name);
      if (it != want->end()) {
        if (!Stat(path(name))) {
          out.push_back(name + ": stat through the mount: " + ErrnoName(errno) + tag(name));
          continue;
        }
        auto got = ReadFile(path(name));
        if (!got) out.push_back(name + ": read through the mount: " + ErrnoName(errno) + tag(name));
        else if (*got != it->second)
          out.push_back(name + ": mount shows " + std::to_string(got->size()) + " bytes (" +
                        Describe(name, got).substr(0, 60) + "), source " +
                        std::to_string(it->second.size()) + tag(name));
      } else {
        bool ghost = false;
        if (Stat(path(name))) {
          out.push_back(name + ": gone at the source, still stats through the mount" + tag(name));
          ghost = true;
        } else if (errno != ENOENT) {
          out.push_back(name + ": stat: " + ErrnoName(errno) + " instead of ENOENT" + tag(name));
        }
        int fd = open(path(name).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
          close(fd);
          out.push_back(name + ": gone at the source, still opens through the mount" + tag(name));
          ghost = true;
        } else if (errno != ENOENT) {
          out.push_back(name + ": open: " + ErrnoName(errno) + " instead of ENOENT" + tag(name));
        }
        ghosts += ghost;
      }
    }
    return out;
  };
  std::vector<std::string> stale;
  report.converge_ms = Converge(differences, writer_done, bound, stale, report.deadline_ms);
  report.stale = static_cast<long>(stale.size());
  report.ghosts = ghosts;
  report.staleness_metric = Staleness(m);
  Print(report);

  EXPECT_EQ(write_errors.count(), 0)
      << "the writer failed at the source:" << write_errors.Samples();
  EXPECT_GT(report.writes, 0);
  EXPECT_GT(report.listings, 0);
  EXPECT_EQ(report.errors, 0) << report.errors
                              << " reader calls failed with other than ENOENT:" << errors.Samples();
  if (!report.converge_ms) {
    ADD_FAILURE() << stale.size() << " differences (" << ghosts
                  << " names gone at the source still stat or open) " << report.deadline_ms
                  << " ms after the writer stopped (bound " << bound.count() << " ms; readers saw "
                  << seen.size() << " names; freshfs_staleness_seconds "
                  << (report.staleness_metric ? std::to_string(*report.staleness_metric) : "?")
                  << "):" << Join(stale);
  } else {
    EXPECT_LE(*report.converge_ms, bound.count())
        << "names through the mount equalled the source only " << *report.converge_ms
        << " ms after the writer stopped";
  }
  EXPECT_TRUE(m.DaemonAlive()) << "daemon died under load\n" << m.LogTail();
}

void DirNames(const std::string& changes) {
  Mount m;
  std::vector<std::optional<std::string>> initial(kNamePool);
  for (int i = 0; i < kNamePool; i += 2) {
    initial[i] = Content(PoolName(i), 1, 512 + 61 * i);
    ASSERT_EQ(WriteFile(m.Src(PoolName(i)), *initial[i]), 0);
  }
  ASSERT_TRUE(m.Start(DirArgs(changes)));
  NameSource src;
  src.mount_dir = m.mnt();
  src.create = [&](const std::string& name, const std::string& data) -> std::string {
    int e = WriteFile(m.Src(name), data);
    return e == 0 ? "" : "create " + name + ": " + ErrnoName(e);
  };
  src.remove = [&](const std::string& name) -> std::string {
    return unlink(m.Src(name).c_str()) == 0 ? "" : "unlink " + name + ": " + ErrnoName(errno);
  };
  src.rename = [&](const std::string& from, const std::string& to,
                   const std::string&) -> std::string {
    return rename(m.Src(from).c_str(), m.Src(to).c_str()) == 0
               ? ""
               : "rename " + from + " " + to + ": " + ErrnoName(errno);
  };
  src.current = [&]() -> std::optional<std::map<std::string, std::string>> {
    auto names = ListDir(m.source());
    if (!names) return std::nullopt;
    std::map<std::string, std::string> out;
    for (const auto& name : SortedNames(names)) {
      auto data = ReadFile(m.Src(name));
      if (!data) return std::nullopt;
      out[name] = std::move(*data);
    }
    return out;
  };
  // Up to ~2,000 changes a second: many per name between two polls,
  // without drowning two CPUs in inotify events.
  src.pause = std::chrono::microseconds(500);
  LoadReport report;
  report.workload = "names";
  report.source = "dir";
  report.changes = changes;
  RunNamesWorkload(m, src, std::move(initial), report, DirBound(changes));
}

TEST(FreshUnderLoad, NamesInotify) { DirNames("inotify"); }
TEST(FreshUnderLoad, NamesPolling) { DirNames("poll"); }

// ---------------------------------------------------------------- S3

class FreshUnderLoadS3 : public S3MountedTest {
 protected:
  // Stock s3rver is not atomic: a GET or LIST racing a PUT can see 0 bytes or
  // a mix of two bodies (see S3Server::set_atomic_writes). Torn reads must be
  // freshfs's to count here, so the server replaces objects atomically, as
  // S3 does.
  void SetUp() override {
    s3_.set_atomic_writes(true);
    S3MountedTest::SetUp();
  }

  // POSTs one S3 event record for `key` to the mount's webhook; "" or what
  // failed.
  std::string PostEvent(const std::string& url, const std::string& event, const std::string& key) {
    const std::string body = "{\"Records\":[{\"eventName\":\"" + event +
                             "\",\"s3\":{\"bucket\":{\"name\":\"" + s3_.bucket() +
                             "\"},\"object\":{\"key\":\"" + key + "\"}}}]}";
    auto r = HttpRequest("POST", url, body);
    if (r.status == 200) return "";
    return "event POST for " + key + ": HTTP " + std::to_string(r.status) + " " + r.error + r.body;
  }

  // The webhook URL when the mount was started with --events-address.
  std::string EventsUrl() {
    auto port = m_.EventsPort();
    return port ? "http://127.0.0.1:" + std::to_string(*port) + "/" : "";
  }

  void ReplacedObjects(bool events) {
    auto client = Client();
    FileSource src;
    for (int i = 0; i < kS3Objects; ++i) {
      src.names.push_back(FileName(i));
      auto put = client->Put(FileName(i), Content(FileName(i), 1));
      ASSERT_TRUE(put) << put.error().Describe();
    }
    // With events, an hour between syncs: only the events can explain a
    // timely convergence.
    std::vector<std::string> extra;
    if (events) extra = {"--poll-interval", "1h", "--events-address", "127.0.0.1:0"};
    ASSERT_TRUE(StartMount(extra));
    const std::string url = events ? EventsUrl() : "";
    if (events) {
      ASSERT_FALSE(url.empty()) << m_.LogTail();
    }
    std::vector<std::atomic<uint64_t>> stored(kS3Objects);  // last version PUT
    for (auto& s : stored) s = 1;
    src.mount_path = [&](size_t i) { return m_.Mnt(src.names[i]); };
    src.write = [&](size_t i, uint64_t v) -> std::string {
      auto put = client->Put(src.names[i], Content(src.names[i], v));
      if (!put) return "PUT " + src.names[i] + ": " + put.error().Describe();
      stored[i] = v;
      return events ? PostEvent(url, "s3:ObjectCreated:Put", src.names[i]) : "";
    };
    // S3 PUTs are atomic: the bucket holds the last version PUT.
    src.current = [&](size_t i) -> std::optional<std::string> {
      return Content(src.names[i], stored[i].load());
    };
    LoadReport report;
    report.workload = "replace";
    report.source = "s3";
    report.changes = events ? "events" : "poll";
    RunWholeFileWorkload(m_, src, report, events ? Ms(2000) : Ms(1000 + 4000), false);
  }
};

TEST_F(FreshUnderLoadS3, ReplacedObjectsPolling) { ReplacedObjects(false); }
TEST_F(FreshUnderLoadS3, ReplacedObjectsEvents) { ReplacedObjects(true); }

TEST_F(FreshUnderLoadS3, NamesPolling) {
  auto client = Client();
  std::vector<std::optional<std::string>> initial(kNamePool);
  for (int i = 0; i < kNamePool; i += 2) {
    initial[i] = Content(PoolName(i), 1, 512 + 61 * i);
    auto put = client->Put(PoolName(i), *initial[i]);
    ASSERT_TRUE(put) << put.error().Describe();
  }
  ASSERT_TRUE(StartMount());
  std::mutex mu;
  std::map<std::string, std::string> bucket;  // what the bucket holds
  for (int i = 0; i < kNamePool; ++i)
    if (initial[i]) bucket[PoolName(i)] = *initial[i];
  NameSource src;
  src.mount_dir = m_.mnt();
  src.create = [&](const std::string& name, const std::string& data) -> std::string {
    auto put = client->Put(name, data);
    if (!put) return "PUT " + name + ": " + put.error().Describe();
    std::lock_guard lock(mu);
    bucket[name] = data;
    return "";
  };
  src.remove = [&](const std::string& name) -> std::string {
    auto del = client->Delete(name);
    if (!del) return "DELETE " + name + ": " + del.error().Describe();
    std::lock_guard lock(mu);
    bucket.erase(name);
    return "";
  };
  // S3 has no rename: PUT the new key, then DELETE the old one.
  src.rename = [&](const std::string& from, const std::string& to,
                   const std::string& data) -> std::string {
    if (auto err = src.create(to, data); !err.empty()) return err;
    return src.remove(from);
  };
  src.current = [&]() -> std::optional<std::map<std::string, std::string>> {
    std::lock_guard lock(mu);
    return bucket;
  };
  LoadReport report;
  report.workload = "names";
  report.source = "s3";
  report.changes = "poll";
  RunNamesWorkload(m_, src, std::move(initial), report, Ms(1000 + 4000));
}

}  // namespace
}  // namespace freshfs::testing
