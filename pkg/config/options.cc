#include "config/options.h"

#include <arpa/inet.h>

#include <cctype>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <limits>
#include <vector>

#include "util/duration.h"
#include "util/percent.h"

namespace freshfs::config {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kMaxTimeout = 24h;
constexpr unsigned kMaxThreads = 1024;
constexpr mode_t kMaxMode = 07777;
// (uid_t)-1 means "unchanged" to chown(2) and cannot be anyone's id.
constexpr uint64_t kMaxId = std::numeric_limits<uint32_t>::max() - 1;

constexpr Setting kSettings[] = {
    {"source", ValueKind::kString, "", /*yaml_only=*/true},
    {"foreground", ValueKind::kBool, "f"},
    {"read-only", ValueKind::kBool, ""},
    {"allow-other", ValueKind::kBool, ""},
    {"uid", ValueKind::kId, ""},
    {"gid", ValueKind::kId, ""},
    {"file-mode", ValueKind::kMode, ""},
    {"dir-mode", ValueKind::kMode, ""},
    {"entry-timeout", ValueKind::kTimeout, ""},
    {"attr-timeout", ValueKind::kTimeout, ""},
    {"negative-timeout", ValueKind::kTimeout, ""},
    {"kernel-cache", ValueKind::kBool, ""},
    {"debug", ValueKind::kBool, "d"},
    {"log-format", ValueKind::kLogFormat, ""},
    {"log-file", ValueKind::kString, ""},
    {"max-threads", ValueKind::kThreads, ""},
    {"poll-interval", ValueKind::kPoll, ""},
    {"full-sync-interval", ValueKind::kPoll, ""},
    {"self-check-interval", ValueKind::kPoll, ""},
    {"events", ValueKind::kEvents, ""},
    {"revalidate-on-open", ValueKind::kBool, ""},
    {"push-small-files", ValueKind::kBool, ""},
    {"metrics-address", ValueKind::kAddress, ""},
    {"volume-name", ValueKind::kName, ""},
    {"ready-fd", ValueKind::kFd, ""},
    {"state-fd", ValueKind::kFd, ""},
    {"resume", ValueKind::kResume, ""},
    {"take-over", ValueKind::kBool, ""},
    {"resumable", ValueKind::kBool, ""},
    {"control-fd", ValueKind::kFd, ""},
    {"s3-endpoint", ValueKind::kUrl, ""},
    {"s3-region", ValueKind::kString, ""},
    {"s3-path-style", ValueKind::kBool, ""},
    {"s3-ca-file", ValueKind::kString, ""},
    {"s3-credentials-file", ValueKind::kString, ""},
    {"s3-profile", ValueKind::kString, ""},
    {"s3-sts-endpoint", ValueKind::kUrl, ""},
    {"s3-imds-endpoint", ValueKind::kUrl, ""},
    {"s3-role-arn", ValueKind::kString, ""},
    {"s3-web-identity-token-file", ValueKind::kString, ""},
    {"events-address", ValueKind::kAddress, ""},
    {"events-token-file", ValueKind::kString, ""},
    {"cache-dir", ValueKind::kString, ""},
    {"cache-size", ValueKind::kSize, ""},
    {"staging-dir", ValueKind::kString, ""},
    {"conflict", ValueKind::kConflict, ""},
};

// A host name: dot-separated labels of letters, digits and '-' (not at a
// label's ends), at most 63 bytes each and 253 in all.
bool IsHostName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    if (dot == std::string_view::npos) dot = host.size();
    const std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    start = dot + 1;
  }
  return true;
}

}  // namespace

