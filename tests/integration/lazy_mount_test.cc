// Lazy mounts (issue 20): a mount is ready once the source answers one
// request, whatever its size; a directory is listed when the kernel first
// looks into it; what the watcher keeps (its snapshot, inotify watches)
// follows what the kernel holds, and shrinks when the kernel forgets.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <filesystem>
#include <string>
#include <vector>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"
#include "support/s3_mount.h"

namespace freshfs::testing {
namespace {

using namespace std::chrono_literals;

class S3LazyMountTest : public S3MountedTest {
 protected:
  double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto scrape = Scrape();
    EXPECT_TRUE(scrape);
    return MetricSum(scrape.value_or(""), name, labels).value_or(-1);
  }
  double Requests(const std::string& op) {  // (no series before the first)
    return std::max(0.0, Metric("freshfs_s3_requests_total", {{"op", op}}));
  }
};

// 20,000 objects straight on s3rver's disk, plus one five levels down.
TEST_F(S3LazyMountTest, ABucketMountsWithOneRequestAndANameIsLookedUpWithOne) {
  std::vector<std::string> keys;
  for (int i = 0; i < 20000; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "big/f%05d", i);
    keys.push_back(key);
  }
  keys.push_back("a/b/c/d/deep.txt");
  ASSERT_TRUE(s3_.LinkObjects(keys, "lazy")) << std::strerror(errno);

  // No periodic sync and no background scan: every request is the test's.
  ASSERT_TRUE(StartMount({"--poll-interval", "1h", "--full-sync-interval", "0"}));
  EXPECT_EQ(Requests("list"), 1) << "the bucket check, and nothing else";
  EXPECT_EQ(Requests("head"), 0);
  EXPECT_LE(Metric("freshfs_watched_entries"), 1);

  // Down a path no listing covered: every name is found, one request per
  // directory (a directory that holds only a subdirectory included: s3rver
  // leaves such a prefix out of delimiter listings).
  double lists = Requests("list"), heads = Requests("head");
  auto deep = Stat(m_.Mnt("a/b/c/d"));
  ASSERT_TRUE(deep);
  EXPECT_TRUE(S_ISDIR(deep->st_mode));
  EXPECT_EQ(Requests("list") + Requests("head") - lists - heads, 4)
      << "four lookups of directories not listed yet, one request each";
  EXPECT_EQ(ReadFile(m_.Mnt("a/b/c/d/deep.txt")), "lazy");
  lists = Requests("list"), heads = Requests("head");
  auto big = Stat(m_.Mnt("big"));
  ASSERT_TRUE(big);
  EXPECT_TRUE(S_ISDIR(big->st_mode));
  EXPECT_EQ(Requests("list") + Requests("head") - lists - heads, 1)
      << "a directory of 20,000 objects is looked up with one request";
  lists = Requests("list"), heads = Requests("head");
  auto f = Stat(m_.Mnt("big/f01234"));
  ASSERT_TRUE(f) << "an object that exists is never \"no such file\"";
  EXPECT_EQ(f->st_size, 4);
  EXPECT_EQ(Requests("list") + Requests("head") - lists - heads, 1)
      << "a lookup in a directory not listed yet costs one request";

  // One written by another client after the mount is found as well.
  Put("big/late", "after the mount");
  EXPECT_EQ(ReadFile(m_.Mnt("big/late")), "after the mount");
  EXPECT_FALSE(Stat(m_.Mnt("big/never"))) << "and one that does not exist is not";

  // A directory is listed when the kernel first lists it: 20 pages.
  const double before_ls = Requests("list");
  EXPECT_EQ(ListDir(m_.Mnt("big")).value_or(std::vector<std::string>{}).size(), 2 + 20001u);
  EXPECT_EQ(Requests("list") - before_ls, 21) << "pages of 1,000 keys for 20,001 names";
  EXPECT_LE(Metric("freshfs_watched_entries"), 20000 + 20);
}

// What a lookup hands the kernel before its directory was ever listed (a
// name, or "no such file") is kept fresh like everything else.
TEST_F(S3LazyMountTest, NamesLookedUpBeforeTheirDirectoryIsListedStayFresh) {
  Put("d/x", "one");
  ASSERT_TRUE(StartMount({"--poll-interval", "300ms"}));
  ASSERT_EQ(ReadFile(m_.Mnt("d/x")), "one");
  ASSERT_FALSE(Stat(m_.Mnt("d/later")));  // the kernel caches "no such file" for an hour
  Put("d/x", "two!");
  Put("d/later", "here");
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("d/x")) == "two!"; }, 5s, 50ms))
      << "d/x still reads \"" << ReadFile(m_.Mnt("d/x")).value_or("?") << "\"\n"
      << m_.LogTail();
  EXPECT_TRUE(WaitFor([&] { return Stat(m_.Mnt("d/later")).has_value(); }, 5s, 50ms))
      << "d/later is still \"no such file\"\n"
      << m_.LogTail();
  EXPECT_EQ(ReadFile(m_.Mnt("d/later")), "here");
}

