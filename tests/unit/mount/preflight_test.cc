#include "mount/preflight.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "support/temp_dir.h"

namespace freshfs::mount {
namespace {

TEST(Preflight, UnescapesMountinfoPaths) {
  EXPECT_EQ(UnescapeMountPath("/mnt/with\\040space"), "/mnt/with space");
  EXPECT_EQ(UnescapeMountPath("/a\\011tab\\134b"), "/a\ttab\\b");
  EXPECT_EQ(UnescapeMountPath("/plain"), "/plain");
  EXPECT_EQ(UnescapeMountPath("/trailing\\04"), "/trailing\\04");
}

TEST(Preflight, StrictlyInside) {
  EXPECT_TRUE(IsStrictlyInside("/a/b", "/a"));
  EXPECT_TRUE(IsStrictlyInside("/a", "/"));
  EXPECT_FALSE(IsStrictlyInside("/a", "/a"));
  EXPECT_FALSE(IsStrictlyInside("/ab", "/a"));
  EXPECT_FALSE(IsStrictlyInside("/a", "/a/b"));
}

TEST(Preflight, RootAndProcAreMountPoints) {
  EXPECT_TRUE(IsMountPoint("/"));
  EXPECT_TRUE(IsMountPoint("/proc"));
}

TEST(Preflight, MissingSourceAndMountpointAreNamedInTheError) {
  auto s = CheckSourceDir("/nonexistent/freshfs-src");
  EXPECT_NE(s.error.find("/nonexistent/freshfs-src"), std::string::npos);
  EXPECT_NE(s.error.find("No such file"), std::string::npos);
  auto m = CheckMountpoint("/nonexistent/freshfs-mnt");
  EXPECT_NE(m.error.find("mountpoint"), std::string::npos);
}

TEST(Preflight, SourceThatIsAFileIsRefused) {
  char tmpl[] = "/tmp/freshfs-preflight-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto s = CheckSourceDir(tmpl);
  EXPECT_NE(s.error.find("not a directory"), std::string::npos);
  std::filesystem::remove(tmpl);
}

TEST(Preflight, AlreadyMountedMountpointIsRefused) {
  auto m = CheckMountpoint("/proc");
  EXPECT_NE(m.error.find("already mounted"), std::string::npos);
}

TEST(Preflight, GoodPathsResolveToCanonicalForm) {
  auto s = CheckSourceDir("/tmp/../tmp");
  EXPECT_TRUE(s.error.empty());
  EXPECT_EQ(s.path, "/tmp");
}

// A source handed over as "/dev/fd/N": the directory the descriptor holds,
// whatever its path becomes.
TEST(Preflight, DescriptorSourceIsTheDirectoryItHolds) {
  freshfs::testing::TempDir tmp("preflight");
  const std::string dir = tmp.str();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  const std::string given = "/dev/fd/" + std::to_string(fd);
  auto s = CheckSourceDir(given);
  ASSERT_TRUE(s.error.empty()) << s.error;
  EXPECT_EQ(s.path, "/proc/self/fd/" + std::to_string(s.held.get()));
  EXPECT_EQ(s.name, given + " (" + dir + ")");
  ::close(fd);  // held on its own

  ASSERT_EQ(::rename(dir.c_str(), (dir + "-moved").c_str()), 0);
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);  // another directory at the old path
  struct stat by_path, moved;
  ASSERT_EQ(::stat(s.path.c_str(), &by_path), 0);
  ASSERT_EQ(::stat((dir + "-moved").c_str(), &moved), 0);
  EXPECT_EQ(by_path.st_ino, moved.st_ino);
  EXPECT_EQ(CurrentPath(s.path), dir + "-moved");
  std::filesystem::remove(dir + "-moved");
}

TEST(Preflight, DescriptorSourceThatIsNoOpenDirectoryIsRefused) {
  auto closed = CheckSourceDir("/dev/fd/977");
  EXPECT_NE(closed.error.find("descriptor 977 is not open"), std::string::npos) << closed.error;

  const int file = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(file, 0);
  auto not_dir = CheckSourceDir("/dev/fd/" + std::to_string(file));
  EXPECT_NE(not_dir.error.find("is not a directory"), std::string::npos) << not_dir.error;
  ::close(file);

  freshfs::testing::TempDir tmp("preflight");
  const int dir = ::open(tmp.path().c_str(), O_PATH | O_DIRECTORY);
  ASSERT_GE(dir, 0);
  ASSERT_EQ(::rmdir(tmp.path().c_str()), 0);
  auto removed = CheckSourceDir("/dev/fd/" + std::to_string(dir));
  EXPECT_NE(removed.error.find("the directory was removed"), std::string::npos) << removed.error;
  ::close(dir);
}

TEST(Preflight, DevFdNumbers) {
  EXPECT_EQ(DevFdNumber("/dev/fd/3"), 3);
  EXPECT_EQ(DevFdNumber("/dev/fd/0"), 0);
  EXPECT_FALSE(DevFdNumber("/dev/fd/"));
  EXPECT_FALSE(DevFdNumber("/dev/fd/3/x"));
  EXPECT_FALSE(DevFdNumber("/dev/fd/-1"));
  EXPECT_FALSE(DevFdNumber("/srv/data"));
}

}  // namespace
}  // namespace freshfs::mount
