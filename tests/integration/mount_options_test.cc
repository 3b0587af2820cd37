// Mount options as a user sees them: --read-only / -o ro, ownership and mode
// overrides, file:// sources, timeouts and kernel caching, the YAML config
// file (and flags overriding it), and the log file.
#include <cerrno>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "support/fs_util.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

void FillSource(const Mount& m) {
  ASSERT_EQ(WriteFile(m.Src("file"), "contents"), 0);
  ASSERT_EQ(chmod(m.Src("file").c_str(), 0644), 0);
  ASSERT_EQ(mkdir(m.Src("dir").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m.Src("dir/inner"), "inner"), 0);
}

void ExpectReadOnly(const Mount& m) {
  EXPECT_EQ(ReadFile(m.Mnt("file")), "contents") << "reads must work";
  EXPECT_EQ(ReadFile(m.Mnt("dir/inner")), "inner");
  EXPECT_TRUE(ListDir(m.Mnt("dir")));

  const std::string f = m.Mnt("file");
  EXPECT_TRUE(FailsWith(open(f.c_str(), O_WRONLY), EROFS)) << "open for writing";
  EXPECT_TRUE(FailsWith(open(f.c_str(), O_RDWR), EROFS));
  EXPECT_TRUE(FailsWith(open(m.Mnt("new").c_str(), O_CREAT | O_WRONLY, 0644), EROFS));
  EXPECT_TRUE(FailsWith(mkdir(m.Mnt("newdir").c_str(), 0755), EROFS));
  EXPECT_TRUE(FailsWith(unlink(f.c_str()), EROFS));
  EXPECT_TRUE(FailsWith(rmdir(m.Mnt("dir").c_str()), EROFS));
  EXPECT_TRUE(FailsWith(rename(f.c_str(), m.Mnt("renamed").c_str()), EROFS));
  EXPECT_TRUE(FailsWith(chmod(f.c_str(), 0600), EROFS));
  EXPECT_TRUE(FailsWith(truncate(f.c_str(), 0), EROFS));
  EXPECT_TRUE(FailsWith(symlink("file", m.Mnt("link").c_str()), EROFS));
  EXPECT_TRUE(FailsWith(setxattr(f.c_str(), "user.x", "v", 1, 0), EROFS));
  EXPECT_TRUE(FailsWith(utimensat(AT_FDCWD, f.c_str(), nullptr, 0), EROFS));

  EXPECT_EQ(ReadFile(m.Src("file")), "contents") << "source changed";
  EXPECT_EQ(Stat(m.Src("file"))->st_mode, S_IFREG | 0644u);
  EXPECT_EQ(ListDir(m.source())->size(), 4u) << "source gained entries";
}

TEST(MountOptionsTest, ReadOnly) {
  Mount m;
  FillSource(m);
  ASSERT_TRUE(m.Start({"--read-only"}));
  ExpectReadOnly(m);
}

TEST(MountOptionsTest, ReadOnlyViaDashO) {
  Mount m;
  FillSource(m);
  ASSERT_TRUE(m.Start({"-o", "ro"}));
  ExpectReadOnly(m);
}

TEST(MountOptionsTest, OwnershipAndModeOverrides) {
  Mount m;
  FillSource(m);
  ASSERT_TRUE(
      m.Start({"--uid", "1234", "--gid", "5678", "--file-mode", "0600", "--dir-mode", "0750"}));
  auto f = Stat(m.Mnt("file"));
  auto d = Stat(m.Mnt("dir"));
  auto inner = Stat(m.Mnt("dir/inner"));
  auto root = Stat(m.mnt());
  ASSERT_TRUE(f && d && inner && root);
  EXPECT_EQ(f->st_uid, 1234u);
  EXPECT_EQ(f->st_gid, 5678u);
  EXPECT_EQ(f->st_mode, S_IFREG | 0600u);
  EXPECT_EQ(inner->st_mode, S_IFREG | 0600u);
  EXPECT_EQ(d->st_uid, 1234u);
  EXPECT_EQ(d->st_gid, 5678u);
  EXPECT_EQ(d->st_mode, S_IFDIR | 0750u);
  EXPECT_EQ(root->st_mode, S_IFDIR | 0750u);
  EXPECT_EQ(root->st_uid, 1234u);
  EXPECT_EQ(ReadFile(m.Mnt("file")), "contents");

  // The source keeps its real ownership and modes.
  EXPECT_EQ(Stat(m.Src("file"))->st_uid, 0u);
  EXPECT_EQ(Stat(m.Src("file"))->st_mode, S_IFREG | 0644u);
}

