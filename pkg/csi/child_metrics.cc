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
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsMetricNameStart(char c) { return IsAlpha(c) || c == '_' || c == ':'; }
bool IsMetricNameChar(char c) { return IsMetricNameStart(c) || IsDigit(c); }
bool IsLabelNameStart(char c) { return IsAlpha(c) || c == '_'; }
bool IsLabelNameChar(char c) { return IsLabelNameStart(c) || IsDigit(c); }

// Go's strconv.ParseFloat as the Prometheus parser uses it, minus hex floats:
// optional sign, decimal or exponent notation, Inf/Infinity/NaN in any case.
bool ParseDouble(std::string_view token, double* out) {
  std::string_view t = token;
  bool negative = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    negative = t[0] == '-';
    t.remove_prefix(1);
  }
  if (t.empty() || t[0] == '+' || t[0] == '-') return false;
  double v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v, std::chars_format::general);
  if (ec != std::errc() || end != t.data() + t.size()) return false;
  *out = negative ? -v : v;
  return true;
}

bool ParseInt64(std::string_view token, int64_t* out) {
  if (!token.empty() && token[0] == '+') token.remove_prefix(1);
  if (token.empty()) return false;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), *out);
  return ec == std::errc() && end == token.data() + token.size();
}

// Histogram and summary counts are integers in prometheus-cpp.
bool ToCount(double v, uint64_t* out) {
  // 2^64: every double below it fits.
  if (!(v >= 0) || !(v < 18446744073709551616.0)) return false;
  *out = static_cast<uint64_t>(v);
  return true;
}

// A label set as one string, independent of label order; `skip` is left out.
std::string LabelKey(const std::vector<ClientMetric::Label>& labels, std::string_view skip = {}) {
  std::vector<const ClientMetric::Label*> sorted;
  sorted.reserve(labels.size());
  for (const auto& l : labels) {
    if (skip.empty() || l.name != skip) sorted.push_back(&l);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  std::string key;
  for (const auto* l : sorted) {
    key += std::to_string(l->name.size());
    key += ':';
    key += l->name;
    key += std::to_string(l->value.size());
    key += ':';
    key += l->value;
  }
  return key;
}

std::string DoubleKey(double v) {
  if (v == 0) v = 0;  // -0 and +0 are one bucket
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return std::to_string(bits);
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return "gauge";
    case MetricType::Summary: return "summary";
    case MetricType::Histogram: return "histogram";
    case MetricType::Untyped: return "untyped";
  }
  return "unknown";
}

std::optional<MetricType> ParseType(std::string_view s) {
  if (s == "counter") return MetricType::Counter;
  if (s == "gauge") return MetricType::Gauge;
  if (s == "histogram") return MetricType::Histogram;
  if (s == "summary") return MetricType::Summary;
  if (s == "untyped") return MetricType::Untyped;
  return std::nullopt;
}

