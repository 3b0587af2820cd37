// Several threads doing I/O through one mount at once: private files, one
// shared file written in disjoint regions, and concurrent appenders. The
// contents are checked at the end, through the mount and in the source.
#include <cerrno>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support/fs_util.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

using ConcurrencyTest = MountedTest;

// Failures seen on worker threads, reported by the test thread.
class Errors {
 public:
  void Add(std::string e) {
    std::lock_guard lock(mu_);
    if (errors_.size() < 20) errors_.push_back(std::move(e));
  }
  void Report() {
    for (auto& e : errors_) ADD_FAILURE() << e;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> errors_;
};

bool WriteAll(int fd, const std::string& data, off_t offset, size_t chunk) {
  for (size_t done = 0; done < data.size();) {
    size_t n = std::min(chunk, data.size() - done);
    ssize_t w = pwrite(fd, data.data() + done, n, offset + static_cast<off_t>(done));
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

TEST_F(ConcurrencyTest, ThreadsOnTheirOwnFiles) {
  constexpr int kThreads = 4, kRounds = 3;
  constexpr size_t kSize = 1536 * 1024;
  Errors errors;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const std::string path = m_.Mnt("own-" + std::to_string(t));
        for (int round = 0; round < kRounds; ++round) {
          const std::string data = Pattern(kSize, t * 100 + round);
          int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0644);
          if (fd < 0) return errors.Add(path + ": open: " + ErrnoName(errno));
          if (!WriteAll(fd, data, 0, 65536)) errors.Add(path + ": write: " + ErrnoName(errno));
          if (fsync(fd) != 0) errors.Add(path + ": fsync: " + ErrnoName(errno));
          close(fd);
          auto back = ReadFile(path);
          if (!back || *back != data)
            errors.Add(path + ": round " + std::to_string(round) + " read back different data");
        }
      });
    }
  }
  errors.Report();
  for (int t = 0; t < kThreads; ++t) {
    const std::string expected = Pattern(kSize, t * 100 + kRounds - 1);
    EXPECT_EQ(ReadFile(m_.Src("own-" + std::to_string(t))), expected) << "source of " << t;
    EXPECT_EQ(ReadFile(m_.Mnt("own-" + std::to_string(t))), expected) << "mount of " << t;
  }
}

TEST_F(ConcurrencyTest, WritersAndReadersOnOneFile) {
  constexpr int kWriters = 4, kReaders = 2;
  constexpr size_t kRegion = 1024 * 1024, kBlock = 4096;
  const std::string path = m_.Mnt("shared");
  ASSERT_EQ(WriteFile(path, ""), 0);
  ASSERT_EQ(truncate(path.c_str(), kWriters * kRegion), 0);

  Errors errors;
  std::atomic<int> writers_left{kWriters};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kWriters; ++t) {
      threads.emplace_back([&, t] {
        const std::string data = Pattern(kRegion, 1000 + t);
        int fd = open(path.c_str(), O_RDWR);
        if (fd < 0) {
          --writers_left;
          return errors.Add("writer open: " + ErrnoName(errno));
        }
        // Interleave blocks from both ends so writers cross each other's pages.
        for (size_t i = 0; i < kRegion / kBlock; ++i) {
          size_t block = (i % 2 == 0) ? i / 2 : kRegion / kBlock - 1 - i / 2;
          off_t off = static_cast<off_t>(t * kRegion + block * kBlock);
          if (pwrite(fd, data.data() + block * kBlock, kBlock, off) != kBlock) {
            errors.Add("pwrite: " + ErrnoName(errno));
            break;
          }
        }
        close(fd);
        --writers_left;
      });
    }
    for (int r = 0; r < kReaders; ++r) {
      threads.emplace_back([&, r] {
        int fd = open(path.c_str(), O_RDONLY);
        if (fd < 0) return errors.Add("reader open: " + ErrnoName(errno));
        std::string buf(kBlock, '\0');
        unsigned x = 12345 + r;
        while (writers_left > 0) {
          x = x * 1103515245 + 12345;
          off_t off = static_cast<off_t>((x >> 8) % (kWriters * kRegion / kBlock) * kBlock);
          if (pread(fd, buf.data(), kBlock, off) != kBlock) {
            errors.Add("short pread at " + std::to_string(off) + ": " + ErrnoName(errno));
            break;
          }
        }
        close(fd);
      });
    }
  }
  errors.Report();
  std::string expected;
  for (int t = 0; t < kWriters; ++t) expected += Pattern(kRegion, 1000 + t);
  auto through_mount = ReadFile(path);
  auto in_source = ReadFile(m_.Src("shared"));
  ASSERT_TRUE(through_mount && in_source);
  EXPECT_TRUE(*through_mount == expected) << "content through the mount differs";
  EXPECT_TRUE(*in_source == expected) << "content in the source differs";
}

TEST_F(ConcurrencyTest, ConcurrentAppendersLoseNothing) {
  constexpr int kThreads = 4, kRecords = 200;
  constexpr size_t kRecordSize = 64;
  const std::string path = m_.Mnt("log");
  Errors errors;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0644);
        if (fd < 0) return errors.Add("open: " + ErrnoName(errno));
        for (int i = 0; i < kRecords; ++i) {
          std::string rec = "thread " + std::to_string(t) + " record " + std::to_string(i);
          rec.resize(kRecordSize - 1, '.');
          rec += '\n';
          if (write(fd, rec.data(), rec.size()) != static_cast<ssize_t>(rec.size())) {
            errors.Add("write: " + ErrnoName(errno));
            break;
          }
        }
        close(fd);
      });
    }
  }
  errors.Report();
  auto content = ReadFile(m_.Src("log"));
  ASSERT_TRUE(content);
  EXPECT_EQ(content->size(), kThreads * kRecords * kRecordSize);
  std::set<std::string> records;
  for (size_t off = 0; off + kRecordSize <= content->size(); off += kRecordSize) {
    records.insert(content->substr(off, kRecordSize));
  }
  EXPECT_EQ(records.size(), static_cast<size_t>(kThreads * kRecords))
      << "records overwritten or torn";
  EXPECT_EQ(ReadFile(path), content);
}

}  // namespace
}  // namespace freshfs::testing
