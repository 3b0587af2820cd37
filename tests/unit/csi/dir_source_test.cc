// OpenDirSource: the directory a volume's process serves is opened beneath
// its root with no symlink on the way, so a path swapped after the roots
// check cannot lead anywhere else (real directories and symlinks).
#include "csi/dir_source.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

namespace freshfs::csi {
namespace {

namespace fs = std::filesystem;

class DirSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = tmp_.path();
    root_ = base_ / "root";
    fs::create_directories(root_ / "team" / "vol");
    fs::create_directories(base_ / "outside");
    std::ofstream(root_ / "team" / "vol" / "inside.txt") << "inside";
    std::ofstream(base_ / "outside" / "secret.txt") << "secret";
  }

  static bool Holds(const UniqueFd& dir, const char* name) {
    struct stat st {};
    return ::fstatat(dir.get(), name, &st, 0) == 0;
  }

  testing::TempDir tmp_{"dirsource"};
  fs::path base_, root_;
};

TEST_F(DirSourceTest, OpensTheDirectoryBeneathItsRoot) {
  auto fd = OpenDirSource((root_ / "team" / "vol").string(), {root_.string()});
  ASSERT_TRUE(fd) << fd.error().message;
  EXPECT_TRUE(Holds(*fd, "inside.txt"));
  auto whole_root = OpenDirSource(root_.string(), {root_.string()});
  ASSERT_TRUE(whole_root) << whole_root.error().message;
  EXPECT_TRUE(Holds(*whole_root, "team"));
}

TEST_F(DirSourceTest, ASourceSwappedForASymlinkIsRefusedWhereverItPoints) {
  fs::rename(root_ / "team" / "vol", root_ / "team" / "vol-old");
  fs::create_directory_symlink(base_ / "outside", root_ / "team" / "vol");
  auto fd = OpenDirSource((root_ / "team" / "vol").string(), {root_.string()});
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(fd.error().message.find("symlink"), std::string::npos) << fd.error().message;

  // A symlink inside the roots too: the checked path is the real one, so a
  // symlink there now means it changed since.
  fs::remove(root_ / "team" / "vol");
  fs::create_directory_symlink(root_ / "team" / "vol-old", root_ / "team" / "vol");
  EXPECT_FALSE(OpenDirSource((root_ / "team" / "vol").string(), {root_.string()}));
}

TEST_F(DirSourceTest, AParentSwappedForASymlinkIsRefused) {
  fs::rename(root_ / "team", root_ / "team-old");
  fs::create_directories(base_ / "outside" / "vol");
  fs::create_directory_symlink(base_ / "outside", root_ / "team");
  auto fd = OpenDirSource((root_ / "team" / "vol").string(), {root_.string()});
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(DirSourceTest, OutsideTheRootsMissingAndNotADirectory) {
  auto outside = OpenDirSource((base_ / "outside").string(), {root_.string()});
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().code, ErrorCode::kPermissionDenied);
  auto dotdot = OpenDirSource((root_ / ".." / "outside").string(), {root_.string()});
  ASSERT_FALSE(dotdot);
  EXPECT_EQ(dotdot.error().code, ErrorCode::kPermissionDenied);
  auto missing = OpenDirSource((root_ / "nope").string(), {root_.string()});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto file = OpenDirSource((root_ / "team" / "vol" / "inside.txt").string(), {root_.string()});
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code, ErrorCode::kInvalid);
  EXPECT_FALSE(OpenDirSource((root_ / "team").string(), {}));
}

}  // namespace
}  // namespace freshfs::csi
