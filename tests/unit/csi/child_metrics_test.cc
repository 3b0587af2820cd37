// ChildMetricsCollector and its parts: the text-format parser (round trip
// through prometheus-cpp's TextSerializer, the format's corners, malformed
// input), AddLabelIfMissing, MergeFamilies, promtool's verdict on merged
// output, and the collector against real HTTP servers: prometheus-cpp
// Exposers as fake children, and raw sockets for children that hang or
// answer badly.
#include "csi/child_metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace freshfs::csi {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::string Serialize(const std::vector<MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

const MetricFamily* FindFamily(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::map<std::string, std::string> Labels(const ClientMetric& m) {
  std::map<std::string, std::string> out;
  for (const auto& l : m.label) out[l.name] = l.value;
  return out;
}

const ClientMetric* FindMetric(const MetricFamily& family,
                               const std::map<std::string, std::string>& labels) {
  for (const auto& m : family.metric) {
    if (Labels(m) == labels) return &m;
  }
  return nullptr;
}

ParsedExposition ParseOk(const std::string& text) {
  ParsedExposition parsed = ParseExposition(text);
  EXPECT_EQ(parsed.error, "") << text;
  return parsed;
}

// promtool check metrics on text: exit status and output, or nullopt when
// promtool is not installed.
std::optional<std::pair<int, std::string>> Promtool(const std::string& text) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return std::nullopt;
  std::string path = ::testing::TempDir() + "child_metrics_XXXXXX";
  int fd = ::mkstemp(path.data());
  EXPECT_GE(fd, 0);
  if (fd < 0) return std::nullopt;
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) break;
    off += size_t(n);
  }
  ::close(fd);
  std::string command = "promtool check metrics < '" + path + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; pipe && (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  int status = pipe ? ::pclose(pipe) : -1;
  ::unlink(path.c_str());
  return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
}

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
  auto& summary = prometheus::BuildSummary().Name("latency_seconds").Help("A summary").Register(registry);
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
  EXPECT_EQ(FindMetric(*g, {{"v", "tiny"}})->gauge.value, std::numeric_limits<double>::denorm_min());
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
  EXPECT_EQ(names, (std::vector<std::string>{"later_help", "no_type_at_all", "spaced", "empty_labels",
                                             "odd_spacing", "values", "colon:name", "only_meta",
                                             "freshfs_open_count"}));
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
        case 0: text[at] = alphabet[pick(alphabet.size())]; break;
        case 1: text.erase(at, 1 + pick(8)); break;
        case 2: text.insert(at, 1, alphabet[pick(alphabet.size())]); break;
        case 3: text[at] = char(pick(256)); break;
        case 4: text.resize(at); break;
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
// AddLabelIfMissing, MergeFamilies

MetricFamily Family(const std::string& name, MetricType type, const std::string& help,
                    std::vector<std::vector<ClientMetric::Label>> label_sets) {
  MetricFamily f;
  f.name = name;
  f.type = type;
  f.help = help;
  for (auto& labels : label_sets) {
    ClientMetric m;
    m.label = std::move(labels);
    f.metric.push_back(std::move(m));
  }
  return f;
}

TEST(AddLabelIfMissingTest, AddsOnlyWhereMissing) {
  std::vector<MetricFamily> fs{
      Family("a", MetricType::Gauge, "", {{}, {{"volume", "own"}}, {{"x", "1"}}}),
      Family("b", MetricType::Counter, "", {{{"x", "2"}, {"volume", ""}}}),
  };
  AddLabelIfMissing(fs, "volume", "pv-9");
  EXPECT_EQ(Labels(fs[0].metric[0]), (std::map<std::string, std::string>{{"volume", "pv-9"}}));
  EXPECT_EQ(Labels(fs[0].metric[1]), (std::map<std::string, std::string>{{"volume", "own"}}));
  EXPECT_EQ(Labels(fs[0].metric[2]),
            (std::map<std::string, std::string>{{"volume", "pv-9"}, {"x", "1"}}));
  EXPECT_EQ(Labels(fs[1].metric[0]), (std::map<std::string, std::string>{{"volume", ""}, {"x", "2"}}));
}

