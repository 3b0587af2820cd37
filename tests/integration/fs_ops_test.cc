// Namespace and data operations through the mount: mkdir/rmdir, create/open
// flags, read/write/fsync, unlink, rename (incl. renameat2 flags), symlinks,
// hard links, FIFOs and unlinked-but-open files. Each result is checked in the
// source directory, and error cases against a plain directory.
#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/fs_util.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

using FsOpsTest = MountedTest;

// Builds the same small tree under `base` (a plain dir or the mountpoint).
long MakeTree(const std::string& base) {
  if (mkdir((base + "/full").c_str(), 0755) != 0) return -1;
  if (WriteFile(base + "/full/child", "c") != 0) return -1;
  if (mkdir((base + "/empty").c_str(), 0755) != 0) return -1;
  if (WriteFile(base + "/file", "f") != 0) return -1;
  if (WriteFile(base + "/other", "o") != 0) return -1;
  return 0;
}

TEST_F(FsOpsTest, MkdirAndRmdir) {
  ASSERT_TRUE(Succeeds(mkdir(m_.Mnt("d").c_str(), 0750)));
  auto src = Stat(m_.Src("d"));
  ASSERT_TRUE(src) << "mkdir did not reach the source";
  EXPECT_EQ(src->st_mode, S_IFDIR | 0750);
  EXPECT_EQ(Stat(m_.Mnt("d"))->st_mode, S_IFDIR | 0750);
  EXPECT_EQ(Stat(m_.Mnt("d"))->st_nlink, 2u);

  ASSERT_TRUE(Succeeds(mkdir(m_.Mnt("d/inner").c_str(), 0755)));
  EXPECT_TRUE(Stat(m_.Src("d/inner")));
  EXPECT_EQ(Stat(m_.Mnt("d"))->st_nlink, 3u);

  EXPECT_TRUE(FailsWith(mkdir(m_.Mnt("d").c_str(), 0755), EEXIST));
  EXPECT_TRUE(FailsWith(rmdir(m_.Mnt("d").c_str()), ENOTEMPTY));
  ASSERT_TRUE(Succeeds(rmdir(m_.Mnt("d/inner").c_str())));
  ASSERT_TRUE(Succeeds(rmdir(m_.Mnt("d").c_str())));
  EXPECT_FALSE(Stat(m_.Src("d")));
  EXPECT_TRUE(FailsWith(access(m_.Mnt("d").c_str(), F_OK), ENOENT));
}

TEST_F(FsOpsTest, DirectoryErrorsMatchPlainDirectory) {
  ASSERT_EQ(MakeTree(m_.plain()), 0);
  ASSERT_EQ(MakeTree(m_.mnt()), 0);
  auto same = [&](const char* what, const std::function<long(const std::string&)>& op) {
    EXPECT_TRUE(SameOutcome(m_.plain(), m_.mnt(), op)) << what;
  };
  same("rmdir non-empty", [](const std::string& b) { return rmdir((b + "/full").c_str()); });
  same("rmdir file", [](const std::string& b) { return rmdir((b + "/file").c_str()); });
  same("rmdir missing", [](const std::string& b) { return rmdir((b + "/nope").c_str()); });
  same("mkdir existing file",
       [](const std::string& b) { return mkdir((b + "/file").c_str(), 0755); });
  same("mkdir under file",
       [](const std::string& b) { return mkdir((b + "/file/x").c_str(), 0755); });
  same("unlink dir", [](const std::string& b) { return unlink((b + "/empty").c_str()); });
  same("unlink missing", [](const std::string& b) { return unlink((b + "/nope").c_str()); });
  same("open dir for writing",
       [](const std::string& b) { return open((b + "/empty").c_str(), O_WRONLY); });
  same("O_DIRECTORY on file",
       [](const std::string& b) { return open((b + "/file").c_str(), O_RDONLY | O_DIRECTORY); });
  same("rename dir over non-empty dir",
       [](const std::string& b) { return rename((b + "/empty").c_str(), (b + "/full").c_str()); });
  same("rename file over dir",
       [](const std::string& b) { return rename((b + "/file").c_str(), (b + "/empty").c_str()); });
  same("rename dir over file",
       [](const std::string& b) { return rename((b + "/empty").c_str(), (b + "/file").c_str()); });
  same("rename dir into itself", [](const std::string& b) {
    return rename((b + "/full").c_str(), (b + "/full/sub").c_str());
  });
  same("rename missing",
       [](const std::string& b) { return rename((b + "/nope").c_str(), (b + "/nope2").c_str()); });
}

