// Attributes through the mount: lookup/stat, inode numbers, chmod, truncate,
// utimensat, chown, statfs and extended attributes, each checked against the
// source directory (or a plain directory doing the same thing).
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "support/fs_util.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

class AttrTest : public MountedTest {
 protected:
  void PrepareSource() override {
    ASSERT_EQ(WriteFile(m_.Src("file"), "hello world"), 0);
    ASSERT_EQ(chmod(m_.Src("file").c_str(), 0640), 0);
    ASSERT_EQ(mkdir(m_.Src("dir").c_str(), 0750), 0);
    ASSERT_EQ(mkdir(m_.Src("dir/sub1").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(m_.Src("dir/sub2").c_str(), 0755), 0);
    ASSERT_EQ(WriteFile(m_.Src("dir/nested"), std::string(100000, 'x')), 0);
    struct timespec times[2] = {{1000000000, 111}, {1200000000, 222222222}};
    ASSERT_EQ(utimensat(AT_FDCWD, m_.Src("file").c_str(), times, 0), 0);
  }
};

void ExpectSameStat(const struct stat& src, const struct stat& mnt, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(mnt.st_mode, src.st_mode);
  EXPECT_EQ(mnt.st_size, src.st_size);
  EXPECT_EQ(mnt.st_nlink, src.st_nlink);
  EXPECT_EQ(mnt.st_uid, src.st_uid);
  EXPECT_EQ(mnt.st_gid, src.st_gid);
  EXPECT_EQ(mnt.st_mtim.tv_sec, src.st_mtim.tv_sec);
  EXPECT_EQ(mnt.st_mtim.tv_nsec, src.st_mtim.tv_nsec);
}

TEST_F(AttrTest, StatMatchesSource) {
  for (const char* rel : {"file", "dir", "dir/sub1", "dir/nested"}) {
    auto src = Stat(m_.Src(rel));
    auto mnt = Stat(m_.Mnt(rel));
    ASSERT_TRUE(src.has_value()) << rel;
    ASSERT_TRUE(mnt.has_value()) << rel << ": " << ErrnoName(errno);
    ExpectSameStat(*src, *mnt, rel);
  }
  auto root = Stat(m_.mnt());
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(S_ISDIR(root->st_mode));
}

TEST_F(AttrTest, MissingNameIsENOENT) {
  EXPECT_TRUE(FailsWith(access(m_.Mnt("no-such-file").c_str(), F_OK), ENOENT));
  EXPECT_TRUE(FailsWith(access(m_.Mnt("dir/no/such").c_str(), F_OK), ENOENT));
  EXPECT_TRUE(FailsWith(access(m_.Mnt("file/child").c_str(), F_OK), ENOTDIR));
}

// Drops the page and dentry caches of the whole machine: runs alone (see CMakeLists).
TEST_F(AttrTest, InodeNumbersStableAcrossStatsAndForgetDropsCaches) {
  auto a1 = Stat(m_.Mnt("file"));
  auto b1 = Stat(m_.Mnt("dir/nested"));
  auto d1 = Stat(m_.Mnt("dir"));
  ASSERT_TRUE(a1 && b1 && d1);
  EXPECT_NE(a1->st_ino, b1->st_ino);
  EXPECT_NE(a1->st_ino, d1->st_ino);
  EXPECT_NE(b1->st_ino, d1->st_ino);

  auto a2 = Stat(m_.Mnt("file"));
  ASSERT_TRUE(a2);
  EXPECT_EQ(a2->st_ino, a1->st_ino);

  DropKernelCaches();  // the kernel FORGETs the inodes it no longer caches
  auto a3 = Stat(m_.Mnt("file"));
  auto b3 = Stat(m_.Mnt("dir/nested"));
  auto d3 = Stat(m_.Mnt("dir"));
  ASSERT_TRUE(a3 && b3 && d3);
  EXPECT_EQ(a3->st_ino, a1->st_ino);
  EXPECT_EQ(b3->st_ino, b1->st_ino);
  EXPECT_EQ(d3->st_ino, d1->st_ino);
}

TEST_F(AttrTest, InodeNumberSurvivesRename) {
  auto before = Stat(m_.Mnt("file"));
  ASSERT_TRUE(before);
  ASSERT_TRUE(Succeeds(rename(m_.Mnt("file").c_str(), m_.Mnt("dir/renamed").c_str())));
  auto after = Stat(m_.Mnt("dir/renamed"));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->st_ino, before->st_ino);
}