// A lookup lists the name itself: the object sorts first, then names that
// extend it with a byte below '/' ("name.0", "name-old/..."), then the
// keys under "name/". Siblings enough to fill that listing's page must not
// turn an object into "no such file", nor hide that the name is a
// directory (which wins over an object of the same name).
TEST_F(S3LazyMountTest, LookupsSeePastSiblingsThatSortBetweenANameAndItsSlash) {
  std::vector<std::string> keys = {"crowded/file", "crowded/dir/x", "crowded/both",
                                   "crowded/both/y"};
  for (const char* name : {"file", "dir", "both"}) {
    for (int i = 0; i < 20; ++i)
      keys.push_back("crowded/" + std::string(name) + "." + std::to_string(i));
    keys.push_back("crowded/" + std::string(name) + "-old/z");
  }
  ASSERT_TRUE(s3_.LinkObjects(keys, "crowd")) << std::strerror(errno);
  ASSERT_TRUE(StartMount({"--poll-interval", "1h", "--full-sync-interval", "0"}));

  auto file = Stat(m_.Mnt("crowded/file"));
  ASSERT_TRUE(file) << "an object behind 20 siblings is found";
  EXPECT_TRUE(S_ISREG(file->st_mode));
  auto dir = Stat(m_.Mnt("crowded/dir"));
  ASSERT_TRUE(dir) << "a prefix behind 20 siblings is found";
  EXPECT_TRUE(S_ISDIR(dir->st_mode));
  auto both = Stat(m_.Mnt("crowded/both"));
  ASSERT_TRUE(both);
  EXPECT_TRUE(S_ISDIR(both->st_mode)) << "the directory wins over the object";
  EXPECT_EQ(ReadFile(m_.Mnt("crowded/dir/x")), "crowd");
  EXPECT_FALSE(Stat(m_.Mnt("crowded/none")));
}

// How many inotify watches process `pid` has.
int InotifyWatches(pid_t pid) {
  int watches = 0;
  const std::string fdinfo = "/proc/" + std::to_string(pid) + "/fdinfo";
  for (const auto& entry : std::filesystem::directory_iterator(fdinfo)) {
    const std::string text = ReadFile(entry.path().string()).value_or("");
    for (size_t at = text.find("inotify wd:"); at != std::string::npos;
         at = text.find("inotify wd:", at + 1))
      ++watches;
  }
  return watches;
}

class DirLazyMountTest : public MountedTest {
 protected:
  static constexpr int kDirs = 40, kFiles = 100;
  std::vector<std::string> ExtraArgs() const override {
    return {"--events", "inotify", "--poll-interval", "300ms", "--metrics-address", "127.0.0.1:0"};
  }
  void PrepareSource() override {
    for (int d = 0; d < kDirs; ++d) {
      const std::string dir = m_.Src("d" + std::to_string(d));
      ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
      ASSERT_EQ(::mkdir((dir + "/sub").c_str(), 0755), 0);
      for (int i = 0; i < kFiles; ++i) ASSERT_EQ(WriteFile(dir + "/f" + std::to_string(i), "x"), 0);
    }
  }
  double Metric(const std::string& name) {
    auto port = m_.MetricsPort();
    if (!port) return -1;
    auto text = ScrapeMetrics(*port);
    return text ? MetricSum(*text, name).value_or(-1) : -1;
  }
};

// Drops the kernel's caches machine-wide: runs alone (see CMakeLists).
TEST_F(DirLazyMountTest, WatchesAndSnapshotFollowWhatTheKernelHoldsDropsCaches) {
  // At mount: the root only, whatever the tree.
  EXPECT_TRUE(WaitFor([&] { return InotifyWatches(m_.pid()) == 1; }, 5s, 20ms))
      << InotifyWatches(m_.pid()) << " watches";
  EXPECT_LE(Metric("freshfs_watched_entries"), 1 + kDirs);

  for (int d = 0; d < 10; ++d)
    ASSERT_EQ(ListDir(m_.Mnt("d" + std::to_string(d))).value_or(std::vector<std::string>{}).size(),
              size_t(2 + kFiles + 1));
  // Every directory the kernel holds is watched: the ten, their "sub"
  // (readdirplus handed them over) and the root's forty (the root was listed).
  EXPECT_TRUE(
      WaitFor([&] { return Metric("freshfs_watched_entries") >= 10 * (kFiles + 1); }, 5s, 50ms));
  EXPECT_GE(InotifyWatches(m_.pid()), 11);
  EXPECT_LE(InotifyWatches(m_.pid()), 1 + kDirs + 10);

  // A change in a held directory shows at once (inotify).
  ASSERT_EQ(WriteFile(m_.Src("d3/f7"), "changed"), 0);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("d3/f7")) == "changed"; }, 2s, 20ms));

  DropKernelCaches();
  double watched = -1;
  EXPECT_TRUE(WaitFor(
      [&] {
        watched = Metric("freshfs_watched_entries");
        return watched >= 0 && watched <= 1 + kDirs && InotifyWatches(m_.pid()) <= 1 + kDirs;
      },
      20s, 100ms))
      << "after the kernel forgot: " << watched << " entries, " << InotifyWatches(m_.pid())
      << " watches";
  // And looked into again, as fresh as before.
  ASSERT_EQ(WriteFile(m_.Src("d3/f8"), "changed too"), 0);
  EXPECT_EQ(ReadFile(m_.Mnt("d3/f8")), "changed too");
  ASSERT_EQ(WriteFile(m_.Src("d3/f8"), "and again"), 0);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("d3/f8")) == "and again"; }, 2s, 20ms));
}

}  // namespace
}  // namespace freshfs::testing