TEST_F(FsOpsTest, CreateExclusive) {
  int fd = open(m_.Mnt("new").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0640);
  ASSERT_GE(fd, 0) << ErrnoName(errno);
  ASSERT_EQ(write(fd, "abc", 3), 3);
  ASSERT_EQ(close(fd), 0);
  auto src = Stat(m_.Src("new"));
  ASSERT_TRUE(src) << "create did not reach the source";
  EXPECT_EQ(src->st_mode, S_IFREG | 0640);
  EXPECT_EQ(ReadFile(m_.Src("new")), "abc");
  EXPECT_TRUE(FailsWith(open(m_.Mnt("new").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0640), EEXIST));
  EXPECT_TRUE(FailsWith(open(m_.Mnt("missing").c_str(), O_RDONLY), ENOENT));
}

TEST_F(FsOpsTest, OpenTruncateEmptiesTheFile) {
  ASSERT_EQ(WriteFile(m_.Mnt("t"), "some content"), 0);
  int fd = open(m_.Mnt("t").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0) << ErrnoName(errno);
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 0);
  close(fd);
  EXPECT_EQ(Stat(m_.Src("t"))->st_size, 0);
  EXPECT_EQ(ReadFile(m_.Mnt("t")), "");
}

TEST_F(FsOpsTest, AppendWritesAtTheEnd) {
  ASSERT_EQ(WriteFile(m_.Mnt("a"), "123"), 0);
  int fd = open(m_.Mnt("a").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
  ASSERT_EQ(write(fd, "45", 2), 2);
  ASSERT_EQ(write(fd, "6", 1), 1);
  close(fd);
  EXPECT_EQ(ReadFile(m_.Mnt("a")), "123456");
  EXPECT_EQ(ReadFile(m_.Src("a")), "123456");
}

TEST_F(FsOpsTest, WriteFsyncReadBack) {
  const std::string data = Pattern(3 * 1024 * 1024 + 17, 1);
  int fd = open(m_.Mnt("data").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, std::min<size_t>(100000, data.size() - done));
    ASSERT_GT(n, 0) << ErrnoName(errno);
    done += static_cast<size_t>(n);
  }
  ASSERT_TRUE(Succeeds(fsync(fd)));
  EXPECT_EQ(ReadFile(m_.Src("data")), data) << "data not in the source after fsync";

  // Overwrite in the middle, read back through the same descriptor.
  ASSERT_EQ(pwrite(fd, "XYZ", 3, 1000000), 3);
  char buf[5] = {};
  ASSERT_EQ(pread(fd, buf, 5, 999999), 5);
  EXPECT_EQ(std::string(buf, 5), data.substr(999999, 1) + "XYZ" + data.substr(1000003, 1));
  ASSERT_TRUE(Succeeds(fdatasync(fd)));
  ASSERT_EQ(close(fd), 0);

  std::string expected = data;
  expected.replace(1000000, 3, "XYZ");
  EXPECT_EQ(ReadFile(m_.Mnt("data")), expected);
  EXPECT_EQ(ReadFile(m_.Src("data")), expected);
  EXPECT_EQ(Stat(m_.Mnt("data"))->st_size, static_cast<off_t>(data.size()));
}

