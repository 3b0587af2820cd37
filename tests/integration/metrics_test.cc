// The Prometheus endpoint of freshfs-mount as an operator meets it: a scrape
// of a real, busy mount passes `promtool check metrics` and carries every
// family docs/metrics.md lists; counters move the way a user expects; failed syncs
// show up as errors and growing staleness; unusable --metrics-address values
// fail the mount cleanly; scrapes racing an unmount see whole expositions or
// connection errors; and a real Prometheus server scrapes the daemon (and
// loads charts/freshfs/files/freshfs-rules.yml).
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <set>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "metrics/exposition.h"
#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"

namespace freshfs::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

constexpr const char* kVolume = "metrics-vol";
// How often WaitFor polls here: most predicates scrape and parse /metrics.
constexpr Ms kPoll = 20ms;

// ---------------------------------------------------------------- HTTP

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

// ---------------------------------------------------------------- exposition

using metrics::Sample;

// A scrape parsed by the one parser (metrics/exposition.h), which is strict:
// anything Prometheus would refuse is an error. The text must also end with a
// newline (a truncated body may parse).
class Exposition {
 public:
  static std::optional<Exposition> Parse(const std::string& text, std::string* error) {
    if (text.empty() || text.back() != '\n') {
      *error =
          text.empty() ? "empty exposition" : "exposition does not end with a newline (truncated?)";
      return std::nullopt;
    }
    metrics::ParsedExposition parsed = metrics::ParseExposition(text);
    *error = parsed.error;
    if (!error->empty()) return std::nullopt;
    Exposition e;
    e.text_ = text;
    e.samples_ = metrics::Samples(parsed.families);
    for (const auto& f : parsed.families) e.types_[f.name] = metrics::TypeName(f.type);
    return e;
  }
  const std::string& text() const { return text_; }
  const std::vector<Sample>& samples() const { return samples_; }
  std::optional<std::string> Type(const std::string& family) const {
    auto it = types_.find(family);
    if (it == types_.end()) return std::nullopt;
    return it->second;
  }
  // Samples of `name` whose labels include all of `want`.
  std::vector<const Sample*> Find(const std::string& name,
                                  const std::map<std::string, std::string>& want = {}) const {
    std::vector<const Sample*> out;
    for (const auto& s : samples_)
      if (s.name == name && metrics::HasLabels(s, want)) out.push_back(&s);
    return out;
  }
  // Sum of the matching samples; -1 when none matches.
  double Sum(const std::string& name, const std::map<std::string, std::string>& want = {}) const {
    return metrics::Sum(samples_, name, want).value_or(-1);
  }

 private:
  std::string text_;
  std::vector<Sample> samples_;
  std::map<std::string, std::string> types_;
};

// ---------------------------------------------------------------- fixture

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class MetricsTest : public ::testing::Test {
 protected:
  ::testing::AssertionResult Start(std::vector<std::string> args, Mount* m = nullptr) {
    if (m == nullptr) m = &m_;
    args.insert(args.end(), {"--metrics-address", "127.0.0.1:0", "--volume-name", kVolume});
    auto started = m->Start(args);
    if (!started) return started;
    auto port = m->MetricsPort();
    if (!port) return ::testing::AssertionFailure() << "no metrics port in the log\n" << m->Log();
    port_ = *port;
    return ::testing::AssertionSuccess();
  }

  // A scrape that must succeed and parse.
  Exposition MustScrape() {
    HttpResult r =
        HttpRequest("GET", "http://127.0.0.1:" + std::to_string(port_) + "/metrics", "", 5s);
    EXPECT_EQ(r.status, 200) << "scrape of 127.0.0.1:" << port_ << " failed: " << r.error << "\n"
                             << r.body.substr(0, 2000);
    std::string error;
    auto e = Exposition::Parse(r.body, &error);
    EXPECT_TRUE(e) << "unparseable exposition: " << error;
    std::string none;
    return e ? *e : *Exposition::Parse("# empty\n", &none);
  }
  double Metric(const std::string& name, const std::map<std::string, std::string>& want = {}) {
    std::map<std::string, std::string> labels = want;
    labels.emplace("volume", kVolume);
    return MustScrape().Sum(name, labels);
  }

  void FailAndRecoverSyncs(const std::vector<std::string>& args);

  Mount m_;
  int port_ = 0;
};

