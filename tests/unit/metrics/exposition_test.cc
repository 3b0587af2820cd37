// The Prometheus text-format parser (metrics/exposition.h): a round trip
// through prometheus-cpp's TextSerializer, the format's corners, malformed and
// mutated input; and the flat view of samples the tests and tools read.
#include "metrics/exposition.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "family_helpers.h"

namespace freshfs::metrics {
namespace {

using namespace freshfs::metrics::testing;
using prometheus::MetricType;

// ---------------------------------------------------------------------------
// Parser

TEST(ParseExpositionTest, RoundTripsPrometheusCppText) {
  prometheus::Registry registry;
  auto& changes = prometheus::BuildCounter()
                      .Name("freshfs_remote_changes_total")
                      .Help("Changes made at the source by others, by kind")
                      .Labels({{"volume", "pv-1"}})
                      .Register(registry);
  changes.Add({{"kind", "created"}}).Increment(3);
  changes.Add({{"kind", "quo\"te"}}).Increment(1);
  changes.Add({{"kind", "back\\slash"}}).Increment(2);
  changes.Add({{"kind", "new\nline"}}).Increment(4);
  changes.Add({{"kind", "all \\\" \n \\n , } { = # é 日本"}}).Increment(5);
  changes.Add({{"kind", ""}});
  auto& gauge = prometheus::BuildGauge()
                    .Name("freshfs_watched_entries")
                    .Help("Help with an escaped \\\\ backslash and \\n newline")
                    .Register(registry);
  gauge.Add({}).Set(42);
  gauge.Add({{"v", "nan"}}).Set(std::nan(""));
  gauge.Add({{"v", "inf"}}).Set(std::numeric_limits<double>::infinity());
  gauge.Add({{"v", "-inf"}}).Set(-std::numeric_limits<double>::infinity());
  gauge.Add({{"v", "neg"}}).Set(-1.5e-7);
  gauge.Add({{"v", "big"}}).Set(123456789012345.0);
  gauge.Add({{"v", "tiny"}}).Set(std::numeric_limits<double>::denorm_min());
  gauge.Add({{"v", "third"}}).Set(1.0 / 3);
  auto& histogram = prometheus::BuildHistogram()
                        .Name("freshfs_fuse_request_duration_seconds")
                        .Help("Time from receiving a FUSE request to replying, by operation")
                        .Labels({{"volume", "pv-1"}})
                        .Register(registry);
  auto& lookup = histogram.Add({{"op", "lookup"}},
                               prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1, 1});
  lookup.Observe(0.005);
  lookup.Observe(0.5);
  lookup.Observe(7);
  histogram.Add({{"op", "re\"ad\\"}}, prometheus::Histogram::BucketBoundaries{0.5}).Observe(0.25);
  auto& summary =
      prometheus::BuildSummary().Name("latency_seconds").Help("A summary").Register(registry);
  summary.Add({{"path", "/"}}, prometheus::Summary::Quantiles{{0.5, 0.05}, {0.99, 0.001}})
      .Observe(2);

  const std::string text = Serialize(registry.Collect());
  ParsedExposition parsed = ParseOk(text);
  EXPECT_EQ(Serialize(parsed.families), text);

