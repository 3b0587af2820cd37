#include "fs/filesystem.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/fs.h>

#include <set>

#include "fakes/fake_store.h"

namespace freshfs::fs {
namespace {

using freshfs::testing::FakeStore;
constexpr fuse_ino_t kRoot = InodeTable::kRoot;

class FileSystemTest : public ::testing::Test {
 protected:
  void Make(FsSettings settings = {}) {
    auto store = std::make_unique<FakeStore>();
    store_ = store.get();
    fs_ = std::make_unique<FileSystem>(std::move(store), settings);
  }
  void SetUp() override { Make(); }

  // Collects a readdir; `room` items fit before the buffer is "full".
  std::vector<DirItem> ReadAll(DirHandle* dir, off_t offset, bool plus, size_t room,
                               std::vector<std::string>* names) {
    std::vector<DirItem> items;
    Status s = fs_->ReadDir(dir, offset, plus, [&](const DirItem& item) {
      if (items.size() >= room) return false;
      items.push_back(item);
      names->push_back(std::string(item.name));
      return true;
    });
    EXPECT_TRUE(s.ok());
    return items;
  }

  FakeStore* store_ = nullptr;
  std::unique_ptr<FileSystem> fs_;
};

TEST_F(FileSystemTest, LookupCountsAndForgetReleases) {
  store_->Put("f", S_IFREG | 0644, "data");
  auto e = fs_->Lookup(kRoot, "f");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->attr.st_size, 4);
  EXPECT_EQ(fs_->inodes().LookupCount(e->ino), 1u);
  auto again = fs_->Lookup(kRoot, "f");
  EXPECT_EQ(again->ino, e->ino);
  EXPECT_EQ(fs_->inodes().LookupCount(e->ino), 2u);
  fs_->Forget(e->ino, 2);
  EXPECT_FALSE(fs_->inodes().Known(e->ino));
}

// Records what the filesystem tells its change source.
class RecordingObserver : public ChangeObserver {
 public:
  void BeginOwnChange(const std::string&) override {}
  void EndOwnChange(const std::string&, const struct stat*) override {}
  bool Revalidate(const std::string&) override { return false; }
  void Recheck(const std::string& path) override { rechecked.push_back(path); }
  void Served(const std::string& path, mode_t type) override { served.emplace_back(path, type); }
  std::vector<std::string> rechecked;
  std::vector<std::pair<std::string, mode_t>> served;
};

// Between the kernel's lookup and its open, another writer renamed a new
// file over the name. Reading the new file through the old inode's page
// cache would mix the two versions there: this open goes past the cache,
// and the watcher is asked to retire the old inode.
TEST_F(FileSystemTest, AnOpenThatFindsAReplacedObjectReadsPastThePageCache) {
  RecordingObserver observer;
  fs_->set_observer(&observer);
  store_->Put("f", S_IFREG | 0644, "version one");
  auto e = fs_->Lookup(kRoot, "f");
  ASSERT_TRUE(e.ok());
  auto first = fs_->Open(e->ino, O_RDONLY);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE((*first)->direct_io);
  EXPECT_TRUE(observer.rechecked.empty());

  store_->Put("f", S_IFREG | 0644, "version two");  // a new source inode
  auto second = fs_->Open(e->ino, O_RDONLY);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE((*second)->direct_io);
  EXPECT_EQ(observer.rechecked, std::vector<std::string>{"f"});
  char buf[32] = {};
  auto n = (*second)->handle->Read(buf, sizeof buf, 0);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "version two");  // one whole version
  // The first descriptor keeps reading what it opened.
  n = (*first)->handle->Read(buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, *n), "version one");
  fs_->Release(*first);
  fs_->Release(*second);

  // The next lookup of the name hands the kernel a new inode.
  auto again = fs_->Lookup(kRoot, "f");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->ino, e->ino);
  auto third = fs_->Open(again->ino, O_RDONLY);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE((*third)->direct_io);
  fs_->Release(*third);
}

