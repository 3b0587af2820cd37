// A standalone mount upgraded in place (docs/resume.md#upgrade): another
// build of freshfs-mount takes the running daemon's connection over with
// --take-over while readers and a writer keep using the mount. Nothing they
// do fails, the kernel's page cache survives, and the new daemon watches
// the source from then on. A successor that cannot take over leaves the
// running daemon serving.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <sys/stat.h>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"
#include "support/s3_mount.h"

namespace freshfs::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kFiles = 8;

std::string Content(int i) { return std::string(64 * 1024, char('a' + i)); }

// Threads reading every file of the mount in turn, and one writer, until
// stopped: appending a numbered line at a time through one descriptor it
// keeps open, or (kFilePerLine, for S3, whose writes are uploaded at
// close) writing each line as a file w<N> of its own. Counts what failed
// and the slowest call.
class Workload {
 public:
  enum Writer { kOneDescriptor, kFilePerLine };
  explicit Workload(const Mount& m, Writer writer = kOneDescriptor) : m_(m) {
    for (int r = 0; r < 3; ++r) threads_.emplace_back([this] { Read(); });
    if (writer == kOneDescriptor) threads_.emplace_back([this] { Write(); });
    else threads_.emplace_back([this] { WriteFiles(); });
  }
  ~Workload() { Stop(); }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_)
      if (t.joinable()) t.join();
  }
  // Waits (at most 20 s) until the readers have done `n` more reads: work
  // before and after an event, however slow the machine (sanitizers).
  void AwaitReads(int n) {
    const int target = reads_ + n;
    for (int i = 0; i < 2000 && reads_ < target && failures_ == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int failures() const { return failures_; }
  int reads() const { return reads_; }
  int written() const { return written_; }
  std::chrono::milliseconds slowest() const { return std::chrono::milliseconds(slowest_ms_); }
  std::string first_failure() {
    std::lock_guard lock(mu_);
    return first_failure_;
  }

 private:
  void Fail(const std::string& what) {
    ++failures_;
    std::lock_guard lock(mu_);
    if (first_failure_.empty()) first_failure_ = what + ": " + std::strerror(errno);
  }
  void Took(Clock::time_point start) {
    int ms =
        int(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
    int seen = slowest_ms_.load();
    while (ms > seen && !slowest_ms_.compare_exchange_weak(seen, ms)) {
    }
  }
  void Read() {
    for (int i = 0; !stop_; i = (i + 1) % kFiles) {
      auto start = Clock::now();
      std::optional<std::string> data = ReadFile(m_.Mnt("f" + std::to_string(i)));
      Took(start);
      if (!data || *data != Content(i)) Fail("read f" + std::to_string(i));
      ++reads_;
    }
  }
  void Write() {
    int fd = ::open(m_.Mnt("log.txt").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return Fail("open log.txt");
    for (int n = 0; !stop_; ++n) {
      std::string line = "line " + std::to_string(n) + "\n";
      auto start = Clock::now();
      if (::write(fd, line.data(), line.size()) != ssize_t(line.size())) Fail("write");
      else ++written_;
      Took(start);
      std::this_thread::sleep_for(2ms);
    }
    if (::close(fd) != 0) Fail("close log.txt");
  }

  void WriteFiles() {
    for (int n = 0; !stop_; ++n) {
      auto start = Clock::now();
      if (WriteFile(m_.Mnt("w" + std::to_string(n)), "line " + std::to_string(n) + "\n") != 0)
        Fail("write w" + std::to_string(n));
      else ++written_;
      Took(start);
      std::this_thread::sleep_for(5ms);
    }
  }

  const Mount& m_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0}, reads_{0}, written_{0}, slowest_ms_{0};
  std::mutex mu_;
  std::string first_failure_;
  std::vector<std::thread> threads_;
};

// Keeps a file open for the test's length, as an application would. The
// kernel keeps an inode in use, and its pages, when another test on the
// machine drops the dentry and inode caches (DropKernelCaches): a check
// that a re-read comes from the page cache must not fail for that.
class HeldOpen {
 public:
  explicit HeldOpen(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~HeldOpen() {
    if (fd_ >= 0) ::close(fd_);
  }
  HeldOpen(const HeldOpen&) = delete;
  HeldOpen& operator=(const HeldOpen&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

double Metric(const Mount& m, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  std::optional<int> port = m.MetricsPort();
  if (!port) return -1;
  std::optional<std::string> text = ScrapeMetrics(*port);
  if (!text) return -1;
  return MetricSum(*text, name, labels).value_or(-1);
}

std::string Exe(pid_t pid) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
}

class TakeOverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kFiles; ++i)
      ASSERT_EQ(WriteFile(m_.Src("f" + std::to_string(i)), Content(i)), 0);
    ASSERT_EQ(WriteFile(m_.Src("cached.txt"), std::string(256 * 1024, 'c')), 0);
    ASSERT_EQ(WriteFile(m_.Src("uncached.txt"), "not read before\n"), 0);
    ASSERT_TRUE(m_.Start({"--metrics-address", "127.0.0.1:0"}));
  }
  Mount m_;
};

TEST_F(TakeOverTest, AnotherBuildTakesOverUnderReadersAndAWriterAndKeepsThePageCache) {
  HeldOpen held(m_.Mnt("cached.txt"));  // before the read that fills the cache
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(ReadFile(m_.Mnt("cached.txt")), std::string(256 * 1024, 'c'));
  const pid_t old_pid = m_.pid();
  Workload work(m_);
  work.AwaitReads(60);
  ASSERT_TRUE(m_.TakeOver(NextMountBinary(), {"--metrics-address", "127.0.0.1:0"}));
  work.AwaitReads(60);
  work.Stop();

  EXPECT_EQ(work.failures(), 0) << work.first_failure();
  EXPECT_GT(work.reads(), 100);
  EXPECT_LT(work.slowest(), 2s);
  // Every line the writer wrote, through the descriptor it opened before.
  std::optional<std::string> log = ReadFile(m_.Src("log.txt"));
  ASSERT_TRUE(log);
  std::ostringstream expected;
  for (int n = 0; n < work.written(); ++n) expected << "line " << n << "\n";
  EXPECT_EQ(*log, expected.str());

  // The other build serves now.
  EXPECT_NE(m_.pid(), old_pid);
  EXPECT_EQ(Exe(m_.pid()), NextMountBinary());
  EXPECT_EQ(Metric(m_, "freshfs_build_info", {{"version", std::string(FRESHFS_VERSION) + "+next"}}),
            1);
  const double pause = Metric(m_, "freshfs_resume_pause_seconds");
  EXPECT_GT(pause, 0) << "not set at the new daemon's first answer";
  EXPECT_LT(pause, 2);

  // A file read before the take-over comes from the page cache: no read
  // request reaches the new daemon. (One never read does, so the count
  // is not simply dead.)
  const double reads_before = Metric(m_, "freshfs_fuse_requests_total", {{"op", "read"}});
  ASSERT_GE(reads_before, 0);
  const double dropped_before =
      Metric(m_, "freshfs_invalidations_total", {{"type", "inode_data"}, {"result", "ok"}});
  EXPECT_EQ(ReadFile(m_.Mnt("cached.txt")), std::string(256 * 1024, 'c'));
  EXPECT_EQ(Metric(m_, "freshfs_fuse_requests_total", {{"op", "read"}}), reads_before)
      << "pages dropped by the daemon since the take-over (all files): "
      << Metric(m_, "freshfs_invalidations_total", {{"type", "inode_data"}, {"result", "ok"}})
      << ", before this read: " << dropped_before;
  EXPECT_EQ(ReadFile(m_.Mnt("uncached.txt")), "not read before\n");
  EXPECT_GT(Metric(m_, "freshfs_fuse_requests_total", {{"op", "read"}}), reads_before);

  // The new daemon watches the source: a change made now arrives.
  ASSERT_EQ(WriteFile(m_.Src("f0"), "changed after the take-over\n"), 0);
  EXPECT_TRUE(
      WaitFor([&] { return ReadFile(m_.Mnt("f0")) == "changed after the take-over\n"; }, 5s))
      << ReadFile(m_.Mnt("f0")).value_or("(unreadable)").substr(0, 40);
}

TEST_F(TakeOverTest, ASecondTakeOverWorksAndTheLastDaemonUnmountsOnSigterm) {
  ASSERT_TRUE(m_.TakeOver(NextMountBinary()));
  ASSERT_TRUE(m_.TakeOver(MountBinary()));
  EXPECT_EQ(ReadFile(m_.Mnt("f1")), Content(1));
  EXPECT_EQ(m_.SignalAndWait(SIGTERM), 0);
  EXPECT_FALSE(IsFuseMountpoint(m_.mnt()));
}

TEST_F(TakeOverTest, ASuccessorThatRefusesLeavesTheRunningDaemonServing) {
  ASSERT_EQ(ReadFile(m_.Mnt("cached.txt")), std::string(256 * 1024, 'c'));
  const pid_t old_pid = m_.pid();
  Workload work(m_);
  work.AwaitReads(40);
  // Another source than the running daemon's: its state is refused.
  const std::string other = m_.dir() + "/other";
  ASSERT_EQ(::mkdir(other.c_str(), 0755), 0);
  ::testing::AssertionResult taken = m_.TakeOver(NextMountBinary(), {}, other);
  work.AwaitReads(60);
  work.Stop();
  EXPECT_FALSE(taken);
  EXPECT_NE(m_.Log().find("belongs to"), std::string::npos) << m_.LogTail();
  EXPECT_EQ(m_.pid(), old_pid);
  EXPECT_TRUE(m_.DaemonAlive());
  EXPECT_EQ(work.failures(), 0) << work.first_failure();
  EXPECT_LT(work.slowest(), 2s);
  // It still serves, watches, and can be taken over later.
  ASSERT_EQ(WriteFile(m_.Src("f2"), "changed\n"), 0);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("f2")) == "changed\n"; }, 5s));
  ASSERT_TRUE(m_.TakeOver(NextMountBinary()));
  EXPECT_EQ(ReadFile(m_.Mnt("f2")), "changed\n");
}

