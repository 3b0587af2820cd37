#include "store/instrumented_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/dir_store.h"
#include "support/temp_dir.h"

namespace freshfs::store {
namespace {

using metrics::StoreOp;
using metrics::StoreResult;

TEST(InstrumentedStore, CountsRequestsByResultAndBytesByDirection) {
  freshfs::testing::TempDir tmp("instrumented");
  const std::filesystem::path& root = tmp.path();
  std::ofstream(root / "f") << "hello";
  metrics::Metrics m("v", "test");
  auto dir = DirStore::Open(root);
  ASSERT_TRUE(dir.ok());
  auto store = Instrument(std::move(*dir), &m);

  EXPECT_TRUE(store->Stat("f").ok());
  EXPECT_EQ(store->Stat("missing").error().code, ENOENT);
  EXPECT_EQ(m.StoreRequestCount(StoreOp::kStat, StoreResult::kOk), 1u);
  EXPECT_EQ(m.StoreRequestCount(StoreOp::kStat, StoreResult::kNotFound), 1u);

  auto file = store->Open("f", O_RDWR);
  ASSERT_TRUE(file.ok());
  char buf[16];
  EXPECT_EQ(*(*file)->Read(buf, sizeof buf, 0), 5u);
  EXPECT_EQ(*(*file)->Write("abc", 3, 5), 3u);
  EXPECT_EQ(m.StoreRequestCount(StoreOp::kOpen, StoreResult::kOk), 1u);
  EXPECT_EQ(m.StoreRequestCount(StoreOp::kRead, StoreResult::kOk), 1u);
  EXPECT_EQ(m.StoreRequestCount(StoreOp::kWrite, StoreResult::kOk), 1u);

  EXPECT_FALSE(store->MakeDir("f", 0755, {}).ok());  // exists
  EXPECT_EQ(m.StoreRequestCount(StoreOp::kMkdir, StoreResult::kError), 1u);

  auto families = m.registry()->Collect();
  double read_bytes = -1, written_bytes = -1;
  for (const auto& f : families) {
    if (f.name != "freshfs_store_bytes_total") continue;
    for (const auto& metric : f.metric)
      for (const auto& label : metric.label)
        if (label.name == "direction")
          (label.value == "read" ? read_bytes : written_bytes) = metric.counter.value;
  }
  EXPECT_EQ(read_bytes, 5);
  EXPECT_EQ(written_bytes, 3);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace freshfs::store
