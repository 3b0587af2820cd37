// The lazy watcher (Watcher::Settings::lazy): nothing is listed at Start(),
// a directory is listed when the kernel first looks into it, and what the
// kernel was handed before that first listing is never lost.
#include <gtest/gtest.h>

#include <algorithm>
#include <unordered_set>

#include "fakes/fake_store.h"
#include "metrics/metrics.h"
#include "watch/watcher.h"

namespace freshfs::watch {
namespace {

class LazyWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_.Put("d", S_IFDIR | 0755);
    store_.Put("d/f", S_IFREG | 0644, "one");
    store_.Put("d/g", S_IFREG | 0644, "two");
    store_.Put("d/sub", S_IFDIR | 0755);
    store_.Put("d/sub/deep", S_IFREG | 0644, "three");
    store_.Put("e", S_IFDIR | 0755);
    Watcher::Settings s;
    s.poll_interval = std::chrono::milliseconds(0);  // syncs only when asked
    s.lazy = true;
    watcher_ = std::make_unique<Watcher>(&store_, s, &metrics_);
    watcher_->set_sink([this](const std::vector<Change>& changes, Clock::time_point) {
      for (const auto& c : changes) seen_.push_back(c);
    });
    watcher_->set_cached_dirs([this] { return held_; });
    watcher_->set_dir_hooks(
        [this](const std::string& dir) { served_dirs_.push_back(dir); },
        [this](const std::unordered_set<std::string>& held) { last_held_ = held; });
    ASSERT_TRUE(watcher_->Start().ok());
  }
  void TearDown() override { watcher_->Stop(); }

  // What a lookup hands the kernel: the store's answer, recorded as served.
  void LookUp(const std::string& path) {
    auto st = store_.Stat(path);
    if (st) watcher_->ServedState(path, *st);
    else watcher_->Missed(path);
  }
  bool Seen(ChangeKind kind, const std::string& path) const {
    return std::any_of(seen_.begin(), seen_.end(),
                       [&](const Change& c) { return c.kind == kind && c.path == path; });
  }

  freshfs::testing::FakeStore store_;
  metrics::Metrics metrics_{"v", "test"};
  std::unique_ptr<Watcher> watcher_;
  std::vector<Change> seen_;
  std::vector<std::string> held_{""};
  std::vector<std::string> served_dirs_;
  std::unordered_set<std::string> last_held_;
};

TEST_F(LazyWatcherTest, StartListsNothing) {
  EXPECT_EQ(store_.list_calls(), 0);
  EXPECT_EQ(watcher_->WatchedEntries(), 1u);  // the root
  EXPECT_TRUE(seen_.empty());
}

TEST_F(LazyWatcherTest, AFirstListingReportsNothingTheKernelWasNotHanded) {
  LookUp("d");
  LookUp("d/f");  // the kernel looked into d
  held_ = {"", "d"};
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_TRUE(seen_.empty());
  EXPECT_TRUE(watcher_->CopySnapshot().Contains("d/g"));
  EXPECT_FALSE(watcher_->CopySnapshot().Contains("d/sub/deep"));  // one level only
  // From then on the directory is compared as any other.
  store_.Put("d/g", S_IFREG | 0644, "changed");
  store_.Put("d/new", S_IFREG | 0644);
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_TRUE(Seen(ChangeKind::kModified, "d/g"));
  EXPECT_TRUE(Seen(ChangeKind::kCreated, "d/new"));
}

TEST_F(LazyWatcherTest, ANameLookedUpBeforeTheFirstListingIsComparedWithWhatTheKernelGot) {
  LookUp("d");
  LookUp("d/f");
  store_.Put("d/f", S_IFREG | 0644, "one, then more");
  watcher_->WillList("d");  // the kernel lists it: the first listing
  EXPECT_TRUE(Seen(ChangeKind::kModified, "d/f"));
  EXPECT_FALSE(Seen(ChangeKind::kCreated, "d/g"));
}

TEST_F(LazyWatcherTest, ANoSuchFileAnswerBeforeTheFirstListingIsReportedOnceTheNameExists) {
  LookUp("d");
  LookUp("d/later");  // "no such file": the kernel may cache that
  store_.Put("d/later", S_IFREG | 0644);
  store_.Put("d/unasked", S_IFREG | 0644);
  held_ = {"", "d"};
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_TRUE(Seen(ChangeKind::kCreated, "d/later"));
  EXPECT_FALSE(Seen(ChangeKind::kCreated, "d/unasked"));
}

