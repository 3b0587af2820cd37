#include "invalidate/change_applier.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "fakes/fake_notifier.h"

namespace freshfs::invalidate {
namespace {

using namespace std::chrono_literals;
using freshfs::testing::FakeNotifier;
using metrics::ChangeKind;
constexpr fuse_ino_t kRoot = fs::InodeTable::kRoot;

class ChangeApplierTest : public ::testing::Test {
 protected:
  void SetUp() override { inv_.Start(&kernel_); }
  std::vector<std::string> Apply(std::vector<watch::Change> changes) {
    applier_.Apply(changes, Clock::now());
    EXPECT_TRUE(inv_.Flush(5s));
    return kernel_.calls();
  }
  static watch::Change C(ChangeKind kind, std::string path, bool was_dir = false,
                         bool is_dir = false) {
    watch::Change c;
    c.kind = kind;
    c.path = std::move(path);
    c.was_dir = was_dir;
    c.is_dir = is_dir;
    return c;
  }

  metrics::Metrics metrics_{"v", "test"};
  fs::InodeTable inodes_;
  FakeNotifier kernel_;
  Invalidator inv_{&metrics_};
  ChangeApplier applier_{&inodes_, &inv_, &metrics_};
};

TEST_F(ChangeApplierTest, CreatedNameDropsNegativeEntryAndParentListing) {
  auto calls = Apply({C(ChangeKind::kCreated, "new")});
  EXPECT_EQ(calls, (std::vector<std::string>{"entry 1 new", "data 1"}));
  EXPECT_EQ(metrics_.RemoteChangeCount(ChangeKind::kCreated), 1u);
}

TEST_F(ChangeApplierTest, NothingIsSentForEntriesUnderUnknownDirectories) {
  auto calls = Apply({C(ChangeKind::kCreated, "unknown/new"), C(ChangeKind::kModified, "unknown/f"),
                      C(ChangeKind::kModified, "never-looked-up")});
  EXPECT_TRUE(calls.empty());
  EXPECT_EQ(metrics_.RemoteChangeCount(ChangeKind::kModified), 2u);  // still counted
}

// A rename over the name (or a new S3 ETag): a new object, not the old one
// rewritten. The old inode loses the name, as after rename(2) on a local
// filesystem; its pages stay for the descriptors open on it.
TEST_F(ChangeApplierTest, ReplacedFileLosesItsNameButKeepsItsPages) {
  fuse_ino_t old = inodes_.Lookup(kRoot, "f", S_IFREG, 0, /*version=*/7);
  watch::Change c = C(ChangeKind::kModified, "f");
  c.replaced = true;
  auto calls = Apply({c});
  EXPECT_EQ(calls,
            (std::vector<std::string>{"delete 1 " + std::to_string(old) + " f", "entry 1 f"}));
  EXPECT_EQ(inodes_.Find(kRoot, "f"), 0u);
  EXPECT_TRUE(inodes_.Known(old));  // until the kernel forgets it
  // The next lookup of the name makes a new inode for the new object.
  fuse_ino_t now = inodes_.Lookup(kRoot, "f", S_IFREG, 0, 8);
  EXPECT_NE(now, old);
}

// A lookup raced ahead and the inode at the name is the new version: the
// notifications still go out. A slower lookup that read the source before
// the change may be handing the kernel an older version right now; the
// entry notification waits for it (the directory's lock) and drops that.
TEST_F(ChangeApplierTest, ReplacedFileIsNotifiedEvenIfALookupRacedAhead) {
  fuse_ino_t f = inodes_.Lookup(kRoot, "f", S_IFREG, 0, /*version=*/8);
  watch::Change c = C(ChangeKind::kModified, "f");
  c.replaced = true;
  EXPECT_EQ(Apply({c}),
            (std::vector<std::string>{"delete 1 " + std::to_string(f) + " f", "entry 1 f"}));
  EXPECT_NE(inodes_.Lookup(kRoot, "f", S_IFREG, 0, 8), f);  // the next lookup: a new inode
}

TEST_F(ChangeApplierTest, DataInvalidationsAreNotedBeforeTheyAreSent) {
  fs::InvalidationLog log;
  applier_.set_invalidation_log(&log);
  fuse_ino_t f = inodes_.Lookup(kRoot, "f", S_IFREG);
  fs::InvalidationLog::Ticket before = log.Begin();
  kernel_.Block();  // the notification cannot have gone out yet
  applier_.Apply({C(ChangeKind::kModified, "f")}, Clock::now());
  EXPECT_TRUE(log.Raced(f, before));
  EXPECT_FALSE(log.Raced(f, log.Begin()));
  kernel_.Unblock();
  EXPECT_TRUE(inv_.Flush(5s));
}

TEST_F(ChangeApplierTest, ModifiedKnownFileDropsItsPages) {
  fuse_ino_t f = inodes_.Lookup(kRoot, "f", S_IFREG);
  auto calls = Apply({C(ChangeKind::kModified, "f")});
  EXPECT_EQ(calls, (std::vector<std::string>{"data " + std::to_string(f)}));
}

TEST_F(ChangeApplierTest, AttributeChangeKeepsPages) {
  fuse_ino_t f = inodes_.Lookup(kRoot, "f", S_IFREG);
  auto calls = Apply({C(ChangeKind::kAttributes, "f")});
  EXPECT_EQ(calls, (std::vector<std::string>{"attr " + std::to_string(f)}));
}

TEST_F(ChangeApplierTest, DeletedKnownFileUsesNotifyDeleteAndDetaches) {
  fuse_ino_t f = inodes_.Lookup(kRoot, "f", S_IFREG);
  auto calls = Apply({C(ChangeKind::kDeleted, "f")});
  EXPECT_EQ(calls, (std::vector<std::string>{"delete 1 " + std::to_string(f) + " f", "data 1"}));
  EXPECT_EQ(inodes_.PathOf(f), std::nullopt);
}

TEST_F(ChangeApplierTest, DeletedDirectoryIsExpiredAndItsChildrenNeedNothing) {
  fuse_ino_t d = inodes_.Lookup(kRoot, "d", S_IFDIR);
  inodes_.Lookup(d, "child", S_IFREG);
  auto calls = Apply({C(ChangeKind::kDeleted, "d", true), C(ChangeKind::kDeleted, "d/child")});
  EXPECT_EQ(calls, (std::vector<std::string>{"expire 1 d", "data 1"}));
  EXPECT_EQ(metrics_.RemoteChangeCount(ChangeKind::kDeleted), 2u);
}

TEST_F(ChangeApplierTest, TypeChangeIsDeleteThenCreate) {
  fuse_ino_t x = inodes_.Lookup(kRoot, "x", S_IFREG);
  auto calls = Apply({C(ChangeKind::kTypeChanged, "x", false, true)});
  EXPECT_EQ(calls, (std::vector<std::string>{"delete 1 " + std::to_string(x) + " x", "data 1",
                                             "entry 1 x"}));
}

TEST_F(ChangeApplierTest, RenameInvalidatesBothNames) {
  fuse_ino_t a = inodes_.Lookup(kRoot, "a", S_IFREG);
  watch::Change c = C(ChangeKind::kRenamed, "b");
  c.from = "a";
  auto calls = Apply({c});
  EXPECT_EQ(calls, (std::vector<std::string>{"delete 1 " + std::to_string(a) + " a", "data 1",
                                             "entry 1 b"}));
}

TEST_F(ChangeApplierTest, PusherSendsNewContentAfterTheInvalidation) {
  fuse_ino_t f = inodes_.Lookup(kRoot, "f", S_IFREG);
  fuse_ino_t g = inodes_.Lookup(kRoot, "g", S_IFREG);
  applier_.set_pusher([&](fuse_ino_t ino, const std::string& path) -> std::optional<std::string> {
    if (ino != f) return std::nullopt;  // only recently read small files
    return "content of " + path;
  });
  auto calls = Apply({C(ChangeKind::kModified, "f"), C(ChangeKind::kModified, "g")});
  EXPECT_EQ(calls, (std::vector<std::string>{"data " + std::to_string(f),
                                             "store " + std::to_string(f) + " content of f",
                                             "data " + std::to_string(g)}));
}

TEST_F(ChangeApplierTest, MassChangeUsesOneEpochWhereTheKernelHasIt) {
  kernel_.epoch_result = 0;
  fuse_ino_t f = inodes_.Lookup(kRoot, "f", S_IFREG);
  std::vector<watch::Change> changes;
  for (size_t i = 0; i <= ChangeApplier::kEpochThreshold; ++i)
    changes.push_back(C(ChangeKind::kCreated, "new" + std::to_string(i)));
  changes.push_back(C(ChangeKind::kModified, "f"));
  auto calls = Apply(changes);
  // The first epoch is the probe; then one for the batch; no per-name notifications.
  EXPECT_EQ(calls,
            (std::vector<std::string>{"epoch", "epoch", "data 1", "data " + std::to_string(f)}));
}

TEST_F(ChangeApplierTest, MassChangeFallsBackToPerNameNotifications) {
  kernel_.epoch_result = -ENOSYS;
  std::vector<watch::Change> changes;
  for (size_t i = 0; i <= ChangeApplier::kEpochThreshold; ++i)
    changes.push_back(C(ChangeKind::kCreated, "new" + std::to_string(i)));
  auto calls = Apply(changes);
  EXPECT_EQ(calls.front(), "epoch");                                    // the probe, refused
  EXPECT_EQ(calls.size(), 1 + ChangeApplier::kEpochThreshold + 1 + 1);  // names + one parent
  EXPECT_EQ(metrics_.InvalidationCount(InvalType::kEpoch, metrics::InvalResult::kUnsupported), 1u);
  EXPECT_FALSE(inv_.unsupported());  // the kernel is not old: only epochs are missing
}

TEST_F(ChangeApplierTest, ContentChangeHookSeesChangedInodes) {
  fuse_ino_t f = inodes_.Lookup(kRoot, "f", S_IFREG);
  std::vector<fuse_ino_t> seen;
  applier_.set_on_content_change([&](fuse_ino_t ino) { seen.push_back(ino); });
  Apply({C(ChangeKind::kModified, "f"), C(ChangeKind::kAttributes, "f")});
  EXPECT_EQ(seen, std::vector<fuse_ino_t>{f});
}

}  // namespace
}  // namespace freshfs::invalidate