class Parser {
 public:
  ParsedExposition Run(std::string_view text) {
    ParsedExposition result;
    if (text.size() > kMaxExpositionBytes) {
      result.error = "exposition of " + std::to_string(text.size()) + " bytes is larger than " +
                     std::to_string(kMaxExpositionBytes);
      return result;
    }
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string_view::npos) nl = text.size();
      std::string_view line = text.substr(start, nl - start);
      start = nl + 1;
      ++line_no_;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!ParseLine(line)) {
        result.error = "line " + std::to_string(line_no_) + ": " + error_;
        return result;
      }
    }
    Finish();
    result.families.reserve(families_.size());
    for (auto& f : families_) result.families.push_back(std::move(f.family));
    return result;
  }

 private:
  enum class Part { kPlain, kBucket, kSum, kCount };

  struct Family {
    MetricFamily family;
    bool has_help = false;
    bool has_type = false;
    bool has_samples = false;
    std::unordered_map<std::string, size_t> groups;  // histogram/summary: key -> metric index
    std::vector<bool> has_count;                     // per metric index
    std::unordered_set<std::string> samples;         // for duplicates
  };

  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  static void SkipBlanks(std::string_view line, size_t* pos) {
    while (*pos < line.size() && IsBlank(line[*pos])) ++*pos;
  }

  static std::string_view Token(std::string_view line, size_t* pos) {
    size_t begin = *pos;
    while (*pos < line.size() && !IsBlank(line[*pos])) ++*pos;
    return line.substr(begin, *pos - begin);
  }

  static std::string_view MetricName(std::string_view line, size_t* pos) {
    size_t begin = *pos;
    if (*pos >= line.size() || !IsMetricNameStart(line[*pos])) return {};
    while (*pos < line.size() && IsMetricNameChar(line[*pos])) ++*pos;
    return line.substr(begin, *pos - begin);
  }

  Family* Find(std::string_view name) {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &families_[it->second];
  }

  Family* FindOrCreate(std::string_view name) {
    if (Family* f = Find(name)) return f;
    index_.emplace(std::string(name), families_.size());
    families_.emplace_back();
    families_.back().family.name = std::string(name);
    return &families_.back();
  }

  bool ParseLine(std::string_view line) {
    size_t pos = 0;
    SkipBlanks(line, &pos);
    if (pos == line.size()) return true;
    if (line[pos] == '#') return ParseComment(line, pos + 1);
    return ParseSample(line, pos);
  }

  bool ParseComment(std::string_view line, size_t pos) {
    SkipBlanks(line, &pos);
    std::string_view keyword = Token(line, &pos);
    bool help = keyword == "HELP";
    if (!help && keyword != "TYPE") return true;  // an ordinary comment
    SkipBlanks(line, &pos);
    std::string_view name = MetricName(line, &pos);
    if (name.empty()) return Fail("invalid metric name in " + std::string(keyword) + " line");
    if (pos < line.size() && !IsBlank(line[pos])) {
      return Fail("invalid metric name in " + std::string(keyword) + " line");
    }
    SkipBlanks(line, &pos);
    Family* f = FindOrCreate(name);
    if (help) {
      if (f->has_help) return Fail("second HELP line for " + std::string(name));
      std::string_view text = line.substr(pos);
      for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') continue;
        if (i + 1 >= text.size() || (text[i + 1] != '\\' && text[i + 1] != 'n')) {
          return Fail("invalid escape sequence in HELP of " + std::string(name));
        }
        ++i;
      }
      f->has_help = true;
      f->family.help = std::string(text);  // verbatim; see the header
      return true;
    }
    if (f->has_type) return Fail("second TYPE line for " + std::string(name));
    if (f->has_samples) return Fail("TYPE line for " + std::string(name) + " after its samples");
    std::string_view type_name = Token(line, &pos);
    SkipBlanks(line, &pos);
    auto type = ParseType(type_name);
    if (!type || pos != line.size()) return Fail("unknown metric type in TYPE line of " + std::string(name));
    f->has_type = true;
    f->family.type = *type;
    return true;
  }

  bool CheckUnique(const std::vector<ClientMetric::Label>& labels) {
    std::vector<std::string_view> names;
    names.reserve(labels.size());
    for (const auto& l : labels) names.push_back(l.name);
    std::sort(names.begin(), names.end());
    auto dup = std::adjacent_find(names.begin(), names.end());
    if (dup != names.end()) return Fail("duplicate label " + std::string(*dup));
    return true;
  }

  bool ParseLabels(std::string_view line, size_t* pos, std::vector<ClientMetric::Label>* labels) {
    ++*pos;  // '{'
    while (true) {
      SkipBlanks(line, pos);
      if (*pos >= line.size()) return Fail("unterminated label set");
      if (line[*pos] == '}') {
        ++*pos;
        return CheckUnique(*labels);
      }
      size_t begin = *pos;
      if (!IsLabelNameStart(line[*pos])) return Fail("invalid label name");
      while (*pos < line.size() && IsLabelNameChar(line[*pos])) ++*pos;
      std::string name(line.substr(begin, *pos - begin));
      SkipBlanks(line, pos);
      if (*pos >= line.size() || line[*pos] != '=') return Fail("expected '=' after label name " + name);
      ++*pos;
      SkipBlanks(line, pos);
      if (*pos >= line.size() || line[*pos] != '"') {
        return Fail("expected '\"' to start the value of label " + name);
      }
      ++*pos;
      std::string value;
      while (true) {
        if (*pos >= line.size()) return Fail("unterminated value of label " + name);
        char c = line[(*pos)++];
        if (c == '"') break;
        if (c == '\\') {
          if (*pos >= line.size()) return Fail("unterminated value of label " + name);
          char e = line[(*pos)++];
          if (e == '\\' || e == '"') {
            value += e;
          } else if (e == 'n') {
            value += '\n';
          } else {
            return Fail("invalid escape sequence in the value of label " + name);
          }
        } else {
          value += c;
        }
      }
      labels->push_back({std::move(name), std::move(value)});
      SkipBlanks(line, pos);
      if (*pos >= line.size()) return Fail("unterminated label set");
      if (line[*pos] == ',') {
        ++*pos;
      } else if (line[*pos] != '}') {
        return Fail("expected ',' or '}' after a label");
      }
    }
  }

  bool ParseSample(std::string_view line, size_t pos) {
    std::string_view name = MetricName(line, &pos);
    if (name.empty()) return Fail("invalid metric name");
    if (pos < line.size() && !IsBlank(line[pos]) && line[pos] != '{') {
      return Fail("invalid metric name");
    }
    SkipBlanks(line, &pos);
    std::vector<ClientMetric::Label> labels;
    if (pos < line.size() && line[pos] == '{') {
      if (!ParseLabels(line, &pos, &labels)) return false;
      SkipBlanks(line, &pos);
    }
    std::string_view value_token = Token(line, &pos);
    if (value_token.empty()) return Fail("missing value for " + std::string(name));
    double value = 0;
    if (!ParseDouble(value_token, &value)) return Fail("invalid value for " + std::string(name));
    SkipBlanks(line, &pos);
    if (pos < line.size()) {
      int64_t timestamp = 0;  // validated, then ignored
      if (!ParseInt64(Token(line, &pos), &timestamp)) {
        return Fail("invalid timestamp for " + std::string(name));
      }
      SkipBlanks(line, &pos);
      if (pos < line.size()) return Fail("unexpected text after the sample of " + std::string(name));
    }
    return AddSample(name, std::move(labels), value);
  }

  // The family a sample belongs to: NAME_bucket/_sum/_count of a declared
  // histogram (or _sum/_count of a summary), else NAME's own family.
  Family* FamilyOf(std::string_view name, Part* part) {
    auto base_of = [&](std::string_view suffix, bool summary_too) -> Family* {
      if (name.size() <= suffix.size() || !name.ends_with(suffix)) return nullptr;
      Family* f = Find(name.substr(0, name.size() - suffix.size()));
      if (!f) return nullptr;
      MetricType t = f->family.type;
      return t == MetricType::Histogram || (summary_too && t == MetricType::Summary) ? f : nullptr;
    };
    if (Family* f = base_of("_bucket", false)) {
      *part = Part::kBucket;
      return f;
    }
    if (Family* f = base_of("_sum", true)) {
      *part = Part::kSum;
      return f;
    }
    if (Family* f = base_of("_count", true)) {
      *part = Part::kCount;
      return f;
    }
    *part = Part::kPlain;
    return FindOrCreate(name);
  }

  bool AddSample(std::string_view name, std::vector<ClientMetric::Label> labels, double value) {
    Part part;
    Family* f = FamilyOf(name, &part);
    f->has_samples = true;
    MetricType type = f->family.type;
    if (type != MetricType::Histogram && type != MetricType::Summary) {
      if (!f->samples.insert(LabelKey(labels)).second) {
        return Fail("duplicate series of " + std::string(name));
      }
      ClientMetric m;
      m.label = std::move(labels);
      if (type == MetricType::Counter) {
        m.counter.value = value;
      } else if (type == MetricType::Gauge) {
        m.gauge.value = value;
      } else {
        m.untyped.value = value;
      }
      f->family.metric.push_back(std::move(m));
      return true;
    }

    bool histogram = type == MetricType::Histogram;
    const char* special = histogram ? "le" : "quantile";
    auto special_it = std::find_if(labels.begin(), labels.end(),
                                   [&](const auto& l) { return l.name == special; });
    bool with_special = special_it != labels.end();
    bool wants_special = histogram ? part == Part::kBucket : part == Part::kPlain;
    if (histogram && part == Part::kPlain) {
      return Fail("sample " + std::string(name) + " of histogram " + f->family.name +
                  " needs a _bucket, _sum or _count suffix");
    }
    if (with_special != wants_special) {
      return Fail(std::string(wants_special ? "missing" : "unexpected") + " label " + special +
                  " on " + std::string(name));
    }
    double bound = 0;
    if (with_special) {
      if (!ParseDouble(special_it->value, &bound)) {
        return Fail("invalid " + std::string(special) + " label on " + std::string(name));
      }
      labels.erase(special_it);
    }
    std::string key = LabelKey(labels);
    std::string sample_key = std::to_string(int(part)) + "|" + key;
    if (with_special) sample_key += "|" + DoubleKey(bound);
    if (!f->samples.insert(sample_key).second) return Fail("duplicate series of " + std::string(name));

    auto [it, created] = f->groups.try_emplace(key, f->family.metric.size());
    if (created) {
      f->family.metric.emplace_back();
      f->family.metric.back().label = std::move(labels);
      f->has_count.push_back(false);
    }
    size_t index = it->second;
    ClientMetric& m = f->family.metric[index];
    uint64_t count = 0;
    if (part == Part::kBucket || part == Part::kCount) {
      if (!ToCount(value, &count)) return Fail("invalid count for " + std::string(name));
    }
    switch (part) {
      case Part::kBucket:
        m.histogram.bucket.push_back({count, bound});
        break;
      case Part::kSum:
        (histogram ? m.histogram.sample_sum : m.summary.sample_sum) = value;
        break;
      case Part::kCount:
        (histogram ? m.histogram.sample_count : m.summary.sample_count) = count;
        f->has_count[index] = true;
        break;
      case Part::kPlain:
        m.summary.quantile.push_back({bound, value});
        break;
    }
    return true;
  }

  void Finish() {
    for (auto& f : families_) {
      if (f.family.type != MetricType::Histogram) continue;
      for (size_t i = 0; i < f.family.metric.size(); ++i) {
        auto& h = f.family.metric[i].histogram;
        std::stable_sort(h.bucket.begin(), h.bucket.end(),
                         [](const auto& a, const auto& b) { return a.upper_bound < b.upper_bound; });
        if (!f.has_count[i] && !h.bucket.empty() && std::isinf(h.bucket.back().upper_bound)) {
          h.sample_count = h.bucket.back().cumulative_count;
        }
      }
    }
  }

  size_t line_no_ = 0;
  std::string error_;
  std::vector<Family> families_;  // in order of first appearance
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace

ParsedExposition ParseExposition(std::string_view text) {
  try {
    return Parser().Run(text);
  } catch (const std::exception& e) {  // std::bad_alloc
    ParsedExposition result;
    result.error = std::string("cannot parse: ") + e.what();
    return result;
  }
}

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
                     family.metric.size(), family.name, TypeName(family.type),
                     TypeName(into.type));
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