TEST(MergeFamiliesTest, MergesByNameKeepingTheFirstHelpAndType) {
  std::vector<std::vector<MetricFamily>> parts{
      {Family("a", MetricType::Gauge, "first", {{{"v", "1"}}}),
       Family("b", MetricType::Counter, "", {{{"v", "1"}}})},
      {Family("c", MetricType::Gauge, "c", {{}}),
       Family("a", MetricType::Gauge, "second", {{{"v", "2"}}}),
       Family("b", MetricType::Counter, "b help", {{{"v", "2"}}})},
      {Family("a", MetricType::Gauge, "third", {{{"v", "3"}}, {{"v", "4"}}})},
  };
  auto merged = MergeFamilies(std::move(parts));
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].name, "a");
  EXPECT_EQ(merged[0].help, "first");
  EXPECT_EQ(merged[0].metric.size(), 4u);
  EXPECT_EQ(merged[1].name, "b");
  EXPECT_EQ(merged[1].help, "b help");  // the first had none
  EXPECT_EQ(merged[1].metric.size(), 2u);
  EXPECT_EQ(merged[2].name, "c");
}

TEST(MergeFamiliesTest, DropsConflictingTypesAndDuplicateSeries) {
  std::vector<std::vector<MetricFamily>> parts{
      {Family("a", MetricType::Gauge, "g", {{{"v", "1"}}})},
      {Family("a", MetricType::Counter, "c", {{{"v", "2"}}})},
      {Family("a", MetricType::Gauge, "g", {{{"v", "1"}}, {{"v", "3"}}})},
      {Family("a", MetricType::Gauge, "g", {{{"w", "1"}, {"v", "3"}}, {{"v", "3"}, {"w", "1"}}})},
  };
  auto merged = MergeFamilies(std::move(parts));
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].type, MetricType::Gauge);
  ASSERT_EQ(merged[0].metric.size(), 3u);
  EXPECT_EQ(Labels(merged[0].metric[0]), (std::map<std::string, std::string>{{"v", "1"}}));
  EXPECT_EQ(Labels(merged[0].metric[1]), (std::map<std::string, std::string>{{"v", "3"}}));
  EXPECT_EQ(Labels(merged[0].metric[2]),
            (std::map<std::string, std::string>{{"v", "3"}, {"w", "1"}}));
}

// ---------------------------------------------------------------------------
// A fake freshfs-mount: the families the real one serves, some per volume
// (constant label volume), some process-wide.

void AddChildFamilies(prometheus::Registry& registry, const std::string& volume, double scale) {
  prometheus::BuildGauge()
      .Name("freshfs_build_info")
      .Help("Build information; always 1")
      .Register(registry)
      .Add({{"version", "0.1.0"}})
      .Set(1);
  prometheus::BuildCounter()
      .Name("process_cpu_seconds_total")
      .Help("User and system CPU time spent in seconds")
      .Register(registry)
      .Add({})
      .Increment(1.25 * scale);
  prometheus::BuildGauge()
      .Name("process_resident_memory_bytes")
      .Help("Resident memory size in bytes")
      .Register(registry)
      .Add({})
      .Set(1e7 * scale);
  auto& changes = prometheus::BuildCounter()
                      .Name("freshfs_remote_changes_total")
                      .Help("Changes made at the source by others, by kind")
                      .Labels({{"volume", volume}})
                      .Register(registry);
  changes.Add({{"kind", "created"}}).Increment(3 * scale);
  changes.Add({{"kind", "deleted"}}).Increment(scale);
  auto& durations = prometheus::BuildHistogram()
                        .Name("freshfs_fuse_request_duration_seconds")
                        .Help("Time from receiving a FUSE request to replying, by operation")
                        .Labels({{"volume", volume}})
                        .Register(registry);
  durations.Add({{"op", "lookup"}}, prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1})
      .Observe(0.005 * scale);
}

std::string ChildText(const std::string& volume, double scale) {
  prometheus::Registry registry;
  AddChildFamilies(registry, volume, scale);
  return Serialize(registry.Collect());
}