// Runs `promtool check metrics` on `text`; its exit status and output.
ProcessResult PromtoolCheckMetrics(const std::string& text, const std::string& dir) {
  const std::string file = dir + "/scrape.prom";
  std::ofstream(file) << text;
  return RunToCompletion({"sh", "-c", "exec promtool check metrics < \"$0\"", file}, 30s);
}

bool OnPath(const std::string& program) {
  auto r = RunToCompletion({"sh", "-c", "command -v \"$0\"", program}, 10s);
  return r.exit_code == 0 && !r.stdout_text.empty();
}

// ---------------------------------------------------------------- 1. format

TEST_F(MetricsTest, ScrapeOfBusyMountPassesPromtoolAndHasEveryFamily) {
  ASSERT_TRUE(OnPath("promtool")) << "promtool is not installed (Debian package prometheus)";
  ASSERT_EQ(WriteFile(m_.Src("remote"), "v1"), 0);
  ASSERT_EQ(mkdir(m_.Src("dir").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m_.Src("dir/nested"), Pattern(100000, 1)), 0);
  ASSERT_TRUE(Start({"--poll-interval", "500ms"}));

  // Activity: reads, writes, listing, a remote change, a failed lookup.
  ASSERT_EQ(ReadFile(m_.Mnt("remote")), "v1");
  ASSERT_EQ(ReadFile(m_.Mnt("dir/nested")), Pattern(100000, 1));
  ASSERT_EQ(WriteFile(m_.Mnt("written"), Pattern(50000, 2)), 0);
  ASSERT_TRUE(ListDir(m_.Mnt("dir")));
  EXPECT_TRUE(FailsWith(access(m_.Mnt("missing").c_str(), F_OK), ENOENT));
  EXPECT_TRUE(FailsWith(rmdir(m_.Mnt("dir").c_str()), ENOTEMPTY));
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(WriteFile(m_.Src("remote"), "version two"), 0);
  ASSERT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("remote")) == "version two"; }, 10s, kPoll))
      << m_.Log();
  ASSERT_TRUE(WaitFor([&] { return Metric("freshfs_remote_changes_total") > 0; }, 10s, kPoll));

  Exposition e = MustScrape();
  ProcessResult check = PromtoolCheckMetrics(e.text(), m_.dir());
  EXPECT_EQ(check.exit_code, 0) << check.Describe();
  EXPECT_EQ(check.stdout_text + check.stderr_text, "") << "promtool check metrics found problems:\n"
                                                       << check.Describe();

  const std::map<std::string, std::string> vol = {{"volume", kVolume}};
  struct Family {
    std::string name, type;
    std::vector<std::string> labels;  // besides volume
  };
  const std::vector<Family> families = {
      {"freshfs_remote_changes_total", "counter", {"kind"}},
      {"freshfs_invalidations_total", "counter", {"type", "result"}},
      {"freshfs_change_detection_seconds", "histogram", {}},
      {"freshfs_invalidation_latency_seconds", "histogram", {}},
      {"freshfs_staleness_seconds", "gauge", {}},
      {"freshfs_sync_duration_seconds", "histogram", {"kind"}},
      {"freshfs_syncs_total", "counter", {"kind"}},
      {"freshfs_sync_errors_total", "counter", {}},
      {"freshfs_last_sync_success_timestamp_seconds", "gauge", {}},
      {"freshfs_watched_entries", "gauge", {}},
      {"freshfs_fuse_requests_total", "counter", {"op"}},
      {"freshfs_fuse_request_duration_seconds", "histogram", {"op"}},
      {"freshfs_fuse_request_errors_total", "counter", {"op", "errno"}},
      {"freshfs_store_requests_total", "counter", {"op", "result"}},
      {"freshfs_store_request_duration_seconds", "histogram", {"op"}},
      {"freshfs_store_bytes_total", "counter", {"direction"}},
      {"freshfs_kernel_inodes", "gauge", {}},
  };
  for (const auto& f : families) {
    SCOPED_TRACE(f.name);
    auto type = e.Type(f.name);
    EXPECT_EQ(type.value_or("(none)"), f.type) << "TYPE of " << f.name;
    std::string sample_name = f.type == "histogram" ? f.name + "_count" : f.name;
    auto samples = e.Find(sample_name, vol);
    ASSERT_FALSE(samples.empty()) << "no " << sample_name << "{volume=\"" << kVolume
                                  << "\"} in the scrape:\n"
                                  << e.text();
    for (const auto* s : samples) {
      for (const auto& l : f.labels)
        EXPECT_TRUE(s->labels.count(l)) << sample_name << " lacks label " << l;
      EXPECT_TRUE(std::isfinite(s->value)) << sample_name;
      EXPECT_GE(s->value, 0) << sample_name;
    }
    if (f.type == "histogram") {
      EXPECT_FALSE(e.Find(f.name + "_bucket", {{"volume", kVolume}, {"le", "+Inf"}}).empty());
      EXPECT_FALSE(e.Find(f.name + "_sum", vol).empty());
    }
  }
  // No freshfs_ series without the volume label, except build info.
  for (const auto& s : e.samples()) {
    if (s.name.rfind("freshfs_", 0) == 0 && s.name != "freshfs_build_info") {
      EXPECT_EQ(s.labels.count("volume") ? s.labels.at("volume") : "(none)", kVolume) << s.name;
    }
  }
  auto info = e.Find("freshfs_build_info");
  ASSERT_EQ(info.size(), 1u) << e.text();
  EXPECT_TRUE(info[0]->labels.count("version") && !info[0]->labels.at("version").empty());
  EXPECT_EQ(info[0]->value, 1);
  EXPECT_GT(e.Sum("process_resident_memory_bytes"), 0);
  EXPECT_GT(e.Sum("process_open_fds"), 0);
  EXPECT_GE(e.Sum("process_cpu_seconds_total"), 0);
  EXPECT_EQ(e.Type("process_cpu_seconds_total").value_or(""), "counter");
  EXPECT_EQ(e.Type("process_resident_memory_bytes").value_or(""), "gauge");
  EXPECT_EQ(e.Type("process_open_fds").value_or(""), "gauge");

  // The activity is visible.
  EXPECT_GT(e.Sum("freshfs_fuse_requests_total", {{"volume", kVolume}, {"op", "lookup"}}), 0);
  EXPECT_GT(e.Sum("freshfs_fuse_requests_total", {{"volume", kVolume}, {"op", "write"}}), 0);
  // The failed calls, by operation and errno; nothing else failed.
  EXPECT_GE(e.Sum("freshfs_fuse_request_errors_total",
                  {{"volume", kVolume}, {"op", "lookup"}, {"errno", "ENOENT"}}),
            1);
  EXPECT_EQ(e.Sum("freshfs_fuse_request_errors_total",
                  {{"volume", kVolume}, {"op", "rmdir"}, {"errno", "ENOTEMPTY"}}),
            1);
  EXPECT_TRUE(
      e.Find("freshfs_fuse_request_errors_total", {{"volume", kVolume}, {"op", "read"}}).empty())
      << e.text();
  EXPECT_GE(e.Sum("freshfs_store_bytes_total", {{"volume", kVolume}, {"direction", "write"}}),
            50000);
  EXPECT_GT(e.Sum("freshfs_sync_duration_seconds_count", vol), 0);
  EXPECT_GE(e.Sum("freshfs_watched_entries", vol), 4);  // remote, dir, dir/nested, written
  const double last = e.Sum("freshfs_last_sync_success_timestamp_seconds", vol);
  EXPECT_NEAR(last, UnixNow(), 30) << "not a Unix time in seconds";
}

