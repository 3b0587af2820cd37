// ChildMetricsCollector and its parts: AddLabelIfMissing, MergeFamilies,
// promtool's verdict on merged output, and the collector against real HTTP servers: prometheus-cpp
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

#include "../metrics/family_helpers.h"

namespace freshfs::csi {
namespace {

using namespace freshfs::metrics::testing;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

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
  EXPECT_EQ(Labels(fs[1].metric[0]),
            (std::map<std::string, std::string>{{"volume", ""}, {"x", "2"}}));
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
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Type: text/plain; version=0.0.4\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// Fetches http://127.0.0.1:port/metrics with curl(1).
std::string Get(int port) {
  std::string command =
      "curl -s --noproxy '*' --max-time 10 http://127.0.0.1:" + std::to_string(port) + "/metrics";
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
  prometheus::BuildCounter()
      .Name("late_total")
      .Help("Late")
      .Register(*a.registry)
      .Add({})
      .Increment();
  families = collector.Collect();
  EXPECT_NE(FindFamily(families, "late_total"), nullptr);
  EXPECT_EQ(collector.scrape_errors(), 2u);

  // No children, or a list that throws: nothing, no error.
  ChildMetricsCollector none([] { return std::vector<ChildMetricsCollector::Child>{}; });
  EXPECT_TRUE(none.Collect().empty());
  ChildMetricsCollector throwing(
      []() -> std::vector<ChildMetricsCollector::Child> { throw std::runtime_error("no list"); });
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
    return std::vector<ChildMetricsCollector::Child>{{"pv-500", status500.port()},
                                                     {"pv-garbage", garbage.port()},
                                                     {"pv-good", good.port},
                                                     {"pv-empty", empty.port()},
                                                     {"pv-large", too_large.port()},
                                                     {"pv-not-http", not_http.port()},
                                                     {"pv-port0", 0},
                                                     {"pv-port-big", 70000}};
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
    return std::vector<ChildMetricsCollector::Child>{
        {"pv-a", a.port}, {"pv-b", b.port}, {"pv-gone", gone}};
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
