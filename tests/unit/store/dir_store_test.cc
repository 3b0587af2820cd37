#include "store/dir_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <linux/fs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "support/temp_dir.h"

namespace freshfs::store {
namespace {

namespace stdfs = std::filesystem;

class DirStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = base_ / "root";
    stdfs::create_directories(root_ / "sub");
    std::ofstream(root_ / "sub" / "file") << "hello";
    std::ofstream(base_ / "outside") << "secret";
    auto s = DirStore::Open(root_);
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
  }

  freshfs::testing::TempDir tmp_{"dirstore"};
  stdfs::path base_ = tmp_.path(), root_;
  std::unique_ptr<DirStore> store_;
};

TEST_F(DirStoreTest, StatsRootAndChildren) {
  EXPECT_TRUE(S_ISDIR(store_->Stat("")->st_mode));
  auto st = store_->Stat("sub/file");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->st_size, 5);
  EXPECT_EQ(store_->Stat("nope").error().code, ENOENT);
  // The path goes up with the errno, for the one log line at the FUSE boundary.
  EXPECT_EQ(store_->Stat("nope").error().message, "source path \"nope\"");
}

// A writer that renames new files over one name: the filesystem may hand
// each new file the inode number the last one freed (ext4 alternates two),
// yet every one is another object, and the mount keys its kernel inodes by
// this number. Where the filesystem keeps birth times, none repeats.
TEST_F(DirStoreTest, FilesRenamedOverANameAreToldApartEvenWhenTheirNumbersRepeat) {
  struct statx probe;
  if (::statx(AT_FDCWD, root_.c_str(), 0, STATX_BTIME, &probe) != 0 ||
      !(probe.stx_mask & STATX_BTIME))
    GTEST_SKIP() << root_ << " keeps no birth times";
  std::set<ino_t> raw, seen;
  ino_t last = 0;
  for (int i = 0; i < 50; ++i) {
    std::ofstream(root_ / "tmp") << "version " << i;
    stdfs::rename(root_ / "tmp", root_ / "f");
    struct stat plain;
    ASSERT_EQ(::lstat((root_ / "f").c_str(), &plain), 0);
    raw.insert(plain.st_ino);
    auto st = store_->Stat("f");
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(seen.insert(st->st_ino).second) << "version " << i << " looks like an older one";
    last = st->st_ino;
    // The same object reads the same through a descriptor and a listing.
    auto file = store_->Open("f", O_RDONLY);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->Stat()->st_ino, st->st_ino);
  }
  auto listed = store_->ListDetailed("");
  ASSERT_TRUE(listed.ok());
  for (const auto& e : *listed)
    if (e.name == "f") {
      EXPECT_EQ(e.attr.st_ino, last);
    }
  std::printf("raw inode numbers: %zu distinct of 50\n", raw.size());
}

TEST_F(DirStoreTest, ListOmitsDotEntries) {
  auto list = store_->List("sub");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "file");
  EXPECT_EQ((*list)[0].type, mode_t(S_IFREG));
}

TEST_F(DirStoreTest, ParentThatBecameASymlinkCannotLeadOutsideTheRoot) {
  stdfs::create_directory_symlink(base_, root_ / "escape");
  EXPECT_EQ(store_->Stat("escape/outside").error().code, ENOENT);
  EXPECT_EQ(store_->Open("escape/outside", O_RDONLY).error().code, ENOENT);
  EXPECT_EQ(store_->Unlink("escape/outside").error().code, ENOENT);
  EXPECT_TRUE(stdfs::exists(base_ / "outside"));
  // The symlink itself is served as a symlink.
  EXPECT_TRUE(S_ISLNK(store_->Stat("escape")->st_mode));
}

TEST_F(DirStoreTest, FinalSymlinkIsNotFollowedOnOpen) {
  stdfs::create_symlink(base_ / "outside", root_ / "link");
  EXPECT_EQ(store_->Open("link", O_RDONLY).error().code, ELOOP);
}

