// Stress: 8 reader threads read files and list directories through the mount
// while one writer changes the source 100 times a second (modify in place,
// create, delete, rename) for FRESHFS_STRESS_SECONDS (default 10). No thread
// may hang (watchdog), the daemon must survive, and once the writer stops and
// the freshness bound has passed, the mount shows exactly the source: same
// names in every directory, same bytes in every file.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support/fs_util.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kReaders = 8;
constexpr int kDirs = 4;
constexpr int kFilesPerDir = 25;

int StressSeconds() { return SecondsFromEnv("FRESHFS_STRESS_SECONDS", 10); }

std::string DirName(int d) { return "d" + std::to_string(d); }

class Errors {
 public:
  void Add(std::string e) {
    std::lock_guard lock(mu_);
    ++count_;
    if (errors_.size() < 20) errors_.push_back(std::move(e));
  }
  void Report() {
    std::lock_guard lock(mu_);
    for (auto& e : errors_) ADD_FAILURE() << e;
    if (count_ > errors_.size()) ADD_FAILURE() << (count_ - errors_.size()) << " more errors";
  }

 private:
  std::mutex mu_;
  size_t count_ = 0;
  std::vector<std::string> errors_;
};

// Readers tolerate names that vanish under them; anything else is a failure.
bool Tolerated(int err) { return err == ENOENT; }

// Compares the mount with the source; returns a description of the first
// differences, or "" when they agree.
std::string Differences(const Mount& m) {
  std::string out;
  for (int d = 0; d < kDirs; ++d) {
    const std::string dir = DirName(d);
    auto src = SortedNames(ListDir(m.Src(dir)));
    auto mnt = SortedNames(ListDir(m.Mnt(dir)));
    if (src != mnt) {
      out += dir + ": listing has " + std::to_string(mnt.size()) + " names, source " +
             std::to_string(src.size()) + ";";
      for (const auto& n : mnt)
        if (!std::binary_search(src.begin(), src.end(), n)) out += " stale:" + n;
      for (const auto& n : src)
        if (!std::binary_search(mnt.begin(), mnt.end(), n)) out += " missing:" + n;
      out += "\n";
    }
    for (const auto& n : src) {
      auto want = ReadFile(m.Src(dir + "/" + n));
      auto got = ReadFile(m.Mnt(dir + "/" + n));
      if (!got) {
        out += dir + "/" + n + ": read through the mount failed: " + ErrnoName(errno) + "\n";
      } else if (want != got) {
        out += dir + "/" + n + ": " + std::to_string(got->size()) + " bytes through the mount, " +
               std::to_string(want ? want->size() : 0) + " at the source, contents differ\n";
      }
    }
  }
  return out;
}