// ---------------------------------------------------------------- 2. counters

TEST_F(MetricsTest, CountersMoveAsAUserExpects) {
  ASSERT_EQ(WriteFile(m_.Src("cached"), Pattern(200000, 3)), 0);
  ASSERT_EQ(WriteFile(m_.Src("uncached"), Pattern(300000, 4)), 0);
  ASSERT_EQ(WriteFile(m_.Src("changing"), "before"), 0);
  ASSERT_TRUE(Start({"--events", "none", "--poll-interval", "300ms"}));
  // The user looks at the mount: what is created in it from now on is a
  // remote change (a directory nobody listed yet is listed when first used).
  ASSERT_TRUE(ListDir(m_.mnt()));

  // Re-reading cached data does not reach the daemon.
  ASSERT_EQ(ReadFile(m_.Mnt("cached")), Pattern(200000, 3));
  const double reads = Metric("freshfs_fuse_requests_total", {{"op", "read"}});
  ASSERT_GT(reads, 0) << "the first read of \"cached\" was not counted";
  for (int i = 0; i < 5; ++i) ASSERT_EQ(ReadFile(m_.Mnt("cached")), Pattern(200000, 3));
  EXPECT_EQ(Metric("freshfs_fuse_requests_total", {{"op", "read"}}), reads)
      << "re-reading cached data sent read requests to the daemon";

  // A read of uncached data comes from the store and is counted.
  const double bytes = Metric("freshfs_store_bytes_total", {{"direction", "read"}});
  const double store_reads =
      Metric("freshfs_store_requests_total", {{"op", "read"}, {"result", "ok"}});
  ASSERT_EQ(ReadFile(m_.Mnt("uncached")), Pattern(300000, 4));
  EXPECT_GE(Metric("freshfs_store_bytes_total", {{"direction", "read"}}), bytes + 300000);
  EXPECT_GT(Metric("freshfs_store_requests_total", {{"op", "read"}, {"result", "ok"}}),
            store_reads);
  // Every counted store request is also timed.
  EXPECT_EQ(Metric("freshfs_store_request_duration_seconds_count", {{"op", "read"}}),
            Metric("freshfs_store_requests_total", {{"op", "read"}}));
  EXPECT_GT(Metric("freshfs_fuse_requests_total", {{"op", "read"}}), reads);

  // A change at the source: counted as a remote change, and the kernel is told.
  ASSERT_EQ(ReadFile(m_.Mnt("changing")), "before");  // the kernel caches it
  auto invalidations_done = [&] {
    Exposition e = MustScrape();
    return e.Sum("freshfs_invalidations_total", {{"volume", kVolume}, {"result", "ok"}}) +
           e.Sum("freshfs_invalidations_total", {{"volume", kVolume}, {"result", "not_cached"}});
  };
  const double changes = Metric("freshfs_remote_changes_total");
  const double modified = Metric("freshfs_remote_changes_total", {{"kind", "modified"}});
  const double created = Metric("freshfs_remote_changes_total", {{"kind", "created"}});
  const double invals = invalidations_done();
  const double data_invals =
      Metric("freshfs_invalidations_total", {{"type", "inode_data"}, {"result", "ok"}});
  const double errors = Metric("freshfs_invalidations_total", {{"result", "error"}});
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(WriteFile(m_.Src("changing"), "after, longer"), 0);
  ASSERT_EQ(WriteFile(m_.Src("new-remote"), "n"), 0);
  ASSERT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("changing")) == "after, longer"; }, 10s, kPoll));
  ASSERT_TRUE(
      WaitFor([&] { return Metric("freshfs_remote_changes_total") >= changes + 2; }, 10s, kPoll))
      << "freshfs_remote_changes_total: " << changes << " -> "
      << Metric("freshfs_remote_changes_total");
  EXPECT_GE(Metric("freshfs_remote_changes_total", {{"kind", "modified"}}), modified + 1);
  EXPECT_GE(Metric("freshfs_remote_changes_total", {{"kind", "created"}}), created + 1);
  EXPECT_TRUE(WaitFor([&] { return invalidations_done() > invals; }, 5s, kPoll))
      << "no invalidation with result ok or not_cached after a remote change";
  EXPECT_GT(Metric("freshfs_invalidations_total", {{"type", "inode_data"}, {"result", "ok"}}),
            data_invals)
      << "the cached, modified file's pages were not invalidated";
  EXPECT_EQ(Metric("freshfs_invalidations_total", {{"result", "error"}}), errors);
  EXPECT_GT(Metric("freshfs_change_detection_seconds_count"), 0);
  EXPECT_GT(Metric("freshfs_invalidation_latency_seconds_count"), 0);

  // The mount's own writes are not remote changes.
  const double before_own = Metric("freshfs_remote_changes_total");
  ASSERT_EQ(WriteFile(m_.Mnt("own"), "mine"), 0);
  std::this_thread::sleep_for(1s);  // > 3 polls
  EXPECT_EQ(Metric("freshfs_remote_changes_total"), before_own)
      << "a write through the mount was counted as a remote change";
}