TEST_F(TakeOverTest, TakeOverOfADirectoryNobodyServesFailsClearly) {
  const std::string empty = m_.dir() + "/plain";
  ProcessResult r =
      RunToCompletion({NextMountBinary(), "-f", "--take-over", m_.source(), empty}, 10s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("nothing is mounted there to take over"), std::string::npos)
      << r.stderr_text;
}

// The same for an S3 volume (s3rver): the successor opens the bucket
// before the running daemon stops.
using S3TakeOverTest = S3MountedTest;

TEST_F(S3TakeOverTest, AnotherBuildTakesOverAnS3VolumeUnderReadersAndAWriter) {
  for (int i = 0; i < kFiles; ++i) PutDirect("f" + std::to_string(i), Content(i));
  PutDirect("cached.txt", std::string(256 * 1024, 'c'));
  PutDirect("other.txt", "before\n");
  ASSERT_TRUE(StartMount());
  HeldOpen held(m_.Mnt("cached.txt"));  // before the read that fills the cache
  ASSERT_TRUE(held.ok());
  ASSERT_EQ(ReadFile(m_.Mnt("cached.txt")), std::string(256 * 1024, 'c'));
  ASSERT_EQ(ReadFile(m_.Mnt("other.txt")), "before\n");
  // A file written before the take-over and closed after it: the old
  // daemon uploads what it holds before it hands over, so nothing is lost.
  const int open_fd = ::open(m_.Mnt("open.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(open_fd, 0);
  ASSERT_EQ(::write(open_fd, "before\n", 7), 7);
  // One created and not written yet: S3 has no such object until the old
  // daemon uploads it at the hand-over; the new one reopens it.
  const int new_fd = ::open(m_.Mnt("new.txt").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  ASSERT_GE(new_fd, 0);
  Workload work(m_, Workload::kFilePerLine);
  work.AwaitReads(30);
  ASSERT_TRUE(m_.TakeOver(NextMountBinary(), MountArgs(), "s3://test"));
  // A change right at the hand-over arrives all the same.
  Put("other.txt", "changed at the take-over\n");
  EXPECT_TRUE(
      WaitFor([&] { return ReadFile(m_.Mnt("other.txt")) == "changed at the take-over\n"; }, 10s));
  work.AwaitReads(60);
  work.Stop();
  EXPECT_EQ(::write(open_fd, "after\n", 6), 6) << std::strerror(errno);
  EXPECT_EQ(::close(open_fd), 0) << std::strerror(errno);
  EXPECT_EQ(Get("open.txt"), "before\nafter\n");
  EXPECT_EQ(::write(new_fd, "written after\n", 14), 14) << std::strerror(errno);
  EXPECT_EQ(::close(new_fd), 0) << std::strerror(errno);
  EXPECT_EQ(Get("new.txt"), "written after\n");

  EXPECT_EQ(work.failures(), 0) << work.first_failure();
  EXPECT_GT(work.reads(), 50);
  EXPECT_LT(work.slowest(), 2s);
  for (int n = 0; n < work.written(); ++n)
    EXPECT_EQ(Get("w" + std::to_string(n)), "line " + std::to_string(n) + "\n");
  EXPECT_EQ(Exe(m_.pid()), NextMountBinary());
  const double reads_before = Metric(m_, "freshfs_fuse_requests_total", {{"op", "read"}});
  ASSERT_GE(reads_before, 0);
  const double dropped_before =
      Metric(m_, "freshfs_invalidations_total", {{"type", "inode_data"}, {"result", "ok"}});
  EXPECT_EQ(ReadFile(m_.Mnt("cached.txt")), std::string(256 * 1024, 'c'));
  EXPECT_EQ(Metric(m_, "freshfs_fuse_requests_total", {{"op", "read"}}), reads_before)
      << "pages dropped by the daemon since the take-over (all files): "
      << Metric(m_, "freshfs_invalidations_total", {{"type", "inode_data"}, {"result", "ok"}})
      << ", before this read: " << dropped_before;
  // Another writer changes the bucket: the new daemon's poll (1 s) finds it.
  Put("f0", "changed after the take-over\n");
  EXPECT_TRUE(
      WaitFor([&] { return ReadFile(m_.Mnt("f0")) == "changed after the take-over\n"; }, 10s));
}

}  // namespace
}  // namespace freshfs::testing
