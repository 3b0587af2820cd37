// The daemon's memory with a huge directory listed through the mount, over
// and over, while the kernel forgets the inodes (FORGET / BATCH_FORGET): the
// inode table shrinks back and resident memory does not grow round after
// round. freshfs_kernel_inodes is what the user watches for this.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <iostream>
#include <string>
#include <vector>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"
#include "support/process.h"

namespace freshfs::testing {
namespace {

constexpr int kFiles = 20000;

// What `ls -l` does: read the directory, then stat every name.
size_t ListAndStat(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  }
  ::closedir(d);
  size_t stated = 0;
  struct stat st;
  for (const std::string& name : names) stated += ::lstat((dir + "/" + name).c_str(), &st) == 0;
  return stated;
}

class ForgetTest : public MountedTest {
 protected:
  std::vector<std::string> ExtraArgs() const override {
    return {"--metrics-address", "127.0.0.1:0"};
  }
  void PrepareSource() override {
    ASSERT_EQ(::mkdir(m_.Src("huge").c_str(), 0755), 0);
    for (int i = 0; i < kFiles; ++i) {
      ASSERT_EQ(WriteFile(m_.Src("huge/file-" + std::to_string(i)), "x"), 0);
    }
  }

  double KernelInodes(int port) {
    auto text = ScrapeMetrics(port);
    if (!text) return -1;
    return MetricSum(*text, "freshfs_kernel_inodes").value_or(-1);
  }
};

// Drops the page and dentry caches of the whole machine: runs alone (see CMakeLists).
TEST_F(ForgetTest, HugeDirectoryListedAndForgottenStaysBoundedDropsCaches) {
  const auto port = m_.MetricsPort();
  ASSERT_TRUE(port) << m_.LogTail();
  std::vector<size_t> resident;
  for (int round = 0; round < 4; ++round) {
    ASSERT_EQ(ListAndStat(m_.Mnt("huge")), size_t(kFiles));
    EXPECT_GE(KernelInodes(*port), kFiles) << "round " << round;
    DropKernelCaches();
    // FORGETs arrive asynchronously after the kernel evicts the inodes.
    double left = -1;
    EXPECT_TRUE(WaitFor(
        [&] {
          left = KernelInodes(*port);
          return left >= 0 && left < 100;
        },
        std::chrono::seconds(20), std::chrono::milliseconds(100)))
        << "round " << round << ": the kernel still holds " << left << " inodes";
    resident.push_back(ResidentBytes(m_.pid()));
  }
  ASSERT_GT(resident.front(), 0u);
  std::cout << "RSS after each round:";
  for (size_t r : resident) std::cout << " " << r;
  std::cout << std::endl;
  if (kSanitizedAllocator) {
    // ASan's quarantine and TSan's allocator hold on to freed memory, so
    // RSS grows with every round there whatever the daemon does; the inode
    // table's emptying (above) and LeakSanitizer at the daemon's exit are
    // what these builds check.
    std::cout << "(RSS is only compared in builds without a sanitizer)" << std::endl;
    return;
  }
  // The first round grows the allocator's arenas; later rounds reuse them.
  // 8 MiB of slack for allocator noise, far below what 20,000 leaked
  // entries per round would add.
  EXPECT_LE(resident.back(), resident[1] + (8u << 20))
      << "RSS after rounds: " << resident[0] << " " << resident[1] << " " << resident[2] << " "
      << resident[3];
}

}  // namespace
}  // namespace freshfs::testing