// ---------------------------------------------------------------- 3. failed syncs

// Renames the source away (every full sync fails), then back.
void MetricsTest::FailAndRecoverSyncs(const std::vector<std::string>& args) {
  ASSERT_EQ(WriteFile(m_.Src("f"), "f"), 0);
  ASSERT_TRUE(Start(args));
  ASSERT_TRUE(WaitFor([&] { return Metric("freshfs_staleness_seconds") < 1; }, 5s, kPoll))
      << "staleness not below 1 s on a healthy mount polling every 300 ms: "
      << Metric("freshfs_staleness_seconds");
  const double errors_before = Metric("freshfs_sync_errors_total");
  ASSERT_GE(errors_before, 0) << "no freshfs_sync_errors_total series";
  const double success_before = Metric("freshfs_last_sync_success_timestamp_seconds");
  ASSERT_GT(success_before, 0);

  const std::string away = m_.dir() + "/source-away";
  ASSERT_EQ(rename(m_.source().c_str(), away.c_str()), 0);
  struct RenameBack {
    std::string from, to;
    ~RenameBack() {
      if (!from.empty()) rename(from.c_str(), to.c_str());
    }
  } guard{away, m_.source()};

  EXPECT_TRUE(
      WaitFor([&] { return Metric("freshfs_sync_errors_total") > errors_before; }, 5s, kPoll))
      << "freshfs_sync_errors_total stayed at " << errors_before
      << " for 5 s after the source was renamed away\n"
      << m_.Log();
  const double s1 = Metric("freshfs_staleness_seconds");
  const double e1 = Metric("freshfs_sync_errors_total");
  const double success_failing = Metric("freshfs_last_sync_success_timestamp_seconds");
  std::this_thread::sleep_for(1s);
  const double s2 = Metric("freshfs_staleness_seconds");
  const double e2 = Metric("freshfs_sync_errors_total");
  EXPECT_GT(s2, s1 + 0.8) << "staleness did not keep growing while syncs fail: " << s1 << " then "
                          << s2;
  EXPECT_GE(e2, e1 + 2) << "about 3 failed syncs expected in 1 s at a 300 ms poll";
  EXPECT_EQ(Metric("freshfs_last_sync_success_timestamp_seconds"), success_failing)
      << "the last-success timestamp moved while every sync failed";
  // Let the bound grow well past 2 s, so that "drops below 2 s" means something.
  EXPECT_TRUE(WaitFor([&] { return Metric("freshfs_staleness_seconds") > 3; }, 5s, kPoll));

  ASSERT_EQ(rename(away.c_str(), m_.source().c_str()), 0);
  guard.from.clear();
  EXPECT_TRUE(WaitFor([&] { return Metric("freshfs_staleness_seconds") < 2; }, 5s, kPoll))
      << "staleness did not drop below 2 s after the source came back: "
      << Metric("freshfs_staleness_seconds") << "\n"
      << m_.Log();
  EXPECT_TRUE(WaitFor(
      [&] { return Metric("freshfs_last_sync_success_timestamp_seconds") > success_failing; }, 5s,
      kPoll))
      << "freshfs_last_sync_success_timestamp_seconds did not advance within 5 s of the "
         "source coming back";
  EXPECT_NEAR(Metric("freshfs_last_sync_success_timestamp_seconds"), UnixNow(), 2.5);
  EXPECT_LT(Metric("freshfs_staleness_seconds"), 2);
  EXPECT_EQ(ReadFile(m_.Mnt("f")), "f");
}