TEST_F(DirStoreTest, CreateWriteReadBack) {
  auto f = store_->Create("sub/new", O_RDWR, 0640, {});
  ASSERT_TRUE(f.ok());
  const char data[] = "abc";
  EXPECT_EQ(*(*f)->Write(data, 3, 10), 3u);
  char buf[16] = {};
  EXPECT_EQ(*(*f)->Read(buf, sizeof buf, 10), 3u);
  EXPECT_EQ(std::string(buf, 3), "abc");
  EXPECT_EQ((*f)->Stat()->st_size, 13);
  EXPECT_EQ(stdfs::file_size(root_ / "sub" / "new"), 13u);
}

TEST_F(DirStoreTest, RenameNoReplaceAndExchange) {
  std::ofstream(root_ / "a") << "A";
  std::ofstream(root_ / "b") << "B";
  EXPECT_EQ(store_->Rename("a", "b", RENAME_NOREPLACE, {}).error().code, EEXIST);
  EXPECT_TRUE(store_->Rename("a", "b", RENAME_EXCHANGE, {}).ok());
  std::string a;
  std::ifstream(root_ / "a") >> a;
  EXPECT_EQ(a, "B");
}

TEST_F(DirStoreTest, SetAttrTruncatesAndChmods) {
  AttrChange c;
  c.size = 2;
  c.mode = 0600;
  ASSERT_TRUE(store_->SetAttr("sub/file", c).ok());
  auto st = store_->Stat("sub/file");
  EXPECT_EQ(st->st_size, 2);
  EXPECT_EQ(st->st_mode & 07777, 0600u);
}

TEST_F(DirStoreTest, ChmodThroughASymlinkDoesNotReachItsTarget) {
  stdfs::create_symlink(base_ / "outside", root_ / "link");
  auto before = stdfs::status(base_ / "outside").permissions();
  AttrChange c;
  c.mode = 0777;
  EXPECT_FALSE(store_->SetAttr("link", c).ok());
  EXPECT_EQ(stdfs::status(base_ / "outside").permissions(), before);
}

// Create() only creates: opening an existing file is an open, which the
// kernel checks (a root daemon would open anything, and give it away).
TEST_F(DirStoreTest, CreateNeverOpensATakenName) {
  for (int flags : {O_WRONLY | O_TRUNC, O_RDWR, O_WRONLY | O_EXCL}) {
    auto f = store_->Create("sub/file", flags, 0644, {});
    ASSERT_FALSE(f.ok()) << flags;
    EXPECT_EQ(f.error().code, EEXIST) << flags;
  }
  EXPECT_EQ(stdfs::file_size(root_ / "sub" / "file"), 5u);
}

// What the daemon makes for a caller comes out as the caller's own system
// call would make it, whatever the daemon's umask.
class DirStoreForCallerTest : public DirStoreTest {
 protected:
  void SetUp() override {
    DirStoreTest::SetUp();
    daemon_umask_ = ::umask(077);
  }
  void TearDown() override {
    ::umask(daemon_umask_);
    DirStoreTest::TearDown();
  }
  // "0104755 4321:4321" of lstat(rel).
  std::string Made(const std::string& rel) {
    struct stat st {};
    if (::lstat((root_ / rel).c_str(), &st) != 0) return "missing";
    char text[64];
    std::snprintf(text, sizeof text, "0%o %u:%u", unsigned(st.st_mode), unsigned(st.st_uid),
                  unsigned(st.st_gid));
    return text;
  }
  // Each path of `want` as Made() describes it.
  void ExpectMade(const std::vector<std::pair<std::string, std::string>>& want) {
    for (const auto& [rel, made] : want) EXPECT_EQ(Made(rel), made) << rel;
  }
  mode_t daemon_umask_ = 0;
};