// Changes made in the source behind the mount's back (another writer) show
// up through the mount within the default poll interval (5 s) plus margin;
// with inotify on a local source they should take milliseconds.
TEST(SourceChangesTest, BecomeVisibleThroughTheMount) {
  Mount m;
  ASSERT_EQ(WriteFile(m.Src("shared"), "version-1"), 0);
  ASSERT_EQ(WriteFile(m.Src("doomed"), "x"), 0);
  ASSERT_TRUE(m.Start());
  ASSERT_EQ(ReadFile(m.Mnt("shared")), "version-1");  // now in the page cache
  ASSERT_TRUE(Stat(m.Mnt("doomed")));
  EXPECT_FALSE(Stat(m.Mnt("born")));  // now maybe a cached negative entry

  ASSERT_EQ(WriteFile(m.Src("shared"), "version-2"), 0);  // same size, same second
  ASSERT_EQ(WriteFile(m.Src("born"), "new"), 0);
  ASSERT_EQ(unlink(m.Src("doomed").c_str()), 0);
  ASSERT_EQ(symlink("../up/there", m.Src("link").c_str()), 0);

  constexpr auto kBound = 6s;
  EXPECT_TRUE(Eventually([&] { return ReadFile(m.Mnt("shared")) == "version-2"; }, kBound))
      << "content change not visible; still " << ReadFile(m.Mnt("shared")).value_or("<error>");
  EXPECT_TRUE(Eventually([&] { return ReadFile(m.Mnt("born")) == "new"; }, kBound))
      << "new file not visible";
  EXPECT_TRUE(Eventually([&] { return !Stat(m.Mnt("doomed")); }, kBound))
      << "removed file still visible";
  char buf[64];
  EXPECT_TRUE(
      Eventually([&] { return readlink(m.Mnt("link").c_str(), buf, sizeof buf) == 11; }, kBound))
      << "symlink made in the source not visible";
  EXPECT_EQ(std::string(buf, 11), "../up/there");
}

TEST_F(FsOpsTest, Unlink) {
  ASSERT_EQ(WriteFile(m_.Mnt("gone"), "x"), 0);
  ASSERT_TRUE(Stat(m_.Src("gone")));
  ASSERT_TRUE(Succeeds(unlink(m_.Mnt("gone").c_str())));
  EXPECT_FALSE(Stat(m_.Src("gone")));
  EXPECT_FALSE(Stat(m_.Mnt("gone")));
  EXPECT_EQ(errno, ENOENT);
  EXPECT_TRUE(FailsWith(unlink(m_.Mnt("gone").c_str()), ENOENT));
}

TEST_F(FsOpsTest, RenameFileOverExistingFile) {
  ASSERT_EQ(WriteFile(m_.Mnt("a"), "A"), 0);
  ASSERT_EQ(WriteFile(m_.Mnt("b"), "B"), 0);
  ASSERT_TRUE(Succeeds(rename(m_.Mnt("a").c_str(), m_.Mnt("b").c_str())));
  EXPECT_EQ(ReadFile(m_.Mnt("b")), "A");
  EXPECT_EQ(ReadFile(m_.Src("b")), "A");
  EXPECT_FALSE(Stat(m_.Mnt("a")));
  EXPECT_FALSE(Stat(m_.Src("a")));
}

