#include "cache/block_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

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

class BlockFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stdfs::create_directories(root_path_ / kBlocksDir);
    stdfs::create_directories(root_path_ / kTmpDir);
    root_ = ::open(root_path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_, 0);
  }
  void TearDown() override { ::close(root_); }

  // Writes a block file; returns its path relative to the root.
  std::string Write(std::string_view key, std::string_view etag, uint64_t block,
                    std::string_view data, uint64_t serial = 1) {
    const std::string path = BlockPath(DigestHex(key, etag), block, serial);
    const WriteOutcome written =
        WriteBlockFile(root_, TmpPath(serial), path, key, etag, block, data);
    EXPECT_TRUE(written.ok()) << written.failed << ": " << std::strerror(written.err);
    return path;
  }

  ReadOutcome Read(const std::string& path, std::string_view key, std::string_view etag,
                   uint64_t block, uint64_t file_bytes, std::string& buf) {
    return ReadBlockFile(root_, path, key, etag, block, file_bytes, buf.data(), buf.size(),
                         /*touch_mtime=*/false);
  }

  std::optional<BlockFileInfo> Validate(const std::string& path) {
    const stdfs::path p(path);
    const std::string fanout = p.parent_path().filename();
    const int dirfd =
        ::open((root_path_ / p.parent_path()).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EXPECT_GE(dirfd, 0) << path;
    std::optional<BlockFileInfo> info = ValidateBlockFile(dirfd, fanout, p.filename());
    ::close(dirfd);
    return info;
  }

  freshfs::testing::TempDir tmp_{"blockfile"};
  stdfs::path root_path_ = tmp_.path();
  int root_ = -1;
};

TEST_F(BlockFileTest, WrittenBlockReadsBackAndValidates) {
  const std::string path = Write("photos/cat.jpg", "\"etag-1\"", 7, "hello block", 0x2a);
  const uint64_t size = BlockFileSize("photos/cat.jpg", "\"etag-1\"", 11);
  EXPECT_EQ(stdfs::file_size(root_path_ / path), size);
  EXPECT_TRUE(stdfs::is_empty(root_path_ / kTmpDir));

  std::string buf(64, '\0');
  const ReadOutcome read = Read(path, "photos/cat.jpg", "\"etag-1\"", 7, size, buf);
  EXPECT_EQ(read.status, ReadStatus::kHit);
  EXPECT_EQ(buf.substr(0, read.length), "hello block");

  const std::optional<BlockFileInfo> info = Validate(path);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->key, "photos/cat.jpg");
  EXPECT_EQ(info->etag, "\"etag-1\"");
  EXPECT_EQ(info->digest, DigestHex("photos/cat.jpg", "\"etag-1\""));
  EXPECT_EQ(info->block, 7u);
  EXPECT_EQ(info->serial, 0x2au);
  EXPECT_EQ(info->file_bytes, size);
}

TEST_F(BlockFileTest, ShortBufferGetsThePrefixAndEmptyDataIsAHit) {
  const std::string path = Write("k", "e", 0, "hello world");
  std::string buf(5, '\0');
  const ReadOutcome read = Read(path, "k", "e", 0, BlockFileSize("k", "e", 11), buf);
  EXPECT_EQ(read.status, ReadStatus::kHit);
  EXPECT_EQ(read.length, 5u);
  EXPECT_EQ(buf, "hello");

  const std::string empty = Write("k", "e", 1, "", 2);
  std::string none;
  EXPECT_EQ(Read(empty, "k", "e", 1, BlockFileSize("k", "e", 0), none).status, ReadStatus::kHit);
  EXPECT_TRUE(Validate(empty));
}

