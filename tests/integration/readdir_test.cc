// Directory listings through the mount: same names and types as the source,
// large directories listed completely, offsets that stay valid across calls
// and handles, and listings that stay sane while the directory changes.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <map>
#include <memory>
#include <set>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

// The source is filled before mounting in these tests: what they check is the
// listing, not how fast the mount notices changes made behind its back.

std::map<std::string, unsigned char> NamesAndTypes(const std::string& path) {
  std::map<std::string, unsigned char> out;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) out[e->d_name] = e->d_type;
  closedir(d);
  return out;
}

// The names other than "." and "..".
std::vector<std::string> WithoutDots(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) {
    if (n != "." && n != "..") out.push_back(n);
  }
  return out;
}

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

void CreateFiles(const std::string& dir, const std::string& prefix, int count) {
  for (int i = 0; i < count; ++i) {
    int fd = open((dir + "/" + prefix + std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << ErrnoName(errno);
    close(fd);
  }
}

// One entry as returned by getdents64: its name and the offset of the next.
struct RawEntry {
  std::string name;
  int64_t next_offset;
};

// Reads entries with getdents64 into a small buffer (many calls per listing).
std::vector<RawEntry> RawList(int fd, size_t max_entries = SIZE_MAX) {
  std::vector<RawEntry> out;
  alignas(8) char buf[1024];
  while (out.size() < max_entries) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long pos = 0; pos < n && out.size() < max_entries;) {
      struct Dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
      };
      auto* e = reinterpret_cast<Dirent64*>(buf + pos);
      out.push_back({e->d_name, e->d_off});
      pos += e->d_reclen;
    }
  }
  return out;
}

TEST(ReaddirTest, NamesAndTypesMatchSource) {
  Mount m;
  ASSERT_EQ(WriteFile(m.Src("file"), "x"), 0);
  ASSERT_EQ(mkdir(m.Src("dir").c_str(), 0755), 0);
  ASSERT_EQ(symlink("file", m.Src("link").c_str()), 0);
  ASSERT_EQ(mkfifo(m.Src("fifo").c_str(), 0644), 0);
  ASSERT_EQ(WriteFile(m.Src("dir/inner"), "y"), 0);
  ASSERT_EQ(WriteFile(m.Src("name with spaces & ünïcødé"), "z"), 0);
  ASSERT_TRUE(m.Start());

  for (const char* rel : {"", "dir"}) {
    SCOPED_TRACE(rel);
    auto src = NamesAndTypes(m.Src(rel));
    auto mnt = NamesAndTypes(m.Mnt(rel));
    EXPECT_TRUE(mnt.count(".") && mnt.count("..")) << "no . or .. entries";
    std::map<std::string, unsigned char> src_names, mnt_names;
    for (auto& [name, type] : src) {
      if (name != "." && name != "..") src_names[name] = 0;
    }
    for (auto& [name, type] : mnt) {
      if (name != "." && name != "..") mnt_names[name] = 0;
    }
    EXPECT_EQ(mnt_names, src_names);
    for (auto& [name, type] : src) {
      if (name == "." || name == "..") continue;
      EXPECT_EQ(mnt[name], type) << "d_type of " << name;
    }
  }
}

TEST(ReaddirTest, EmptyDirectoryHasDotAndDotDot) {
  Mount m;
  ASSERT_TRUE(m.Start());
  ASSERT_EQ(mkdir(m.Mnt("empty").c_str(), 0755), 0);
  auto names = ListDir(m.Mnt("empty"));
  ASSERT_TRUE(names) << ErrnoName(errno);
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{".", ".."}));
}

TEST(ReaddirTest, TenThousandEntriesListedCompletelyOnce) {
  constexpr int kCount = 10000;
  Mount m;
  ASSERT_EQ(mkdir(m.Src("big").c_str(), 0755), 0);
  CreateFiles(m.Src("big"), "entry-with-a-longish-name-", kCount);
  ASSERT_TRUE(m.Start());

  auto listed = ListDir(m.Mnt("big"));
  ASSERT_TRUE(listed) << ErrnoName(errno);
  const auto names = WithoutDots(*listed);
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size()) << "duplicate names in the listing";
  EXPECT_EQ(names.size(), static_cast<size_t>(kCount));
  const auto src = WithoutDots(*ListDir(m.Src("big")));
  EXPECT_TRUE(unique == std::set<std::string>(src.begin(), src.end()))
      << "names differ from the source's";

  // A second listing (possibly from a cache) is just as complete.
  auto again = ListDir(m.Mnt("big"));
  ASSERT_TRUE(again);
  const auto again_names = WithoutDots(*again);
  EXPECT_TRUE(std::set<std::string>(again_names.begin(), again_names.end()) == unique);
  EXPECT_EQ(again_names.size(), names.size());
}

