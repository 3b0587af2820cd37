#include "fs/inode_table.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace freshfs::fs {
namespace {

constexpr fuse_ino_t kRoot = InodeTable::kRoot;

TEST(InodeTable, RootIsKnownAndHasEmptyPath) {
  InodeTable t;
  EXPECT_TRUE(t.Known(kRoot));
  EXPECT_EQ(t.PathOf(kRoot), "");
  EXPECT_EQ(t.TypeOf(kRoot), mode_t(S_IFDIR));
}

TEST(InodeTable, RepeatedLookupReturnsSameInodeAndCounts) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(kRoot, "a", S_IFREG | 0644);
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, kRoot);
  EXPECT_EQ(t.Lookup(kRoot, "a", S_IFREG), a);
  EXPECT_EQ(t.LookupCount(a), 2u);
  EXPECT_EQ(t.PathOf(a), "a");
}

TEST(InodeTable, ForgetDropsNodeOnlyAtZero) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(kRoot, "a", S_IFREG);
  t.Lookup(kRoot, "a", S_IFREG);
  t.Forget(a, 1);
  EXPECT_TRUE(t.Known(a));
  EXPECT_EQ(t.LookupCount(a), 1u);
  t.Forget(a, 1);
  EXPECT_FALSE(t.Known(a));
  EXPECT_EQ(t.Find(kRoot, "a"), 0u);
}

TEST(InodeTable, DirectoryPathsAreTheDirectoriesTheKernelHolds) {
  InodeTable t;
  EXPECT_EQ(t.DirectoryPaths(), std::vector<std::string>{""});
  fuse_ino_t a = t.Lookup(kRoot, "a", S_IFDIR);
  fuse_ino_t b = t.Lookup(a, "b", S_IFDIR);
  t.Lookup(b, "file", S_IFREG);
  fuse_ino_t gone = t.Lookup(kRoot, "gone", S_IFDIR);
  t.Lookup(gone, "inside", S_IFDIR);
  t.Detach(kRoot, "gone");  // removed at the source: no path any more
  std::vector<std::string> paths = t.DirectoryPaths();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths.front(), "");
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{"", "a", "a/b"}));
  t.Forget(b, 1);  // forgotten: no longer cached
  paths = t.DirectoryPaths();
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{"", "a"}));
}

TEST(InodeTable, ANameThatLeadsToAnotherVersionGetsANewInode) {
  InodeTable t;
  fuse_ino_t v1 = t.Lookup(kRoot, "f", S_IFREG, 0, /*version=*/100);
  EXPECT_EQ(t.Lookup(kRoot, "f", S_IFREG, 0, 100), v1);  // same object: same inode
  EXPECT_EQ(t.LookupCount(v1), 2u);
  fuse_ino_t v2 = t.Lookup(kRoot, "f", S_IFREG, 0, 101);  // replaced at the source
  EXPECT_NE(v2, v1);
  EXPECT_EQ(t.VersionOf(v2), 101u);
  EXPECT_EQ(t.Find(kRoot, "f"), v2);
  // The old inode stays (open descriptors use it) but has no name.
  EXPECT_TRUE(t.Known(v1));
  EXPECT_EQ(t.PathOf(v1), std::nullopt);
  // Version 0 (unknown) matches whatever the node has.
  EXPECT_EQ(t.Lookup(kRoot, "f", S_IFREG, 0, 0), v2);
}

TEST(InodeTable, TheMountsOwnNewVersionKeepsTheInode) {
  InodeTable t;
  fuse_ino_t f = t.Lookup(kRoot, "f", S_IFREG, 0, 100);
  t.Confirm(f);
  EXPECT_TRUE(t.Confirmed(f));
  t.SetVersion(f, 200);          // an upload through the mount made a new ETag
  EXPECT_FALSE(t.Confirmed(f));  // the new version has not been read yet
  EXPECT_EQ(t.Lookup(kRoot, "f", S_IFREG, 0, 200), f);
}

