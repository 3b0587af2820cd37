#include "csi/call_stats.h"

namespace freshfs::csi {

CallStats::CallStats(prometheus::Registry* registry) {
  if (registry == nullptr) return;
  calls_ = &prometheus::BuildCounter()
                .Name("freshfs_csi_calls_total")
                .Help("CSI calls answered by the plugin, by method and gRPC status code.")
                .Register(*registry);
  durations_ = &prometheus::BuildHistogram()
                    .Name("freshfs_csi_call_duration_seconds")
                    .Help("Time the plugin took to answer a CSI call, by method.")
                    .Register(*registry);
}

void CallStats::Record(const std::string& method, const std::string& code, double seconds) {
  // Publish waits for a mount to answer, so the buckets reach minutes.
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  std::lock_guard lock(mutex_);
  ++counts_[{method, code}];
  if (calls_ != nullptr) calls_->Add({{"method", method}, {"code", code}}).Increment();
  if (durations_ != nullptr) durations_->Add({{"method", method}}, kBuckets).Observe(seconds);
}

uint64_t CallStats::Count(const std::string& method, const std::string& code) const {
  std::lock_guard lock(mutex_);
  auto it = counts_.find({method, code});
  return it == counts_.end() ? 0 : it->second;
}

std::map<std::pair<std::string, std::string>, uint64_t> CallStats::Counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

}  // namespace freshfs::csi
