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
#include "util/unique_fd.h"

namespace freshfs::testing {
namespace {

::testing::AssertionResult IsEioOrEnoent(int err) {
  if (err == EIO || err == ENOENT) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "errno " << ErrnoName(err) << ", expected EIO or ENOENT";
}

// What the mount shows once its source is gone: errors instead of stale
// data or hangs; the daemon survives and ends cleanly on unmount.
void ExpectErrorsAfterRemoval(Mount& m) {
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

void FillSource(const Mount& m) {
  ASSERT_EQ(WriteFile(m.Src("seen"), "seen"), 0);
  ASSERT_EQ(WriteFile(m.Src("unseen"), "unseen"), 0);
  ASSERT_EQ(mkdir(m.Src("dir").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m.Src("dir/inner"), "inner"), 0);
}

TEST(SourceRemovedTest, MountReportsErrorsAndDaemonSurvives) {
  Mount m;
  ASSERT_NO_FATAL_FAILURE(FillSource(m));
  ASSERT_TRUE(m.Start());
  ASSERT_EQ(ReadFile(m.Mnt("seen")), "seen");
  ASSERT_TRUE(ListDir(m.Mnt("dir")));

  std::filesystem::remove_all(m.source());
  ASSERT_FALSE(Stat(m.source()));
  ExpectErrorsAfterRemoval(m);
}

// A source handed over as a descriptor (/dev/fd/N) has no path to find gone:
// its removal is seen on the directory itself (no links left), as today's
// "sync of the source failed" rather than as an empty directory.
TEST(SourceRemovedTest, RemovalOfASourceHandedOverAsADescriptorIsSeen) {
  Mount m;
  ASSERT_NO_FATAL_FAILURE(FillSource(m));
  UniqueFd source(OpenDirBeneath(m.dir(), "source"));
  ASSERT_TRUE(source.valid()) << ErrnoName(errno);
  ASSERT_TRUE(m.Start({"--poll-interval", "100ms"}, "/dev/fd/" + std::to_string(source.get())));
  source.reset();
  ASSERT_EQ(ReadFile(m.Mnt("seen")), "seen");
  ASSERT_TRUE(ListDir(m.Mnt("dir")));

  std::filesystem::remove_all(m.source());
  ASSERT_FALSE(Stat(m.source()));
  EXPECT_TRUE(Eventually(
      [&] {
        return m.Log().find("sync of the source failed: No such file or directory") !=
               std::string::npos;
      },
      5s))
      << m.Log();
  ExpectErrorsAfterRemoval(m);
}

}  // namespace
}  // namespace freshfs::testing
