#include "fs/invalidation_log.h"

#include <gtest/gtest.h>

#include <vector>

namespace freshfs::fs {
namespace {

TEST(InvalidationLog, AReplyThatRacedAnInvalidationRepeatsIt) {
  InvalidationLog log;
  std::vector<fuse_ino_t> repeated;
  log.set_repeat([&](fuse_ino_t ino) { repeated.push_back(ino); });
  InvalidationLog::Ticket read = log.Begin();  // a read asks the source...
  log.Note(7);                                 // ...the file changes, the kernel is told...
  EXPECT_TRUE(log.AfterReply(7, read));        // ...and the old bytes arrive after that
  EXPECT_EQ(repeated, std::vector<fuse_ino_t>{7});
}

TEST(InvalidationLog, RepliesThatStartedAfterTheInvalidationRepeatNothing) {
  InvalidationLog log;
  int repeats = 0;
  log.set_repeat([&](fuse_ino_t) { ++repeats; });
  log.Note(7);
  InvalidationLog::Ticket read = log.Begin();
  EXPECT_FALSE(log.AfterReply(7, read));
  EXPECT_EQ(repeats, 0);
}

TEST(InvalidationLog, OtherInodesInvalidatedMeanwhileRepeatNothing) {
  InvalidationLog log;
  int repeats = 0;
  log.set_repeat([&](fuse_ino_t) { ++repeats; });
  InvalidationLog::Ticket read = log.Begin();
  log.Note(8);
  EXPECT_FALSE(log.Raced(7, read));
  EXPECT_TRUE(log.Raced(8, read));
  EXPECT_EQ(repeats, 0);
}

// The repeat itself is not noted: a file read without pause while it keeps
// changing is invalidated once per change (plus one per racing reply), not
// forever.
TEST(InvalidationLog, ARepeatDoesNotMakeLaterRepliesRepeat) {
  InvalidationLog log;
  int repeats = 0;
  log.set_repeat([&](fuse_ino_t) { ++repeats; });
  InvalidationLog::Ticket first = log.Begin();
  log.Note(7);
  EXPECT_TRUE(log.AfterReply(7, first));
  InvalidationLog::Ticket second = log.Begin();
  EXPECT_FALSE(log.AfterReply(7, second));
  EXPECT_EQ(repeats, 1);
}

}  // namespace
}  // namespace freshfs::fs