TEST_F(MetricsTest, FailedSyncsCountErrorsAndStalenessGrowsUntilRecovery) {
  FailAndRecoverSyncs({"--events", "none", "--poll-interval", "300ms"});
}

// With inotify the bound may use the event heartbeat, but not while full
// syncs fail: docs/freshness.md promises the bound grows until a sync works.
TEST_F(MetricsTest, FailedSyncsGrowStalenessWithInotifyToo) {
  FailAndRecoverSyncs({"--events", "inotify", "--poll-interval", "300ms"});
}

// ---------------------------------------------------------------- 4. bad addresses

// A failed mount: non-zero exit, exactly one stderr line naming the address
// and the problem, no mount and no process left.
void ExpectCleanListenFailure(const ProcessResult& r, const Mount& m, const std::string& address) {
  EXPECT_FALSE(r.timed_out) << r.Describe();
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  auto lines = r.StderrLines();
  ASSERT_EQ(lines.size(), 1u) << "want exactly one stderr line\n" << r.Describe();
  EXPECT_EQ(
      lines[0].rfind("freshfs-mount: --metrics-address \"" + address + "\": cannot listen", 0), 0u)
      << lines[0];
  EXPECT_FALSE(IsFuseMountpoint(m.mnt())) << "a failed mount was left behind";
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(ProcessesMentioning(m.dir()).empty()) << "a failed invocation left a process";
}

