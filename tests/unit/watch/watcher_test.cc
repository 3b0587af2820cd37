#include "watch/watcher.h"

#include <gtest/gtest.h>

#include <thread>

#include "fakes/fake_store.h"
#include "metrics/metrics.h"

namespace freshfs::watch {
namespace {

class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_.Put("d", S_IFDIR | 0755);
    store_.Put("d/f", S_IFREG | 0644, "one");
    Watcher::Settings s;
    s.poll_interval = std::chrono::milliseconds(0);  // syncs only when asked
    watcher_ = std::make_unique<Watcher>(&store_, s, nullptr);
    watcher_->set_sink([this](const std::vector<Change>& changes, Clock::time_point) {
      for (const auto& c : changes) seen_.push_back(c);
    });
    ASSERT_TRUE(watcher_->Start().ok());
    ASSERT_TRUE(seen_.empty());  // the initial scan reports nothing
  }
  void TearDown() override { watcher_->Stop(); }

  freshfs::testing::FakeStore store_;
  std::unique_ptr<Watcher> watcher_;
  std::vector<Change> seen_;
};

TEST_F(WatcherTest, FullSyncReportsRemoteChanges) {
  store_.Put("d/f", S_IFREG | 0644, "longer");
  store_.Put("d/new", S_IFREG | 0644);
  ASSERT_TRUE(watcher_->SyncNow());
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[0].kind, ChangeKind::kModified);
  EXPECT_EQ(seen_[0].path, "d/f");
  EXPECT_EQ(seen_[1].kind, ChangeKind::kCreated);
  EXPECT_EQ(seen_[1].path, "d/new");
  seen_.clear();
  ASSERT_TRUE(watcher_->SyncNow());
  EXPECT_TRUE(seen_.empty());  // an unchanged sync reports nothing
}

TEST_F(WatcherTest, OwnChangesAreNeverReported) {
  watcher_->BeginOwnChange("d/mine");
  store_.Put("d/mine", S_IFREG | 0644, "x");
  ASSERT_TRUE(watcher_->SyncNow());  // a sync while the change is in flight
  watcher_->EndOwnChange("d/mine");
  ASSERT_TRUE(watcher_->SyncNow());
  EXPECT_TRUE(seen_.empty());
  EXPECT_TRUE(watcher_->CopySnapshot().Contains("d/mine"));
}

TEST_F(WatcherTest, OwnChangeOfADirectoryCoversItsSubtree) {
  watcher_->BeginOwnChange("d");
  store_.Erase("d/f");
  store_.Erase("d");
  EXPECT_EQ(watcher_->Rescan("d", true), 0u);
  watcher_->EndOwnChange("d");
  ASSERT_TRUE(watcher_->SyncNow());
  EXPECT_TRUE(seen_.empty());
  EXPECT_FALSE(watcher_->CopySnapshot().Contains("d/f"));
}

TEST_F(WatcherTest, RescanOfANewDirectoryReportsItsContents) {
  store_.Put("n", S_IFDIR | 0755);
  store_.Put("n/a", S_IFREG | 0644);
  EXPECT_EQ(watcher_->Rescan("n", false), 2u);
  EXPECT_EQ(seen_[0].path, "n");
  EXPECT_EQ(seen_[1].path, "n/a");
}

TEST_F(WatcherTest, RescanOfADeletedDirectoryReportsEverythingUnderIt) {
  store_.Erase("d/f");
  store_.Erase("d");
  EXPECT_EQ(watcher_->Rescan("d", false), 2u);
  EXPECT_EQ(seen_[0].kind, ChangeKind::kDeleted);
  EXPECT_TRUE(seen_[0].was_dir);
}

TEST_F(WatcherTest, RenamePairBecomesOneChange) {
  store_.Put("e", S_IFDIR | 0755);
  store_.Put("e/f", S_IFREG | 0644, "one");
  store_.Erase("d/f");
  store_.Erase("d");
  EXPECT_EQ(watcher_->RescanRename("d", "e"), 1u);
  EXPECT_EQ(seen_[0].kind, ChangeKind::kRenamed);
  EXPECT_EQ(seen_[0].from, "d");
  EXPECT_EQ(seen_[0].path, "e");
  EXPECT_TRUE(seen_[0].was_dir);
}

TEST_F(WatcherTest, FailedSyncKeepsTheSnapshotAndStalenessGrows) {
  store_.Erase("");  // the source root vanished
  double before = watcher_->StalenessSeconds();
  EXPECT_FALSE(watcher_->SyncNow());
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(watcher_->WatchedEntries(), 3u);
  EXPECT_GE(watcher_->StalenessSeconds(), before);
}

TEST_F(WatcherTest, HealthyEventsTightenTheBound) {
  EXPECT_GE(watcher_->StalenessSeconds(), 0.0);
  watcher_->SetEventsHealthy(true);
  watcher_->Heartbeat();
  EXPECT_LT(watcher_->StalenessSeconds(), 0.5);
}

