// The source directory disappears under a live mount: the mount reports
// errors instead of stale data or hangs, the daemon survives, and unmounting
// still works and ends the daemon cleanly.
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <unistd.h>

#include "support/fs_util.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

::testing::AssertionResult IsEioOrEnoent(int err) {
  if (err == EIO || err == ENOENT) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "errno " << ErrnoName(err) << ", expected EIO or ENOENT";
}

TEST(SourceRemovedTest, MountReportsErrorsAndDaemonSurvives) {
  Mount m;
  ASSERT_EQ(WriteFile(m.Src("seen"), "seen"), 0);
  ASSERT_EQ(WriteFile(m.Src("unseen"), "unseen"), 0);
  ASSERT_EQ(mkdir(m.Src("dir").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m.Src("dir/inner"), "inner"), 0);
  ASSERT_TRUE(m.Start());
  ASSERT_EQ(ReadFile(m.Mnt("seen")), "seen");
  ASSERT_TRUE(ListDir(m.Mnt("dir")));

  std::filesystem::remove_all(m.source());
  ASSERT_FALSE(Stat(m.source()));

  // A name the kernel never looked up has to be asked for.
  EXPECT_FALSE(Stat(m.Mnt("unseen")));
  EXPECT_TRUE(IsEioOrEnoent(errno)) << "stat of a never-seen name";

  // Opening always reaches the daemon.
  errno = 0;
  int fd = open(m.Mnt("seen").c_str(), O_RDONLY);
  EXPECT_LT(fd, 0) << "opened a file whose source is gone";
  if (fd >= 0) {
    close(fd);
  } else {
    EXPECT_TRUE(IsEioOrEnoent(errno)) << "open";
  }

  // Listing: either an error, or nothing but "." and "..".
  for (const auto& path : {m.mnt(), m.Mnt("dir")}) {
    auto names = ListDir(path);
    if (names) {
      EXPECT_LE(names->size(), 2u) << "listing of " << path << " still shows removed entries";
    } else {
      EXPECT_TRUE(IsEioOrEnoent(errno)) << "listing " << path;
    }
  }
  // Creating in a directory that no longer exists fails.
  errno = 0;
  fd = open(m.Mnt("created-after").c_str(), O_CREAT | O_WRONLY, 0644);
  EXPECT_LT(fd, 0) << "created a file in a removed source";
  if (fd >= 0) {
    close(fd);
  } else {
    EXPECT_TRUE(IsEioOrEnoent(errno)) << "create";
  }

  EXPECT_TRUE(m.DaemonAlive()) << "daemon died after its source was removed\n" << m.Log();
  auto code = m.UnmountAndWait();
  ASSERT_TRUE(code.has_value()) << "daemon did not exit after fusermount3 -u";
  EXPECT_EQ(*code, 0) << m.Log();
  EXPECT_FALSE(IsFuseMountpoint(m.mnt()));
}

}  // namespace
}  // namespace freshfs::testing
