// Counts of CSI calls by method and gRPC status code, and their latency.
// Fed by the server's call interceptor; read by tests and exported to
// Prometheus as
//   freshfs_csi_calls_total{method,code}
//   freshfs_csi_call_duration_seconds{method}   (histogram)
// when a registry is given. method is the RPC name ("NodePublishVolume"),
// code the gRPC code name ("OK", "INVALID_ARGUMENT").
//
// Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace freshfs::csi {

class CallStats {
 public:
  // `registry` may be null (counts only); else it must outlive this.
  explicit CallStats(prometheus::Registry* registry);

  void Record(const std::string& method, const std::string& code, double seconds);

  // Calls of `method` that ended with `code` so far.
  uint64_t Count(const std::string& method, const std::string& code) const;
  // Every (method, code) seen so far with its count.
  std::map<std::pair<std::string, std::string>, uint64_t> Counts() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, uint64_t> counts_;
  prometheus::Family<prometheus::Counter>* calls_ = nullptr;
  prometheus::Family<prometheus::Histogram>* durations_ = nullptr;
};

}  // namespace freshfs::csi