TEST_F(DirStoreForCallerTest, NewEntriesHaveTheCallersUmaskNotTheDaemons) {
  for (mode_t umask : {mode_t(0), mode_t(027)}) {
    const std::string n = std::to_string(umask);
    const Caller root{0, 0, umask};
    ASSERT_TRUE(store_->MakeDir("d" + n, 0777, root).ok());
    ASSERT_TRUE(store_->Create("f" + n, O_WRONLY, 0666, root).ok());
    ASSERT_TRUE(store_->MakeNode("p" + n, S_IFIFO | 0666, 0, root).ok());
  }
  ExpectMade({{"d0", "040777 0:0"},
              {"f0", "0100666 0:0"},
              {"p0", "010666 0:0"},
              {"d23", "040750 0:0"},
              {"f23", "0100640 0:0"},
              {"p23", "010640 0:0"}});
}

// A root daemon makes entries as root and gives them away; the chown must
// not cost them the set-ID bits the caller gave them.
TEST_F(DirStoreForCallerTest, NewEntriesBelongToTheCallerWithTheSetIdBitsItGave) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, as a daemon that gives entries away";
  const Caller user{4321, 4321, 022};
  ASSERT_TRUE(store_->Create("setuid", O_WRONLY, 04755, user).ok());
  ASSERT_TRUE(store_->MakeNode("fifo", S_IFIFO | 04777, 0, user).ok());
  ASSERT_TRUE(store_->MakeDir("sticky", 01777, user).ok());
  ASSERT_TRUE(store_->Symlink("setuid", "link", user).ok());
  // A set-group-ID directory: new entries take its group.
  stdfs::create_directory(root_ / "team");
  ASSERT_EQ(::chown((root_ / "team").c_str(), 0, 4322), 0);
  ASSERT_EQ(::chmod((root_ / "team").c_str(), 02775), 0);
  ASSERT_TRUE(store_->Create("team/setgid", O_WRONLY, 02775, user).ok());
  ASSERT_TRUE(store_->MakeDir("team/dir", 0777, user).ok());
  ExpectMade({{"setuid", "0104755 4321:4321"},
              {"fifo", "014755 4321:4321"},
              {"sticky", "041755 4321:4321"},
              {"link", "0120777 4321:4321"},
              {"team/setgid", "0102755 4321:4322"},
              {"team/dir", "042755 4321:4322"}});
}

// The whiteout renameat2(RENAME_WHITEOUT) leaves is a new entry: the caller's.
TEST_F(DirStoreForCallerTest, AWhiteoutIsTheCallers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, as a daemon that gives entries away";
  const std::string file = Made("sub/file");
  Status s = store_->Rename("sub/file", "moved", RENAME_WHITEOUT, Caller{4321, 4321, 022});
  if (!s.ok() && s.error().code == EINVAL) GTEST_SKIP() << "no whiteouts on this filesystem";
  ASSERT_TRUE(s.ok()) << s.error().message;
  ExpectMade({{"sub/file", "020000 4321:4321"}, {"moved", file}});
}

TEST_F(DirStoreTest, SourceRemovedWhileOpenGivesErrorsNotCrashes) {
  stdfs::remove_all(root_);
  EXPECT_EQ(store_->Stat("sub/file").error().code, ENOENT);
  EXPECT_FALSE(store_->MakeDir("x", 0755, {}).ok());
  auto list = store_->List("");
  EXPECT_TRUE(!list.ok() || list->empty());
}

}  // namespace
}  // namespace freshfs::store

namespace freshfs::store {
namespace {

TEST_F(DirStoreTest, CheckRootFailsWhileTheSourcePathIsGoneOrReplaced) {
  EXPECT_TRUE(store_->CheckRoot().ok());
  stdfs::rename(root_, base_ / "away");
  EXPECT_EQ(store_->CheckRoot().error().code, ENOENT);
  stdfs::create_directory(root_);
  EXPECT_EQ(store_->CheckRoot().error().code, ESTALE);
  stdfs::remove(root_);
  stdfs::rename(base_ / "away", root_);
  EXPECT_TRUE(store_->CheckRoot().ok());
}

}  // namespace
}  // namespace freshfs::store