TEST_F(FileSystemTest, EveryEntryHandedToTheKernelIsReportedServed) {
  RecordingObserver observer;
  fs_->set_observer(&observer);
  store_->Put("d", S_IFDIR | 0755);
  store_->Put("d/a", S_IFREG | 0644);
  store_->Put("d/b", S_IFREG | 0644);
  auto d = fs_->Lookup(kRoot, "d");
  ASSERT_TRUE(d.ok());
  auto dir = fs_->OpenDir(d->ino);
  ASSERT_TRUE(dir.ok());
  std::vector<std::string> names;
  ReadAll(*dir, 0, /*plus=*/true, 100, &names);
  fs_->ReleaseDir(*dir);
  using Served = std::vector<std::pair<std::string, mode_t>>;
  EXPECT_EQ(observer.served, (Served{{"d", S_IFDIR}, {"d/a", S_IFREG}, {"d/b", S_IFREG}}));
}

TEST_F(FileSystemTest, LookupOfMissingNameIsEnoentAndCountsNothing) {
  auto e = fs_->Lookup(kRoot, "missing");
  EXPECT_EQ(e.error().code, ENOENT);
  EXPECT_EQ(fs_->inodes().Size(), 1u);
}

TEST_F(FileSystemTest, LookupRejectsDotNamesAndSlashes) {
  EXPECT_EQ(fs_->Lookup(kRoot, "..").error().code, ENOENT);
  EXPECT_EQ(fs_->Lookup(kRoot, "a/b").error().code, ENOENT);
  EXPECT_EQ(fs_->Lookup(kRoot, std::string(300, 'x')).error().code, ENAMETOOLONG);
}

TEST_F(FileSystemTest, MkdirAndSymlinkCountOneLookupEach) {
  auto d = fs_->MakeDir(kRoot, "d", 0755, {});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(S_ISDIR(d->attr.st_mode));
  EXPECT_EQ(fs_->inodes().LookupCount(d->ino), 1u);
  auto l = fs_->Symlink("target", d->ino, "l", {});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(fs_->inodes().LookupCount(l->ino), 1u);
  EXPECT_EQ(*fs_->ReadLink(l->ino), "target");
  EXPECT_TRUE(store_->Has("d/l"));
}

TEST_F(FileSystemTest, ReaddirIncludesDotsAndAllChildrenWithStableOffsets) {
  for (int i = 0; i < 10; ++i) store_->Put("f" + std::to_string(i), S_IFREG | 0644);
  auto dir = fs_->OpenDir(kRoot);
  ASSERT_TRUE(dir.ok());
  std::vector<std::string> names;
  auto first = ReadAll(*dir, 0, false, 5, &names);
  ASSERT_EQ(first.size(), 5u);
  auto rest = ReadAll(*dir, first.back().next_offset, false, 100, &names);
  EXPECT_EQ(names.size(), 12u);
  EXPECT_EQ(names[0], ".");
  EXPECT_EQ(names[1], "..");
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), 12u);
  fs_->ReleaseDir(*dir);
}

TEST_F(FileSystemTest, ReaddirplusCountsEmittedEntriesAndRollsBackTheOneThatDidNotFit) {
  for (int i = 0; i < 6; ++i) store_->Put("f" + std::to_string(i), S_IFREG | 0644);
  auto dir = fs_->OpenDir(kRoot);
  ASSERT_TRUE(dir.ok());
  std::vector<std::string> names;
  // ".", ".." and two files fit; the third file is looked up, refused, rolled back.
  auto items = ReadAll(*dir, 0, true, 4, &names);
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].entry.ino, 0u);  // "." carries no lookup
  EXPECT_EQ(items[1].entry.ino, 0u);
  EXPECT_EQ(fs_->inodes().LookupCount(items[2].entry.ino), 1u);
  EXPECT_EQ(fs_->inodes().LookupCount(items[3].entry.ino), 1u);
  EXPECT_EQ(fs_->inodes().Size(), 3u);  // root + two emitted; the refused one is gone
  auto more = ReadAll(*dir, items.back().next_offset, true, 100, &names);
  EXPECT_EQ(more.size(), 4u);
  EXPECT_EQ(fs_->inodes().Size(), 7u);
  fs_->ReleaseDir(*dir);
}