std::optional<std::string> CheckAddress(std::string_view v) {
  size_t colon = v.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return "must be HOST:PORT, e.g. 127.0.0.1:9100";
  std::string_view port = v.substr(colon + 1);
  uint64_t n = 0;
  const char* end = port.data() + port.size();
  auto [ptr, ec] = std::from_chars(port.data(), end, n);
  if (port.empty() || ec != std::errc() || ptr != end || n > 65535)
    return "port must be a number from 0 to 65535";
  const std::string host(v.substr(0, colon));
  unsigned char buffer[sizeof(in6_addr)];
  if (host.front() == '[') {
    if (host.back() != ']' ||
        ::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buffer) != 1)
      return "host " + Escaped(host) + " is not an IPv6 address in brackets";
  } else if (host.find_first_not_of("0123456789.") == std::string::npos) {
    if (::inet_pton(AF_INET, host.c_str(), buffer) != 1)
      return "host " + Escaped(host) + " is not an IPv4 address (four numbers from 0 to 255)";
  } else if (!IsHostName(host)) {
    return "host " + Escaped(host) + " is not an IP address or a host name";
  }
  return std::nullopt;
}

namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

// Decimal digits only: no sign, no spaces, no "0x".
std::optional<std::string> ParseUnsigned(std::string_view v, uint64_t max, uint64_t* out) {
  if (v.empty()) return "missing value";
  if (v.size() > 1 && v[0] == '-' && v[1] >= '0' && v[1] <= '9') return "must not be negative";
  const char* end = v.data() + v.size();
  auto [ptr, ec] = std::from_chars(v.data(), end, *out);
  if (ec == std::errc::invalid_argument || ptr != end) return "not a number";
  if (ec == std::errc::result_out_of_range || *out > max) {
    return "must be at most " + std::to_string(max);
  }
  return std::nullopt;
}

std::optional<std::string> ParseMode(std::string_view v, mode_t* out) {
  if (v.empty()) return "missing value";
  std::string_view digits = v;
  if (digits.size() > 2 && digits[0] == '0' && Lower(digits[1]) == 'o') digits.remove_prefix(2);
  uint64_t mode = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, mode, 8);
  if (ec == std::errc::invalid_argument || ptr != end) {
    return "not an octal mode (e.g. 0644)";
  }
  if (ec == std::errc::result_out_of_range || mode > kMaxMode) {
    return "permission bits only, at most 07777";
  }
  *out = static_cast<mode_t>(mode);
  return std::nullopt;
}

std::optional<std::string> ParseTimeout(std::string_view v, std::chrono::milliseconds* out) {
  std::string error;
  auto d = ParseDuration(v, &error);
  if (!d) return error;
  if (*d > kMaxTimeout) return "must be at most " + FormatDuration(kMaxTimeout);
  *out = *d;
  return std::nullopt;
}

// Optimal string alignment distance: insertions, deletions, substitutions
// and swaps of neighbours all cost 1 ("entry-timout", "etnry-timeout").
size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = Lower(a[i - 1]) == Lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && Lower(a[i - 1]) == Lower(b[j - 2]) &&
          Lower(a[i - 2]) == Lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// Length of "scheme" in "scheme://...", or 0 when `source` has no scheme.
size_t SchemeLength(std::string_view source) {
  const size_t colon = source.find("://");
  if (colon == std::string_view::npos || colon == 0) return 0;
  const std::string_view scheme = source.substr(0, colon);
  const bool valid = std::all_of(scheme.begin(), scheme.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.';
  });
  return valid ? colon : 0;
}

