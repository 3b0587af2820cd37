// S3 sources with more data: a directory of 10,000 objects (listed in
// ceil(N/1000) requests, stat'ed without one), syncs that list only what
// the kernel holds, a 1 GiB object read back
// byte-exact sequentially and at random offsets, and the on-disk cache
// serving a remount without a single GET.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "s3/client.h"
#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/s3_mount.h"

namespace freshfs::testing {
namespace {

class S3ScaleTest : public S3MountedTest {
 protected:
  double Requests(const std::string& op) {
    auto scrape = Scrape();
    EXPECT_TRUE(scrape);
    return MetricSum(scrape.value_or(""), "freshfs_s3_requests_total", {{"op", op}}).value_or(0);
  }
  // Objects "many/f00000" ... with their number as content, 16 PUTs at a
  // time; returns how many failed.
  int PutMany(int count) {
    auto client = Client();
    std::atomic<int> next{0}, failed{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 16; ++t) {
      writers.emplace_back([&] {
        for (int i = next++; i < count; i = next++) {
          char name[32];
          std::snprintf(name, sizeof name, "many/f%05d", i);
          if (!client->Put(name, std::to_string(i))) ++failed;
        }
      });
    }
    for (auto& w : writers) w.join();
    return failed.load();
  }
};

TEST_F(S3ScaleTest, TenThousandObjectsListInTenRequestsAndStatWithoutAny) {
  constexpr int kObjects = 10000;
  ASSERT_EQ(PutMany(kObjects), 0) << "PUTs failed";

  // No periodic sync or background scan during the test: every request is
  // accounted for.
  ASSERT_TRUE(StartMount({"--poll-interval", "1h", "--full-sync-interval", "0"}));
  // The bucket check, and nothing else: the mount lists nothing.
  EXPECT_EQ(Requests("list"), 1);
  // The first listing of "many": ceil(10,000 / 1,000) pages (and the
  // root's, the lookup of "many" in it: one listing of the name).
  auto names = SortedNames(ListDir(m_.Mnt("many")));
  const double lists_at_mount = Requests("list");
  EXPECT_EQ(lists_at_mount, 1 + 1 + 10);
  ASSERT_EQ(names.size(), size_t(kObjects));
  EXPECT_EQ(names.front(), "f00000");
  EXPECT_EQ(names.back(), "f09999");
  for (int i = 0; i < kObjects; i += 997) {
    auto st = Stat(m_.Mnt("many/" + names[size_t(i)]));
    ASSERT_TRUE(st) << names[size_t(i)];
    EXPECT_EQ(st->st_size, off_t(std::to_string(i).size()));
  }
  EXPECT_EQ(ReadFile(m_.Mnt("many/f01234")), "1234");
  // The attributes came from that listing.
  EXPECT_EQ(Requests("list"), lists_at_mount);
  EXPECT_EQ(Requests("head"), 0) << "the lookup of \"many\" was one listing";
}

// Polling cost follows what the kernel holds (docs/scale.md#polling-cost):
// with 5,000 objects in "many/" that the kernel never looked into, a sync
// lists the five small directories it holds (5 requests, one each), not the
// bucket (6 pages of 1,000); a remote change in
// "small" still shows; a file in "many" read for the first time is current;
// and once the kernel holds "many" too, listing what it holds would cost
// more than the whole bucket, so each sync lists the bucket instead.
TEST_F(S3ScaleTest, CachedSyncsCostWhatTheKernelHoldsNotTheBucket) {
  constexpr int kObjects = 5000;
  ASSERT_EQ(PutMany(kObjects), 0) << "PUTs failed";
  Put("small/a", "one");
  // s3rver leaves "deep/x/" out of a delimiter listing of "deep/" (its only
  // object is two levels further down): cached syncs must not take that
  // for a deletion.
  Put("deep/x/y/z", "deep");

  ASSERT_TRUE(StartMount({"--poll-interval", "300ms", "--full-sync-interval", "0"}));
  const auto mounted = std::chrono::steady_clock::now();
  ASSERT_EQ(ReadFile(m_.Mnt("small/a")), "one");      // the kernel now holds "" and "small"
  ASSERT_EQ(ReadFile(m_.Mnt("deep/x/y/z")), "deep");  // and "deep", "deep/x", "deep/x/y"
  auto syncs = [&](const char* kind) {
    auto scrape = Scrape();
    EXPECT_TRUE(scrape);
    return MetricSum(scrape.value_or(""), "freshfs_syncs_total", {{"kind", kind}}).value_or(-1);
  };
  // (The first sync tries the whole bucket within what the directories
  // would cost, 5,000 keys, and learns it is bigger: counted from after it.)
  const double first = syncs("cached");
  ASSERT_TRUE(WaitFor([&] { return syncs("cached") >= first + 2; }, 20s, 50ms));
  const double cached0 = syncs("cached"), full0 = syncs("full"), lists0 = Requests("list");
  ASSERT_TRUE(WaitFor([&] { return syncs("cached") >= cached0 + 5; }, 20s, 50ms))
      << "no cached syncs\n"
      << m_.Log();
  const double cached = syncs("cached") - cached0, lists = Requests("list") - lists0;
  EXPECT_EQ(syncs("full"), full0);
  // Five requests a sync: "", "small", "deep", "deep/x", "deep/x/y" (and
  // at most one partial sync at either end).
  EXPECT_LE(lists, 5 * cached + 10) << cached << " cached syncs made " << lists << " LISTs";
  EXPECT_GE(lists, 5 * cached - 10) << cached << " cached syncs made " << lists << " LISTs";

  EXPECT_EQ(SortedNames(ListDir(m_.Mnt("deep"))), std::vector<std::string>{"x"});
  EXPECT_EQ(ReadFile(m_.Mnt("deep/x/y/z")), "deep");

  Put("small/a", "two!");  // the other writer, in a directory the kernel holds
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("small/a")) == "two!"; }, 5s, 50ms))
      << "small/a still reads \"" << ReadFile(m_.Mnt("small/a")).value_or("?") << "\"";
  // "many", which the kernel does not hold, is answered for by no listing
  // older than about a poll interval: a name in it is current.
  std::this_thread::sleep_until(mounted + 8s);
  Put("many/f00007", "changed since the mount's listing");
  EXPECT_EQ(ReadFile(m_.Mnt("many/f00007")), "changed since the mount's listing");

  ASSERT_EQ(SortedNames(ListDir(m_.Mnt("many"))).size(), size_t(kObjects));
  // What the kernel holds now takes 5 + 6 requests to list directory by
  // directory; the whole bucket 6: each sync lists the bucket instead.
  const double cached1 = syncs("cached") + 1, lists1 = Requests("list");
  ASSERT_TRUE(WaitFor([&] { return syncs("cached") >= cached1 + 3; }, 30s, 50ms)) << m_.Log();
  const double per_sync = (Requests("list") - lists1) / (syncs("cached") - cached1);
  EXPECT_LE(per_sync, 6 + 2) << "syncs listed what the kernel holds one directory at a time";
  EXPECT_EQ(syncs("full"), full0) << "a lazy mount runs no full syncs";
}

