#include "fake_object_client.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <thread>

namespace freshfs::testing {
namespace {

const char* OpName(S3Op op) {
  switch (op) {
    case S3Op::kList:
      return "LIST";
    case S3Op::kHead:
      return "HEAD";
    case S3Op::kGet:
      return "GET";
    case S3Op::kPut:
      return "PUT";
    case S3Op::kMultipart:
      return "POST";
    case S3Op::kCopy:
      return "COPY";
    case S3Op::kDelete:
      return "DELETE";
  }
  return "?";
}

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
  return out;
}

s3::Error Failed(int status, std::string code, std::string_view op, std::string_view key,
                 const std::string& bucket) {
  s3::Error e = FakeObjectClient::HttpError(status, std::move(code));
  e.resource = std::string(op) + " s3://" + bucket + "/" + std::string(key);
  return e;
}

}  // namespace

FakeObjectClient::FakeObjectClient(std::string bucket) : bucket_(std::move(bucket)) {}

s3::Location FakeObjectClient::location() const {
  return s3::Location{.url = "http://fake", .region = "us-east-1", .credentials = "none"};
}

s3::Error FakeObjectClient::HttpError(int status, std::string code) {
  s3::Error e;
  e.http_status = status;
  e.code = std::move(code);
  e.attempts = 1;
  return e;
}

s3::Error FakeObjectClient::NetworkError() {
  s3::Error e;
  e.code = "ConnectFailed";
  e.message = "connection refused (fake)";
  e.attempts = 4;
  return e;
}

std::string FakeObjectClient::ETagOf(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_md5(), nullptr);
  std::string etag(1, '"');
  etag.append(Hex(digest, n)).push_back('"');
  return etag;
}

std::optional<s3::Error> FakeObjectClient::Begin(S3Op op, std::string_view key) {
  Fault fault;
  bool hit = false;
  {
    std::lock_guard lock(mu_);
    ++requests_[{op, std::string(key)}];
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if (it->op != op || (!it->key.empty() && it->key != key)) continue;
      fault = *it;
      hit = true;
      if (it->times > 0 && --it->times == 0) faults_.erase(it);
      break;
    }
  }
  if (!hit) return std::nullopt;
  if (fault.before) fault.before();
  if (fault.delay.count() > 0) std::this_thread::sleep_for(fault.delay);
  if (fault.error) {
    s3::Error e = *fault.error;
    e.resource = std::string(OpName(op)) + " s3://" + bucket_ + "/" + std::string(key);
    return e;
  }
  return std::nullopt;
}

s3::Outcome<s3::Done> FakeObjectClient::CheckBucket(std::string_view prefix) {
  if (auto e = Begin(S3Op::kList, prefix)) return *e;
  return s3::Done{};
}

s3::Outcome<s3::ObjectInfo> FakeObjectClient::Head(std::string_view key) {
  if (auto e = Begin(S3Op::kHead, key)) return *e;
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Failed(404, "NoSuchKey", "HEAD", key, bucket_);
  return s3::ObjectInfo{std::string(key), it->second.data.size(), it->second.etag,
                        it->second.mtime_ns};
}

s3::Outcome<size_t> FakeObjectClient::GetRange(std::string_view key, uint64_t offset, size_t length,
                                               char* buf, const s3::Condition& condition,
                                               s3::ObjectInfo* info) {
  if (auto e = Begin(S3Op::kGet, key)) return *e;
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Failed(404, "NoSuchKey", "GET", key, bucket_);
  const Object& o = it->second;
  if (!condition.if_match.empty() && condition.if_match != o.etag && !quirks_.get_ignores_if_match)
    return Failed(412, "PreconditionFailed", "GET", key, bucket_);
  if (info) *info = s3::ObjectInfo{std::string(key), o.data.size(), o.etag, o.mtime_ns};
  if (offset >= o.data.size()) {
    if (info && length > 0) info->size = 0;  // past the end: a 416 names no size
    return size_t{0};
  }
  const size_t n = std::min<uint64_t>(length, o.data.size() - offset);
  std::memcpy(buf, o.data.data() + offset, n);
  return n;
}

