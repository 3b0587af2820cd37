// Data integrity under a real I/O generator: fio writes checksummed blocks
// through the mount and verifies every one of them.
#include <cctype>
#include <gtest/gtest.h>

#include "support/mount.h"

namespace freshfs::testing {
namespace {

using FioTest = MountedTest;

void RunFioAndExpectNoErrors(const std::vector<std::string>& argv, int jobs) {
  auto r = RunToCompletion(argv, 120s);
  ASSERT_FALSE(r.timed_out) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  // One "err= N" per job in the summary; all must be zero.
  int jobs_seen = 0;
  for (size_t pos = r.stdout_text.find("err="); pos != std::string::npos;
       pos = r.stdout_text.find("err=", pos + 4)) {
    size_t i = pos + 4;
    while (i < r.stdout_text.size() && r.stdout_text[i] == ' ') ++i;
    size_t end = i;
    while (end < r.stdout_text.size() &&
           std::isdigit(static_cast<unsigned char>(r.stdout_text[end])))
      ++end;
    ++jobs_seen;
    EXPECT_EQ(r.stdout_text.substr(i, end - i), "0") << r.Describe();
  }
  EXPECT_EQ(jobs_seen, jobs) << r.Describe();
  EXPECT_EQ(r.stderr_text.find("verify"), std::string::npos) << r.Describe();
}

TEST_F(FioTest, RandomReadWriteVerifies) {
  RunFioAndExpectNoErrors({"fio", "--name=verify", "--directory=" + m_.mnt(), "--rw=randrw",
                           "--bs=4k", "--size=32m", "--numjobs=2", "--verify=crc32c",
                           "--do_verify=1", "--ioengine=psync", "--verify_state_save=0"},
                          2);
}

TEST_F(FioTest, SequentialLargeBlocksVerify) {
  RunFioAndExpectNoErrors({"fio", "--name=seq", "--directory=" + m_.mnt(), "--rw=write", "--bs=1m",
                           "--size=64m", "--numjobs=2", "--verify=crc32c", "--do_verify=1",
                           "--ioengine=psync", "--fsync_on_close=1", "--verify_state_save=0"},
                          2);
}

}  // namespace
}  // namespace freshfs::testing