// With the kernel caching for long (a change source runs), one listing
// hands the kernel every entry's attributes, so an `ls -l` (read the whole
// directory, then stat each name) does not send a lookup per name.
TEST(ReaddirTest, AListingFillsTheKernelsCacheForTheStatsThatFollow) {
  constexpr int kCount = 5000;
  Mount m;
  ASSERT_EQ(mkdir(m.Src("big").c_str(), 0755), 0);
  CreateFiles(m.Src("big"), "f", kCount);
  ASSERT_TRUE(m.Start({"--metrics-address", "127.0.0.1:0"}));
  auto port = m.MetricsPort();
  ASSERT_TRUE(port) << m.Log();
  auto lookups = [&] {
    auto text = ScrapeMetrics(*port);
    return text ? MetricSum(*text, "freshfs_fuse_requests_total", {{"op", "lookup"}}).value_or(-1)
                : -1;
  };
  const auto names = WithoutDots(ListDir(m.Mnt("big")).value_or(std::vector<std::string>{}));
  ASSERT_EQ(names.size(), size_t(kCount));
  const double before = lookups();
  for (const auto& name : names) ASSERT_TRUE(Lstat(m.Mnt("big/" + name))) << name;
  EXPECT_LE(lookups() - before, 1) << "stats after a listing went to the daemon";
}

TEST(ReaddirTest, TelldirSeekdirReturnToTheSameEntry) {
  Mount m;
  ASSERT_EQ(mkdir(m.Src("d").c_str(), 0755), 0);
  CreateFiles(m.Src("d"), "f", 600);
  ASSERT_TRUE(m.Start());

  DirPtr dir(opendir(m.Mnt("d").c_str()));
  ASSERT_NE(dir, nullptr);
  DIR* d = dir.get();
  std::vector<std::pair<long, std::string>> positions;
  for (;;) {
    long pos = telldir(d);
    dirent* e = readdir(d);
    if (e == nullptr) break;
    positions.emplace_back(pos, e->d_name);
  }
  size_t files = 0;
  for (const auto& [pos, name] : positions) files += name.rfind("f", 0) == 0;
  ASSERT_EQ(files, 600u) << "listing incomplete before seeking";
  for (size_t i = 0; i < positions.size(); i += 37) {
    seekdir(d, positions[i].first);
    dirent* e = readdir(d);
    ASSERT_NE(e, nullptr) << "seekdir to position of entry " << i;
    EXPECT_EQ(e->d_name, positions[i].second) << "entry " << i;
  }
  seekdir(d, positions.back().first);
  dirent* e = readdir(d);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->d_name, positions.back().second);
  EXPECT_EQ(readdir(d), nullptr);

  rewinddir(d);
  std::vector<std::string> second;
  while (dirent* x = readdir(d)) second.emplace_back(x->d_name);
  ASSERT_EQ(second.size(), positions.size());
  for (size_t i = 0; i < second.size(); ++i) EXPECT_EQ(second[i], positions[i].second);
}

// The d_off of an entry resumes the listing right after it, also in another
// open directory handle (what NFS re-exports and Samba rely on).
TEST(ReaddirTest, DirectoryOffsetsResumeInANewHandle) {
  Mount m;
  ASSERT_EQ(mkdir(m.Src("d").c_str(), 0755), 0);
  CreateFiles(m.Src("d"), "name-", 400);
  ASSERT_TRUE(m.Start());

  int fd = open(m.Mnt("d").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  std::vector<RawEntry> all = RawList(fd);
  close(fd);
  ASSERT_EQ(all.size(), ListDir(m.Src("d"))->size());

  for (size_t i = 0; i + 1 < all.size(); i += 41) {
    int fd2 = open(m.Mnt("d").c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd2, 0);
    ASSERT_EQ(lseek(fd2, all[i].next_offset, SEEK_SET), all[i].next_offset);
    std::vector<RawEntry> rest = RawList(fd2, 3);
    close(fd2);
    ASSERT_FALSE(rest.empty()) << "nothing after offset of entry " << i;
    EXPECT_EQ(rest[0].name, all[i + 1].name) << "resuming after entry " << i;
  }
}

TEST(ReaddirTest, ListingWhileAnotherThreadCreatesFiles) {
  constexpr int kInitial = 300, kCreated = 600;
  Mount m;
  ASSERT_EQ(mkdir(m.Src("busy").c_str(), 0755), 0);
  CreateFiles(m.Src("busy"), "old-", kInitial);
  ASSERT_TRUE(m.Start());

  std::atomic<bool> done{false};
  std::atomic<int> create_errors{0};
  std::jthread creator([&] {
    for (int i = 0; i < kCreated; ++i) {
      int fd = open(m.Mnt("busy/new-" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0644);
      if (fd < 0) {
        ++create_errors;
      } else {
        close(fd);
      }
    }
    done = true;
  });

  int listings = 0;
  while (!done || listings < 3) {
    auto names = ListDir(m.Mnt("busy"));
    ASSERT_TRUE(names) << ErrnoName(errno);
    std::set<std::string> unique(names->begin(), names->end());
    EXPECT_EQ(unique.size(), names->size()) << "duplicates in listing " << listings;
    for (int i = 0; i < kInitial; ++i) {
      if (!unique.count("old-" + std::to_string(i))) {
        ADD_FAILURE() << "listing " << listings << " misses old-" << i;
        break;
      }
    }
    ++listings;
  }
  creator.join();
  EXPECT_EQ(create_errors, 0);
  auto final_names = ListDir(m.Mnt("busy"));
  ASSERT_TRUE(final_names);
  EXPECT_EQ(WithoutDots(*final_names).size(), static_cast<size_t>(kInitial + kCreated));
  EXPECT_TRUE(m.DaemonAlive());
}

}  // namespace
}  // namespace freshfs::testing
