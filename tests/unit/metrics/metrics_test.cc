#include "metrics/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "metrics/process_collector.h"

namespace freshfs::metrics {
namespace {

std::string Exposition(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

TEST(Metrics, EverySeriesCarriesTheVolumeLabel) {
  Metrics m("team-a", "1.2.3");
  m.FuseRequestArrived(FuseOp::kLookup);
  m.FuseRequestAnswered(FuseOp::kLookup, std::chrono::microseconds(20));
  m.RemoteChange(ChangeKind::kCreated);
  std::string text = Exposition(m.registry()->Collect());
  EXPECT_NE(text.find("freshfs_build_info{version=\"1.2.3\"} 1"), std::string::npos);
  EXPECT_NE(text.find("freshfs_fuse_requests_total{volume=\"team-a\",op=\"lookup\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("freshfs_remote_changes_total{volume=\"team-a\",kind=\"created\"} 1"),
            std::string::npos);
}

TEST(Metrics, LiveGaugesAreReadAtScrapeTimeAndCanBeUnset) {
  Metrics m("v", "t");
  double staleness = 1.5;
  m.SetLive({[&] { return staleness; }, [] { return 42.0; }, [] { return 7.0; }});
  staleness = 7.25;
  std::string text = Exposition(m.live_collectable()->Collect());
  EXPECT_NE(text.find("freshfs_staleness_seconds{volume=\"v\"} 7.25"), std::string::npos);
  EXPECT_NE(text.find("freshfs_watched_entries{volume=\"v\"} 42"), std::string::npos);
  EXPECT_NE(text.find("freshfs_kernel_inodes{volume=\"v\"} 7"), std::string::npos);
  m.SetLive({});  // e.g. the watcher is gone: nothing, rather than a dangling read
  EXPECT_TRUE(m.live_collectable()->Collect().empty());
}

TEST(Metrics, FailedSyncsCountErrorsAndKeepTheLastSuccess) {
  Metrics m("v", "t");
  m.SyncDone(0.1, true, 1000.0);
  m.SyncDone(0.1, false, 2000.0);
  EXPECT_EQ(m.SyncErrors(), 1u);
  std::string text = Exposition(m.registry()->Collect());
  EXPECT_NE(text.find("freshfs_last_sync_success_timestamp_seconds{volume=\"v\"} 1000"),
            std::string::npos);
}

TEST(ProcessCollector, ReportsThisProcess) {
  std::string text = Exposition(MakeProcessCollector()->Collect());
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_max_fds", "process_start_time_seconds"})
    EXPECT_NE(text.find(name), std::string::npos) << name;
  EXPECT_EQ(text.find("process_resident_memory_bytes 0\n"), std::string::npos);
}

}  // namespace
}  // namespace freshfs::metrics