TEST_F(FsOpsTest, RenameAcrossDirectories) {
  ASSERT_EQ(mkdir(m_.Mnt("d1").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(m_.Mnt("d2").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m_.Mnt("d1/f"), "moved"), 0);
  ASSERT_TRUE(Succeeds(rename(m_.Mnt("d1/f").c_str(), m_.Mnt("d2/g").c_str())));
  EXPECT_EQ(ReadFile(m_.Mnt("d2/g")), "moved");
  EXPECT_EQ(ReadFile(m_.Src("d2/g")), "moved");
  EXPECT_FALSE(Stat(m_.Src("d1/f")));
  EXPECT_FALSE(Stat(m_.Mnt("d1/f")));
}

TEST_F(FsOpsTest, RenameDirectoryOverEmptyDirectory) {
  ASSERT_EQ(mkdir(m_.Mnt("src").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m_.Mnt("src/inside"), "i"), 0);
  ASSERT_EQ(mkdir(m_.Mnt("dst").c_str(), 0755), 0);
  ASSERT_TRUE(Succeeds(rename(m_.Mnt("src").c_str(), m_.Mnt("dst").c_str())));
  EXPECT_EQ(ReadFile(m_.Mnt("dst/inside")), "i");
  EXPECT_EQ(ReadFile(m_.Src("dst/inside")), "i");
  EXPECT_FALSE(Stat(m_.Mnt("src")));
  EXPECT_FALSE(Stat(m_.Src("src")));
}

TEST_F(FsOpsTest, RenameNoreplaceRefusesExistingTarget) {
  ASSERT_EQ(WriteFile(m_.Mnt("a"), "A"), 0);
  ASSERT_EQ(WriteFile(m_.Mnt("b"), "B"), 0);
  EXPECT_TRUE(FailsWith(Renameat2(m_.Mnt("a"), m_.Mnt("b"), RENAME_NOREPLACE), EEXIST));
  EXPECT_EQ(ReadFile(m_.Src("a")), "A");
  EXPECT_EQ(ReadFile(m_.Src("b")), "B");
  ASSERT_TRUE(Succeeds(Renameat2(m_.Mnt("a"), m_.Mnt("c"), RENAME_NOREPLACE)));
  EXPECT_EQ(ReadFile(m_.Src("c")), "A");
  EXPECT_FALSE(Stat(m_.Src("a")));
}

TEST_F(FsOpsTest, RenameExchangeSwaps) {
  ASSERT_EQ(WriteFile(m_.Mnt("a"), "A"), 0);
  ASSERT_EQ(WriteFile(m_.Mnt("b"), "B"), 0);
  ASSERT_EQ(mkdir(m_.Mnt("d").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m_.Mnt("d/in"), "D"), 0);
  const ino_t ino_a = Stat(m_.Mnt("a"))->st_ino;

  ASSERT_TRUE(Succeeds(Renameat2(m_.Mnt("a"), m_.Mnt("b"), RENAME_EXCHANGE)));
  EXPECT_EQ(ReadFile(m_.Mnt("a")), "B");
  EXPECT_EQ(ReadFile(m_.Mnt("b")), "A");
  EXPECT_EQ(ReadFile(m_.Src("a")), "B");
  EXPECT_EQ(ReadFile(m_.Src("b")), "A");
  EXPECT_EQ(Stat(m_.Mnt("b"))->st_ino, ino_a);

  // A file and a directory swap places too.
  ASSERT_TRUE(Succeeds(Renameat2(m_.Mnt("a"), m_.Mnt("d"), RENAME_EXCHANGE)));
  EXPECT_EQ(ReadFile(m_.Mnt("a/in")), "D");
  EXPECT_EQ(ReadFile(m_.Mnt("d")), "B");
  EXPECT_TRUE(S_ISDIR(Stat(m_.Src("a"))->st_mode));
  EXPECT_TRUE(S_ISREG(Stat(m_.Src("d"))->st_mode));

  EXPECT_TRUE(FailsWith(Renameat2(m_.Mnt("a"), m_.Mnt("missing"), RENAME_EXCHANGE), ENOENT));
}

TEST_F(FsOpsTest, SymlinkAndReadlink) {
  ASSERT_EQ(WriteFile(m_.Mnt("target"), "pointed-at"), 0);
  ASSERT_TRUE(Succeeds(symlink("target", m_.Mnt("rel").c_str())));
  ASSERT_TRUE(Succeeds(symlink("/nonexistent/abs/path", m_.Mnt("dangling").c_str())));

  char buf[256];
  for (const auto& base : {m_.mnt(), m_.source()}) {
    ssize_t n = readlink((base + "/rel").c_str(), buf, sizeof buf);
    ASSERT_EQ(n, 6) << base << ": " << ErrnoName(errno);
    EXPECT_EQ(std::string(buf, 6), "target");
    n = readlink((base + "/dangling").c_str(), buf, sizeof buf);
    ASSERT_EQ(n, 21) << base;
    EXPECT_EQ(std::string(buf, 21), "/nonexistent/abs/path");
  }
  auto l = Lstat(m_.Mnt("rel"));
  ASSERT_TRUE(l);
  EXPECT_TRUE(S_ISLNK(l->st_mode));
  EXPECT_EQ(l->st_size, 6);
  EXPECT_EQ(ReadFile(m_.Mnt("rel")), "pointed-at");
  EXPECT_TRUE(FailsWith(access(m_.Mnt("dangling").c_str(), F_OK), ENOENT));

  EXPECT_TRUE(FailsWith(readlink(m_.Mnt("target").c_str(), buf, sizeof buf), EINVAL));
}

TEST_F(FsOpsTest, HardLinkSharesInode) {
  ASSERT_EQ(WriteFile(m_.Mnt("one"), "shared"), 0);
  ASSERT_TRUE(Succeeds(link(m_.Mnt("one").c_str(), m_.Mnt("two").c_str())));

  auto m1 = Stat(m_.Mnt("one")), m2 = Stat(m_.Mnt("two"));
  ASSERT_TRUE(m1 && m2);
  EXPECT_EQ(m1->st_ino, m2->st_ino);
  EXPECT_EQ(m1->st_nlink, 2u);
  EXPECT_EQ(m2->st_nlink, 2u);
  auto s1 = Stat(m_.Src("one")), s2 = Stat(m_.Src("two"));
  ASSERT_TRUE(s1 && s2) << "link did not reach the source";
  EXPECT_EQ(s1->st_ino, s2->st_ino) << "the source holds a copy, not a hard link";
  EXPECT_EQ(s1->st_nlink, 2u);

  ASSERT_EQ(WriteFile(m_.Mnt("two"), "changed via two"), 0);
  EXPECT_EQ(ReadFile(m_.Mnt("one")), "changed via two");

  ASSERT_TRUE(Succeeds(unlink(m_.Mnt("one").c_str())));
  EXPECT_EQ(Stat(m_.Mnt("two"))->st_nlink, 1u);
  EXPECT_TRUE(FailsWith(link(m_.Mnt("missing").c_str(), m_.Mnt("x").c_str()), ENOENT));
}

TEST(SourceLinksTest, HardLinkMadeInSourceSharesInodeThroughMount) {
  Mount m;
  ASSERT_EQ(WriteFile(m.Src("orig"), "x"), 0);
  ASSERT_EQ(link(m.Src("orig").c_str(), m.Src("alias").c_str()), 0);
  ASSERT_EQ(symlink("orig", m.Src("symlink").c_str()), 0);
  ASSERT_TRUE(m.Start());
  auto a = Stat(m.Mnt("orig")), b = Stat(m.Mnt("alias"));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->st_ino, b->st_ino);
  EXPECT_EQ(a->st_nlink, 2u);
  char buf[16];
  EXPECT_EQ(readlink(m.Mnt("symlink").c_str(), buf, sizeof buf), 4);
  EXPECT_EQ(std::string(buf, 4), "orig");
}