TEST(PromtoolTest, MergedChildrenAreOneValidExposition) {
  const std::string a = ChildText("pv-a", 1);
  const std::string b = ChildText("pv-b", 2);
  auto naive = Promtool(a + b);
  if (!naive) GTEST_SKIP() << "promtool is not installed";
  // The problem solved: two children's text side by side is invalid.
  EXPECT_NE(naive->first, 0) << naive->second;

  std::vector<std::vector<MetricFamily>> parts;
  for (auto [text, volume] : {std::pair{a, "pv-a"}, std::pair{b, "pv-b"}}) {
    ParsedExposition p = ParseOk(text);
    AddLabelIfMissing(p.families, "volume", volume);
    parts.push_back(std::move(p.families));
  }
  const std::string merged = Serialize(MergeFamilies(std::move(parts)));
  auto verdict = Promtool(merged);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->first, 0) << verdict->second << "\n" << merged;
  EXPECT_EQ(verdict->second, "") << merged;

  // Each family announced once, every series there.
  ParsedExposition p = ParseOk(merged);
  std::set<std::string> names;
  for (const auto& f : p.families) EXPECT_TRUE(names.insert(f.name).second) << f.name;
  const MetricFamily* cpu = FindFamily(p.families, "process_cpu_seconds_total");
  ASSERT_NE(cpu, nullptr);
  ASSERT_EQ(cpu->metric.size(), 2u);
  EXPECT_EQ(FindMetric(*cpu, {{"volume", "pv-a"}})->counter.value, 1.25);
  EXPECT_EQ(FindMetric(*cpu, {{"volume", "pv-b"}})->counter.value, 2.5);
  const MetricFamily* changes = FindFamily(p.families, "freshfs_remote_changes_total");
  ASSERT_NE(changes, nullptr);
  EXPECT_EQ(changes->metric.size(), 4u);
  EXPECT_EQ(merged.find("volume=\"pv-a\",volume"), std::string::npos);  // never twice
}

// ---------------------------------------------------------------------------
// The collector against real HTTP servers.

struct FakeChild {
  explicit FakeChild(const std::string& volume, double scale = 1)
      : registry(std::make_shared<prometheus::Registry>()),
        exposer(std::make_unique<prometheus::Exposer>("127.0.0.1:0")) {
    AddChildFamilies(*registry, volume, scale);
    exposer->RegisterCollectable(registry);
    port = exposer->GetListeningPorts().at(0);
  }
  std::shared_ptr<prometheus::Registry> registry;
  std::unique_ptr<prometheus::Exposer> exposer;
  int port = 0;
};

// An Exposer that has served a request takes about 2 s to stop (civetweb):
// stop several at once.
void StopInParallel(std::vector<std::unique_ptr<prometheus::Exposer>*> exposers) {
  std::vector<std::thread> threads;
  for (auto* e : exposers) threads.emplace_back([e] { e->reset(); });
  for (auto& t : threads) t.join();
}