  // And the structure, not just the text.
  const MetricFamily* c = FindFamily(parsed.families, "freshfs_remote_changes_total");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->type, MetricType::Counter);
  EXPECT_EQ(c->help, "Changes made at the source by others, by kind");
  const ClientMetric* m = FindMetric(*c, {{"volume", "pv-1"}, {"kind", "new\nline"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->counter.value, 4);
  m = FindMetric(*c, {{"volume", "pv-1"}, {"kind", "all \\\" \n \\n , } { = # é 日本"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->counter.value, 5);
  ASSERT_NE(FindMetric(*c, {{"volume", "pv-1"}, {"kind", "quo\"te"}}), nullptr);
  ASSERT_NE(FindMetric(*c, {{"volume", "pv-1"}, {"kind", "back\\slash"}}), nullptr);
  ASSERT_NE(FindMetric(*c, {{"volume", "pv-1"}, {"kind", ""}}), nullptr);

  const MetricFamily* g = FindFamily(parsed.families, "freshfs_watched_entries");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->type, MetricType::Gauge);
  EXPECT_EQ(g->help, "Help with an escaped \\\\ backslash and \\n newline");  // verbatim
  EXPECT_TRUE(std::isnan(FindMetric(*g, {{"v", "nan"}})->gauge.value));
  EXPECT_EQ(FindMetric(*g, {{"v", "inf"}})->gauge.value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(FindMetric(*g, {{"v", "-inf"}})->gauge.value, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(FindMetric(*g, {{"v", "neg"}})->gauge.value, -1.5e-7);
  EXPECT_EQ(FindMetric(*g, {{"v", "big"}})->gauge.value, 123456789012345.0);
  EXPECT_EQ(FindMetric(*g, {{"v", "tiny"}})->gauge.value,
            std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(FindMetric(*g, {})->gauge.value, 42);

  const MetricFamily* h = FindFamily(parsed.families, "freshfs_fuse_request_duration_seconds");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->type, MetricType::Histogram);
  ASSERT_EQ(h->metric.size(), 2u);
  m = FindMetric(*h, {{"volume", "pv-1"}, {"op", "lookup"}});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->histogram.sample_count, 3u);
  EXPECT_DOUBLE_EQ(m->histogram.sample_sum, 7.505);
  ASSERT_EQ(m->histogram.bucket.size(), 5u);
  const std::vector<std::pair<double, uint64_t>> want{
      {0.001, 0}, {0.01, 1}, {0.1, 1}, {1, 2}, {std::numeric_limits<double>::infinity(), 3}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(m->histogram.bucket[i].upper_bound, want[i].first) << i;
    EXPECT_EQ(m->histogram.bucket[i].cumulative_count, want[i].second) << i;
  }
  ASSERT_NE(FindMetric(*h, {{"volume", "pv-1"}, {"op", "re\"ad\\"}}), nullptr);

  const MetricFamily* s = FindFamily(parsed.families, "latency_seconds");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type, MetricType::Summary);
  ASSERT_EQ(s->metric.size(), 1u);
  EXPECT_EQ(s->metric[0].summary.sample_count, 1u);
  EXPECT_EQ(s->metric[0].summary.sample_sum, 2);
  ASSERT_EQ(s->metric[0].summary.quantile.size(), 2u);
  EXPECT_EQ(s->metric[0].summary.quantile[0].quantile, 0.5);
  EXPECT_EQ(s->metric[0].summary.quantile[1].quantile, 0.99);
  EXPECT_EQ(Labels(s->metric[0]), (std::map<std::string, std::string>{{"path", "/"}}));
}

TEST(ParseExpositionTest, ReadsTheFormatsCorners) {
  ParsedExposition p = ParseOk(
      "# A plain comment\n"
      "#\n"
      "\n"
      "   \t\n"
      "# TYPE later_help counter\n"
      "# HELP later_help TYPE before HELP\n"
      "later_help 1\n"
      "no_type_at_all{a=\"1\"} 2 1700000000000\n"
      "no_type_at_all{a=\"2\",} 3 -5\n"
      "  spaced\t{ a = \"x\" , b=\"y\" }\t  4  \n"
      "empty_labels{} 5\r\n"
      "#  TYPE   odd_spacing   gauge  \n"
      "#HELP odd_spacing\n"
      "odd_spacing +Inf\n"
      "values{v=\"a\"} -Inf\n"
      "values{v=\"b\"} NaN\n"
      "values{v=\"c\"} nan\n"
      "values{v=\"d\"} 1e3\n"
      "values{v=\"e\"} -2.5E-3\n"
      "values{v=\"f\"} +7\n"
      "values{v=\"g\"} .5\n"
      "colon:name 1\n"
      "# TYPE only_meta gauge\n"
      "# HELP only_meta Has no samples\n"
      "# TYPE freshfs_open_count gauge\n"
      "freshfs_open_count 9\n");
  ASSERT_EQ(p.error, "");
  const auto& fs = p.families;
  std::vector<std::string> names;
  for (const auto& f : fs) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"later_help", "no_type_at_all", "spaced",
                                             "empty_labels", "odd_spacing", "values", "colon:name",
                                             "only_meta", "freshfs_open_count"}));
  EXPECT_EQ(fs[0].type, MetricType::Counter);
  EXPECT_EQ(fs[0].help, "TYPE before HELP");
  EXPECT_EQ(fs[0].metric[0].counter.value, 1);
  EXPECT_EQ(fs[1].type, MetricType::Untyped);
  ASSERT_EQ(fs[1].metric.size(), 2u);
  EXPECT_EQ(fs[1].metric[0].untyped.value, 2);
  EXPECT_EQ(fs[1].metric[0].timestamp_ms, 0);  // ignored
  EXPECT_EQ(Labels(fs[2].metric[0]), (std::map<std::string, std::string>{{"a", "x"}, {"b", "y"}}));
  EXPECT_EQ(fs[2].metric[0].untyped.value, 4);
  EXPECT_TRUE(fs[3].metric[0].label.empty());
  EXPECT_EQ(fs[4].type, MetricType::Gauge);
  EXPECT_EQ(fs[4].help, "");
  EXPECT_EQ(fs[4].metric[0].gauge.value, std::numeric_limits<double>::infinity());
  const MetricFamily& v = fs[5];
  ASSERT_EQ(v.metric.size(), 7u);
  EXPECT_EQ(v.metric[0].untyped.value, -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(v.metric[1].untyped.value));
  EXPECT_TRUE(std::isnan(v.metric[2].untyped.value));
  EXPECT_EQ(v.metric[3].untyped.value, 1000);
  EXPECT_EQ(v.metric[4].untyped.value, -2.5e-3);
  EXPECT_EQ(v.metric[5].untyped.value, 7);
  EXPECT_EQ(v.metric[6].untyped.value, 0.5);
  EXPECT_TRUE(fs[7].metric.empty());
  EXPECT_EQ(fs[7].type, MetricType::Gauge);
  EXPECT_EQ(fs[8].type, MetricType::Gauge);  // _count of no histogram: its own family
  EXPECT_EQ(fs[8].metric[0].gauge.value, 9);
}

