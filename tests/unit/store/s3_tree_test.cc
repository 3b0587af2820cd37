// How S3 keys map to a tree: invalid names skipped (never reachable), the
// directory-wins rule, markers, implied directories, attributes.
#include "store/s3_tree.h"

#include <gtest/gtest.h>

#include <climits>

namespace freshfs::store::s3tree {
namespace {

s3::ObjectInfo Obj(std::string key, uint64_t size = 1, std::string etag = "\"e\"",
                   int64_t mtime_ns = 1'700'000'000'123'000'000) {
  return s3::ObjectInfo{std::move(key), size, std::move(etag), mtime_ns};
}

std::vector<std::string> Paths(const Tree& tree) {
  std::vector<std::string> out;
  for (const auto& [path, node] : tree.nodes) out.push_back(path + (node.dir ? "/" : ""));
  return out;
}

TEST(S3TreeTest, InvalidNamesAreRecognized) {
  EXPECT_EQ(InvalidReason("a/b.txt"), nullptr);
  EXPECT_EQ(InvalidReason("a..b/...x"), nullptr);
  EXPECT_NE(InvalidReason(""), nullptr);
  EXPECT_NE(InvalidReason("a//b"), nullptr);
  EXPECT_NE(InvalidReason("/abs"), nullptr);
  EXPECT_NE(InvalidReason("a/./b"), nullptr);
  EXPECT_NE(InvalidReason("../escape"), nullptr);
  EXPECT_NE(InvalidReason("a/.."), nullptr);
  EXPECT_NE(InvalidReason(std::string("nul\0byte", 8)), nullptr);
  EXPECT_EQ(InvalidReason(std::string(NAME_MAX, 'x')), nullptr);
  EXPECT_NE(InvalidReason(std::string(NAME_MAX + 1, 'x')), nullptr);
}

TEST(S3TreeTest, KeysBecomeFilesAndImpliedDirectories) {
  Tree tree = BuildTree({Obj("a/b/c.txt"), Obj("top"), Obj("empty/"), Obj("a/x")}, "");
  EXPECT_EQ(Paths(tree),
            (std::vector<std::string>{"a/", "a/b/", "a/b/c.txt", "a/x", "empty/", "top"}));
  EXPECT_TRUE(tree.skipped.empty());
}

TEST(S3TreeTest, PrefixIsCutAndKeysOutsideItIgnored) {
  Tree tree = BuildTree({Obj("vol/"), Obj("vol/a"), Obj("volume/b"), Obj("other/c")}, "vol/");
  EXPECT_EQ(Paths(tree), (std::vector<std::string>{"a"}));
}

TEST(S3TreeTest, InvalidKeysAreSkippedAndNeverEscape) {
  Tree tree = BuildTree({Obj("ok"), Obj("a//b"), Obj("../etc/passwd"), Obj("x/./y"), Obj("/lead"),
                         Obj(std::string(300, 'l')), Obj("dir/../../up")},
                        "");
  EXPECT_EQ(Paths(tree), (std::vector<std::string>{"ok"}));
  ASSERT_EQ(tree.skipped.size(), 6u);
  for (const auto& s : tree.skipped) EXPECT_FALSE(s.reason.empty()) << s.key;
}

TEST(S3TreeTest, DirectoryWinsOverAnObjectOfTheSameName) {
  Tree tree = BuildTree({Obj("both"), Obj("both/child"), Obj("marker"), Obj("marker/")}, "");
  EXPECT_EQ(Paths(tree), (std::vector<std::string>{"both/", "both/child", "marker/"}));
  ASSERT_EQ(tree.skipped.size(), 2u);
  EXPECT_EQ(tree.skipped[0].key, "both");
  EXPECT_EQ(tree.skipped[0].reason, "both an object and a directory");
}

TEST(S3TreeTest, AttributesComeFromOptionsAndTheObject) {
  Attributes attrs{.uid = 1000,
                   .gid = 2000,
                   .file_mode = 0640,
                   .dir_mode = 0750,
                   .dir_mtime_ns = 1'600'000'000'000'000'000};
  Tree tree = BuildTree({Obj("d/f", 12345, "\"etag1\"", 1'700'000'000'999'000'000)}, "");
  struct stat f = StatOf("d/f", tree.nodes.at("d/f"), attrs);
  EXPECT_EQ(f.st_mode, S_IFREG | 0640);
  EXPECT_EQ(f.st_size, 12345);
  EXPECT_EQ(f.st_uid, 1000u);
  EXPECT_EQ(f.st_gid, 2000u);
  EXPECT_EQ(f.st_mtim.tv_sec, 1'700'000'000);
  EXPECT_EQ(f.st_mtim.tv_nsec, 0) << "whole seconds, as HEAD reports them";
  struct stat d = StatOf("d", tree.nodes.at("d"), attrs);
  EXPECT_EQ(d.st_mode, S_IFDIR | 0750);
  EXPECT_EQ(d.st_mtim.tv_sec, 1'600'000'000);
  EXPECT_NE(f.st_ino, 0u);
  EXPECT_NE(d.st_ino, 0u);
}

TEST(S3TreeTest, ANewVersionIsANewInodeNumber) {
  Attributes attrs;
  Node v1{.dir = false, .size = 3, .mtime_ns = 0, .etag = "\"1\""};
  Node v2 = v1;
  v2.etag = "\"2\"";
  EXPECT_NE(StatOf("f", v1, attrs).st_ino, StatOf("f", v2, attrs).st_ino);
  EXPECT_EQ(StatOf("f", v1, attrs).st_ino, StatOf("f", v1, attrs).st_ino);
  EXPECT_NE(StatOf("f", v1, attrs).st_ino, StatOf("g", v1, attrs).st_ino);
}

}  // namespace
}  // namespace freshfs::store::s3tree