TEST_F(BlockFileTest, NamesAreUnambiguousAndKeyFree) {
  const std::string digest = DigestHex("a/b", "v1");
  EXPECT_EQ(digest.size(), 64u);
  EXPECT_EQ(digest.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(DigestHex("a/b", "v1"), digest);
  EXPECT_NE(DigestHex("a/bv", "1"), digest);
  EXPECT_NE(DigestHex("a/b", "v2"), digest);
  EXPECT_EQ(BlockPath(digest, 12, 0xff), "blocks/" + digest.substr(0, 2) + "/" + digest + ".12.ff");
  EXPECT_EQ(TmpPath(17), "tmp/17");
  EXPECT_TRUE(IsFanoutName("0a"));
  EXPECT_FALSE(IsFanoutName("0A"));
  EXPECT_FALSE(IsFanoutName("abc"));
  EXPECT_FALSE(IsFanoutName("zz"));
}

// Damage done to the file of ("key", "e", block 0, "the block's data"):
// fixed header at 0..39, key at 40..42, etag at 43, data from 44.
struct Damage {
  const char* name;
  void (*apply)(const stdfs::path& file);
  bool data_only;  // only the data CRC can tell
};

void FlipByteAt(const stdfs::path& file, std::ptrdiff_t offset) {
  std::string content = ReadWholeFile(file);
  const size_t at = offset >= 0 ? size_t(offset) : content.size() + offset;
  content[at] ^= 0x20;
  WriteWholeFile(file, content);
}

const Damage kDamages[] = {
    {"LastDataByteFlipped", [](const stdfs::path& f) { FlipByteAt(f, -1); }, true},
    {"FirstDataByteFlipped", [](const stdfs::path& f) { FlipByteAt(f, 44); }, true},
    {"MagicFlipped", [](const stdfs::path& f) { FlipByteAt(f, 0); }, false},
    {"KeyLengthFlipped", [](const stdfs::path& f) { FlipByteAt(f, 8); }, false},
    {"EtagLengthFlipped", [](const stdfs::path& f) { FlipByteAt(f, 12); }, false},
    {"BlockNumberFlipped", [](const stdfs::path& f) { FlipByteAt(f, 16); }, false},
    {"DataLengthFlipped", [](const stdfs::path& f) { FlipByteAt(f, 24); }, false},
    {"DataCrcFlipped", [](const stdfs::path& f) { FlipByteAt(f, 32); }, false},
    {"HeaderCrcFlipped", [](const stdfs::path& f) { FlipByteAt(f, 36); }, false},
    {"KeyFlipped", [](const stdfs::path& f) { FlipByteAt(f, 41); }, false},
    {"EtagFlipped", [](const stdfs::path& f) { FlipByteAt(f, 43); }, false},
    {"TruncatedByOne", [](const stdfs::path& f) { stdfs::resize_file(f, stdfs::file_size(f) - 1); },
     false},
    {"TruncatedIntoHeader", [](const stdfs::path& f) { stdfs::resize_file(f, 10); }, false},
    {"Emptied", [](const stdfs::path& f) { stdfs::resize_file(f, 0); }, false},
};

class DamagedBlockFileTest : public BlockFileTest, public ::testing::WithParamInterface<Damage> {};

TEST_P(DamagedBlockFileTest, ReadReportsDamageNotData) {
  const std::string path = Write("key", "e", 0, "the block's data");
  GetParam().apply(root_path_ / path);
  std::string buf(64, '\0');
  const ReadOutcome read = Read(path, "key", "e", 0, BlockFileSize("key", "e", 16), buf);
  EXPECT_EQ(read.status, ReadStatus::kDamaged);
  EXPECT_EQ(read.length, 0u);
}

// Open validates every file, so it reads headers only; damaged data is left
// for the read to find.
TEST_P(DamagedBlockFileTest, ValidateRejectsAllButDataDamage) {
  const std::string path = Write("key", "e", 0, "the block's data");
  GetParam().apply(root_path_ / path);
  EXPECT_EQ(Validate(path).has_value(), GetParam().data_only);
}

INSTANTIATE_TEST_SUITE_P(Damages, DamagedBlockFileTest, ::testing::ValuesIn(kDamages),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(BlockFileTest, ReadOfAnotherBlockThanExpectedIsDamage) {
  const std::string path = Write("key", "e", 3, "data");
  const uint64_t size = BlockFileSize("key", "e", 4);
  std::string buf(64, '\0');
  EXPECT_EQ(Read(path, "kez", "e", 3, size, buf).status, ReadStatus::kDamaged);
  EXPECT_EQ(Read(path, "key", "f", 3, size, buf).status, ReadStatus::kDamaged);
  EXPECT_EQ(Read(path, "key", "e", 4, size, buf).status, ReadStatus::kDamaged);
  EXPECT_EQ(Read(path, "key", "e", 3, size + 1, buf).status, ReadStatus::kDamaged);
  EXPECT_EQ(Read(path, "key", "e", 3, 5, buf).status, ReadStatus::kDamaged);
  EXPECT_EQ(Read(path, "key", "e", 3, size, buf).status, ReadStatus::kHit);
}

TEST_F(BlockFileTest, MissingFileIsMissingAndOtherOpenErrorsUnavailable) {
  std::string buf(64, '\0');
  const ReadOutcome missing = Read(BlockPath(DigestHex("k", "e"), 0, 1), "k", "e", 0, 50, buf);
  EXPECT_EQ(missing.status, ReadStatus::kMissing);
  EXPECT_EQ(missing.err, 0);

  WriteWholeFile(root_path_ / kBlocksDir / "ab", "not a directory");
  const ReadOutcome unavailable = Read("blocks/ab/file", "k", "e", 0, 50, buf);
  EXPECT_EQ(unavailable.status, ReadStatus::kUnavailable);
  EXPECT_EQ(unavailable.err, ENOTDIR);
}

TEST_F(BlockFileTest, ValidateRejectsFilesUnderAnyButTheirOwnName) {
  const std::string path = Write("key", "e", 3, "data", 0x10);
  const stdfs::path file = root_path_ / path;
  const stdfs::path dir = file.parent_path();
  const std::string stem = DigestHex("key", "e");
  ASSERT_TRUE(Validate(path));

  auto copy_as = [&](const stdfs::path& to) {
    stdfs::create_directories(to.parent_path());
    stdfs::copy_file(file, to);
    return stdfs::relative(to, root_path_).string();
  };
  // Content and name disagree.
  EXPECT_FALSE(Validate(copy_as(dir / (stem + ".4.10"))));
  const std::string kez = DigestHex("kez", "e");
  EXPECT_FALSE(Validate(copy_as(root_path_ / kBlocksDir / kez.substr(0, 2) / (kez + ".3.10"))));
  // The right name in the wrong fan-out directory.
  const std::string other_fanout = stem.substr(0, 2) == "00" ? "01" : "00";
  EXPECT_FALSE(Validate(copy_as(root_path_ / kBlocksDir / other_fanout / (stem + ".3.11"))));
  // Names BlockPath never makes.
  for (const char* tail :
       {".03.10", ".3.010", ".3.1A", ".3.10.tmp", ".3", ".3.", "..10", ".+3.10"}) {
    EXPECT_FALSE(Validate(copy_as(dir / (stem + tail)))) << tail;
  }
  // A copy under another serial is a valid block file (the cache keeps one).
  EXPECT_TRUE(Validate(copy_as(dir / (stem + ".3.ab"))));
}

TEST_F(BlockFileTest, ValidateRejectsWhatIsNotARegularFileOrTooLong) {
  const std::string path = Write("key", "e", 3, "data", 1);
  const std::string digest = DigestHex("key", "e");
  const std::string symlink = BlockPath(digest, 3, 2), directory = BlockPath(digest, 3, 3);

  stdfs::create_symlink(root_path_ / path, root_path_ / symlink);
  EXPECT_FALSE(Validate(symlink));
  stdfs::create_directory(root_path_ / directory);
  EXPECT_FALSE(Validate(directory));

  std::ofstream(root_path_ / path, std::ios::binary | std::ios::app) << 'x';
  EXPECT_FALSE(Validate(path));
}

TEST_F(BlockFileTest, WriteMakesAMissingFanoutDirectory) {
  const std::string path = Write("first", "e", 0, "data");
  stdfs::remove_all((root_path_ / path).parent_path());
  const std::string again = Write("first", "e", 1, "data", 2);
  EXPECT_TRUE(Validate(again));
}

TEST_F(BlockFileTest, FailedWriteNamesTheStepAndLeavesNothing) {
  const std::string digest = DigestHex("key", "e");
  stdfs::remove(root_path_ / kTmpDir);
  WriteOutcome written =
      WriteBlockFile(root_, TmpPath(1), BlockPath(digest, 0, 1), "key", "e", 0, "data");
  EXPECT_FALSE(written.ok());
  EXPECT_STREQ(written.failed, "create");
  EXPECT_EQ(written.err, ENOENT);

  stdfs::create_directories(root_path_ / kTmpDir);
  stdfs::remove(root_path_ / kBlocksDir);
  WriteWholeFile(root_path_ / kBlocksDir, "not a directory");
  written = WriteBlockFile(root_, TmpPath(2), BlockPath(digest, 0, 2), "key", "e", 0, "data");
  EXPECT_FALSE(written.ok());
  EXPECT_STREQ(written.failed, "rename");
  EXPECT_EQ(written.err, ENOTDIR);
  EXPECT_TRUE(stdfs::is_empty(root_path_ / kTmpDir));
}

}  // namespace
}  // namespace freshfs::cache