TEST(InodeTable, SampleFilesPicksOnlyNamedFilesTheKernelHolds) {
  InodeTable t;
  fuse_ino_t d = t.Lookup(kRoot, "d", S_IFDIR);
  std::vector<fuse_ino_t> files;
  for (int i = 0; i < 20; ++i)
    files.push_back(t.Lookup(d, "f" + std::to_string(i), S_IFREG, 0, 1 + i));
  t.Lookup(kRoot, "link", S_IFLNK);
  t.Detach(d, "f0");  // no name: cannot be checked against the source
  auto picked = t.SampleFiles(5, 42);
  ASSERT_EQ(picked.size(), 5u);
  for (const auto& [ino, path] : picked) {
    EXPECT_NE(ino, files[0]);
    EXPECT_EQ(t.PathOf(ino), path);
    EXPECT_EQ(t.TypeOf(ino), mode_t(S_IFREG));
  }
  EXPECT_EQ(t.SampleFiles(100, 1).size(), 19u);
  // Different seeds, different picks (over 19 files, 5 of them).
  auto other = t.SampleFiles(5, 43);
  EXPECT_NE(picked, other);
}

TEST(InodeTable, NumbersAreNeverReused) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(kRoot, "a", S_IFREG);
  t.Forget(a, 1);
  fuse_ino_t again = t.Lookup(kRoot, "a", S_IFREG);
  EXPECT_NE(again, a);
}

TEST(InodeTable, ForgetMoreThanCountDropsWithoutUnderflow) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(kRoot, "a", S_IFREG);
  t.Forget(a, 5);
  EXPECT_FALSE(t.Known(a));
}

TEST(InodeTable, RootIsNeverForgotten) {
  InodeTable t;
  t.Forget(kRoot, 100);
  EXPECT_TRUE(t.Known(kRoot));
}

TEST(InodeTable, NestedPaths) {
  InodeTable t;
  fuse_ino_t d = t.Lookup(kRoot, "d", S_IFDIR);
  fuse_ino_t e = t.Lookup(d, "e", S_IFDIR);
  fuse_ino_t f = t.Lookup(e, "f", S_IFREG);
  EXPECT_EQ(t.PathOf(f), "d/e/f");
  EXPECT_EQ(t.ChildPath(e, "g"), "d/e/g");
}

TEST(InodeTable, LookupUnderUnknownParentFails) {
  InodeTable t;
  EXPECT_EQ(t.Lookup(999, "x", S_IFREG), 0u);
}

TEST(InodeTable, TypeChangeGivesNewInodeAndDetachesOld) {
  InodeTable t;
  fuse_ino_t old = t.Lookup(kRoot, "x", S_IFREG);
  fuse_ino_t now = t.Lookup(kRoot, "x", S_IFDIR);
  EXPECT_NE(old, now);
  EXPECT_TRUE(t.Known(old));  // the kernel still holds it until forget
  EXPECT_EQ(t.PathOf(old), std::nullopt);
  EXPECT_EQ(t.PathOf(now), "x");
}

TEST(InodeTable, DetachKeepsNodeUntilForgotten) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(kRoot, "a", S_IFREG);
  t.Detach(kRoot, "a");
  EXPECT_TRUE(t.Known(a));
  EXPECT_EQ(t.PathOf(a), std::nullopt);
  EXPECT_EQ(t.Find(kRoot, "a"), 0u);
  fuse_ino_t b = t.Lookup(kRoot, "a", S_IFREG);
  EXPECT_NE(b, a);
  t.Forget(a, 1);
  EXPECT_EQ(t.PathOf(b), "a");  // forgetting the detached node leaves the new one alone
}

TEST(InodeTable, RenameMovesSubtree) {
  InodeTable t;
  fuse_ino_t d = t.Lookup(kRoot, "d", S_IFDIR);
  fuse_ino_t f = t.Lookup(d, "f", S_IFREG);
  fuse_ino_t other = t.Lookup(kRoot, "other", S_IFDIR);
  t.Rename(kRoot, "d", other, "moved", false);
  EXPECT_EQ(t.PathOf(d), "other/moved");
  EXPECT_EQ(t.PathOf(f), "other/moved/f");
}