TEST_F(WatcherTest, RevalidateFlushesOnlyWhenSomethingChanged) {
  int flushes = 0;
  watcher_->set_flush([&] { ++flushes; });
  EXPECT_FALSE(watcher_->Revalidate("d/f"));
  EXPECT_EQ(flushes, 0);
  store_.Put("d/f", S_IFREG | 0644, "changed!");
  EXPECT_TRUE(watcher_->Revalidate("d/f"));
  EXPECT_EQ(flushes, 1);
}

TEST_F(WatcherTest, RescanUnderADirectoryNotYetSeenReportsThatDirectory) {
  store_.Put("n", S_IFDIR | 0755);
  store_.Put("n/m", S_IFDIR | 0755);
  store_.Put("n/m/f", S_IFREG | 0644);
  EXPECT_EQ(watcher_->Rescan("n/m/f", false), 3u);
  ASSERT_EQ(seen_.size(), 3u);
  EXPECT_EQ(seen_[0].path, "n");
  EXPECT_EQ(seen_[0].kind, ChangeKind::kCreated);
  EXPECT_EQ(seen_[2].path, "n/m/f");
  EXPECT_TRUE(watcher_->Contains("n/m/f"));
  seen_.clear();
  ASSERT_TRUE(watcher_->SyncNow());
  EXPECT_TRUE(seen_.empty());
}

TEST_F(WatcherTest, CachedSyncListsOnlyTheDirectoriesTheKernelHolds) {
  store_.Put("e", S_IFDIR | 0755);
  store_.Put("e/g", S_IFREG | 0644, "one");
  ASSERT_TRUE(watcher_->SyncNow());
  seen_.clear();
  watcher_->set_cached_dirs([] { return std::vector<std::string>{"d", ""}; });

  store_.Put("d/f", S_IFREG | 0644, "longer");   // in a directory the kernel holds
  store_.Put("top", S_IFREG | 0644);             // in the root, which it always holds
  store_.Put("e/g", S_IFREG | 0644, "changed");  // in one it does not hold
  const int lists = store_.list_calls();
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_EQ(store_.list_calls() - lists, 2);  // "" and "d", not "e"
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[0].kind, ChangeKind::kCreated);
  EXPECT_EQ(seen_[0].path, "top");
  EXPECT_EQ(seen_[1].kind, ChangeKind::kModified);
  EXPECT_EQ(seen_[1].path, "d/f");

  // The kernel caches nothing of "e"; the next full sync catches up with it.
  seen_.clear();
  ASSERT_TRUE(watcher_->SyncNow());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].path, "e/g");
  seen_.clear();
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_TRUE(seen_.empty());
}

TEST_F(WatcherTest, CachedSyncFillsInADirectoryItFirstSawAsNew) {
  watcher_->set_cached_dirs([] { return std::vector<std::string>{"n/m", "n", ""}; });
  store_.Put("n", S_IFDIR | 0755);
  store_.Put("n/m", S_IFDIR | 0755);
  store_.Put("n/m/f", S_IFREG | 0644);
  ASSERT_TRUE(watcher_->SyncCached());
  ASSERT_EQ(seen_.size(), 3u);
  EXPECT_EQ(seen_[0].path, "n");
  EXPECT_EQ(seen_[1].path, "n/m");
  EXPECT_EQ(seen_[2].path, "n/m/f");
  EXPECT_TRUE(watcher_->Contains("n/m/f"));
  // A directory that went away since the kernel looked it up: its parent's
  // listing reports it, with what was under it.
  seen_.clear();
  store_.Erase("n/m/f");
  store_.Erase("n/m");
  ASSERT_TRUE(watcher_->SyncCached());
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[0].kind, ChangeKind::kDeleted);
  EXPECT_EQ(seen_[0].path, "n/m");
  EXPECT_EQ(seen_[1].path, "n/m/f");
}

TEST_F(WatcherTest, CachedSyncIsFullWhenTheHeldDirectoriesCostMoreRequests) {
  store_.Put("e", S_IFDIR | 0755);
  store_.Put("e/g", S_IFREG | 0644, "one");
  ASSERT_TRUE(watcher_->SyncNow());
  seen_.clear();
  // Listing "" and "d" takes two requests; the whole source fits in one.
  store_.set_list_page_size(1000);
  watcher_->set_cached_dirs([] { return std::vector<std::string>{"", "d"}; });
  store_.Put("e/g", S_IFREG | 0644, "changed");
  ASSERT_TRUE(watcher_->SyncCached());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].path, "e/g");  // only a full sync sees it
}

TEST_F(WatcherTest, ReplacedFileIsReportedAsANewObject) {
  store_.Put("d/f", S_IFREG | 0644, "two");  // another writer renamed a new file over it
  ASSERT_TRUE(watcher_->SyncNow());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].kind, ChangeKind::kModified);
  EXPECT_TRUE(seen_[0].replaced);
}