// A new file costs its upload and no more: in a directory made through the
// mount (so known to be empty) or listed lately, the lookup and the create
// need no request; the upload is a HEAD (for servers that ignore
// conditional writes), the PUT and a HEAD for the object's LastModified.
TEST_F(S3ScaleTest, NewFilesCostOnlyTheirUpload) {
  Put("listed/old", "x");
  ASSERT_TRUE(StartMount());
  ASSERT_TRUE(ListDir(m_.Mnt("listed")));
  ASSERT_EQ(mkdir(m_.Mnt("made").c_str(), 0755), 0) << ErrnoName(errno);
  for (const char* dir : {"made", "listed"}) {
    SCOPED_TRACE(dir);
    const double lists = Requests("list"), heads = Requests("head"), puts = Requests("put");
    constexpr int kFiles = 10;
    for (int i = 0; i < kFiles; ++i)
      ASSERT_EQ(WriteFile(m_.Mnt(std::string(dir) + "/n" + std::to_string(i)), "data"), 0);
    EXPECT_EQ(Requests("put") - puts, kFiles);
    EXPECT_LE(Requests("head") - heads, 2 * kFiles);
    // (A sync may list the bucket meanwhile: one LIST each.)
    EXPECT_LE(Requests("list") - lists, 3);
  }
  EXPECT_EQ(Get("made/n3"), "data");
}