// A port nothing listens on (any more).
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A listening socket that answers every connection with `response`, or, with
// no response, never accepts (connections hang until the client gives up).
class RawHttpServer {
 public:
  explicit RawHttpServer(std::optional<std::string> response) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (response) thread_ = std::thread([this, r = *response] { Serve(r); });
  }
  ~RawHttpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  void Serve(const std::string& response) {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, size_t(n));
      }
      for (size_t off = 0; off < response.size();) {
        ssize_t n = ::send(c, response.data() + off, response.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += size_t(n);
      }
      ::close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string HttpResponse(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: text/plain; version=0.0.4\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// Fetches http://127.0.0.1:port/metrics with curl(1).
std::string Get(int port) {
  std::string command = "curl -s --noproxy '*' --max-time 10 http://127.0.0.1:" +
                        std::to_string(port) + "/metrics";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; pipe && (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  if (pipe) ::pclose(pipe);
  return out;
}

TEST(ChildMetricsCollectorTest, ScrapesChildrenAndSkipsOneThatIsGone) {
  FakeChild a("pv-a", 1);
  FakeChild b("pv-b", 2);
  const int gone = ClosedPort();
  ChildMetricsCollector collector([&] {
    return std::vector<ChildMetricsCollector::Child>{
        {"pv-a", a.port}, {"pv-gone", gone}, {"pv-b", b.port}};
  });
  auto families = collector.Collect();
  EXPECT_EQ(collector.scrape_errors(), 1u);

  const MetricFamily* cpu = FindFamily(families, "process_cpu_seconds_total");
  ASSERT_NE(cpu, nullptr);
  ASSERT_EQ(cpu->metric.size(), 2u);
  EXPECT_EQ(FindMetric(*cpu, {{"volume", "pv-a"}})->counter.value, 1.25);
  EXPECT_EQ(FindMetric(*cpu, {{"volume", "pv-b"}})->counter.value, 2.5);
  const MetricFamily* info = FindFamily(families, "freshfs_build_info");
  ASSERT_NE(info, nullptr);
  EXPECT_NE(FindMetric(*info, {{"version", "0.1.0"}, {"volume", "pv-a"}}), nullptr);
  const MetricFamily* h = FindFamily(families, "freshfs_fuse_request_duration_seconds");
  ASSERT_NE(h, nullptr);
  ASSERT_EQ(h->metric.size(), 2u);
  const ClientMetric* hb = FindMetric(*h, {{"volume", "pv-b"}, {"op", "lookup"}});
  ASSERT_NE(hb, nullptr);
  EXPECT_EQ(hb->histogram.sample_count, 1u);
  EXPECT_EQ(hb->histogram.bucket.size(), 4u);
  // The children's own Exposer families are not passed on.
  for (const auto& f : families) EXPECT_NE(f.name.rfind("exposer_", 0), 0u) << f.name;

  // Live values at every scrape; the gone child counted again.
  prometheus::BuildCounter().Name("late_total").Help("Late").Register(*a.registry).Add({}).Increment();
  families = collector.Collect();
  EXPECT_NE(FindFamily(families, "late_total"), nullptr);
  EXPECT_EQ(collector.scrape_errors(), 2u);

  // No children, or a list that throws: nothing, no error.
  ChildMetricsCollector none([] { return std::vector<ChildMetricsCollector::Child>{}; });
  EXPECT_TRUE(none.Collect().empty());
  ChildMetricsCollector throwing([]() -> std::vector<ChildMetricsCollector::Child> {
    throw std::runtime_error("no list");
  });
  EXPECT_TRUE(throwing.Collect().empty());
  EXPECT_EQ(throwing.scrape_errors(), 0u);
  ChildMetricsCollector empty_function{ChildMetricsCollector::ListChildren()};
  EXPECT_TRUE(empty_function.Collect().empty());
  StopInParallel({&a.exposer, &b.exposer});
}

TEST(ChildMetricsCollectorTest, SkipsChildrenThatAnswerBadly) {
  FakeChild good("pv-good");
  RawHttpServer status500(HttpResponse(500, "oops"));
  RawHttpServer garbage(HttpResponse(200, "this is { not prometheus\n"));
  RawHttpServer empty(HttpResponse(200, ""));
  RawHttpServer too_large(HttpResponse(200, std::string(kMaxExpositionBytes + 10, '#')));
  RawHttpServer not_http("SSH-2.0-OpenSSH\r\n");
  ChildMetricsCollector collector([&] {
    return std::vector<ChildMetricsCollector::Child>{
        {"pv-500", status500.port()}, {"pv-garbage", garbage.port()}, {"pv-good", good.port},
        {"pv-empty", empty.port()},   {"pv-large", too_large.port()}, {"pv-not-http", not_http.port()},
        {"pv-port0", 0},              {"pv-port-big", 70000}};
  });
  auto families = collector.Collect();
  // 500, garbage, too large, not HTTP, two bad ports; an empty exposition is fine.
  EXPECT_EQ(collector.scrape_errors(), 6u);
  const MetricFamily* cpu = FindFamily(families, "process_cpu_seconds_total");
  ASSERT_NE(cpu, nullptr);
  ASSERT_EQ(cpu->metric.size(), 1u);
  EXPECT_EQ(Labels(cpu->metric[0]), (std::map<std::string, std::string>{{"volume", "pv-good"}}));
}

TEST(ChildMetricsCollectorTest, HangingChildrenCostOneTimeoutInAll) {
  FakeChild good("pv-good");
  RawHttpServer hang1(std::nullopt), hang2(std::nullopt), hang3(std::nullopt), hang4(std::nullopt);
  ChildMetricsCollector::Options options;
  options.timeout = std::chrono::milliseconds(500);
  ChildMetricsCollector collector(
      [&] {
        return std::vector<ChildMetricsCollector::Child>{{"pv-h1", hang1.port()},
                                                         {"pv-h2", hang2.port()},
                                                         {"pv-good", good.port},
                                                         {"pv-h3", hang3.port()},
                                                         {"pv-h4", hang4.port()}};
      },
      options);
  auto start = std::chrono::steady_clock::now();
  auto families = collector.Collect();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(collector.scrape_errors(), 4u);
  EXPECT_GE(took, std::chrono::milliseconds(450));
  EXPECT_LT(took, std::chrono::milliseconds(1800));  // in parallel: not 4 x 500 ms
  const MetricFamily* cpu = FindFamily(families, "process_cpu_seconds_total");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->metric.size(), 1u);
}

// End to end: freshfs-csi's Exposer serves its own registry (through
// Options::local) and two children; promtool accepts the result.
TEST(ChildMetricsCollectorTest, ServedByAnExposerAsOneValidExposition) {
  FakeChild a("pv-a", 1);
  FakeChild b("pv-b", 3);
  const int gone = ClosedPort();
  auto own = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("process_cpu_seconds_total")
      .Help("CPU time of freshfs-csi itself")
      .Register(*own)
      .Add({})
      .Increment(0.5);
  prometheus::BuildGauge()
      .Name("freshfs_csi_volumes")
      .Help("Volumes published on this node")
      .Register(*own)
      .Add({})
      .Set(2);
  ChildMetricsCollector::Options options;
  options.local = {own};
  auto collector = std::make_shared<ChildMetricsCollector>(
      [&] {
        return std::vector<ChildMetricsCollector::Child>{
            {"pv-a", a.port}, {"pv-b", b.port}, {"pv-gone", gone}};
      },
      options);
  auto csi = std::make_unique<prometheus::Exposer>("127.0.0.1:0");
  csi->RegisterCollectable(collector);
  const int port = csi->GetListeningPorts().at(0);

  Get(port);  // so that exposer_* have values
  const std::string text = Get(port);
  ASSERT_NE(text, "");
  ParsedExposition p = ParseOk(text);
  const MetricFamily* cpu = FindFamily(p.families, "process_cpu_seconds_total");
  ASSERT_NE(cpu, nullptr);
  ASSERT_EQ(cpu->metric.size(), 3u);
  EXPECT_EQ(cpu->help, "CPU time of freshfs-csi itself");  // local first
  EXPECT_EQ(FindMetric(*cpu, {})->counter.value, 0.5);
  EXPECT_EQ(FindMetric(*cpu, {{"volume", "pv-b"}})->counter.value, 3.75);
  EXPECT_NE(FindFamily(p.families, "freshfs_csi_volumes"), nullptr);
  EXPECT_NE(FindFamily(p.families, "exposer_scrapes_total"), nullptr);  // csi's own
  EXPECT_EQ(collector->scrape_errors(), 2u);
  StopInParallel({&csi, &a.exposer, &b.exposer});

  auto verdict = Promtool(text);
  if (!verdict) GTEST_SKIP() << "promtool is not installed";
  EXPECT_EQ(verdict->first, 0) << verdict->second << "\n" << text;
  EXPECT_EQ(verdict->second, "") << text;
}

TEST(ChildMetricsCollectorTest, ConcurrentScrapes) {
  FakeChild a("pv-a");
  FakeChild b("pv-b");
  const int gone = ClosedPort();
  ChildMetricsCollector collector([&] {
    return std::vector<ChildMetricsCollector::Child>{{"pv-a", a.port}, {"pv-b", b.port}, {"pv-gone", gone}};
  });
  std::vector<std::thread> threads;
  std::atomic<int> complete{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto families = collector.Collect();
        const MetricFamily* cpu = FindFamily(families, "process_cpu_seconds_total");
        if (cpu && cpu->metric.size() == 2) ++complete;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(complete.load(), 60);
  EXPECT_EQ(collector.scrape_errors(), 60u);
  StopInParallel({&a.exposer, &b.exposer});
}

}  // namespace
}  // namespace freshfs::csi
