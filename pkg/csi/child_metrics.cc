#include "csi/child_metrics.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <optional>
#include <unordered_set>
#include <utility>

namespace freshfs::csi {

using metrics::LabelKey;
using metrics::ParsedExposition;
using metrics::ParseExposition;
using metrics::TypeName;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

void AddLabelIfMissing(std::vector<MetricFamily>& families, const std::string& name,
                       const std::string& value) {
  for (auto& family : families) {
    for (auto& metric : family.metric) {
      bool has = std::any_of(metric.label.begin(), metric.label.end(),
                             [&](const auto& l) { return l.name == name; });
      if (!has) metric.label.push_back({name, value});
    }
  }
}

std::vector<MetricFamily> MergeFamilies(std::vector<std::vector<MetricFamily>> parts) {
  std::vector<MetricFamily> out;
  std::unordered_map<std::string, size_t> index;
  std::vector<std::unordered_set<std::string>> series;  // per family in out
  for (auto& part : parts) {
    for (auto& family : part) {
      auto [it, created] = index.try_emplace(family.name, out.size());
      if (created) {
        out.emplace_back();
        out.back().name = family.name;
        out.back().help = std::move(family.help);
        out.back().type = family.type;
        series.emplace_back();
      }
      MetricFamily& into = out[it->second];
      if (into.type != family.type) {
        spdlog::warn("metrics: dropping {} series of {}: its TYPE {} conflicts with {}",
                     family.metric.size(), family.name, TypeName(family.type), TypeName(into.type));
        continue;
      }
      if (into.help.empty()) into.help = std::move(family.help);
      size_t duplicates = 0;
      auto& keys = series[it->second];
      for (auto& metric : family.metric) {
        if (!keys.insert(LabelKey(metric.label)).second) {
          ++duplicates;
          continue;
        }
        into.metric.push_back(std::move(metric));
      }
      if (duplicates > 0) {
        spdlog::warn("metrics: dropping {} duplicate series of {}", duplicates, family.name);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

namespace {

struct Transfer {
  CURL* easy = nullptr;
  std::string url;
  std::string body;
  bool too_large = false;
  bool done = false;
  std::string error;
  std::array<char, CURL_ERROR_SIZE> curl_error{};
};

size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  if (t->body.size() + n > kMaxExpositionBytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->body.append(data, n);
  return n;
}

std::once_flag curl_init_once;

// GETs every child's /metrics at once; bodies, or errors.
std::vector<Transfer> FetchAll(const std::vector<ChildMetricsCollector::Child>& children,
                               std::chrono::milliseconds timeout) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::vector<Transfer> transfers(children.size());
  CURLM* multi = curl_multi_init();
  if (!multi) {
    for (auto& t : transfers) t.error = "curl_multi_init failed";
    return transfers;
  }
  curl_slist* headers = curl_slist_append(nullptr, "Accept: text/plain; version=0.0.4");
  long timeout_ms = std::max<long>(1, static_cast<long>(timeout.count()));
  for (size_t i = 0; i < children.size(); ++i) {
    Transfer& t = transfers[i];
    int port = children[i].port;
    if (port < 1 || port > 65535) {
      t.error = "invalid metrics port " + std::to_string(port);
      continue;
    }
    t.url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
    t.easy = curl_easy_init();
    if (!t.easy) {
      t.error = "curl_easy_init failed";
      continue;
    }
    curl_easy_setopt(t.easy, CURLOPT_URL, t.url.c_str());
    curl_easy_setopt(t.easy, CURLOPT_PROXY, "");  // never http_proxy & co.
    curl_easy_setopt(t.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t.easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(t.easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, &WriteBody);
    curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(t.easy, CURLOPT_ERRORBUFFER, t.curl_error.data());
    if (curl_multi_add_handle(multi, t.easy) != CURLM_OK) {
      t.error = "curl_multi_add_handle failed";
      curl_easy_cleanup(t.easy);
      t.easy = nullptr;
    }
  }

  // Each transfer ends by itself within timeout; the deadline is a backstop.
  auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(1);
  while (true) {
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK || running == 0) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int wait_ms = static_cast<int>(std::min<int64_t>(left.count(), 200));
    if (curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr) != CURLM_OK) break;
  }
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
    if (!t) continue;
    t->done = true;
    CURLcode rc = msg->data.result;
    if (t->too_large) {
      t->error = "response larger than " + std::to_string(kMaxExpositionBytes) + " bytes";
    } else if (rc != CURLE_OK) {
      t->error = t->curl_error[0] ? t->curl_error.data() : curl_easy_strerror(rc);
    } else {
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (status != 200) t->error = "HTTP status " + std::to_string(status);
    }
  }
  for (auto& t : transfers) {
    if (!t.easy) continue;
    if (!t.done && t.error.empty()) t.error = "no answer in time";
    curl_multi_remove_handle(multi, t.easy);
    curl_easy_cleanup(t.easy);
    t.easy = nullptr;
  }
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
  return transfers;
}

}  // namespace

ParsedExposition ScrapeLocalMetrics(int port, std::chrono::milliseconds timeout) {
  std::vector<Transfer> transfers = FetchAll({ChildMetricsCollector::Child{"", port}}, timeout);
  Transfer& t = transfers.front();
  if (!t.error.empty()) {
    ParsedExposition failed;
    failed.error = t.url.empty() ? t.error : "GET " + t.url + ": " + t.error;
    return failed;
  }
  return ParseExposition(t.body);
}

ChildMetricsCollector::ChildMetricsCollector(ListChildren list)
    : ChildMetricsCollector(std::move(list), Options()) {}

ChildMetricsCollector::ChildMetricsCollector(ListChildren list, Options options)
    : list_(std::move(list)), options_(std::move(options)) {}

std::vector<MetricFamily> ChildMetricsCollector::Collect() const {
  try {
    std::vector<std::vector<MetricFamily>> parts;
    for (const auto& weak : options_.local) {
      if (auto local = weak.lock()) parts.push_back(local->Collect());
    }
    std::vector<Child> children;
    try {
      if (list_) children = list_();
    } catch (const std::exception& e) {
      spdlog::warn("metrics: cannot list the volumes' mount processes: {}", e.what());
    }
    std::vector<Transfer> transfers = FetchAll(children, options_.timeout);
    std::vector<std::string> errors(children.size());
    for (size_t i = 0; i < children.size(); ++i) {
      Transfer& t = transfers[i];
      if (!t.error.empty()) {
        errors[i] = t.url.empty() ? t.error : "GET " + t.url + ": " + t.error;
        continue;
      }
      ParsedExposition parsed = ParseExposition(t.body);
      std::string().swap(t.body);
      if (!parsed.error.empty()) {
        errors[i] = "GET " + t.url + ": unparsable metrics: " + parsed.error;
        continue;
      }
      std::erase_if(parsed.families, [&](const MetricFamily& f) {
        return std::any_of(options_.drop_family_prefixes.begin(),
                           options_.drop_family_prefixes.end(),
                           [&](const std::string& p) { return f.name.starts_with(p); });
      });
      AddLabelIfMissing(parsed.families, "volume", children[i].volume);
      parts.push_back(std::move(parsed.families));
    }
    NoteResult(children, errors);
    return MergeFamilies(std::move(parts));
  } catch (const std::exception& e) {
    spdlog::warn("metrics: cannot collect the volumes' metrics: {}", e.what());
    return {};
  }
}

void ChildMetricsCollector::NoteResult(const std::vector<Child>& children,
                                       const std::vector<std::string>& errors) const {
  uint64_t failed = 0;
  std::lock_guard lock(mu_);
  std::unordered_map<std::string, bool> now;
  for (size_t i = 0; i < children.size(); ++i) {
    const std::string& volume = children[i].volume;
    auto it = failing_.find(volume);
    bool was_failing = it != failing_.end() && it->second;
    bool fails = !errors[i].empty();
    if (fails) {
      ++failed;
      if (was_failing) {
        spdlog::debug("metrics of volume {} unavailable: {}", volume, errors[i]);
      } else {
        spdlog::warn("metrics of volume {} unavailable (skipped until it answers): {}", volume,
                     errors[i]);
      }
    } else if (was_failing) {
      spdlog::info("metrics of volume {} available again", volume);
    }
    now[volume] = fails;
  }
  failing_ = std::move(now);
  scrape_errors_.fetch_add(failed, std::memory_order_relaxed);
}

}  // namespace freshfs::csi