// The path of a directory source, percent-escapes of a file:// URL decoded;
// nullopt with `*reason` set when `source` is not a directory source.
std::optional<std::string> SourcePath(const std::string& source, std::string* reason) {
  if (source.empty()) {
    *reason = "must not be empty";
    return std::nullopt;
  }
  // A volume attribute can hold one; the path opened would end before it.
  if (source.find('\0') != std::string::npos) {
    *reason = "contains a NUL byte";
    return std::nullopt;
  }
  const size_t scheme_length = SchemeLength(source);
  if (scheme_length == 0) return source;

  const std::string_view scheme = std::string_view(source).substr(0, scheme_length);
  if (EqualsIgnoreCase(scheme, "s3")) {
    if (ParseS3Source(source, reason)) *reason = "an S3 source, not a directory";
    return std::nullopt;
  }
  if (!EqualsIgnoreCase(scheme, "file")) {
    *reason = "unsupported scheme " + Quoted(scheme) + " (use /path or file:///path)";
    return std::nullopt;
  }
  std::string_view rest = std::string_view(source).substr(scheme_length + 3);
  const size_t slash = rest.find('/');
  const std::string_view host = rest.substr(0, slash);
  if (slash == std::string_view::npos || (!host.empty() && !EqualsIgnoreCase(host, "localhost"))) {
    *reason = "file:// URL with host " + Quoted(host) + " (only local paths: file:///path)";
    return std::nullopt;
  }
  rest.remove_prefix(slash);
  std::string path = PercentDecode(rest, /*plus_is_space=*/false);
  if (path.find('\0') != std::string::npos) {
    *reason = "file:// URL contains %00";
    return std::nullopt;
  }
  return path;
}

}  // namespace

std::optional<bool> ParseBool(std::string_view v) {
  for (std::string_view t : {"true", "yes", "on", "1"}) {
    if (EqualsIgnoreCase(v, t)) return true;
  }
  for (std::string_view f : {"false", "no", "off", "0"}) {
    if (EqualsIgnoreCase(v, f)) return false;
  }
  return std::nullopt;
}

std::span<const Setting> Settings() { return kSettings; }