std::optional<s3::Error> FakeObjectClient::CheckWriteLocked(std::string_view key,
                                                            const s3::Condition& condition) {
  auto it = objects_.find(key);
  if (condition.if_none_match_any) {
    if (quirks_.if_none_match_on_put == Conditional::kNotImplemented)
      return Failed(501, "NotImplemented", "PUT", key, bucket_);
    if (quirks_.if_none_match_on_put == Conditional::kHonoured && it != objects_.end())
      return Failed(412, "PreconditionFailed", "PUT", key, bucket_);
  }
  if (!condition.if_match.empty()) {
    if (quirks_.if_match_on_put == Conditional::kNotImplemented)
      return Failed(501, "NotImplemented", "PUT", key, bucket_);
    if (quirks_.if_match_on_put == Conditional::kHonoured) {
      if (it == objects_.end()) return Failed(404, "NoSuchKey", "PUT", key, bucket_);
      if (it->second.etag != condition.if_match)
        return Failed(412, "PreconditionFailed", "PUT", key, bucket_);
    }
  }
  return std::nullopt;
}

std::string FakeObjectClient::StoreLocked(std::string_view key, std::string data,
                                          std::string etag) {
  Object& o = objects_[std::string(key)];
  o.data = std::move(data);
  o.etag = std::move(etag);
  o.mtime_ns = now_ns_ != 0 ? now_ns_ : int64_t(std::time(nullptr)) * 1'000'000'000;
  return o.etag;
}

s3::Outcome<std::string> FakeObjectClient::Put(std::string_view key, std::string_view data,
                                               const s3::Condition& condition) {
  if (auto e = Begin(S3Op::kPut, key)) return *e;
  std::lock_guard lock(mu_);
  if (auto e = CheckWriteLocked(key, condition)) return *e;
  return StoreLocked(key, std::string(data), ETagOf(data));
}

s3::Outcome<std::string> FakeObjectClient::PutFile(std::string_view key, int fd, uint64_t size,
                                                   const s3::Condition& condition) {
  std::string data(size, '\0');
  const ssize_t got = ::pread(fd, data.data(), data.size(), 0);
  uint64_t threshold;
  {
    std::lock_guard lock(mu_);
    threshold = quirks_.multipart_threshold;
  }
  const bool multipart = size > threshold;
  if (auto e = Begin(multipart ? S3Op::kMultipart : S3Op::kPut, key)) return *e;
  if (got != ssize_t(size)) {
    s3::Error e;
    e.code = "BodyReadError";
    e.resource = "PUT s3://" + bucket_ + "/" + std::string(key);
    return e;
  }
  std::string etag = ETagOf(data);
  if (multipart) {
    // "<md5 of the parts' MD5s>-<parts>": not an MD5 of the content.
    const uint64_t parts =
        std::max<uint64_t>(1, (size + threshold - 1) / std::max<uint64_t>(1, threshold));
    etag = "\"" + ETagOf(etag).substr(1, 32) + "-" + std::to_string(parts) + "\"";
  }
  std::lock_guard lock(mu_);
  if (auto e = CheckWriteLocked(key, condition)) return *e;
  return StoreLocked(key, std::move(data), std::move(etag));
}

s3::Outcome<s3::Done> FakeObjectClient::Delete(std::string_view key) {
  if (auto e = Begin(S3Op::kDelete, key)) return *e;
  std::lock_guard lock(mu_);
  if (auto it = objects_.find(key); it != objects_.end()) objects_.erase(it);
  return s3::Done{};
}

s3::Outcome<s3::Done> FakeObjectClient::DeleteMany(const std::vector<std::string>& keys) {
  // One request per key here (S3 takes up to 1,000 in one), so that faults
  // can name the key that fails.
  for (const std::string& key : keys) {
    if (auto e = Begin(S3Op::kDelete, key)) return *e;
    std::lock_guard lock(mu_);
    objects_.erase(key);
  }
  return s3::Done{};
}

s3::Outcome<std::string> FakeObjectClient::Copy(std::string_view from_key, std::string_view to_key,
                                                const s3::Condition& source_condition) {
  if (auto e = Begin(S3Op::kCopy, from_key)) return *e;
  std::lock_guard lock(mu_);
  auto it = objects_.find(from_key);
  if (it == objects_.end()) return Failed(404, "NoSuchKey", "COPY", from_key, bucket_);
  if (!source_condition.if_match.empty() && source_condition.if_match != it->second.etag &&
      !quirks_.copy_ignores_if_match)
    return Failed(412, "PreconditionFailed", "COPY", from_key, bucket_);
  std::string data = it->second.data;
  std::string etag = ETagOf(data);
  return StoreLocked(to_key, std::move(data), std::move(etag));
}

