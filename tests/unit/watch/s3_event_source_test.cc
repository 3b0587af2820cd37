// Which path an S3 event's key stands for: only keys under the volume's
// prefix that are valid paths; markers name their directory.
#include "watch/s3_event_source.h"

#include <gtest/gtest.h>

namespace freshfs::watch {
namespace {

TEST(S3EventSourceTest, KeysMapToPathsUnderThePrefix) {
  EXPECT_EQ(S3EventSource::PathOfKey("a/b.txt", ""), "a/b.txt");
  EXPECT_EQ(S3EventSource::PathOfKey("team/a/b.txt", "team/"), "a/b.txt");
  EXPECT_EQ(S3EventSource::PathOfKey("team/dir/", "team/"), "dir");
  EXPECT_EQ(S3EventSource::PathOfKey("other/a", "team/"), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey("teamx/a", "team/"), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey("team/", "team/"), std::nullopt);  // the root's marker
}

TEST(S3EventSourceTest, KeysThatAreNotPathsAreDropped) {
  EXPECT_EQ(S3EventSource::PathOfKey("../etc/passwd", ""), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey("a//b", ""), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey("team/../x", "team/"), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey(std::string("a\0b", 3), ""), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey(std::string(256, 'x'), ""), std::nullopt);
}

}  // namespace
}  // namespace freshfs::watch