const Setting* FindSetting(std::string_view name) {
  for (const Setting& s : kSettings) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::optional<std::string> SetOption(Options& options, std::string_view name,
                                     std::string_view value) {
  const Setting* setting = FindSetting(name);
  if (setting == nullptr) return "unknown option";

  switch (setting->kind) {
    case ValueKind::kBool: {
      const std::optional<bool> b = ParseBool(value);
      if (!b) return "not a boolean (use true or false)";
      if (name == "foreground") options.foreground = *b;
      if (name == "read-only") options.read_only = *b;
      if (name == "allow-other") options.allow_other = *b;
      if (name == "kernel-cache") options.kernel_cache = *b;
      if (name == "debug") options.debug = *b;
      if (name == "revalidate-on-open") options.revalidate_on_open = *b;
      if (name == "s3-path-style") options.s3_path_style = *b;
      if (name == "push-small-files") options.push_small_files = *b;
      if (name == "take-over") options.take_over = *b;
      if (name == "resumable") options.resumable = *b;
      return std::nullopt;
    }
    case ValueKind::kString: {
      if (value.empty()) return "must not be empty";
      if (name == "source") {
        if (auto reason = CheckSource(std::string(value))) return reason;
        options.source = value;
      }
      if (name == "log-file") options.log_file = value;
      if (name == "s3-region") options.s3_region = value;
      if (name == "s3-ca-file") options.s3_ca_file = value;
      if (name == "s3-credentials-file") options.s3_credentials_file = value;
      if (name == "s3-profile") options.s3_profile = value;
      if (name == "s3-role-arn") options.s3_role_arn = value;
      if (name == "s3-web-identity-token-file") options.s3_web_identity_token_file = value;
      if (name == "events-token-file") options.events_token_file = value;
      if (name == "cache-dir") options.cache_dir = value;
      if (name == "staging-dir") options.staging_dir = value;
      return std::nullopt;
    }
    case ValueKind::kId: {
      uint64_t id = 0;
      if (auto reason = ParseUnsigned(value, kMaxId, &id)) return reason;
      if (name == "uid") options.uid = static_cast<uid_t>(id);
      if (name == "gid") options.gid = static_cast<gid_t>(id);
      return std::nullopt;
    }
    case ValueKind::kMode: {
      mode_t mode = 0;
      if (auto reason = ParseMode(value, &mode)) return reason;
      if (name == "file-mode") options.file_mode = mode;
      if (name == "dir-mode") options.dir_mode = mode;
      return std::nullopt;
    }
    case ValueKind::kTimeout: {
      std::chrono::milliseconds d{};
      if (auto reason = ParseTimeout(value, &d)) return reason;
      if (name == "entry-timeout") options.entry_timeout = d;
      if (name == "attr-timeout") options.attr_timeout = d;
      if (name == "negative-timeout") options.negative_timeout = d;
      return std::nullopt;
    }
    case ValueKind::kThreads: {
      uint64_t n = 0;
      auto reason = ParseUnsigned(value, kMaxThreads, &n);
      if (reason == "not a number" || reason == "missing value") return reason;
      if (reason || n == 0) return "must be between 1 and " + std::to_string(kMaxThreads);
      options.max_threads = static_cast<unsigned>(n);
      return std::nullopt;
    }
    case ValueKind::kPoll: {
      std::chrono::milliseconds d{};
      if (auto reason = ParseTimeout(value, &d)) return reason;
      (name == "full-sync-interval"    ? options.full_sync_interval
       : name == "self-check-interval" ? options.self_check_interval
                                       : options.poll_interval) = d;
      return std::nullopt;
    }
    case ValueKind::kEvents: {
      if (value == "inotify") options.events = Events::kInotify;
      else if (value == "none") options.events = Events::kNone;
      else if (value == "auto") options.events = Events::kAuto;
      else return "must be inotify, none or auto";
      return std::nullopt;
    }
    case ValueKind::kAddress: {
      if (auto reason = CheckAddress(value)) return reason;
      if (name == "metrics-address") options.metrics_address = value;
      if (name == "events-address") options.events_address = value;
      return std::nullopt;
    }
    case ValueKind::kUrl: {
      std::string_view rest = value;
      if (rest.starts_with("http://")) rest.remove_prefix(7);
      else if (rest.starts_with("https://")) rest.remove_prefix(8);
      else return "must start with http:// or https://";
      if (rest.empty() || rest.front() == '/' || rest.front() == ':') return "has no host";
      if (name == "s3-endpoint") options.s3_endpoint = value;
      if (name == "s3-sts-endpoint") options.s3_sts_endpoint = value;
      if (name == "s3-imds-endpoint") options.s3_imds_endpoint = value;
      return std::nullopt;
    }
    case ValueKind::kSize: {
      if (value.empty()) return "missing value";
      std::string_view digits = value;
      uint64_t unit = 1;
      switch (Lower(digits.back())) {
        case 'k':
          unit = 1ull << 10;
          break;
        case 'm':
          unit = 1ull << 20;
          break;
        case 'g':
          unit = 1ull << 30;
          break;
        case 't':
          unit = 1ull << 40;
          break;
        default:
          break;
      }
      if (unit != 1) digits.remove_suffix(1);
      uint64_t n = 0;
      if (auto reason = ParseUnsigned(digits, (1ull << 50) / unit, &n)) {
        if (*reason == "not a number") return "not a size (e.g. 512M, 10G)";
        return reason;
      }
      if (n == 0) return "must be more than 0 (for no disk cache, leave out --cache-dir)";
      options.cache_size = n * unit;
      return std::nullopt;
    }
    case ValueKind::kConflict: {
      if (value == "keep-both") options.conflict = Conflict::kKeepBoth;
      else if (value == "overwrite") options.conflict = Conflict::kOverwrite;
      else return "must be keep-both or overwrite";
      return std::nullopt;
    }
    case ValueKind::kFd: {
      uint64_t fd = 0;
      if (auto reason = ParseUnsigned(value, std::numeric_limits<int>::max(), &fd)) return reason;
      // Those carry other output (logs on stderr), and a number freed after
      // the report would be taken by the next file opened.
      if (fd <= 2) return "must be 3 or more (0, 1 and 2 are stdin, stdout and stderr)";
      if (name == "ready-fd") options.ready_fd = static_cast<int>(fd);
      if (name == "state-fd") options.state_fd = static_cast<int>(fd);
      if (name == "control-fd") options.control_fd = static_cast<int>(fd);
      return std::nullopt;
    }
    case ValueKind::kResume: {
      if (value == "crash") options.resume = Options::ResumeCause::kCrash;
      else if (value == "upgrade") options.resume = Options::ResumeCause::kUpgrade;
      else return "must be crash or upgrade (why the predecessor is gone)";
      return std::nullopt;
    }
    case ValueKind::kName: {
      if (value.empty()) return "must not be empty";
      for (char c : value) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) return "may only hold letters, digits, '.', '_' and '-'";
      }
      options.volume_name = value;
      return std::nullopt;
    }
    case ValueKind::kLogFormat: {
      if (value == "text") {
        options.log_format = LogFormat::kText;
      } else if (value == "json") {
        options.log_format = LogFormat::kJson;
      } else {
        return "must be text or json";
      }
      return std::nullopt;
    }
  }
  return "unknown option";
}

