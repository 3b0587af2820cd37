#include "cache/disk_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "support/temp_dir.h"

namespace freshfs::cache {
namespace {

namespace stdfs = std::filesystem;

std::string ReadWholeFile(const stdfs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteWholeFile(const stdfs::path& path, std::string_view content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

void SetMtime(const stdfs::path& path, time_t sec) {
  const timespec times[2] = {{sec, 0}, {sec, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// The errno DiskCache::Open failed with, 0 when it opened.
int ErrnoOf(const Result<std::unique_ptr<DiskCache>>& opened) {
  return opened ? 0 : opened.error().code;
}

// Runs `body` in a child process; returns its exit code.
template <typename Body>
int InChild(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class DiskCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = base_ / "cache"; }
  void TearDown() override { cache_.reset(); }

  void OpenCache(uint64_t max_bytes) {
    cache_.reset();
    auto opened = DiskCache::Open(dir_, max_bytes);
    ASSERT_TRUE(opened.ok()) << std::strerror(opened.error().code);
    cache_ = std::move(*opened);
  }

  std::optional<std::string> Get(std::string_view key, std::string_view etag, uint64_t block,
                                 size_t size = 1 << 16) {
    std::string buf(size, '\0');
    std::optional<size_t> n = cache_->Get(key, etag, block, buf.data(), buf.size());
    if (!n) return std::nullopt;
    buf.resize(*n);
    return buf;
  }

  std::vector<stdfs::path> BlockFiles() const {
    std::vector<stdfs::path> files;
    for (const auto& entry : stdfs::recursive_directory_iterator(dir_ / "blocks")) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    return files;
  }

  uint64_t BlockFilesSize() const {
    uint64_t total = 0;
    for (const stdfs::path& file : BlockFiles()) total += stdfs::file_size(file);
    return total;
  }

  // The block file holding `key` (keys are stored in plain text in headers).
  stdfs::path FileOf(std::string_view key) const {
    for (const stdfs::path& file : BlockFiles()) {
      if (ReadWholeFile(file).find(key) != std::string::npos) return file;
    }
    ADD_FAILURE() << "no block file holds " << key;
    return {};
  }

  static uint64_t Size(std::string_view key, std::string_view etag, size_t data_size) {
    return DiskCache::BlockFileSize(key, etag, data_size);
  }

  freshfs::testing::TempDir tmp_{"diskcache"};
  stdfs::path base_ = tmp_.path(), dir_;
  std::unique_ptr<DiskCache> cache_;
};

TEST_F(DiskCacheTest, PutThenGetReturnsTheBlock) {
  OpenCache(1 << 20);
  cache_->Put("photos/2024/cat.jpg", "\"etag-1\"", 3, "hello block");

  EXPECT_EQ(Get("photos/2024/cat.jpg", "\"etag-1\"", 3), "hello block");
  EXPECT_EQ(Get("photos/2024/cat.jpg", "\"etag-1\"", 4), std::nullopt);
  EXPECT_EQ(cache_->used_bytes(), Size("photos/2024/cat.jpg", "\"etag-1\"", 11));
  EXPECT_EQ(cache_->used_bytes(), BlockFilesSize());
  const DiskCache::Stats stats = cache_->stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.bytes_written, cache_->used_bytes());
  // Keys never become file names.
  for (const stdfs::path& file : BlockFiles()) {
    EXPECT_EQ(file.string().find("cat"), std::string::npos) << file;
  }
}

TEST_F(DiskCacheTest, OtherEtagOrKeyIsAMiss) {
  OpenCache(1 << 20);
  cache_->Put("a/b", "v1", 0, "old data");
  EXPECT_EQ(Get("a/b", "v2", 0), std::nullopt);
  EXPECT_EQ(Get("a/c", "v1", 0), std::nullopt);
  // Key and etag are hashed unambiguously: ("a/b", "v1") is not ("a/bv", "1").
  EXPECT_EQ(Get("a/bv", "1", 0), std::nullopt);
  EXPECT_EQ(Get("a/b", "v1", 0), "old data");
}

TEST_F(DiskCacheTest, ShortBufferGetsThePrefix) {
  OpenCache(1 << 20);
  cache_->Put("k", "e", 0, "hello world");
  EXPECT_EQ(Get("k", "e", 0, 5), "hello");
  EXPECT_EQ(Get("k", "e", 0, 11), "hello world");
}

TEST_F(DiskCacheTest, EmptyBlockIsAHit) {
  OpenCache(1 << 20);
  cache_->Put("empty", "e", 0, "");
  EXPECT_EQ(Get("empty", "e", 0), "");
}

TEST_F(DiskCacheTest, SameBlockPutTwiceIsStoredOnce) {
  OpenCache(1 << 20);
  cache_->Put("k", "e", 0, "data");
  cache_->Put("k", "e", 0, "data");
  EXPECT_EQ(BlockFiles().size(), 1u);
  EXPECT_EQ(cache_->used_bytes(), Size("k", "e", 4));
}

TEST_F(DiskCacheTest, BlocksSurviveReopen) {
  OpenCache(1 << 20);
  cache_->Put("one", "e1", 0, "first");
  cache_->Put("one", "e1", 1, "second");
  cache_->Put("two", "e9", 0, "third");
  const uint64_t used = cache_->used_bytes();

  OpenCache(1 << 20);
  EXPECT_EQ(cache_->used_bytes(), used);
  EXPECT_EQ(Get("one", "e1", 0), "first");
  EXPECT_EQ(Get("one", "e1", 1), "second");
  EXPECT_EQ(Get("two", "e9", 0), "third");
  // The index is rebuilt from the headers, so Forget finds the reopened blocks.
  cache_->Forget("one");
  EXPECT_EQ(BlockFiles().size(), 1u);
  EXPECT_EQ(cache_->used_bytes(), Size("two", "e9", 5));
}

TEST_F(DiskCacheTest, EvictsLeastRecentlyUsedFirst) {
  const std::string data(100, 'x');
  const uint64_t block = Size("A", "e", data.size());
  OpenCache(2 * block + block / 2);
  cache_->Put("A", "e", 0, data);
  cache_->Put("B", "e", 0, data);
  ASSERT_TRUE(Get("A", "e", 0));
  cache_->Put("C", "e", 0, data);

  EXPECT_EQ(Get("B", "e", 0), std::nullopt);
  EXPECT_EQ(Get("A", "e", 0), data);
  EXPECT_EQ(Get("C", "e", 0), data);
  EXPECT_LE(cache_->used_bytes(), cache_->max_bytes());
  EXPECT_EQ(cache_->used_bytes(), BlockFilesSize());
  EXPECT_EQ(BlockFiles().size(), 2u);
  EXPECT_EQ(cache_->stats().evictions, 1u);
}

TEST_F(DiskCacheTest, ReopenEvictsOldestMtimeFirst) {
  const std::string data(100, 'x');
  const uint64_t block = Size("A", "e", data.size());
  OpenCache(1 << 20);
  cache_->Put("A", "e", 0, data);
  cache_->Put("B", "e", 0, data);
  cache_->Put("C", "e", 0, data);
  SetMtime(FileOf("A"), 1'700'000'003);
  SetMtime(FileOf("B"), 1'700'000'001);
  SetMtime(FileOf("C"), 1'700'000'002);

  OpenCache(2 * block);
  EXPECT_EQ(cache_->stats().evictions, 1u);
  EXPECT_EQ(Get("B", "e", 0), std::nullopt);
  EXPECT_EQ(Get("A", "e", 0), data);
  EXPECT_EQ(Get("C", "e", 0), data);
  EXPECT_EQ(BlockFiles().size(), 2u);
}

TEST_F(DiskCacheTest, HitRefreshesAStaleMtimeForTheNextOpen) {
  const std::string data(100, 'x');
  const uint64_t block = Size("A", "e", data.size());
  OpenCache(1 << 20);
  cache_->Put("A", "e", 0, data);
  cache_->Put("B", "e", 0, data);
  SetMtime(FileOf("A"), 1'700'000'001);
  SetMtime(FileOf("B"), 1'700'000'002);
  OpenCache(1 << 20);
  ASSERT_TRUE(Get("A", "e", 0));  // A becomes the most recently used

  OpenCache(block);
  EXPECT_EQ(Get("A", "e", 0), data);
  EXPECT_EQ(Get("B", "e", 0), std::nullopt);
}

TEST_F(DiskCacheTest, BlockLargerThanTheCacheIsNotStored) {
  OpenCache(Size("small", "e", 10) + 20);
  cache_->Put("small", "e", 0, std::string(10, 's'));
  cache_->Put("big", "e", 0, std::string(100, 'b'));
  EXPECT_EQ(Get("big", "e", 0), std::nullopt);
  EXPECT_EQ(Get("small", "e", 0), std::string(10, 's'));  // not evicted for nothing
  EXPECT_EQ(cache_->used_bytes(), Size("small", "e", 10));
}

TEST_F(DiskCacheTest, ZeroSizedCacheStoresNothing) {
  OpenCache(0);
  cache_->Put("k", "e", 0, "data");
  EXPECT_EQ(Get("k", "e", 0), std::nullopt);
  EXPECT_TRUE(BlockFiles().empty());
}

// Each damage makes the block a miss and removes its file; never wrong data.
struct Damage {
  const char* name;
  void (*apply)(const stdfs::path& file);
};

void FlipByteAt(const stdfs::path& file, std::ptrdiff_t offset) {
  std::string content = ReadWholeFile(file);
  const size_t at = offset >= 0 ? size_t(offset) : content.size() + offset;
  content[at] ^= 0x20;
  WriteWholeFile(file, content);
}

const Damage kDamages[] = {
    {"LastDataByteFlipped", [](const stdfs::path& f) { FlipByteAt(f, -1); }},
    {"FirstDataByteFlipped", [](const stdfs::path& f) { FlipByteAt(f, 40 + 3 + 1); }},
    {"MagicFlipped", [](const stdfs::path& f) { FlipByteAt(f, 0); }},
    {"BlockNumberFlipped", [](const stdfs::path& f) { FlipByteAt(f, 16); }},
    {"KeyFlipped", [](const stdfs::path& f) { FlipByteAt(f, 41); }},
    {"TruncatedByOne",
     [](const stdfs::path& f) { stdfs::resize_file(f, stdfs::file_size(f) - 1); }},
    {"TruncatedIntoHeader", [](const stdfs::path& f) { stdfs::resize_file(f, 10); }},
    {"Emptied", [](const stdfs::path& f) { stdfs::resize_file(f, 0); }},
};

class DamagedBlockTest : public DiskCacheTest, public ::testing::WithParamInterface<Damage> {};

TEST_P(DamagedBlockTest, IsAMissAndRemoved) {
  OpenCache(1 << 20);
  cache_->Put("key", "e", 0, "the block's data");
  cache_->Put("other", "e", 0, "intact");
  const stdfs::path file = FileOf("key");
  GetParam().apply(file);

  EXPECT_EQ(Get("key", "e", 0), std::nullopt);
  EXPECT_FALSE(stdfs::exists(file));
  EXPECT_EQ(cache_->used_bytes(), Size("other", "e", 6));
  EXPECT_EQ(cache_->stats().corrupt, 1u);
  EXPECT_EQ(Get("other", "e", 0), "intact");
  // The block can be cached again.
  cache_->Put("key", "e", 0, "the block's data");
  EXPECT_EQ(Get("key", "e", 0), "the block's data");
}

TEST_P(DamagedBlockTest, IsNeverServedAfterReopen) {
  OpenCache(1 << 20);
  cache_->Put("key", "e", 0, "the block's data");
  cache_->Put("other", "e", 0, "intact");
  const stdfs::path file = FileOf("key");
  GetParam().apply(file);

  OpenCache(1 << 20);
  EXPECT_EQ(Get("key", "e", 0), std::nullopt);
  EXPECT_FALSE(stdfs::exists(file));
  EXPECT_EQ(cache_->used_bytes(), Size("other", "e", 6));
  EXPECT_EQ(Get("other", "e", 0), "intact");
}

INSTANTIATE_TEST_SUITE_P(Damages, DamagedBlockTest, ::testing::ValuesIn(kDamages),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(DiskCacheTest, BlockFileDeletedBehindItsBackIsAMiss) {
  OpenCache(1 << 20);
  cache_->Put("key", "e", 0, "data");
  stdfs::remove(FileOf("key"));
  EXPECT_EQ(Get("key", "e", 0), std::nullopt);
  EXPECT_EQ(cache_->used_bytes(), 0u);
}

TEST_F(DiskCacheTest, ForeignFilesAreRemovedInsideAndLeftAloneOutside) {
  OpenCache(1 << 20);
  cache_->Put("real", "e", 0, "real data");
  const stdfs::path real = FileOf("real");
  cache_.reset();

  const stdfs::path blocks = dir_ / "blocks";
  WriteWholeFile(dir_ / "notes.txt", "the user's file");
  stdfs::create_directories(blocks / "ab");
  stdfs::create_directories(blocks / "aa");
  WriteWholeFile(blocks / "ab" / "garbage", "junk");
  WriteWholeFile(blocks / "README", "junk");
  WriteWholeFile(blocks / "zz", "junk");
  WriteWholeFile(dir_ / "tmp" / "17", "half a block");
  stdfs::create_directories(blocks / "not-ours" / "deep");
  WriteWholeFile(blocks / "not-ours" / "deep" / "f", "x");
  // A block file under a name that does not match its content.
  const std::string misnamed = std::string(64, 'a') + ".0.1";
  stdfs::copy_file(real, blocks / "aa" / misnamed);
  // A symlink under a proper-looking name must not be followed.
  const std::string linked = real.filename().string();
  const std::string serial_99 = linked.substr(0, linked.rfind('.')) + ".99";
  stdfs::create_symlink(dir_ / "notes.txt", real.parent_path() / serial_99);
  // A second copy of the real block (as after a crash): one is kept.
  const std::string serial_98 = linked.substr(0, linked.rfind('.')) + ".98";
  stdfs::copy_file(real, real.parent_path() / serial_98);

  OpenCache(1 << 20);
  EXPECT_EQ(Get("real", "e", 0), "real data");
  EXPECT_EQ(cache_->used_bytes(), Size("real", "e", 9));
  EXPECT_EQ(ReadWholeFile(dir_ / "notes.txt"), "the user's file");
  EXPECT_FALSE(stdfs::exists(blocks / "ab" / "garbage"));
  EXPECT_FALSE(stdfs::exists(blocks / "README"));
  EXPECT_FALSE(stdfs::exists(blocks / "zz"));
  EXPECT_FALSE(stdfs::exists(blocks / "aa" / misnamed));
  EXPECT_FALSE(stdfs::is_symlink(real.parent_path() / serial_99));
  EXPECT_TRUE(stdfs::is_empty(dir_ / "tmp"));
  EXPECT_EQ(BlockFiles().size(), 2u);  // the real block, and deep/f left alone
  // A foreign directory is left alone rather than removed with its contents.
  EXPECT_TRUE(stdfs::exists(blocks / "not-ours" / "deep" / "f"));
  // New blocks still get fresh names.
  cache_->Put("new", "e", 0, "new data");
  EXPECT_EQ(Get("new", "e", 0), "new data");
  EXPECT_EQ(Get("real", "e", 0), "real data");
}

TEST_F(DiskCacheTest, FanOutDirectoriesAreMadeWhenNeeded) {
  OpenCache(1 << 20);
  cache_->Put("first", "e", 0, "data");
  EXPECT_EQ(Get("first", "e", 0), "data");
  // Even when removed behind its back.
  stdfs::remove_all(dir_ / "blocks" / FileOf("first").parent_path().filename());
  cache_->Put("first", "e", 1, "data");
  EXPECT_EQ(Get("first", "e", 1), "data");
  EXPECT_EQ(cache_->stats().io_errors, 0u);
}

TEST_F(DiskCacheTest, ForgetDropsAllVersions) {
  OpenCache(1 << 20);
  cache_->Put("doc", "v1", 0, "old 0");
  cache_->Put("doc", "v1", 1, "old 1");
  cache_->Put("doc", "v2", 0, "new 0");
  cache_->Put("docs", "v1", 0, "another object");

  cache_->Forget("doc");
  EXPECT_EQ(Get("doc", "v1", 0), std::nullopt);
  EXPECT_EQ(Get("doc", "v1", 1), std::nullopt);
  EXPECT_EQ(Get("doc", "v2", 0), std::nullopt);
  EXPECT_EQ(Get("docs", "v1", 0), "another object");
  EXPECT_EQ(cache_->used_bytes(), Size("docs", "v1", 14));
  EXPECT_EQ(BlockFiles().size(), 1u);
  cache_->Forget("never cached");

  OpenCache(1 << 20);
  EXPECT_EQ(Get("doc", "v2", 0), std::nullopt);
  EXPECT_EQ(Get("docs", "v1", 0), "another object");
}

TEST_F(DiskCacheTest, FailedWriteIsCountedAndReleasesItsSpace) {
  OpenCache(1 << 20);
  stdfs::remove(dir_ / "tmp");
  cache_->Put("key", "e", 0, "data");
  EXPECT_EQ(Get("key", "e", 0), std::nullopt);
  EXPECT_EQ(cache_->used_bytes(), 0u);
  EXPECT_EQ(cache_->stats().io_errors, 1u);
  EXPECT_TRUE(BlockFiles().empty());
}

// Readers must never see another block's or a half-written block's data,
// whatever Put, eviction and Forget do meanwhile; and afterwards the
// accounting matches the disk.
TEST_F(DiskCacheTest, ConcurrentPutGetForgetNeverServeWrongData) {
  auto content = [](int key, int etag, int block) {
    const size_t length = 500 + size_t(key * 131 + etag * 17 + block * 7) % 1500;
    std::string data(length, '\0');
    for (size_t i = 0; i < length; ++i) data[i] = char('a' + (key + etag * 3 + block * 5 + i) % 26);
    return data;
  };
  const uint64_t max_bytes = 20 * Size("key-00", "etag-0", 2000);
  OpenCache(max_bytes);

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::string buf(4096, '\0');
      for (int i = 0; i < 1500; ++i) {
        const int key = int(rng() % 16), etag = int(rng() % 2), block = int(rng() % 4);
        const std::string name = "key-" + std::to_string(key);
        const std::string version = "etag-" + std::to_string(etag);
        const int op = int(rng() % 20);
        if (op == 0) {
          cache_->Forget(name);
        } else if (op < 8) {
          cache_->Put(name, version, block, content(key, etag, block));
        } else if (auto n = cache_->Get(name, version, block, buf.data(), buf.size())) {
          if (std::string_view(buf.data(), *n) != content(key, etag, block)) ++wrong;
        }
        if (cache_->used_bytes() > max_bytes) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(wrong.load(), 0);
  const DiskCache::Stats stats = cache_->stats();
  EXPECT_GT(stats.hits, 0u);
  EXPECT_GT(stats.evictions, 0u);
  EXPECT_EQ(stats.corrupt, 0u);
  EXPECT_EQ(stats.io_errors, 0u);
  EXPECT_LE(cache_->used_bytes(), max_bytes);
  EXPECT_EQ(cache_->used_bytes(), BlockFilesSize());
  EXPECT_TRUE(stdfs::is_empty(dir_ / "tmp"));
  const uint64_t used = cache_->used_bytes();
  OpenCache(max_bytes);
  EXPECT_EQ(cache_->used_bytes(), used);
}

TEST_F(DiskCacheTest, SecondOpenOfTheSameDirIsBusy) {
  OpenCache(1 << 20);
  EXPECT_EQ(DiskCache::Open(dir_, 1 << 20).error().code, EBUSY);
  // Another process, too.
  EXPECT_EQ(InChild([&] { return ErrnoOf(DiskCache::Open(dir_, 1 << 20)); }), EBUSY);
  cache_->Put("key", "e", 0, "data");  // the refused Opens touched nothing
  EXPECT_EQ(Get("key", "e", 0), "data");

  cache_.reset();
  OpenCache(1 << 20);
  EXPECT_EQ(Get("key", "e", 0), "data");
}

TEST_F(DiskCacheTest, DirThatCannotBeCreatedIsAnError) {
  WriteWholeFile(base_ / "file", "x");
  EXPECT_FALSE(DiskCache::Open(base_ / "file", 1 << 20).ok());
  EXPECT_EQ(DiskCache::Open(base_ / "file" / "cache", 1 << 20).error().code, ENOTDIR);
}

TEST_F(DiskCacheTest, UnwritableDirIsAnError) {
  OpenCache(1 << 20);  // an existing cache, as after an earlier run
  cache_.reset();
  const auto read_only = stdfs::perms::owner_read | stdfs::perms::owner_exec |
                         stdfs::perms::others_read | stdfs::perms::others_exec;
  const auto writable = read_only | stdfs::perms::owner_write;
  for (const stdfs::path& d : {base_, dir_, dir_ / "tmp", dir_ / "blocks"}) {
    stdfs::permissions(d, ::geteuid() == 0 ? writable : read_only);
  }
  // Root writes anywhere, so root runs the check as nobody in a child process.
  auto open_as_nobody = [](const stdfs::path& dir) {
    return InChild([&] {
      if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) return 100;
      return ErrnoOf(DiskCache::Open(dir, 1 << 20));
    });
  };
  EXPECT_EQ(open_as_nobody(dir_), EACCES);
  EXPECT_EQ(open_as_nobody(base_ / "new-cache"), EACCES);
  for (const stdfs::path& d : {base_, dir_, dir_ / "tmp", dir_ / "blocks"}) {
    stdfs::permissions(d, writable);
  }
}

}  // namespace
}  // namespace freshfs::cache