// A name that came and went between two syncs was never in any listing;
// the kernel was handed it all the same (a reader looked it up) and would
// keep it for as long as it caches, unless the watcher says it is gone.
TEST_F(WatcherTest, ANameServedBetweenTwoSyncsIsReportedGoneAtTheNext) {
  store_.Put("d/brief", S_IFREG | 0644, "x");
  watcher_->Served("d/brief", S_IFREG);  // a lookup handed it to the kernel
  watcher_->Served("d/f", S_IFREG);      // one the snapshot knows: nothing to say
  store_.Erase("d/brief");
  ASSERT_TRUE(watcher_->SyncNow());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].kind, ChangeKind::kDeleted);
  EXPECT_EQ(seen_[0].path, "d/brief");
  EXPECT_FALSE(seen_[0].was_dir);
  seen_.clear();
  ASSERT_TRUE(watcher_->SyncNow());  // reported once
  EXPECT_TRUE(seen_.empty());
}

TEST_F(WatcherTest, ANameServedBetweenTwoSyncsThatStillExistsIsCreatedNotGone) {
  store_.Put("d/new", S_IFREG | 0644, "x");
  watcher_->Served("d/new", S_IFREG);
  ASSERT_TRUE(watcher_->SyncCached());
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].kind, ChangeKind::kCreated);
}

TEST_F(WatcherTest, ARescanFindingNothingReportsAServedNameGone) {
  // inotify: a create and a delete in one batch rescan the path once.
  store_.Put("d/blip", S_IFREG | 0644, "x");
  watcher_->Served("d/blip", S_IFREG);
  store_.Erase("d/blip");
  watcher_->Rescan("d/blip", false);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].kind, ChangeKind::kDeleted);
  EXPECT_EQ(seen_[0].path, "d/blip");
}

TEST_F(WatcherTest, TooManyServedNamesAreCheckedAgainstEverythingTheKernelHolds) {
  watcher_->set_known_entries([] {
    return std::vector<std::pair<std::string, mode_t>>{{"d", S_IFDIR}, {"d/ghost", S_IFREG}};
  });
  for (int i = 0; i <= 100'000; ++i) watcher_->Served("d/n" + std::to_string(i), S_IFREG);
  ASSERT_TRUE(watcher_->SyncNow());
  // The first 100,000 are checked one by one, the rest through what the
  // kernel holds; none exists, all are reported once.
  size_t gone = 0;
  bool ghost = false;
  for (const auto& c : seen_) {
    EXPECT_EQ(c.kind, ChangeKind::kDeleted);
    ++gone;
    ghost |= c.path == "d/ghost";
  }
  EXPECT_TRUE(ghost);
  EXPECT_EQ(gone, 1u);  // the overflow replaces the tracked names by the kernel's
}

TEST_F(WatcherTest, SettledMeansTheWatcherHasSeenThatState) {
  auto st = store_.Stat("d/f");
  ASSERT_TRUE(st);
  EXPECT_TRUE(watcher_->Settled("d/f", EntryState::From(*st)));
  store_.Put("d/f", S_IFREG | 0644, "changed");
  EXPECT_FALSE(watcher_->Settled("d/f", EntryState::From(*store_.Stat("d/f"))));
  watcher_->BeginOwnChange("d/f");
  ASSERT_TRUE(watcher_->SyncNow());
  EXPECT_FALSE(watcher_->Settled("d/f", EntryState::From(*store_.Stat("d/f"))));  // ours, in flight
  watcher_->EndOwnChange("d/f");
}

TEST(WatcherPoll, FullSyncsRunAtTheirIntervalAndCachedSyncsBetween) {
  freshfs::testing::FakeStore store;
  metrics::Metrics metrics("v", "test");
  Watcher::Settings s;
  s.poll_interval = std::chrono::milliseconds(20);
  s.full_sync_interval = std::chrono::milliseconds(3600'000);
  Watcher watcher(&store, s, &metrics);
  watcher.set_cached_dirs([] { return std::vector<std::string>{""}; });
  ASSERT_TRUE(watcher.Start().ok());  // the initial scan is full
  for (int i = 0; i < 500 && metrics.Syncs(metrics::SyncKind::kCached) < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(metrics.Syncs(metrics::SyncKind::kCached), 3u);
  EXPECT_EQ(metrics.Syncs(metrics::SyncKind::kFull), 1u);
  watcher.RequestSync();  // e.g. events were lost: the next one is full
  for (int i = 0; i < 500 && metrics.Syncs(metrics::SyncKind::kFull) < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(metrics.Syncs(metrics::SyncKind::kFull), 2u);
  watcher.Stop();
}

}  // namespace
}  // namespace freshfs::watch
