// One scrape endpoint per node: freshfs-csi serves, next to its own series,
// the series of every freshfs-mount child it runs (one per published volume).
// At every scrape ChildMetricsCollector GETs each child's
// http://127.0.0.1:PORT/metrics, parses the text, adds volume="<id>" where a
// series has no volume label (process_*, freshfs_build_info, ...), and merges
// the families so that each is announced once (HELP/TYPE) with no duplicate
// series.
//
// The label and merge helpers are separate functions so that they can be
// tested without HTTP; the parser is metrics/exposition.h.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metrics/exposition.h"

namespace freshfs::csi {

// The parser lives in pkg/metrics (metrics/exposition.h): one for the
// collector, the supervisor and the tests.
using metrics::kMaxExpositionBytes;
using metrics::ParsedExposition;
using metrics::ParseExposition;

// Adds label (name=value) to every metric that does not have `name` yet.
void AddLabelIfMissing(std::vector<prometheus::MetricFamily>& families, const std::string& name,
                       const std::string& value);

// Merges families with the same name, in order of first appearance: metrics
// appended, HELP/TYPE from the first (HELP from a later one if the first has
// none). A family whose TYPE conflicts with the first is dropped with a
// warning, as is a series (same label set) already present in the family.
std::vector<prometheus::MetricFamily> MergeFamilies(
    std::vector<std::vector<prometheus::MetricFamily>> parts);

// GETs http://127.0.0.1:<port>/metrics (bounded by `timeout`) and parses it;
// `error` says what failed.
ParsedExposition ScrapeLocalMetrics(int port, std::chrono::milliseconds timeout);

// A Collectable for freshfs-csi's prometheus::Exposer. Collect() lists the
// children, GETs their /metrics in parallel (libcurl, 127.0.0.1, each bounded
// by Options::timeout, so a scrape takes at most about that long), parses,
// adds volume="<Child::volume>" where missing and merges, together with the
// Options::local collectables. A child that does not answer in time, answers
// other than 200, or sends text that does not parse is skipped (none of its
// series appear) and counted in scrape_errors(); it is logged once when it
// starts failing (then at debug) and once when it works again.
//
// Register ONLY this collector with the Exposer for the families it merges:
// the Exposer concatenates its collectables without merging, so a family
// served both by a registry registered directly and by the children (say
// process_cpu_seconds_total) would be announced twice. Pass such
// collectables in Options::local instead.
//
// Thread-safe: the Exposer may call Collect() from several threads at once.
class ChildMetricsCollector : public prometheus::Collectable {
 public:
  struct Child {
    std::string volume;
    int port;  // outside 1..65535: skipped and counted as a scrape error
  };
  using ListChildren = std::function<std::vector<Child>()>;

  struct Options {
    // Per child (connect + response); children are scraped in parallel.
    std::chrono::milliseconds timeout{2000};
    // Children's families whose name starts with one of these are dropped.
    // exposer_*: prometheus-cpp's Exposer describes its own endpoint with
    // these; the children's are of no use once freshfs-csi is the only one to
    // scrape them, and freshfs-csi's own Exposer serves families of the same
    // names, which would be announced twice.
    std::vector<std::string> drop_family_prefixes{"exposer_"};
    // freshfs-csi's own collectables, collected at every scrape and merged
    // first (their HELP/TYPE win; their series get no volume label). Expired
    // ones are ignored.
    std::vector<std::weak_ptr<prometheus::Collectable>> local;
  };

  explicit ChildMetricsCollector(ListChildren list);
  ChildMetricsCollector(ListChildren list, Options options);

  std::vector<prometheus::MetricFamily> Collect() const override;

  // Children skipped so far (no answer, not 200, too large, unparsable,
  // bad port), one per child per scrape.
  uint64_t scrape_errors() const { return scrape_errors_.load(std::memory_order_relaxed); }

 private:
  void NoteResult(const std::vector<Child>& children, const std::vector<std::string>& errors) const;

  ListChildren list_;
  Options options_;
  mutable std::atomic<uint64_t> scrape_errors_{0};
  mutable std::mutex mu_;
  // Volume -> failing at its last scrape; for logging changes only.
  mutable std::unordered_map<std::string, bool> failing_;
};

}  // namespace freshfs::csi
