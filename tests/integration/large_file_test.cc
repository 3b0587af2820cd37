// Files larger than 4 GiB (64-bit offsets end to end) and sparse files: holes
// stay holes in the source and SEEK_DATA/SEEK_HOLE answer as on the source.
#include <cerrno>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/fs_util.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

constexpr off_t kGiB = 1024L * 1024 * 1024;
constexpr off_t kFar = 5 * kGiB;

using LargeFileTest = MountedTest;

TEST_F(LargeFileTest, WriteAtFiveGiBIsSparseAndReadsBack) {
  const std::string payload = "data beyond four gigabytes";
  int fd = open(m_.Mnt("big").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, payload.data(), payload.size(), kFar), static_cast<ssize_t>(payload.size()))
      << ErrnoName(errno);
  ASSERT_TRUE(Succeeds(fsync(fd)));

  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  const off_t expected_size = kFar + static_cast<off_t>(payload.size());
  EXPECT_EQ(st.st_size, expected_size);

  std::string back(payload.size(), '\0');
  ASSERT_EQ(pread(fd, back.data(), back.size(), kFar), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, payload);
  std::string hole(4096, 'x');
  ASSERT_EQ(pread(fd, hole.data(), hole.size(), 4 * kGiB), 4096);
  EXPECT_EQ(hole, std::string(4096, '\0')) << "a hole reads as zeros";
  ASSERT_EQ(close(fd), 0);

  auto src = Stat(m_.Src("big"));
  ASSERT_TRUE(src);
  EXPECT_EQ(src->st_size, expected_size);
  EXPECT_LT(src->st_blocks * 512, 1024 * 1024) << "the source file is not sparse";
  EXPECT_EQ(Stat(m_.Mnt("big"))->st_size, expected_size);

  // Reopened (fresh handle, no page cache) it still reads back.
  fd = open(m_.Mnt("big").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string again(payload.size(), '\0');
  ASSERT_EQ(pread(fd, again.data(), again.size(), kFar), static_cast<ssize_t>(again.size()));
  EXPECT_EQ(again, payload);
  EXPECT_EQ(lseek(fd, 0, SEEK_END), expected_size);
  close(fd);
}

TEST_F(LargeFileTest, TruncateBeyondFourGiB) {
  ASSERT_EQ(WriteFile(m_.Mnt("t"), "head"), 0);
  ASSERT_TRUE(Succeeds(truncate(m_.Mnt("t").c_str(), 6 * kGiB)));
  EXPECT_EQ(Stat(m_.Mnt("t"))->st_size, 6 * kGiB);
  EXPECT_EQ(Stat(m_.Src("t"))->st_size, 6 * kGiB);
  EXPECT_LT(Stat(m_.Src("t"))->st_blocks * 512, 1024 * 1024);
}

TEST_F(LargeFileTest, SeekDataAndSeekHoleMatchSource) {
  int fd = open(m_.Mnt("sparse").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  const std::string block(64 * 1024, 'd');
  ASSERT_EQ(pwrite(fd, block.data(), block.size(), 0), static_cast<ssize_t>(block.size()));
  ASSERT_EQ(pwrite(fd, block.data(), block.size(), 2 * kGiB), static_cast<ssize_t>(block.size()));
  ASSERT_EQ(pwrite(fd, block.data(), block.size(), kFar), static_cast<ssize_t>(block.size()));
  ASSERT_EQ(fsync(fd), 0);

  int sfd = open(m_.Src("sparse").c_str(), O_RDONLY);
  ASSERT_GE(sfd, 0);
  const off_t size = kFar + static_cast<off_t>(block.size());
  for (off_t offset : {off_t{0}, off_t{4096}, off_t{64 * 1024}, kGiB, 2 * kGiB + 10, 4 * kGiB,
                       kFar - 1, kFar + 100, size - 1, size, size + 1}) {
    for (int whence : {SEEK_DATA, SEEK_HOLE}) {
      const char* name = whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE";
      errno = 0;
      const off_t want = lseek(sfd, offset, whence);
      const int want_errno = want < 0 ? errno : 0;
      errno = 0;
      const off_t got = lseek(fd, offset, whence);
      const int got_errno = got < 0 ? errno : 0;
      EXPECT_EQ(got, want) << name << " from " << offset << " (source errno "
                           << ErrnoName(want_errno) << ", mount errno " << ErrnoName(got_errno)
                           << ")";
      EXPECT_EQ(got_errno, want_errno) << name << " from " << offset;
    }
  }
  close(sfd);
  close(fd);
}

}  // namespace
}  // namespace freshfs::testing
