#include "mount/preflight.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

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

}  // namespace
}  // namespace freshfs::mount