TEST_F(FsOpsTest, MknodFifo) {
  ASSERT_TRUE(Succeeds(mkfifo(m_.Mnt("fifo").c_str(), 0640)));  // unaffected by umask 022
  auto src = Lstat(m_.Src("fifo"));
  ASSERT_TRUE(src) << "mknod did not reach the source";
  EXPECT_TRUE(S_ISFIFO(src->st_mode));
  EXPECT_EQ(src->st_mode & 07777, 0640u);
  auto mnt = Lstat(m_.Mnt("fifo"));
  ASSERT_TRUE(mnt);
  EXPECT_TRUE(S_ISFIFO(mnt->st_mode));
  EXPECT_TRUE(FailsWith(mkfifo(m_.Mnt("fifo").c_str(), 0600), EEXIST));
}

TEST_F(FsOpsTest, UnlinkedButOpenFileStaysUsable) {
  int fd = open(m_.Mnt("tmpfile").c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "before", 6), 6);
  ASSERT_TRUE(Succeeds(unlink(m_.Mnt("tmpfile").c_str())));
  EXPECT_FALSE(Stat(m_.Mnt("tmpfile")));

  EXPECT_EQ(pwrite(fd, "after", 5, 6), 5) << ErrnoName(errno);
  struct stat st {};
  ASSERT_TRUE(Succeeds(fstat(fd, &st)));
  EXPECT_EQ(st.st_size, 11);
  EXPECT_EQ(st.st_nlink, 0u);
  char buf[32] = {};
  EXPECT_EQ(pread(fd, buf, sizeof buf, 0), 11) << ErrnoName(errno);
  EXPECT_EQ(std::string(buf, 11), "beforeafter");
  EXPECT_TRUE(Succeeds(fsync(fd)));
  EXPECT_EQ(close(fd), 0);

  auto names = ListDir(m_.source());
  ASSERT_TRUE(names);
  EXPECT_EQ(names->size(), 2u) << "the source still holds an entry for the unlinked file";
  auto listed = ListDir(m_.mnt());
  ASSERT_TRUE(listed);
  EXPECT_EQ(std::count_if(listed->begin(), listed->end(),
                          [](const std::string& n) { return n != "." && n != ".."; }),
            0)
      << "the mount still lists the unlinked file";
}

}  // namespace
}  // namespace freshfs::testing