TEST(ParseExpositionTest, GroupsHistogramSamplesByLabelsMinusLe) {
  // Interleaved label sets, label order varying, buckets out of order, one
  // group without _count (taken from +Inf) and one without +Inf.
  ParsedExposition p = ParseOk(
      "# HELP h_seconds A histogram\n"
      "# TYPE h_seconds histogram\n"
      "h_seconds_bucket{op=\"a\",le=\"+Inf\"} 4\n"
      "h_seconds_bucket{le=\"1\",op=\"b\"} 1\n"
      "h_seconds_bucket{op=\"a\",le=\"0.5\"} 1\n"
      "h_seconds_sum{op=\"b\"} 0.25\n"
      "h_seconds_bucket{le=\"1.0\",op=\"a\"} 3\n"
      "h_seconds_count{op=\"b\"} 1\n"
      "h_seconds_sum{op=\"a\"} 9.5\n"
      "h_seconds_bucket{op=\"c\",x=\"y\",le=\"2\"} 0\n");
  ASSERT_EQ(p.families.size(), 1u);
  const MetricFamily& h = p.families[0];
  ASSERT_EQ(h.metric.size(), 3u);
  const ClientMetric& a = h.metric[0];
  EXPECT_EQ(Labels(a), (std::map<std::string, std::string>{{"op", "a"}}));
  EXPECT_EQ(a.histogram.sample_count, 4u);
  EXPECT_EQ(a.histogram.sample_sum, 9.5);
  ASSERT_EQ(a.histogram.bucket.size(), 3u);
  EXPECT_EQ(a.histogram.bucket[0].upper_bound, 0.5);
  EXPECT_EQ(a.histogram.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(a.histogram.bucket[1].upper_bound, 1);
  EXPECT_EQ(a.histogram.bucket[1].cumulative_count, 3u);
  EXPECT_TRUE(std::isinf(a.histogram.bucket[2].upper_bound));
  EXPECT_EQ(a.histogram.bucket[2].cumulative_count, 4u);
  const ClientMetric& b = h.metric[1];
  EXPECT_EQ(b.histogram.sample_count, 1u);
  EXPECT_EQ(b.histogram.sample_sum, 0.25);
  ASSERT_EQ(b.histogram.bucket.size(), 1u);
  EXPECT_EQ(Labels(h.metric[2]), (std::map<std::string, std::string>{{"op", "c"}, {"x", "y"}}));

  // The serializer adds +Inf where it is missing; the result parses again.
  std::string text = Serialize(p.families);
  EXPECT_NE(text.find("h_seconds_bucket{op=\"b\",le=\"+Inf\"} 1"), std::string::npos) << text;
  EXPECT_EQ(ParseExposition(text).error, "");
}

TEST(ParseExpositionTest, ReadsSummaries) {
  ParsedExposition p = ParseOk(
      "# TYPE rpc summary\n"
      "rpc{service=\"x\",quantile=\"0.5\"} 1.5\n"
      "rpc{quantile=\"0.9\",service=\"x\"} 2.5\n"
      "rpc_sum{service=\"x\"} 10\n"
      "rpc_count{service=\"x\"} 4\n"
      "rpc_count{service=\"y\"} 0\n"
      "rpc_sum{service=\"y\"} 0\n");
  ASSERT_EQ(p.families.size(), 1u);
  ASSERT_EQ(p.families[0].metric.size(), 2u);
  const auto& x = p.families[0].metric[0].summary;
  EXPECT_EQ(x.sample_count, 4u);
  EXPECT_EQ(x.sample_sum, 10);
  ASSERT_EQ(x.quantile.size(), 2u);
  EXPECT_EQ(x.quantile[1].quantile, 0.9);
  EXPECT_EQ(x.quantile[1].value, 2.5);
  EXPECT_TRUE(p.families[0].metric[1].summary.quantile.empty());
  EXPECT_EQ(ParseExposition(Serialize(p.families)).error, "");
}

TEST(ParseExpositionTest, RejectsMalformedInput) {
  static const char kBinary[] = "metric{a=\"b\"} 1\n\x00\xff\xfe binary";
  const std::vector<std::string> bad{
      "garbage",
      "metric",
      "metric{a=\"b\"}",
      "metric abc",
      "metric 1 2 3",
      "metric 1 1.5",
      "metric 0x10",
      "metric 1_000",
      "metric --1",
      "metric +-1",
      "metric 1e999",
      "metric{a=b} 1",
      "metric{a=\"b} 1",
      "metric{a=\"b\"",
      "metric{a=\"b\" 1",
      "metric{a=\"b\"}} 1",
      "metric{a=\"b\",,c=\"d\"} 1",
      "metric{,} 1",
      "metric{1a=\"b\"} 1",
      "metric{a:b=\"c\"} 1",
      "metric{a=\"\\x\"} 1",
      "metric{a=\"trailing backslash\\",
      "metric{a=\"1\",a=\"2\"} 1",
      "metric{a=\"1\" b=\"2\"} 1",
      "1metric 1",
      "met-ric 1",
      "{a=\"b\"} 1",
      "# TYPE",
      "# HELP",
      "# TYPE 1x counter",
      "# TYPE x foo",
      "# TYPE x counter extra",
      "# TYPE x gaugehistogram",
      "# TYPE x counter\n# TYPE x gauge",
      "# HELP x a\n# HELP x b",
      "# HELP x bad \\escape",
      "# HELP x trailing \\",
      "x 1\n# TYPE x counter",
      "x 1\nx 2",
      "x{a=\"1\",b=\"2\"} 1\nx{b=\"2\",a=\"1\"} 2",
      "# TYPE h histogram\nh 1",
      "# TYPE h histogram\nh_bucket 1",
      "# TYPE h histogram\nh_bucket{le=\"abc\"} 1",
      "# TYPE h histogram\nh_bucket{le=\"1\"} -1",
      "# TYPE h histogram\nh_bucket{le=\"1\"} NaN",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1e30",
      "# TYPE h histogram\nh_count -1",
      "# TYPE h histogram\nh_sum{le=\"1\"} 1",
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1",
      "# TYPE h histogram\nh_sum 1\nh_sum 2",
      "# TYPE s summary\ns 1",
      "# TYPE s summary\ns{quantile=\"x\"} 1",
      "# TYPE s summary\ns_sum{quantile=\"0.5\"} 1",
      "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"0.5\"} 2",
      std::string(kBinary, sizeof kBinary - 1),
      "ok 1\nok2 2\nbroken{",
  };
  for (const auto& text : bad) {
    ParsedExposition p = ParseExposition(text);
    EXPECT_NE(p.error, "") << "accepted: " << text;
    EXPECT_TRUE(p.families.empty()) << text;
  }
  // The error says where.
  EXPECT_EQ(ParseExposition("ok 1\nok2 2\nbroken{").error.rfind("line 3: ", 0), 0u)
      << ParseExposition("ok 1\nok2 2\nbroken{").error;
}

TEST(ParseExpositionTest, RejectsHugeInputAndCopesWithLargeOnes) {
  // Over the limit: refused at once.
  std::string huge(kMaxExpositionBytes + 1, '#');
  EXPECT_NE(ParseExposition(huge).error, "");

  // Within the limit but nasty: one unterminated 20 MB label value, one
  // 20 MB metric name, a line of 1M labels.
  std::string unterminated = "m{a=\"" + std::string(20 << 20, 'x');
  EXPECT_NE(ParseExposition(unterminated).error, "");
  std::string long_name(20 << 20, 'n');
  ParsedExposition p = ParseExposition(long_name + " 1\n");
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.families.size(), 1u);
  std::string many = "m{";
  for (int i = 0; i < 1000000; ++i) many += "l" + std::to_string(i) + "=\"\",";
  many += "} 1\n";
  ASSERT_LT(many.size(), kMaxExpositionBytes);
  p = ParseExposition(many);
  EXPECT_EQ(p.error, "");

  // Many series (a large node): parsed in reasonable time.
  std::string big = "# HELP s_total Series\n# TYPE s_total counter\n";
  for (int i = 0; i < 100000; ++i) {
    big += "s_total{volume=\"pv-" + std::to_string(i % 100) + "\",i=\"" + std::to_string(i) +
           "\"} " + std::to_string(i) + "\n";
  }
  auto start = std::chrono::steady_clock::now();
  p = ParseExposition(big);
  EXPECT_EQ(p.error, "");
  ASSERT_EQ(p.families.size(), 1u);
  EXPECT_EQ(p.families[0].metric.size(), 100000u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

// Mutations of valid text never crash the parser (the sanitizers watch), and
// whatever it accepts serializes into text it accepts again.
TEST(ParseExpositionTest, SurvivesMutatedInput) {
  const std::string seed_text =
      "# HELP c_total A counter\n# TYPE c_total counter\n"
      "c_total{a=\"x\\\"y\",b=\"\\\\\\n\"} 1 123\n"
      "# HELP h A histogram\n# TYPE h histogram\n"
      "h_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n"
      "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n"
      "# TYPE g gauge\ng NaN\ng{x=\"\"} -Inf\nuntyped_thing 1e-3\n";
  ASSERT_EQ(ParseExposition(seed_text).error, "");
  const std::string alphabet = "{}\",=\\ \t\n#+-.eE0123456789_:aHELPTYPEInfNaN_bucket_sum_count";
  std::mt19937 rng(12345);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  int accepted = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string text = seed_text;
    int edits = 1 + int(pick(4));
    for (int e = 0; e < edits && !text.empty(); ++e) {
      size_t at = pick(text.size());
      switch (pick(5)) {
        case 0:
          text[at] = alphabet[pick(alphabet.size())];
          break;
        case 1:
          text.erase(at, 1 + pick(8));
          break;
        case 2:
          text.insert(at, 1, alphabet[pick(alphabet.size())]);
          break;
        case 3:
          text[at] = char(pick(256));
          break;
        case 4:
          text.resize(at);
          break;
      }
    }
    ParsedExposition p = ParseExposition(text);
    if (!p.error.empty()) {
      EXPECT_TRUE(p.families.empty());
      continue;
    }
    ++accepted;
    std::string again = Serialize(p.families);
    EXPECT_EQ(ParseExposition(again).error, "") << "input:\n" << text << "\nserialized:\n" << again;
  }
  EXPECT_GT(accepted, 100);  // the mutations do explore valid input too
}

// ---------------------------------------------------------------------------
// Samples and Sum

TEST(SamplesTest, FlattenAsTheTextHadIt) {
  const std::string text =
      "# TYPE requests_total counter\n"
      "requests_total{op=\"read\",volume=\"v\"} 3\n"
      "requests_total{op=\"open\",volume=\"v\"} 2\n"
      "# TYPE latency_seconds histogram\n"
      "latency_seconds_bucket{le=\"0.005\"} 1\n"
      "latency_seconds_bucket{le=\"+Inf\"} 4\n"
      "latency_seconds_sum 0.5\n"
      "latency_seconds_count 4\n"
      "# TYPE rtt summary\n"
      "rtt{quantile=\"0.5\"} 0.25\n"
      "rtt_sum 1\n"
      "rtt_count 3\n"
      "# TYPE inodes gauge\n"
      "inodes 7\n";
  const ParsedExposition parsed = ParseOk(text);
  const std::vector<Sample> samples = Samples(parsed.families);
  EXPECT_EQ(Sum(samples, "requests_total"), 5);
  EXPECT_EQ(Sum(samples, "requests_total", {{"op", "read"}}), 3);
  EXPECT_EQ(Sum(samples, "requests_total", {{"op", "write"}}), std::nullopt);
  EXPECT_EQ(Sum(samples, "latency_seconds_bucket", {{"le", "0.005"}}), 1);
  EXPECT_EQ(Sum(samples, "latency_seconds_bucket", {{"le", "+Inf"}}), 4);
  EXPECT_EQ(Sum(samples, "latency_seconds_sum"), 0.5);
  EXPECT_EQ(Sum(samples, "latency_seconds_count"), 4);
  EXPECT_EQ(Sum(samples, "rtt", {{"quantile", "0.5"}}), 0.25);
  EXPECT_EQ(Sum(samples, "rtt_count"), 3);
  EXPECT_EQ(Sum(samples, "inodes"), 7);
  EXPECT_EQ(Sum(samples, "latency_seconds"), std::nullopt) << "only the lines the text has";
  EXPECT_EQ(samples.size(), 2u + 4u + 3u + 1u);
}

}  // namespace
}  // namespace freshfs::metrics
