// The self-check (--self-check-interval): it compares what the kernel
// caches with the source and repairs what the watcher missed.
//
// The stale view is made the way a source can hide a change from every
// watcher: the file is rewritten in place with the same size and its
// modification time put back (touch -r, rsync --times, a restore from a
// backup). No sync can tell it changed; only reading it can.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

using namespace std::chrono_literals;

// Rewrites `path` in place with `data` (same length) and gives it back the
// modification time it had.
void RewriteKeepingMtime(const std::string& path, const std::string& data) {
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), ssize_t(data.size()));
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::futimens(fd, times), 0);
  ::close(fd);
}

double Scraped(int port, const std::string& name,
               const std::map<std::string, std::string>& l = {}) {
  auto text = ScrapeMetrics(port);
  if (!text) return -1;
  return MetricSum(*text, name, l).value_or(0);
}

// Mounts a file, reads it into the page cache, rewrites it at the source
// without a trace; returns the port of the mount's metrics.
std::optional<int> MountAndHideAChange(Mount& m, const std::string& self_check_interval,
                                       const std::string& before, const std::string& after) {
  EXPECT_EQ(WriteFile(m.Src("f"), before), 0);
  EXPECT_TRUE(m.Start({"--events", "none", "--poll-interval", "1s", "--self-check-interval",
                       self_check_interval, "--metrics-address", "127.0.0.1:0"}));
  auto port = m.MetricsPort();
  EXPECT_EQ(ReadFile(m.Mnt("f")), before);  // in the page cache now
  RewriteKeepingMtime(m.Src("f"), after);
  return port;
}

TEST(SelfCheckTest, FindsAndRepairsAChangeNoWatcherCouldSee) {
  const std::string before(3 * 4096, 'a'), after(3 * 4096, 'b');
  {
    // Without the self-check: polls see nothing, the kernel serves the old
    // bytes for as long as it caches (the gap the self-check closes).
    Mount m;
    auto port = MountAndHideAChange(m, "0", before, after);
    ASSERT_TRUE(port);
    std::this_thread::sleep_for(2500ms);  // two polls and more
    EXPECT_EQ(ReadFile(m.Mnt("f")), before);
    EXPECT_EQ(Scraped(*port, "freshfs_remote_changes_total"), 0);
  }
  Mount m;
  auto port = MountAndHideAChange(m, "500ms", before, after);
  ASSERT_TRUE(port);
  auto repaired = WaitFor([&] { return ReadFile(m.Mnt("f")) == after; }, 20s, 100ms);
  ASSERT_TRUE(repaired) << "still stale after 20 s\n" << m.LogTail();
  EXPECT_GE(Scraped(*port, "freshfs_stale_reads_detected_total"), 1);
  EXPECT_GE(Scraped(*port, "freshfs_self_checks_total", {{"result", "stale"}}), 1);
  EXPECT_NE(m.Log().find("self-check: the kernel caches stale data for f"), std::string::npos)
      << m.LogTail();
}

TEST(SelfCheckTest, AFreshMountCountsMatchesAndNoStaleReads) {
  Mount m;
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(WriteFile(m.Src("f" + std::to_string(i)), std::string(20000, char('a' + i))), 0);
  ASSERT_TRUE(m.Start({"--self-check-interval", "300ms", "--metrics-address", "127.0.0.1:0"}));
  auto port = m.MetricsPort();
  ASSERT_TRUE(port);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ReadFile(m.Mnt("f" + std::to_string(i))));
  // Changes the watcher sees are no stale reads, whatever the self-check samples.
  ASSERT_EQ(WriteFile(m.Src("f1"), std::string(20000, 'z')), 0);
  auto matched = WaitFor(
      [&] {
        return Scraped(*port, "freshfs_self_checks_total", {{"result", "match"}}) >= 4;
      },
      20s, 100ms);
  EXPECT_TRUE(matched) << "the self-check compared nothing in 20 s\n" << m.LogTail();
  EXPECT_EQ(Scraped(*port, "freshfs_stale_reads_detected_total"), 0);
}

}  // namespace
}  // namespace freshfs::testing