std::string ClosestName(std::string_view name, std::span<const std::string_view> candidates) {
  // Close enough to be a typo: one edit for short names, two for longer ones,
  // and never more than half the name.
  const size_t limit = std::min<size_t>(name.size() >= 5 ? 2 : 1, name.size() / 2);
  std::string_view best;
  size_t best_distance = limit + 1;
  for (std::string_view candidate : candidates) {
    const size_t distance = EditDistance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return std::string(best);
}

std::optional<S3Source> ParseS3Source(const std::string& source, std::string* reason) {
  const size_t scheme_length = SchemeLength(source);
  if (scheme_length == 0 ||
      !EqualsIgnoreCase(std::string_view(source).substr(0, scheme_length), "s3"))
    return std::nullopt;
  std::string_view rest = std::string_view(source).substr(scheme_length + 3);
  const size_t slash = rest.find('/');
  S3Source s3;
  s3.bucket = std::string(rest.substr(0, slash));
  // S3's bucket rules, loosened as MinIO and Ceph allow: 3..255 of letters,
  // digits, '.', '-' and '_'.
  if (s3.bucket.size() < 3 || s3.bucket.size() > 255) {
    *reason =
        "bucket name " + Quoted(s3.bucket) + " must be 3 to 255 characters (s3://bucket[/prefix])";
    return std::nullopt;
  }
  for (char c : s3.bucket) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_';
    if (!ok) {
      *reason =
          "bucket name " + Quoted(s3.bucket) + " may only hold letters, digits, '.', '-' and '_'";
      return std::nullopt;
    }
  }
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    if (prefix.find('\0') != std::string_view::npos) {
      *reason = "prefix " + Quoted(prefix) + " contains a NUL byte";
      return std::nullopt;
    }
    size_t start = 0;
    while (start < prefix.size()) {
      size_t end = prefix.find('/', start);
      std::string_view part =
          prefix.substr(start, end == std::string_view::npos ? end : end - start);
      if (part.empty() || part == "." || part == "..") {
        *reason = "prefix " + Quoted(prefix) + " has an empty, \".\" or \"..\" component";
        return std::nullopt;
      }
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
    if (!prefix.empty()) s3.prefix = std::string(prefix) + "/";
  }
  return s3;
}

std::optional<std::string> CheckSource(const std::string& source) {
  std::string reason;
  if (ParseS3Source(source, &reason)) return std::nullopt;
  if (!reason.empty()) return reason;
  if (!SourcePath(source, &reason)) return reason;
  return std::nullopt;
}

std::string DirSourcePath(const std::string& source) {
  std::string reason;
  const std::optional<std::string> path = SourcePath(source, &reason);
  if (!path) return "";
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(*path, ec);
  if (ec) return "";
  // Drop "." components, empty components and trailing slashes; keep ".."
  // because folding it away would be wrong when the parent is a symlink.
  std::string out;
  for (const auto& part : absolute.relative_path()) {
    if (part.empty() || part == ".") continue;
    out += '/';
    out += part.string();
  }
  return out.empty() ? "/" : out;
}

}  // namespace freshfs::config