TEST_F(FileSystemTest, ReaddirplusSkipsEntriesThatVanishedSinceOpendir) {
  store_->Put("a", S_IFREG | 0644);
  store_->Put("b", S_IFREG | 0644);
  auto dir = fs_->OpenDir(kRoot);
  store_->Erase("a");
  std::vector<std::string> names;
  ReadAll(*dir, 2, true, 100, &names);
  EXPECT_EQ(names, std::vector<std::string>{"b"});
  fs_->ReleaseDir(*dir);
}

TEST_F(FileSystemTest, UnlinkDetachesTheName) {
  store_->Put("f", S_IFREG | 0644);
  auto e = fs_->Lookup(kRoot, "f");
  EXPECT_TRUE(fs_->Unlink(kRoot, "f").ok());
  EXPECT_FALSE(store_->Has("f"));
  EXPECT_EQ(fs_->GetAttr(e->ino, nullptr).error().code, ENOENT);
}

TEST_F(FileSystemTest, RenameKeepsInodeAndMovesPath) {
  store_->Put("a", S_IFREG | 0644, "x");
  auto e = fs_->Lookup(kRoot, "a");
  ASSERT_TRUE(fs_->Rename(kRoot, "a", kRoot, "b", 0, {}).ok());
  EXPECT_EQ(fs_->inodes().PathOf(e->ino), "b");
  EXPECT_TRUE(fs_->GetAttr(e->ino, nullptr).ok());
}

TEST_F(FileSystemTest, RenameRefusesUnknownFlagsAndImpossibleCombinations) {
  store_->Put("a", S_IFREG | 0644);
  EXPECT_EQ(fs_->Rename(kRoot, "a", kRoot, "b", 1u << 3, {}).error().code, EINVAL);
  EXPECT_EQ(
      fs_->Rename(kRoot, "a", kRoot, "b", RENAME_NOREPLACE | RENAME_EXCHANGE, {}).error().code,
      EINVAL);
  EXPECT_EQ(fs_->Rename(kRoot, "a", kRoot, "b", RENAME_WHITEOUT | RENAME_EXCHANGE, {}).error().code,
            EINVAL);
  EXPECT_TRUE(store_->Has("a"));
}

// renameat2(RENAME_WHITEOUT) reaches the store, as an unprivileged user may
// ask it of a local filesystem; the moved file keeps its inode, and the old
// name, now a whiteout, is another object the kernel looks up anew.
TEST_F(FileSystemTest, RenameWithWhiteoutMovesTheFileAndLeavesTheOldNameToTheStore) {
  store_->Put("a", S_IFREG | 0644, "x");
  auto e = fs_->Lookup(kRoot, "a");
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(fs_->Rename(kRoot, "a", kRoot, "b", RENAME_WHITEOUT, {}).ok());
  EXPECT_EQ(fs_->inodes().PathOf(e->ino), "b");
  auto whiteout = fs_->Lookup(kRoot, "a");
  ASSERT_TRUE(whiteout.ok());
  EXPECT_NE(whiteout->ino, e->ino);
  EXPECT_TRUE(S_ISCHR(whiteout->attr.st_mode));
}

