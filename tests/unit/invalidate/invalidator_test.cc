#include "invalidate/invalidator.h"

#include <gtest/gtest.h>

#include "fakes/fake_notifier.h"

namespace freshfs::invalidate {
namespace {

using namespace std::chrono_literals;
using freshfs::testing::FakeNotifier;

Notification Data(fuse_ino_t ino) {
  Notification n;
  n.type = InvalType::kInodeData;
  n.ino = ino;
  return n;
}

TEST(Invalidator, SendsInOrderAndFlushWaitsForAll) {
  metrics::Metrics m("v", "test");
  FakeNotifier kernel;
  Invalidator inv(&m);
  inv.Start(&kernel);
  for (fuse_ino_t i = 2; i < 6; ++i) inv.Enqueue(Data(i));
  ASSERT_TRUE(inv.Flush(5s));
  EXPECT_EQ(kernel.calls(), (std::vector<std::string>{"data 2", "data 3", "data 4", "data 5"}));
  EXPECT_EQ(m.InvalidationCount(InvalType::kInodeData, metrics::InvalResult::kOk), 4u);
}

TEST(Invalidator, CoalescesIdenticalPendingNotifications) {
  FakeNotifier kernel;
  kernel.Block();
  Invalidator inv(nullptr);
  inv.Start(&kernel);
  inv.Enqueue(Data(7));  // taken by the thread, which blocks in the kernel
  std::this_thread::sleep_for(50ms);
  for (int i = 0; i < 10; ++i) inv.Enqueue(Data(8));
  Notification attr = Data(8);
  attr.type = InvalType::kInodeAttr;  // covered by the pending data invalidation
  inv.Enqueue(attr);
  EXPECT_EQ(inv.pending(), 1u);
  kernel.Unblock();
  ASSERT_TRUE(inv.Flush(5s));
  EXPECT_EQ(kernel.calls(), (std::vector<std::string>{"data 7", "data 8"}));
}

TEST(Invalidator, PendingStoreTakesTheNewestContent) {
  FakeNotifier kernel;
  kernel.Block();
  Invalidator inv(nullptr);
  inv.Start(&kernel);
  inv.Enqueue(Data(7));  // taken by the thread, which blocks in the kernel
  std::this_thread::sleep_for(50ms);
  Notification store;
  store.type = InvalType::kStore;
  store.ino = 9;
  store.data = "old";
  inv.Enqueue(store);
  store.data = "new";
  inv.Enqueue(store);
  kernel.Unblock();
  ASSERT_TRUE(inv.Flush(5s));
  EXPECT_EQ(kernel.calls(), (std::vector<std::string>{"data 7", "store 9 new"}));
}

TEST(Invalidator, NotCachedIsCountedNotAnError) {
  metrics::Metrics m("v", "test");
  FakeNotifier kernel;
  kernel.result = -ENOENT;
  Invalidator inv(&m);
  inv.Start(&kernel);
  inv.Enqueue(Data(3));
  ASSERT_TRUE(inv.Flush(5s));
  EXPECT_EQ(m.InvalidationCount(InvalType::kInodeData, metrics::InvalResult::kNotCached), 1u);
  EXPECT_EQ(m.InvalidationCount(InvalType::kInodeData, metrics::InvalResult::kError), 0u);
}

TEST(Invalidator, UnsupportedKernelIsReportedOnce) {
  FakeNotifier kernel;
  kernel.result = -ENOSYS;
  Invalidator inv(nullptr);
  int reported = 0;
  inv.set_on_unsupported([&] { ++reported; });
  inv.Start(&kernel);
  inv.Enqueue(Data(3));
  inv.Enqueue(Data(4));
  ASSERT_TRUE(inv.Flush(5s));
  EXPECT_EQ(reported, 1);
  EXPECT_TRUE(inv.unsupported());
}

TEST(Invalidator, ExpireFallsBackToInvalEntryWithoutKernelSupport) {
  class NoExpire : public FakeNotifier {
    int ExpireEntry(fuse_ino_t, std::string_view) override { return -ENOSYS; }
  } kernel;
  Invalidator inv(nullptr);
  inv.Start(&kernel);
  Notification n;
  n.type = InvalType::kExpireEntry;
  n.parent = 1;
  n.name = "d";
  inv.Enqueue(n);
  ASSERT_TRUE(inv.Flush(5s));
  EXPECT_EQ(kernel.calls(), (std::vector<std::string>{"entry 1 d"}));
  EXPECT_FALSE(inv.unsupported());
}

TEST(Invalidator, StopWhileTheKernelBlocksDoesNotHang) {
  FakeNotifier kernel;
  kernel.Block();
  Invalidator inv(nullptr);
  inv.Start(&kernel);
  for (fuse_ino_t i = 2; i < 100; ++i) inv.Enqueue(Data(i));
  std::thread unblock([&] {
    std::this_thread::sleep_for(100ms);
    kernel.Unblock();  // the kernel answers the one in flight eventually
  });
  inv.Stop();  // drops the rest
  unblock.join();
  EXPECT_LE(kernel.calls().size(), 1u);
}

TEST(Invalidator, FlushTimesOutWhileTheKernelBlocks) {
  FakeNotifier kernel;
  kernel.Block();
  Invalidator inv(nullptr);
  inv.Start(&kernel);
  inv.Enqueue(Data(2));
  EXPECT_FALSE(inv.Flush(50ms));
  kernel.Unblock();
  EXPECT_TRUE(inv.Flush(5s));
}

}  // namespace
}  // namespace freshfs::invalidate