s3::Listing FakeObjectClient::PageLocked(std::string_view prefix, std::string_view delimiter,
                                         size_t from, size_t count, size_t* total) {
  struct Entry {
    std::string key;
    bool prefix = false;
    bool shallow = false;  // a prefix with a key right below it
  };
  std::vector<Entry> entries;
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const std::string_view rest = std::string_view(it->first).substr(prefix.size());
    const size_t cut = delimiter.empty() ? std::string_view::npos : rest.find(delimiter);
    if (cut == std::string_view::npos) {
      entries.push_back(Entry{it->first});
      continue;
    }
    std::string common = std::string(prefix) + std::string(rest.substr(0, cut + delimiter.size()));
    const bool shallow =
        rest.substr(cut + delimiter.size()).find(delimiter) == std::string_view::npos;
    if (entries.empty() || !entries.back().prefix || entries.back().key != common)
      entries.push_back(Entry{common, true, false});
    entries.back().shallow = entries.back().shallow || shallow;
  }
  if (quirks_.hide_deep_prefixes)
    std::erase_if(entries, [](const Entry& e) { return e.prefix && !e.shallow; });
  if (quirks_.unordered) std::reverse(entries.begin(), entries.end());
  *total = entries.size();
  s3::Listing page;
  page.requests = 1;
  for (size_t i = from; i < entries.size() && i < from + count; ++i) {
    if (entries[i].prefix) {
      page.common_prefixes.push_back(entries[i].key);
      continue;
    }
    const Object& o = objects_.find(entries[i].key)->second;
    page.objects.push_back(s3::ObjectInfo{entries[i].key, o.data.size(), o.etag, o.mtime_ns});
  }
  return page;
}

s3::Outcome<s3::Done> FakeObjectClient::Pages(std::string_view prefix, std::string_view delimiter,
                                              size_t max_keys,
                                              const std::function<bool(s3::Listing& page)>& each) {
  size_t from = 0;
  for (;;) {
    if (auto e = Begin(S3Op::kList, prefix)) return *e;
    s3::Listing page;
    size_t total = 0;
    {
      std::lock_guard lock(mu_);
      size_t count = quirks_.page_size;
      if (max_keys > 0) count = std::min(count, max_keys - std::min(max_keys, from));
      page = PageLocked(prefix, delimiter, from, count, &total);
    }
    from += page.objects.size() + page.common_prefixes.size();
    if (!each(page)) break;
    if (from >= total || (max_keys > 0 && from >= max_keys)) break;
  }
  return s3::Done{};
}

std::string FakeObjectClient::SetObject(const std::string& key, std::string_view data,
                                        int64_t mtime_ns) {
  std::lock_guard lock(mu_);
  std::string etag = StoreLocked(key, std::string(data), ETagOf(data));
  if (mtime_ns != 0) objects_[key].mtime_ns = mtime_ns;
  return etag;
}

std::optional<FakeObjectClient::Object> FakeObjectClient::GetObject(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

void FakeObjectClient::RemoveObject(const std::string& key) {
  std::lock_guard lock(mu_);
  objects_.erase(key);
}

std::vector<std::string> FakeObjectClient::Keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> keys;
  for (const auto& [key, o] : objects_) keys.push_back(key);
  return keys;
}

void FakeObjectClient::set_now_ns(int64_t ns) {
  std::lock_guard lock(mu_);
  now_ns_ = ns;
}

void FakeObjectClient::set_quirks(const Quirks& quirks) {
  std::lock_guard lock(mu_);
  quirks_ = quirks;
}

void FakeObjectClient::Inject(Fault fault) {
  std::lock_guard lock(mu_);
  faults_.push_back(std::move(fault));
}

size_t FakeObjectClient::Requests(S3Op op) const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [which, count] : requests_)
    if (which.first == op) n += count;
  return n;
}

size_t FakeObjectClient::Requests(S3Op op, const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = requests_.find({op, key});
  return it == requests_.end() ? 0 : it->second;
}

}  // namespace freshfs::testing