TEST(InodeTable, RenameOverExistingDetachesTarget) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(kRoot, "a", S_IFREG);
  fuse_ino_t b = t.Lookup(kRoot, "b", S_IFREG);
  t.Rename(kRoot, "a", kRoot, "b", false);
  EXPECT_EQ(t.PathOf(a), "b");
  EXPECT_EQ(t.PathOf(b), std::nullopt);
  EXPECT_EQ(t.Find(kRoot, "a"), 0u);
}

TEST(InodeTable, RenameExchangeSwaps) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(kRoot, "a", S_IFREG);
  fuse_ino_t b = t.Lookup(kRoot, "b", S_IFDIR);
  t.Rename(kRoot, "a", kRoot, "b", true);
  EXPECT_EQ(t.PathOf(a), "b");
  EXPECT_EQ(t.PathOf(b), "a");
}

TEST(InodeTable, ConcurrentLookupAndForgetKeepCountsExact) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(kRoot, "a", S_IFREG);  // keeps the node alive
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10000; ++j) {
        fuse_ino_t got = t.Lookup(kRoot, "a", S_IFREG);
        ASSERT_EQ(got, a);
        t.Forget(got, 1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.LookupCount(a), 1u);
  EXPECT_EQ(t.Size(), 2u);
}

}  // namespace
}  // namespace freshfs::fs

namespace freshfs::fs {
namespace {

TEST(InodeTableLinks, AddLinkSharesTheNodeAndSurvivesRemovalOfTheFirstName) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(InodeTable::kRoot, "a", S_IFREG);
  EXPECT_EQ(t.AddLink(a, InodeTable::kRoot, "b", 77), a);
  EXPECT_EQ(t.LookupCount(a), 2u);
  EXPECT_EQ(t.Find(InodeTable::kRoot, "b"), a);
  t.Detach(InodeTable::kRoot, "a");
  EXPECT_EQ(t.PathOf(a), "b");  // reached through its remaining name
  t.Detach(InodeTable::kRoot, "b");
  EXPECT_EQ(t.PathOf(a), std::nullopt);
}

TEST(InodeTableLinks, SecondNameOfAMultiLinkSourceFileSharesTheNode) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(InodeTable::kRoot, "a", S_IFREG, 555);
  EXPECT_EQ(t.Lookup(InodeTable::kRoot, "b", S_IFREG, 555), a);
  EXPECT_NE(t.Lookup(InodeTable::kRoot, "c", S_IFREG, 556), a);
}

TEST(InodeTableLinks, IdentityIsForgottenWhenTheLastNameGoes) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(InodeTable::kRoot, "a", S_IFREG, 555);
  t.Detach(InodeTable::kRoot, "a");
  // The source reused the inode number for an unrelated file.
  EXPECT_NE(t.Lookup(InodeTable::kRoot, "z", S_IFREG, 555), a);
}

TEST(InodeTableLinks, RenameOfOneNameOntoAnotherOfTheSameFileDoesNothing) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(InodeTable::kRoot, "a", S_IFREG);
  t.AddLink(a, InodeTable::kRoot, "b", 0);
  t.Rename(InodeTable::kRoot, "a", InodeTable::kRoot, "b", false);
  EXPECT_EQ(t.Find(InodeTable::kRoot, "a"), a);
  EXPECT_EQ(t.Find(InodeTable::kRoot, "b"), a);
}

TEST(InodeTableLinks, RenameOfASecondaryName) {
  InodeTable t;
  fuse_ino_t a = t.Lookup(InodeTable::kRoot, "a", S_IFREG);
  t.AddLink(a, InodeTable::kRoot, "b", 0);
  t.Rename(InodeTable::kRoot, "b", InodeTable::kRoot, "c", false);
  EXPECT_EQ(t.Find(InodeTable::kRoot, "b"), 0u);
  EXPECT_EQ(t.Find(InodeTable::kRoot, "c"), a);
  EXPECT_EQ(t.PathOf(a), "a");
}

}  // namespace
}  // namespace freshfs::fs
