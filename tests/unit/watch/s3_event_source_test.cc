// Which path an S3 event's key stands for: only keys under the volume's
// prefix that are valid paths; markers name their directory. What events
// cost: a path named many times is rescanned once, and more paths than the
// queue holds become one full sync (real HTTP to the source's webhook, a
// fake store behind a real watcher).
#include "watch/s3_event_source.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "fakes/fake_store.h"
#include "webhook_client.h"

namespace freshfs::watch {
namespace {

using namespace std::chrono_literals;

TEST(S3EventSourceTest, KeysMapToPathsUnderThePrefix) {
  EXPECT_EQ(S3EventSource::PathOfKey("a/b.txt", ""), "a/b.txt");
  EXPECT_EQ(S3EventSource::PathOfKey("team/a/b.txt", "team/"), "a/b.txt");
  EXPECT_EQ(S3EventSource::PathOfKey("team/dir/", "team/"), "dir");
  EXPECT_EQ(S3EventSource::PathOfKey("other/a", "team/"), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey("teamx/a", "team/"), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey("team/", "team/"), std::nullopt);  // the root's marker
}

TEST(S3EventSourceTest, KeysThatAreNotPathsAreDropped) {
  EXPECT_EQ(S3EventSource::PathOfKey("../etc/passwd", ""), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey("a//b", ""), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey("team/../x", "team/"), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey(std::string("a\0b", 3), ""), std::nullopt);
  EXPECT_EQ(S3EventSource::PathOfKey(std::string(256, 'x'), ""), std::nullopt);
}

TEST(RescanQueueTest, EachPathOnceInTheOrderFirstNamed) {
  RescanQueue queue(10);
  EXPECT_EQ(queue.Add("b", false), RescanQueue::Added::kQueued);
  EXPECT_EQ(queue.Add("a", false), RescanQueue::Added::kQueued);
  EXPECT_EQ(queue.Add("b", true), RescanQueue::Added::kCollapsed);
  EXPECT_EQ(queue.Add("b", false), RescanQueue::Added::kCollapsed);
  EXPECT_EQ(queue.size(), 2u);
  auto first = queue.Pop();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->path, "b");
  EXPECT_TRUE(first->removed) << "a removal among the collapsed events is kept";
  EXPECT_EQ(queue.Add("b", false), RescanQueue::Added::kQueued) << "no longer waiting";
  EXPECT_EQ(queue.Pop()->path, "a");
  EXPECT_EQ(queue.Pop()->path, "b");
  EXPECT_FALSE(queue.Pop());
}

TEST(RescanQueueTest, APathPastTheCapacityEmptiesTheQueue) {
  RescanQueue queue(3);
  for (const char* path : {"a", "b", "c"})
    EXPECT_EQ(queue.Add(path, false), RescanQueue::Added::kQueued);
  EXPECT_EQ(queue.Add("a", false), RescanQueue::Added::kCollapsed) << "collapsing needs no room";
  EXPECT_EQ(queue.Add("d", false), RescanQueue::Added::kOverflow);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.Add("d", false), RescanQueue::Added::kQueued);
}

// An S3EventSource on bucket "photos" over a fake store, its watcher
// without periodic syncs.
class S3EventSourceServeTest : public ::testing::Test {
 protected:
  void Start(size_t queue_capacity, std::chrono::milliseconds overflow_sync_gap) {
    for (const char* name : {"a.txt", "b.txt", "c.txt"}) store_.Put(name, S_IFREG | 0644, "x");
    Watcher::Settings ws;
    ws.poll_interval = 0ms;
    watcher_ = std::make_unique<Watcher>(&store_, ws, &metrics_);
    ASSERT_TRUE(watcher_->Start().ok());
    source_ = std::make_unique<S3EventSource>(
        watcher_.get(), &metrics_,
        S3EventSource::Settings{.bucket = "photos",
                                .address = "127.0.0.1:0",
                                .queue_capacity = queue_capacity,
                                .overflow_sync_gap = overflow_sync_gap});
    ASSERT_EQ(source_->Start(), "");
    source_->Run();
  }
  void TearDown() override {
    if (source_) source_->Stop();
    if (watcher_) watcher_->Stop();
  }
  int Post(const std::vector<std::string>& keys) {
    std::vector<nlohmann::json> records;
    for (const std::string& key : keys) {
      records.push_back(testing::Record("s3:ObjectCreated:Put", "photos", key));
    }
    return int(testing::Request(source_->port(), "POST", "/", testing::Records(records)).status);
  }
  double Received(const std::string& result) {
    double sum = 0;
    for (const auto& family : metrics_.registry()->Collect()) {
      if (family.name != "freshfs_events_received_total") continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          if (label.name == "result" && label.value == result) sum += metric.counter.value;
        }
      }
    }
    return sum;
  }
  // Waits until the store has seen no request for a while.
  void Settle() {
    int before = -1;
    while (before != store_.stat_calls() + store_.list_calls()) {
      before = store_.stat_calls() + store_.list_calls();
      std::this_thread::sleep_for(200ms);
    }
  }

  freshfs::testing::FakeStore store_;
  metrics::Metrics metrics_{"v", "test"};
  std::unique_ptr<Watcher> watcher_;
  std::unique_ptr<S3EventSource> source_;
};

TEST_F(S3EventSourceServeTest, ManyEventsForAFewKeysCostOneRescanEach) {
  Start(1024, 1000ms);
  const int stats_before = store_.stat_calls();
  const int lists_before = store_.list_calls();
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i)
    keys.push_back(i % 3 == 0 ? "a.txt" : i % 3 == 1 ? "b.txt" : "c.txt");
  ASSERT_EQ(Post(keys), 200);
  Settle();
  EXPECT_LE(store_.stat_calls() - stats_before, 3);
  EXPECT_LE(store_.list_calls() - lists_before, 3);
  EXPECT_EQ(Received("applied"), 3);
  EXPECT_EQ(Received("collapsed"), 497);
}

TEST_F(S3EventSourceServeTest, AFloodPastTheQueueBecomesOneFullSync) {
  Start(10, 1000ms);
  const uint64_t syncs_before = metrics_.Syncs(metrics::SyncKind::kFull);
  const int stats_before = store_.stat_calls();
  // Five bodies of 100 new paths each, back to back: every one overflows.
  for (int post = 0; post < 5; ++post) {
    std::vector<std::string> keys;
    for (int i = 0; i < 100; ++i)
      keys.push_back("new/" + std::to_string(post) + "-" + std::to_string(i));
    ASSERT_EQ(Post(keys), 200);
  }
  // One sync at the first overflow, and one for those since, a gap later.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (metrics_.Syncs(metrics::SyncKind::kFull) < syncs_before + 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  Settle();
  EXPECT_EQ(metrics_.Syncs(metrics::SyncKind::kFull) - syncs_before, 2u);
  // Each full sync stats the root and its three files; a rescan of the
  // queued paths would have cost 50 more.
  EXPECT_LE(store_.stat_calls() - stats_before, 8) << "no rescan of any single path";
  EXPECT_EQ(Received("applied"), 50);
  EXPECT_EQ(Received("dropped"), 450);
}

}  // namespace
}  // namespace freshfs::watch
