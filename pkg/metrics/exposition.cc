#include "metrics/exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace freshfs::metrics {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// A label set as one string, independent of label order; `skip` is left out.
std::string LabelKey(const std::vector<ClientMetric::Label>& labels, std::string_view skip) {
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

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Histogram:
      return "histogram";
    case MetricType::Untyped:
      return "untyped";
  }
  return "unknown";
}

namespace {

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

std::string DoubleKey(double v) {
  if (v == 0) v = 0;  // -0 and +0 are one bucket
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return std::to_string(bits);
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
    if (!type || pos != line.size())
      return Fail("unknown metric type in TYPE line of " + std::string(name));
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
      if (*pos >= line.size() || line[*pos] != '=')
        return Fail("expected '=' after label name " + name);
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
      if (pos < line.size())
        return Fail("unexpected text after the sample of " + std::string(name));
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
    if (!f->samples.insert(sample_key).second)
      return Fail("duplicate series of " + std::string(name));

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
        std::stable_sort(h.bucket.begin(), h.bucket.end(), [](const auto& a, const auto& b) {
          return a.upper_bound < b.upper_bound;
        });
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

namespace {

std::string BoundText(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

Sample MakeSample(std::string name, const std::vector<ClientMetric::Label>& labels, double value,
                  const char* extra_name = nullptr, const std::string& extra_value = {}) {
  Sample s{std::move(name), {}, value};
  for (const auto& l : labels) s.labels[l.name] = l.value;
  if (extra_name) s.labels[extra_name] = extra_value;
  return s;
}

}  // namespace

std::vector<Sample> Samples(const std::vector<MetricFamily>& families) {
  std::vector<Sample> out;
  for (const MetricFamily& f : families) {
    for (const ClientMetric& m : f.metric) {
      switch (f.type) {
        case MetricType::Counter:
          out.push_back(MakeSample(f.name, m.label, m.counter.value));
          break;
        case MetricType::Gauge:
          out.push_back(MakeSample(f.name, m.label, m.gauge.value));
          break;
        case MetricType::Untyped:
          out.push_back(MakeSample(f.name, m.label, m.untyped.value));
          break;
        case MetricType::Histogram:
          for (const auto& b : m.histogram.bucket)
            out.push_back(MakeSample(f.name + "_bucket", m.label, double(b.cumulative_count), "le",
                                     BoundText(b.upper_bound)));
          out.push_back(MakeSample(f.name + "_sum", m.label, m.histogram.sample_sum));
          out.push_back(MakeSample(f.name + "_count", m.label, double(m.histogram.sample_count)));
          break;
        case MetricType::Summary:
          for (const auto& q : m.summary.quantile)
            out.push_back(MakeSample(f.name, m.label, q.value, "quantile", BoundText(q.quantile)));
          out.push_back(MakeSample(f.name + "_sum", m.label, m.summary.sample_sum));
          out.push_back(MakeSample(f.name + "_count", m.label, double(m.summary.sample_count)));
          break;
      }
    }
  }
  return out;
}

bool HasLabels(const Sample& s, const std::map<std::string, std::string>& want) {
  for (const auto& [k, v] : want) {
    auto it = s.labels.find(k);
    if (it == s.labels.end() || it->second != v) return false;
  }
  return true;
}

std::optional<double> Sum(const std::vector<Sample>& samples, std::string_view name,
                          const std::map<std::string, std::string>& want) {
  std::optional<double> sum;
  for (const Sample& s : samples)
    if (s.name == name && HasLabels(s, want)) sum = sum.value_or(0) + s.value;
  return sum;
}

}  // namespace freshfs::metrics