// FRESHFS_S3_BIG_MIB overrides the size (default 1024).
TEST_F(S3ScaleTest, OneGibObjectReadsBackExactlySequentiallyAndAtRandom) {
  const char* env = std::getenv("FRESHFS_S3_BIG_MIB");
  const size_t size = size_t(env ? std::atoll(env) : 1024) << 20;
  const std::string local = m_.dir() + "/big.bin";
  {
    int fd = open(local.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const std::string chunk_a = Pattern(8 << 20, 1), chunk_b = Pattern(8 << 20, 2);
    for (size_t off = 0; off < size; off += chunk_a.size()) {
      // Alternate two patterns and stamp the offset, so a misplaced block shows.
      std::string chunk = (off / chunk_a.size()) % 2 ? chunk_b : chunk_a;
      std::memcpy(chunk.data(), &off, sizeof off);
      size_t n = std::min(chunk.size(), size - off);
      ASSERT_EQ(pwrite(fd, chunk.data(), n, off_t(off)), ssize_t(n));
    }
    close(fd);
  }
  {
    auto client = Client();
    int fd = open(local.c_str(), O_RDONLY);
    auto put = client->PutFile("big.bin", fd, size);
    close(fd);
    ASSERT_TRUE(put) << put.error().Describe();
  }
  ASSERT_TRUE(StartMount());
  int want = open(local.c_str(), O_RDONLY);
  int got = open(m_.Mnt("big.bin").c_str(), O_RDONLY);
  ASSERT_GE(want, 0);
  ASSERT_GE(got, 0) << strerror(errno);
  std::vector<char> a(1 << 20), b(1 << 20);
  size_t total = 0;
  for (;;) {
    ssize_t n = read(got, b.data(), b.size());
    ASSERT_GE(n, 0) << strerror(errno) << " at " << total;
    if (n == 0) break;
    ASSERT_EQ(pread(want, a.data(), size_t(n), off_t(total)), n);
    ASSERT_EQ(std::memcmp(a.data(), b.data(), size_t(n)), 0) << "differs in the MiB at " << total;
    total += size_t(n);
  }
  EXPECT_EQ(total, size);
  close(got);

  // Random reads of a fresh open (a new mount would be colder; the page
  // cache may hold some of it, which must not change the bytes either).
  got = open(m_.Mnt("big.bin").c_str(), O_RDONLY | O_DIRECT);
  if (got < 0) got = open(m_.Mnt("big.bin").c_str(), O_RDONLY);
  ASSERT_GE(got, 0);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 64; ++i) {
    size_t off = (rng() % (size / 4096)) * 4096;
    size_t len = 4096 * (1 + rng() % 16);
    len = std::min(len, size - off);
    void* buf = nullptr;
    ASSERT_EQ(posix_memalign(&buf, 4096, len), 0);
    ssize_t n = pread(got, buf, len, off_t(off));
    ASSERT_EQ(n, ssize_t(len)) << strerror(errno) << " at " << off;
    ASSERT_EQ(pread(want, a.data(), std::min(len, a.size()), off_t(off)),
              ssize_t(std::min(len, a.size())));
    EXPECT_EQ(std::memcmp(a.data(), buf, std::min(len, a.size())), 0) << "at " << off;
    free(buf);
  }
  close(got);
  close(want);
}

TEST_F(S3ScaleTest, DiskCacheServesARemountWithoutGets) {
  const std::string data = Pattern(5 << 20, 9);
  PutDirect("cached.bin", data);
  const std::string cache = m_.dir() + "/cache";
  ASSERT_TRUE(StartMount({"--cache-dir", cache, "--cache-size", "64M"}));
  ASSERT_EQ(ReadFile(m_.Mnt("cached.bin")), data);
  EXPECT_GT(Requests("get"), 0);
  ASSERT_TRUE(m_.UnmountAndWait().has_value());

  ASSERT_TRUE(StartMount({"--cache-dir", cache, "--cache-size", "64M"}));
  ASSERT_EQ(ReadFile(m_.Mnt("cached.bin")), data);
  EXPECT_EQ(Requests("get"), 0) << "read again from " << cache;

  // A new version is never served from the cache.
  const std::string changed = Pattern(5 << 20, 10);
  PutDirect("cached.bin", changed);
  EXPECT_TRUE(
      WaitFor([&] { return ReadFile(m_.Mnt("cached.bin")) == changed; }, std::chrono::seconds(10)))
      << [&] {
           auto now = ReadFile(m_.Mnt("cached.bin")).value_or("");
           std::string where;
           for (size_t off = 0; off < now.size(); off += 1 << 18)
             where += now.compare(off, 1 << 18, data, off, 1 << 18) == 0      ? "o"
                      : now.compare(off, 1 << 18, changed, off, 1 << 18) == 0 ? "N"
                                                                              : "?";
           return "size " + std::to_string(now.size()) + " quarters-MiB " + where;
         }();
}

}  // namespace
}  // namespace freshfs::testing