TEST(StressTest, ReadersAndRemoteWriterConverge) {
  const int seconds = StressSeconds();
  Mount m;
  for (int d = 0; d < kDirs; ++d) {
    ASSERT_EQ(mkdir(m.Src(DirName(d)).c_str(), 0755), 0);
    for (int f = 0; f < kFilesPerDir; ++f) {
      ASSERT_EQ(WriteFile(m.Src(DirName(d) + "/f" + std::to_string(f)),
                          Pattern(1024 + 997 * f, d * 1000 + f)),
                0);
    }
  }
  // inotify (the default on a local source) plus a short poll: both change
  // sources feed the same dispatch path at once.
  ASSERT_TRUE(m.Start({"--poll-interval", "1s"}));

  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, listings{0}, writes{0};
  Errors errors;
  std::mutex done_mu;
  std::condition_variable done_cv;
  int finished = 0;
  auto finish = [&] {
    std::lock_guard lock(done_mu);
    ++finished;
    done_cv.notify_all();
  };

  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(r + 1);
      while (!stop.load()) {
        const std::string dir = DirName(static_cast<int>(rng() % kDirs));
        auto names = ListDir(m.Mnt(dir));
        if (!names) {
          errors.Add("reader " + std::to_string(r) + ": list " + dir + ": " + ErrnoName(errno));
          continue;
        }
        ++listings;
        auto plain = SortedNames(names);
        for (int i = 0; i < 4 && !plain.empty(); ++i) {
          const std::string path = m.Mnt(dir + "/" + plain[rng() % plain.size()]);
          if (rng() % 4 == 0) {
            if (!Stat(path) && !Tolerated(errno))
              errors.Add("reader " + std::to_string(r) + ": stat " + path + ": " +
                         ErrnoName(errno));
            continue;
          }
          if (ReadFile(path)) {
            ++reads;
          } else if (!Tolerated(errno)) {
            errors.Add("reader " + std::to_string(r) + ": read " + path + ": " + ErrnoName(errno));
          }
        }
      }
      finish();
    });
  }

  // One writer at the source, 100 changes per second.
  threads.emplace_back([&] {
    std::mt19937 rng(4242);
    std::vector<std::vector<std::string>> files(kDirs);
    for (int d = 0; d < kDirs; ++d)
      for (int f = 0; f < kFilesPerDir; ++f) files[d].push_back("f" + std::to_string(f));
    long serial = 0;
    auto next = Clock::now();
    while (!stop.load()) {
      next += std::chrono::milliseconds(10);
      std::this_thread::sleep_until(next);
      const int d = static_cast<int>(rng() % kDirs);
      auto& names = files[d];
      const std::string dir = m.Src(DirName(d));
      int op = static_cast<int>(rng() % 4);
      if (names.size() < 10) op = 1;
      if (names.size() > 40 && op == 1) op = 2;
      std::string err;
      switch (op) {
        case 0: {  // modify in place
          const std::string& n = names[rng() % names.size()];
          int fd = open((dir + "/" + n).c_str(), O_WRONLY | O_CLOEXEC);
          struct stat st {};
          if (fd < 0 || fstat(fd, &st) != 0) {
            err = "modify " + n + ": " + ErrnoName(errno);
          } else {
            std::string data = Pattern(std::min<size_t>(st.st_size, 4096), rng());
            off_t off = st.st_size > 4096 ? static_cast<off_t>(rng() % (st.st_size - 4096)) : 0;
            if (pwrite(fd, data.data(), data.size(), off) != static_cast<ssize_t>(data.size()))
              err = "modify " + n + ": " + ErrnoName(errno);
          }
          if (fd >= 0) close(fd);
          break;
        }
        case 1: {  // create
          std::string n = "n" + std::to_string(serial++);
          if (int e = WriteFile(dir + "/" + n, Pattern(512 + rng() % 40000, rng())); e != 0)
            err = "create " + n + ": " + ErrnoName(e);
          else names.push_back(n);
          break;
        }
        case 2: {  // delete
          size_t i = rng() % names.size();
          if (unlink((dir + "/" + names[i]).c_str()) != 0)
            err = "delete " + names[i] + ": " + ErrnoName(errno);
          names.erase(names.begin() + static_cast<long>(i));
          break;
        }
        case 3: {  // rename, within the directory or into another one
          size_t i = rng() % names.size();
          const int to_d = static_cast<int>(rng() % kDirs);
          std::string to = "r" + std::to_string(serial++);
          if (rename((dir + "/" + names[i]).c_str(), (m.Src(DirName(to_d)) + "/" + to).c_str()) !=
              0) {
            err = "rename " + names[i] + ": " + ErrnoName(errno);
          } else {
            names.erase(names.begin() + static_cast<long>(i));
            files[to_d].push_back(to);
          }
          break;
        }
      }
      if (!err.empty()) errors.Add("writer: " + err);
      ++writes;
    }
    finish();
  });

  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  const int total = static_cast<int>(threads.size());
  bool all_finished;
  {
    std::unique_lock lock(done_mu);
    all_finished = done_cv.wait_for(lock, 30s, [&] { return finished == total; });
  }
  if (!all_finished) {
    ADD_FAILURE() << "deadlock: " << (total - finished) << " of " << total
                  << " threads still running 30 s after the stop signal; daemon "
                  << (m.DaemonAlive() ? "alive" : "dead") << "\n--- daemon log ---\n"
                  << m.Log();
    // Aborting the FUSE connection releases threads blocked in requests.
    m.SignalAndWait(SIGKILL, 10s);
    std::unique_lock lock(done_mu);
    if (!done_cv.wait_for(lock, 20s, [&] { return finished == total; })) {
      std::fprintf(stderr, "threads still stuck after killing the daemon; aborting\n");
      std::abort();
    }
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(all_finished);
  std::printf("[   INFO   ] %d s: %ld source changes, %ld reads, %ld listings through the mount\n",
              static_cast<int>(
                  std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count()),
              writes.load(), reads.load(), listings.load());
  errors.Report();
  ASSERT_TRUE(m.DaemonAlive()) << "daemon died under load\n" << m.Log();
  EXPECT_GE(writes.load(), seconds * 50L) << "the writer fell far behind 100 changes/s";

  // The writer has stopped: within the freshness bound (1 s poll + 2 s; the
  // events are faster) the mount must show exactly the source.
  std::string diff;
  const auto quiet = Clock::now();
  while (!(diff = Differences(m)).empty() && Clock::now() - quiet < 3s)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(diff, "")
      << "mount differs from the source "
      << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - quiet).count()
      << " ms after the last change";
  EXPECT_TRUE(m.DaemonAlive()) << m.Log();
  auto code = m.UnmountAndWait(10s);
  ASSERT_TRUE(code.has_value()) << "daemon did not exit after fusermount3 -u\n" << m.Log();
  EXPECT_EQ(*code, 0) << m.Log();
}

}  // namespace
}  // namespace freshfs::testing