TEST_F(AttrTest, ChmodReachesSource) {
  ASSERT_TRUE(Succeeds(chmod(m_.Mnt("file").c_str(), 0604)));
  ASSERT_TRUE(Succeeds(chmod(m_.Mnt("dir").c_str(), 0711)));
  EXPECT_EQ(Stat(m_.Src("file"))->st_mode, S_IFREG | 0604);
  EXPECT_EQ(Stat(m_.Src("dir"))->st_mode, S_IFDIR | 0711);
  EXPECT_EQ(Stat(m_.Mnt("file"))->st_mode, S_IFREG | 0604);
  EXPECT_EQ(Stat(m_.Mnt("dir"))->st_mode, S_IFDIR | 0711);

  int fd = open(m_.Mnt("file").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(Succeeds(fchmod(fd, 0755)));
  close(fd);
  EXPECT_EQ(Stat(m_.Src("file"))->st_mode, S_IFREG | 0755);
}

TEST_F(AttrTest, TruncateGrowAndShrink) {
  ASSERT_TRUE(Succeeds(truncate(m_.Mnt("file").c_str(), 100)));
  EXPECT_EQ(Stat(m_.Mnt("file"))->st_size, 100);
  EXPECT_EQ(Stat(m_.Src("file"))->st_size, 100);
  std::string grown = "hello world" + std::string(89, '\0');
  EXPECT_EQ(ReadFile(m_.Mnt("file")), grown);
  EXPECT_EQ(ReadFile(m_.Src("file")), grown);

  ASSERT_TRUE(Succeeds(truncate(m_.Mnt("file").c_str(), 5)));
  EXPECT_EQ(Stat(m_.Mnt("file"))->st_size, 5);
  EXPECT_EQ(ReadFile(m_.Mnt("file")), "hello");
  EXPECT_EQ(ReadFile(m_.Src("file")), "hello");

  int fd = open(m_.Mnt("file").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(Succeeds(ftruncate(fd, 2)));
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 2);
  close(fd);
  EXPECT_EQ(ReadFile(m_.Src("file")), "he");

  EXPECT_TRUE(FailsWith(truncate(m_.Mnt("dir").c_str(), 0), EISDIR));
}

TEST_F(AttrTest, UtimensatExplicitNowAndOmit) {
  const std::string f = m_.Mnt("file");
  struct timespec explicit_times[2] = {{1500000000, 123456789}, {1600000000, 987654321}};
  ASSERT_TRUE(Succeeds(utimensat(AT_FDCWD, f.c_str(), explicit_times, 0)));
  for (const auto& path : {m_.Src("file"), f}) {
    auto st = Stat(path);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->st_atim.tv_sec, 1500000000) << path;
    EXPECT_EQ(st->st_atim.tv_nsec, 123456789) << path;
    EXPECT_EQ(st->st_mtim.tv_sec, 1600000000) << path;
    EXPECT_EQ(st->st_mtim.tv_nsec, 987654321) << path;
  }

  // atime omitted, mtime set to now.
  struct timespec now_mtime[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  const time_t before = time(nullptr);
  ASSERT_TRUE(Succeeds(utimensat(AT_FDCWD, f.c_str(), now_mtime, 0)));
  const time_t after = time(nullptr);
  for (const auto& path : {m_.Src("file"), f}) {
    auto st = Stat(path);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->st_atim.tv_sec, 1500000000) << path << ": UTIME_OMIT changed atime";
    EXPECT_EQ(st->st_atim.tv_nsec, 123456789) << path;
    EXPECT_GE(st->st_mtim.tv_sec, before - 1) << path << ": UTIME_NOW";
    EXPECT_LE(st->st_mtim.tv_sec, after + 1) << path;
  }

  // atime now, mtime omitted.
  struct timespec now_atime[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
  auto mtime_before = Stat(m_.Src("file"))->st_mtim;
  ASSERT_TRUE(Succeeds(utimensat(AT_FDCWD, f.c_str(), now_atime, 0)));
  auto st = Stat(m_.Src("file"));
  EXPECT_GE(st->st_atim.tv_sec, before - 1);
  EXPECT_EQ(st->st_mtim.tv_sec, mtime_before.tv_sec);
  EXPECT_EQ(st->st_mtim.tv_nsec, mtime_before.tv_nsec);

  // futimens on an open descriptor, both now (as touch(1) does).
  int fd = open(m_.Mnt("dir/nested").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(Succeeds(futimens(fd, nullptr)));
  close(fd);
  EXPECT_GE(Stat(m_.Src("dir/nested"))->st_mtim.tv_sec, before - 1);
}

TEST_F(AttrTest, ChownReachesSource) {
  ASSERT_TRUE(Succeeds(chown(m_.Mnt("file").c_str(), 1234, 5678)));
  EXPECT_EQ(Stat(m_.Src("file"))->st_uid, 1234u);
  EXPECT_EQ(Stat(m_.Src("file"))->st_gid, 5678u);
  EXPECT_EQ(Stat(m_.Mnt("file"))->st_uid, 1234u);
  EXPECT_EQ(Stat(m_.Mnt("file"))->st_gid, 5678u);

  // -1 leaves that id alone.
  ASSERT_TRUE(Succeeds(chown(m_.Mnt("file").c_str(), static_cast<uid_t>(-1), 42)));
  EXPECT_EQ(Stat(m_.Src("file"))->st_uid, 1234u);
  EXPECT_EQ(Stat(m_.Src("file"))->st_gid, 42u);

  ASSERT_TRUE(Succeeds(symlink("file", m_.Mnt("link").c_str())));
  ASSERT_TRUE(Succeeds(lchown(m_.Mnt("link").c_str(), 77, 88)));
  EXPECT_EQ(Lstat(m_.Src("link"))->st_uid, 77u);
  EXPECT_EQ(Stat(m_.Src("file"))->st_uid, 1234u) << "lchown followed the symlink";
}

TEST_F(AttrTest, StatfsReportsTheSourceFilesystem) {
  struct statvfs mnt {
  }, src{};
  ASSERT_TRUE(Succeeds(statvfs(m_.mnt().c_str(), &mnt)));
  ASSERT_EQ(statvfs(m_.source().c_str(), &src), 0);
  EXPECT_GT(mnt.f_bsize, 0u);
  EXPECT_GT(mnt.f_namemax, 0u);
  const double mnt_total = static_cast<double>(mnt.f_blocks) * mnt.f_frsize;
  const double src_total = static_cast<double>(src.f_blocks) * src.f_frsize;
  EXPECT_NEAR(mnt_total, src_total, src_total * 0.01) << "df size differs from the source's";
}

// Extended attributes behave as on the source filesystem: round trip when it
// supports user.* attributes, the same error when it does not.
TEST_F(AttrTest, UserXattrsBehaveLikeSource) {
  ASSERT_EQ(WriteFile(m_.Plain("probe"), ""), 0);
  const bool supported = setxattr(m_.Plain("probe").c_str(), "user.x", "v", 1, 0) == 0;
  const int plain_errno = supported ? 0 : errno;
  const std::string f = m_.Mnt("file");
  if (!supported) {
    EXPECT_TRUE(FailsWith(setxattr(f.c_str(), "user.x", "v", 1, 0), plain_errno));
    return;
  }

  ASSERT_TRUE(Succeeds(setxattr(f.c_str(), "user.x", "value-1", 7, 0)));
  char buf[256];
  ssize_t n = getxattr(m_.Src("file").c_str(), "user.x", buf, sizeof buf);
  ASSERT_EQ(n, 7) << "not stored in the source";
  EXPECT_EQ(std::string(buf, 7), "value-1");

  ASSERT_EQ(setxattr(m_.Src("file").c_str(), "user.y", "from-source", 11, 0), 0);
  n = getxattr(f.c_str(), "user.y", buf, sizeof buf);
  ASSERT_EQ(n, 11) << ErrnoName(errno);
  EXPECT_EQ(std::string(buf, 11), "from-source");

  EXPECT_EQ(getxattr(f.c_str(), "user.x", nullptr, 0), 7) << "size query";
  EXPECT_TRUE(FailsWith(getxattr(f.c_str(), "user.x", buf, 3), ERANGE));
  EXPECT_TRUE(FailsWith(getxattr(f.c_str(), "user.missing", buf, sizeof buf), ENODATA));
  EXPECT_TRUE(FailsWith(setxattr(f.c_str(), "user.x", "z", 1, XATTR_CREATE), EEXIST));
  EXPECT_TRUE(FailsWith(setxattr(f.c_str(), "user.nope", "z", 1, XATTR_REPLACE), ENODATA));

  n = listxattr(f.c_str(), buf, sizeof buf);
  ASSERT_GT(n, 0) << ErrnoName(errno);
  std::string names(buf, static_cast<size_t>(n));
  EXPECT_NE(names.find(std::string("user.x\0", 7)), std::string::npos) << names;
  EXPECT_NE(names.find(std::string("user.y\0", 7)), std::string::npos) << names;

  ASSERT_TRUE(Succeeds(removexattr(f.c_str(), "user.x")));
  EXPECT_TRUE(FailsWith(getxattr(m_.Src("file").c_str(), "user.x", buf, sizeof buf), ENODATA));
  EXPECT_TRUE(FailsWith(removexattr(f.c_str(), "user.x"), ENODATA));

  // Directories too, and the command-line tools users reach for.
  auto set = RunToCompletion({"setfattr", "-n", "user.tag", "-v", "blue", m_.Mnt("dir")});
  ASSERT_EQ(set.exit_code, 0) << set.Describe();
  auto get = RunToCompletion({"getfattr", "--only-values", "-n", "user.tag", m_.Src("dir")});
  EXPECT_EQ(get.exit_code, 0) << get.Describe();
  EXPECT_EQ(get.stdout_text, "blue");
}

}  // namespace
}  // namespace freshfs::testing