TEST_F(LazyWatcherTest, ALookupThatRacedTheFirstListingIsReportedWhenItArrives) {
  LookUp("d");
  auto before = store_.Stat("d/f");  // the lookup read the source...
  ASSERT_TRUE(before);
  store_.Put("d/f", S_IFREG | 0644, "rewritten");
  store_.Put("d/born", S_IFREG | 0644);
  watcher_->WillList("d");  // ...the first listing saw the new state...
  EXPECT_TRUE(seen_.empty());
  watcher_->ServedState("d/f", *before);  // ...and then the kernel got the old one
  watcher_->Missed("d/born");             // (and "no such file" for a name that exists)
  EXPECT_TRUE(Seen(ChangeKind::kCreated, "d/born"));
  // What the kernel got is what the next sync compares with.
  held_ = {"", "d"};
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_TRUE(Seen(ChangeKind::kModified, "d/f"));
}

TEST_F(LazyWatcherTest, ALookupNewerThanTheFirstListingIsReportedOnceByTheNextSync) {
  LookUp("d");
  LookUp("d/f");  // the kernel may read and cache this version's pages
  watcher_->WillList("d");
  store_.Put("d/f", S_IFREG | 0644, "rewritten since the listing");
  LookUp("d/f");  // the kernel gets the new state straight away
  EXPECT_TRUE(seen_.empty()) << "the inode just handed out is not retired";
  held_ = {"", "d"};
  ASSERT_TRUE(watcher_->SyncCached());
  // The pages cached of the first version must go: one modification.
  EXPECT_EQ(seen_.size(), 1u);
  EXPECT_TRUE(Seen(ChangeKind::kModified, "d/f"));
  seen_.clear();
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_TRUE(seen_.empty()) << "reported once, then settled";
}

TEST_F(LazyWatcherTest, ADirectoryTheKernelNeverLookedIntoIsNotListed) {
  LookUp("d");  // readdirplus of the root hands d over; nothing in it is cached
  held_ = {"", "d"};
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_EQ(store_.list_calls(), 1);  // the root
  EXPECT_FALSE(watcher_->CopySnapshot().Contains("d/g"));
  LookUp("d/f");  // now it did
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_TRUE(watcher_->CopySnapshot().Contains("d/g"));
  EXPECT_TRUE(seen_.empty());
}

TEST_F(LazyWatcherTest, DirectoriesTheKernelLetGoAreForgotten) {
  LookUp("d");
  LookUp("e");
  EXPECT_EQ(served_dirs_, (std::vector<std::string>{"d", "e"}));  // inotify watches them
  LookUp("d/f");
  held_ = {"", "d"};
  ASSERT_TRUE(watcher_->SyncCached());
  const size_t holding = watcher_->WatchedEntries();
  EXPECT_EQ(holding, 1u + 2u + 3u);  // root, d and e, d's three children
  held_ = {""};                      // the kernel forgot d
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_EQ(watcher_->WatchedEntries(), 3u);
  EXPECT_EQ(last_held_, (std::unordered_set<std::string>{""}));
  EXPECT_TRUE(seen_.empty());
  // Looked into again, it is listed again without reporting what it holds.
  LookUp("d");
  LookUp("d/f");
  held_ = {"", "d"};
  ASSERT_TRUE(watcher_->SyncCached());
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(watcher_->WatchedEntries(), holding);
}

TEST_F(LazyWatcherTest, AnEventOutsideTheRecordedDirectoriesReadsNothing) {
  const int lists = store_.list_calls();
  EXPECT_EQ(watcher_->Rescan("d/sub/deep", /*deep=*/true), 0u);
  EXPECT_EQ(store_.list_calls(), lists);
  LookUp("d");
  EXPECT_EQ(watcher_->Rescan("d/sub", /*deep=*/true), 1u);  // recorded, not its subtree
  EXPECT_TRUE(Seen(ChangeKind::kCreated, "d/sub"));
  EXPECT_EQ(store_.list_calls(), lists);
}

TEST_F(LazyWatcherTest, ABackgroundScanCountsTheWholeSourceAndKeepsNothing) {
  ASSERT_TRUE(watcher_->ScanNow());
  EXPECT_EQ(metrics_.SourceScans(true), 1u);
  EXPECT_EQ(watcher_->WatchedEntries(), 1u);
  const std::string text = [&] {
    std::string all;
    for (const auto& family : metrics_.registry()->Collect())
      for (const auto& m : family.metric)
        if (family.name == "freshfs_source_entries" || family.name == "freshfs_source_bytes")
          all += family.name + "=" + std::to_string(int64_t(m.gauge.value)) + " ";
    return all;
  }();
  EXPECT_EQ(text, "freshfs_source_entries=6 freshfs_source_bytes=11 ");
}

}  // namespace
}  // namespace freshfs::watch
