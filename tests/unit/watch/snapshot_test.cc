#include "watch/snapshot.h"

#include <gtest/gtest.h>

#include "fakes/fake_store.h"

namespace freshfs::watch {
namespace {

EntryState File(off_t size, int64_t mtime = 1, ino_t ino = 10) {
  EntryState e;
  e.mode = S_IFREG | 0644;
  e.size = size;
  e.mtime_ns = mtime;
  e.ino = ino;
  e.nlink = 1;
  return e;
}

EntryState Dir(ino_t ino = 20) {
  EntryState e;
  e.mode = S_IFDIR | 0755;
  e.ino = ino;
  e.nlink = 2;
  return e;
}

std::vector<std::pair<ChangeKind, std::string>> Kinds(const std::vector<Change>& changes) {
  std::vector<std::pair<ChangeKind, std::string>> out;
  for (const auto& c : changes) out.emplace_back(c.kind, c.path);
  return out;
}

TEST(Diff, IdenticalSnapshotsHaveNoChanges) {
  Snapshot s{{"", Dir(1)}, {"a", File(1)}};
  EXPECT_TRUE(Diff(s, s).empty());
}

TEST(Diff, CreatedDeletedModified) {
  Snapshot before{{"", Dir(1)}, {"gone", File(1)}, {"same", File(1)}, {"grown", File(1)}};
  Snapshot after{{"", Dir(1)}, {"new", File(1)}, {"same", File(1)}, {"grown", File(2)}};
  auto kinds = Kinds(Diff(before, after));
  std::vector<std::pair<ChangeKind, std::string>> want = {
      {ChangeKind::kDeleted, "gone"},
      {ChangeKind::kModified, "grown"},
      {ChangeKind::kCreated, "new"},
  };
  EXPECT_EQ(kinds, want);
}

TEST(Diff, SameSizeNewMtimeIsAContentChange) {
  Snapshot before{{"f", File(5, 100)}};
  Snapshot after{{"f", File(5, 200)}};
  auto changes = Diff(before, after);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, ChangeKind::kModified);
  EXPECT_EQ(changes[0].remote_mtime_ns, 200);
}

TEST(Diff, ReplacedFileWithSameSizeAndMtimeIsAContentChange) {
  Snapshot before{{"f", File(5, 100, 1)}};
  Snapshot after{{"f", File(5, 100, 2)}};
  EXPECT_EQ(Diff(before, after).at(0).kind, ChangeKind::kModified);
}

TEST(Diff, ChmodIsAnAttributeChange) {
  EntryState e = File(5);
  Snapshot before{{"f", e}};
  e.mode = S_IFREG | 0600;
  Snapshot after{{"f", e}};
  EXPECT_EQ(Diff(before, after).at(0).kind, ChangeKind::kAttributes);
}

TEST(Diff, TypeChangeRecordsBothTypes) {
  Snapshot before{{"x", Dir()}};
  Snapshot after{{"x", File(1)}};
  auto c = Diff(before, after).at(0);
  EXPECT_EQ(c.kind, ChangeKind::kTypeChanged);
  EXPECT_TRUE(c.was_dir);
  EXPECT_FALSE(c.is_dir);
}

TEST(Diff, DirectoryMtimeAloneIsNotAChange) {
  EntryState d = Dir();
  Snapshot before{{"d", d}};
  d.mtime_ns = 999;
  d.size = 8192;
  Snapshot after{{"d", d}};
  EXPECT_TRUE(Diff(before, after).empty());
}

TEST(Subtree, CopyEraseReplaceRespectSiblingsThatSortInside) {
  Snapshot s{{"a", Dir()},     {"a.txt", File(1)}, {"a/x", File(1)},
             {"a/y/z", File(1)}, {"a0", File(1)},  {"b", File(1)}};
  Snapshot sub = CopySubtree(s, "a");
  EXPECT_EQ(sub.size(), 3u);
  EXPECT_TRUE(sub.count("a/y/z"));
  EXPECT_FALSE(sub.count("a.txt"));
  ReplaceSubtree(&s, "a", Snapshot{{"a", File(3)}});
  EXPECT_EQ(s.size(), 4u);
  EXPECT_TRUE(s.count("a.txt"));
  EXPECT_TRUE(s.count("a0"));
  EXPECT_EQ(s.at("a").size, 3);
}

TEST(Subtree, RootCoversEverything) {
  Snapshot s{{"", Dir()}, {"a", File(1)}};
  EXPECT_EQ(CopySubtree(s, "").size(), 2u);
  EraseSubtree(&s, "");
  EXPECT_TRUE(s.empty());
}

TEST(IsWithin, Basics) {
  EXPECT_TRUE(IsWithin("a/b", "a"));
  EXPECT_TRUE(IsWithin("a", "a"));
  EXPECT_TRUE(IsWithin("a", ""));
  EXPECT_FALSE(IsWithin("ab", "a"));
  EXPECT_FALSE(IsWithin("a", "a/b"));
}

TEST(ScanTree, ReadsTheWholeTree) {
  freshfs::testing::FakeStore store;
  store.Put("d", S_IFDIR | 0755);
  store.Put("d/f", S_IFREG | 0644, "abc");
  store.Put("g", S_IFREG | 0644);
  Snapshot snap;
  ASSERT_TRUE(ScanTree(store, "", &snap, nullptr).ok());
  EXPECT_EQ(snap.size(), 4u);
  EXPECT_EQ(snap.at("d/f").size, 3);
}

}  // namespace
}  // namespace freshfs::watch