TEST(MountOptionsTest, FileUrlSource) {
  Mount m;
  FillSource(m);
  ASSERT_TRUE(m.Start({}, "file://" + m.source()));
  EXPECT_EQ(ReadFile(m.Mnt("dir/inner")), "inner");
  ASSERT_EQ(WriteFile(m.Mnt("written"), "w"), 0);
  EXPECT_EQ(ReadFile(m.Src("written")), "w");
}

TEST(MountOptionsTest, TimeoutsAndKernelCache) {
  Mount m;
  FillSource(m);
  ASSERT_TRUE(m.Start({"--entry-timeout", "500ms", "--attr-timeout", "2m", "--negative-timeout",
                       "1h", "--kernel-cache"}));
  EXPECT_EQ(ReadFile(m.Mnt("file")), "contents");
  EXPECT_EQ(ReadFile(m.Mnt("file")), "contents");
  // The mount's own writes are seen by its own readers, whatever the caching.
  ASSERT_EQ(WriteFile(m.Mnt("file"), "rewritten through the mount"), 0);
  EXPECT_EQ(ReadFile(m.Mnt("file")), "rewritten through the mount");
  EXPECT_EQ(Stat(m.Mnt("file"))->st_size, 27);
  EXPECT_FALSE(Stat(m.Mnt("not-yet")));
  ASSERT_EQ(WriteFile(m.Mnt("not-yet"), "now"), 0);
  EXPECT_EQ(ReadFile(m.Mnt("not-yet")), "now") << "own create must beat the negative cache";
  ASSERT_EQ(unlink(m.Mnt("file").c_str()), 0);
  EXPECT_FALSE(Stat(m.Mnt("file")));
}

TEST(MountOptionsTest, ConfigFileApplies) {
  Mount m;
  FillSource(m);
  const std::string config = m.dir() + "/config.yaml";
  ASSERT_EQ(WriteFile(config,
                      "# freshfs-mount options\n"
                      "read-only: true\n"
                      "uid: 4321\n"
                      "file-mode: 0640\n"
                      "entry-timeout: 5s\n"),
            0);
  ASSERT_TRUE(m.Start({"--config", config}));
  auto f = Stat(m.Mnt("file"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->st_uid, 4321u);
  EXPECT_EQ(f->st_mode, S_IFREG | 0640u);
  EXPECT_TRUE(FailsWith(open(m.Mnt("file").c_str(), O_WRONLY), EROFS));
}

TEST(MountOptionsTest, FlagsOverrideConfigFile) {
  Mount m;
  FillSource(m);
  const std::string config = m.dir() + "/config.yaml";
  ASSERT_EQ(WriteFile(config, "file-mode: 0600\nuid: 1111\n"), 0);
  ASSERT_TRUE(m.Start({"--config", config, "--file-mode", "0444"}));
  auto f = Stat(m.Mnt("file"));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->st_mode, S_IFREG | 0444u) << "flag must override the file";
  EXPECT_EQ(f->st_uid, 1111u) << "keys without a flag still come from the file";
}

TEST(MountOptionsTest, JsonDebugLogFile) {
  Mount m;
  FillSource(m);
  const std::string log = m.dir() + "/freshfs.log";
  ASSERT_TRUE(m.Start({"--debug", "--log-format", "json", "--log-file", log}));
  EXPECT_EQ(ReadFile(m.Mnt("file")), "contents");
  ASSERT_EQ(WriteFile(m.Mnt("new"), "n"), 0);
  ASSERT_TRUE(m.UnmountAndWait().has_value());

  auto text = ReadFile(log);
  ASSERT_TRUE(text) << "no log file at " << log;
  ASSERT_FALSE(text->empty()) << "--debug wrote nothing to the log file";
  std::istringstream lines(*text);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    ++n;
    EXPECT_TRUE(line.front() == '{' && line.back() == '}') << "not a JSON line: " << line;
  }
  EXPECT_GT(n, 1);
}

}  // namespace
}  // namespace freshfs::testing
