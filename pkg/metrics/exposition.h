// Prometheus text exposition format 0.0.4: one parser for every reader of
// it (freshfs-csi's collector of its children's metrics, its supervisor,
// the tests), and a flat view of the samples for lookups by name and labels.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace freshfs::metrics {

// Larger expositions are refused (by the parser and while downloading).
inline constexpr size_t kMaxExpositionBytes = size_t(32) << 20;

// Parses Prometheus text exposition format 0.0.4 into metric families:
// counter, gauge, histogram, summary and untyped; HELP and TYPE lines (other
// comments are ignored); label values with the escapes \\ \" \n; values such
// as +Inf, -Inf, NaN, Nan, 1e-3; optional timestamps (validated, then ignored:
// timestamp_ms stays 0). Families keep their names exactly (a counter is
// named with its _total, as prometheus-cpp writes it), in order of first
// appearance. Histograms: the _bucket/_sum/_count samples are grouped by
// their labels minus `le` into one ClientMetric (buckets sorted by le; a
// missing _count is taken from the +Inf bucket). Summaries likewise by their
// labels minus `quantile`. Samples with no TYPE form untyped families.
//
// HELP text is kept verbatim (escapes not undone): prometheus-cpp's
// TextSerializer writes MetricFamily::help verbatim, so this round-trips.
//
// Malformed input (bad syntax, unknown TYPE, a second HELP/TYPE for a name, a
// TYPE after the name's samples, duplicate series, histogram/summary samples
// that do not fit, more than kMaxExpositionBytes) gives a non-empty error
// ("line N: ...") and no families. Never throws.
struct ParsedExposition {
  std::vector<prometheus::MetricFamily> families;
  std::string error;
};
ParsedExposition ParseExposition(std::string_view text);

// A label set as one string, independent of label order; `skip` is left out.
std::string LabelKey(const std::vector<prometheus::ClientMetric::Label>& labels,
                     std::string_view skip = {});
// "counter", "gauge", ... as TYPE lines spell them.
const char* TypeName(prometheus::MetricType type);

// One sample line as the text had it: histograms give NAME_bucket (with
// le), NAME_sum and NAME_count; summaries NAME (with quantile), NAME_sum and
// NAME_count.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
std::vector<Sample> Samples(const std::vector<prometheus::MetricFamily>& families);

// Whether `s` has every label of `want`, with its value.
bool HasLabels(const Sample& s, const std::map<std::string, std::string>& want);

// The sum of the samples named `name` whose labels include all of `want`;
// nullopt when none does.
std::optional<double> Sum(const std::vector<Sample>& samples, std::string_view name,
                          const std::map<std::string, std::string>& want = {});

}  // namespace freshfs::metrics