TEST_F(MetricsTest, UnbindableAddressesFailTheMountCleanly) {
  // A port some other socket is listening on.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string in_use = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  // TEST-NET-3 (RFC 5737): not an address of this host, so bind() fails with
  // EADDRNOTAVAIL locally; nothing is sent anywhere.
  const std::string foreign = "203.0.113.1:0";

  for (const std::string& address : {in_use, foreign}) {
    for (bool foreground : {true, false}) {
      SCOPED_TRACE(address + (foreground ? " (-f)" : " (background)"));
      Mount m;
      std::vector<std::string> argv{MountBinary()};
      if (foreground) argv.push_back("-f");
      argv.insert(argv.end(), {"--metrics-address", address, m.source(), m.mnt()});
      ExpectCleanListenFailure(RunToCompletion(argv, 20s), m, address);
    }
  }
}

// ---------------------------------------------------------------- 5. shutdown

struct ScrapeLog {
  std::mutex mu;
  int complete = 0, connection_errors = 0;
  std::vector<std::string> failures;
  void Fail(std::string f) {
    std::lock_guard lock(mu);
    if (failures.size() < 10) failures.push_back(std::move(f));
  }
};

// Judges one scrape: a whole, parseable exposition, or no usable response
// at all. A response cut off by the exiting daemon (headers incomplete, or
// less body than Content-Length says) is what an HTTP client sees as a
// closed connection: it never ingests it, so it counts as one.
void Judge(const RawHttpResponse& r, ScrapeLog* log) {
  auto cl = r.headers.find("content-length");
  bool cut_off =
      r.connected && (r.raw.find("\r\n\r\n") == std::string::npos ||
                      (cl != r.headers.end() && std::to_string(r.body.size()) != cl->second));
  if (!r.connected || cut_off) {
    std::lock_guard lock(log->mu);
    ++log->connection_errors;
    return;
  }
  if (r.status != 200) {
    log->Fail("HTTP response other than 200 (status " + std::to_string(r.status) + ", " + r.error +
              "): " + r.raw.substr(0, 300));
    return;
  }
  std::string error;
  auto e = Exposition::Parse(r.body, &error);
  if (!e) {
    log->Fail("invalid exposition (" + error + "), " + std::to_string(r.body.size()) + " bytes");
    return;
  }
  if (e->Find("freshfs_build_info").empty() ||
      e->Find("freshfs_fuse_requests_total", {{"volume", kVolume}}).empty()) {
    log->Fail("exposition without freshfs series: " + r.body.substr(0, 300));
    return;
  }
  std::lock_guard lock(log->mu);
  ++log->complete;
}