// The kernel sends CREATE for a name it believes free; another writer may
// have made it since. Opening that file would skip the permission checks
// the kernel makes for an open (and a store running as root would have
// handed it to the caller): ESTALE makes the kernel look the name up again
// and open it as an existing file, O_EXCL or not.
TEST_F(FileSystemTest, ACreateThatFindsTheNameTakenLetsTheKernelOpenItInstead) {
  store_->Put("f", S_IFREG | 0600, "someone else's");
  for (int flags :
       {O_CREAT | O_WRONLY, O_CREAT | O_WRONLY | O_TRUNC, O_CREAT | O_EXCL | O_WRONLY}) {
    auto created = fs_->Create(kRoot, "f", 0644, flags, store::Caller{4321, 4321, 022});
    ASSERT_FALSE(created.ok()) << flags;
    EXPECT_EQ(created.error().code, ESTALE) << flags;
  }
  EXPECT_EQ(fs_->inodes().Find(kRoot, "f"), 0u) << "nothing was handed to the kernel";
  auto st = store_->Stat("f");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_mode, mode_t(S_IFREG | 0600));
  EXPECT_EQ(st->st_size, 14);
  // A free name is created.
  auto fresh = fs_->Create(kRoot, "g", 0644, O_CREAT | O_WRONLY, {});
  ASSERT_TRUE(fresh.ok());
  fs_->Release(fresh->file);
}

TEST_F(FileSystemTest, ReadOnlyRefusesEveryChange) {
  FsSettings ro;
  ro.read_only = true;
  Make(ro);
  store_->Put("f", S_IFREG | 0644);
  auto e = fs_->Lookup(kRoot, "f");
  EXPECT_EQ(fs_->MakeDir(kRoot, "d", 0755, {}).error().code, EROFS);
  // Asked of the mount, not a failure of the source: not a warning in the log.
  EXPECT_EQ(fs_->MakeDir(kRoot, "d", 0755, {}).error().kind, Error::Kind::kAnswer);
  EXPECT_EQ(fs_->Unlink(kRoot, "f").error().code, EROFS);
  EXPECT_EQ(fs_->Rename(kRoot, "f", kRoot, "g", 0, {}).error().code, EROFS);
  EXPECT_EQ(fs_->Open(e->ino, O_WRONLY).error().code, EROFS);
  EXPECT_EQ(fs_->Open(e->ino, O_RDONLY | O_TRUNC).error().code, EROFS);
  store::AttrChange chmod;
  chmod.mode = 0600;
  EXPECT_EQ(fs_->SetAttr(e->ino, chmod, nullptr).error().code, EROFS);
  EXPECT_TRUE(store_->Has("f"));
}

TEST_F(FileSystemTest, OwnershipAndModeOverridesApplyToReportedAttributes) {
  FsSettings s;
  s.uid = 1234;
  s.gid = 5678;
  s.file_mode = 0600;
  s.dir_mode = 0711;
  Make(s);
  store_->Put("f", S_IFREG | 0644);
  store_->Put("d", S_IFDIR | 0755);
  store_->Put("l", S_IFLNK | 0777, "f");
  auto f = fs_->Lookup(kRoot, "f");
  auto d = fs_->Lookup(kRoot, "d");
  auto l = fs_->Lookup(kRoot, "l");
  EXPECT_EQ(f->attr.st_uid, 1234u);
  EXPECT_EQ(f->attr.st_gid, 5678u);
  EXPECT_EQ(f->attr.st_mode, mode_t(S_IFREG | 0600));
  EXPECT_EQ(d->attr.st_mode, mode_t(S_IFDIR | 0711));
  EXPECT_EQ(l->attr.st_mode, mode_t(S_IFLNK | 0777));  // symlink modes are not meaningful
}

TEST_F(FileSystemTest, ReplacedByAnotherTypeAtTheSourceGetsANewInode) {
  store_->Put("x", S_IFREG | 0644);
  auto file = fs_->Lookup(kRoot, "x");
  store_->Put("x", S_IFDIR | 0755);
  auto dir = fs_->Lookup(kRoot, "x");
  EXPECT_NE(file->ino, dir->ino);
  EXPECT_TRUE(S_ISDIR(dir->attr.st_mode));
}

}  // namespace
}  // namespace freshfs::fs