class MetricsShutdownTest : public MetricsTest, public ::testing::WithParamInterface<bool> {};

TEST_P(MetricsShutdownTest, ScrapesDuringShutdownAreWholeOrRefused) {
  const bool by_signal = GetParam();
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Mount m;
    ASSERT_EQ(WriteFile(m.Src("f"), "x"), 0);
    ASSERT_TRUE(Start({"--poll-interval", "100ms"}, &m));
    const int port = port_;
    ScrapeLog log;
    std::atomic<bool> stop{false};
    std::vector<std::thread> scrapers;
    for (int t = 0; t < 3; ++t) {
      scrapers.emplace_back([&] {
        while (!stop.load()) Judge(RawHttpGet(port, "/metrics", 10s), &log);
      });
    }
    struct Joiner {
      std::atomic<bool>& stop;
      std::vector<std::thread>& threads;
      ~Joiner() {
        stop = true;
        for (auto& t : threads) t.join();
      }
    } joiner{stop, scrapers};
    // Keep the daemon busy too.
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(ReadFile(m.Mnt("f")));
    ASSERT_TRUE(WaitFor(
        [&] {
          std::lock_guard lock(log.mu);
          return log.complete >= 20;
        },
        10s, kPoll));

    auto code = by_signal ? m.SignalAndWait(SIGTERM, 15s) : m.UnmountAndWait(15s);
    ASSERT_TRUE(code.has_value()) << "daemon still running 15 s after "
                                  << (by_signal ? "SIGTERM" : "fusermount3 -u") << "\n"
                                  << m.Log();
    EXPECT_EQ(*code, 0) << m.LogTail();
    EXPECT_FALSE(IsFuseMountpoint(m.mnt()));
    // Keep scraping a dead port for a moment: only connection errors now.
    const int errors_at_exit = [&] {
      std::lock_guard lock(log.mu);
      return log.connection_errors;
    }();
    WaitFor(
        [&] {
          std::lock_guard lock(log.mu);
          return log.connection_errors > errors_at_exit + 10;
        },
        2s, kPoll);
    stop = true;
    for (auto& t : scrapers) t.join();
    scrapers.clear();

    std::lock_guard lock(log.mu);
    for (const auto& f : log.failures) ADD_FAILURE() << f;
    EXPECT_GE(log.complete, 20);
    EXPECT_GT(log.connection_errors, 0);
    std::printf("[   INFO   ] round %d: %d complete scrapes, %d connection errors\n", round,
                log.complete, log.connection_errors);
  }
}

INSTANTIATE_TEST_SUITE_P(Stop, MetricsShutdownTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Sigterm" : "Unmount");
                         });

// ---------------------------------------------------------------- 6. Prometheus

// The repository's charts/freshfs/files directory, found from this file's path
// (absolute in Ninja/Make builds); "" when it cannot be found.
std::string RulesFile() {
  const std::string self = __FILE__;
  const std::string tail = "tests/integration/metrics_test.cc";
  if (self.size() < tail.size() || self.compare(self.size() - tail.size(), tail.size(), tail) != 0)
    return "";
  std::string path =
      self.substr(0, self.size() - tail.size()) + "charts/freshfs/files/freshfs-rules.yml";
  return access(path.c_str(), R_OK) == 0 ? path : "";
}

// The "value": [ts, "v"] of the first result of an instant-query response.
std::optional<std::string> FirstValue(const std::string& json) {
  if (json.find("\"status\":\"success\"") == std::string::npos) return std::nullopt;
  size_t at = json.find("\"value\":[");
  if (at == std::string::npos) return std::nullopt;
  size_t comma = json.find(",\"", at);
  if (comma == std::string::npos) return std::nullopt;
  size_t end = json.find('"', comma + 2);
  if (end == std::string::npos) return std::nullopt;
  return json.substr(comma + 2, end - comma - 2);
}

class PrometheusServerTest : public MetricsTest {
 protected:
  void TearDown() override {
    if (prometheus_pid_ > 0) {
      StopProcess(prometheus_pid_, 10s);
      if (HasFailure())
        std::fprintf(stderr, "--- prometheus log ---\n%s\n",
                     ReadFileOrEmpty(dir_ + "/prometheus.log").c_str());
    }
    if (!dir_.empty()) RemoveTree(dir_);
  }
  std::string dir_;
  pid_t prometheus_pid_ = -1;
};

TEST_F(PrometheusServerTest, RealPrometheusScrapesStaleness) {
  ASSERT_TRUE(OnPath("prometheus"))
      << "the prometheus server is not installed (Debian package prometheus; scripts/deps.sh)";
  ASSERT_TRUE(Start({"--poll-interval", "1s"}));
  dir_ = MakeTempDir("prometheus");
  const int web_port = FreeLoopbackPort();
  ASSERT_GT(web_port, 0);
  const std::string rules = RulesFile();
  {
    std::ofstream config(dir_ + "/prometheus.yml");
    config << "global:\n"
              "  scrape_interval: 1s\n"
              "  scrape_timeout: 1s\n"
              "  evaluation_interval: 1s\n";
    if (!rules.empty()) config << "rule_files:\n  - " << rules << "\n";
    config << "scrape_configs:\n"
              "  - job_name: freshfs\n"
              "    static_configs:\n"
              "      - targets: ['127.0.0.1:"
           << port_ << "']\n";
    ASSERT_TRUE(config.good());
  }
  prometheus_pid_ = SpawnWithLog({"prometheus", "--config.file=" + dir_ + "/prometheus.yml",
                                  "--storage.tsdb.path=" + dir_ + "/data",
                                  "--web.listen-address=127.0.0.1:" + std::to_string(web_port)},
                                 dir_ + "/prometheus.log");
  ASSERT_GT(prometheus_pid_, 0) << std::strerror(errno);

  const std::string query = std::string("freshfs_staleness_seconds{volume=\"") + kVolume + "\"}";
  std::string last;
  std::optional<std::string> value;
  const std::string api = "http://127.0.0.1:" + std::to_string(web_port) + "/api/v1/";
  auto get = [&](const std::string& what) { return HttpRequest("GET", api + what, "", 5s); };
  const auto got = WaitFor(
      [&] {
        if (!ProcessAlive(prometheus_pid_)) return true;
        HttpResult r = get("query?query=" + UrlEncode(query));
        last = r.status != 0 ? r.body : r.error;
        value = r.status == 200 ? FirstValue(r.body) : std::nullopt;
        return value.has_value();
      },
      30s, 250ms);
  ASSERT_TRUE(ProcessAlive(prometheus_pid_)) << "prometheus exited:\n"
                                             << ReadFileOrEmpty(dir_ + "/prometheus.log");
  ASSERT_TRUE(got && value) << "no result for " << query << " within 30 s; last answer: " << last
                            << "\ntargets: " << get("targets").body;
  char* end = nullptr;
  const double v = std::strtod(value->c_str(), &end);
  EXPECT_TRUE(!value->empty() && *end == '\0' && std::isfinite(v))
      << "not a number: \"" << *value << "\" in " << last;
  EXPECT_GE(v, 0) << last;
  EXPECT_LT(v, 10) << "a healthy mount polling every second: " << last;
  EXPECT_NE(last.find("\"job\":\"freshfs\""), std::string::npos) << last;

  // The scrape target is healthy, and the alerting rules loaded.
  HttpResult targets = get("targets");
  EXPECT_NE(targets.body.find("\"health\":\"up\""), std::string::npos) << targets.body;
  if (!rules.empty()) {
    HttpResult r = get("rules");
    for (const char* alert : {"FreshfsStale", "FreshfsSyncFailing", "FreshfsInvalidationErrors"})
      EXPECT_NE(r.body.find(std::string("\"name\":\"") + alert + "\""), std::string::npos)
          << alert << " not loaded: " << r.body;
    EXPECT_EQ(r.body.find("\"health\":\"err\""), std::string::npos) << r.body;
  } else {
    std::printf(
        "[   INFO   ] charts/freshfs/files/freshfs-rules.yml not found from __FILE__; "
        "rules not loaded\n");
  }
}

}  // namespace
}  // namespace freshfs::testing
