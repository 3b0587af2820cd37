#include "s3/client.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "s3/request.h"
#include "s3/sigv4.h"
#include "s3/xml.h"

namespace freshfs::s3 {
namespace {

constexpr size_t kListPageSize = 1000;     // S3's maximum
constexpr size_t kDeleteBatchSize = 1000;  // S3's maximum per DeleteObjects
constexpr uint64_t kMaxParts = 10000;

std::string Base64Md5(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(data.data(), data.size(), digest, &digest_len, EVP_md5(), nullptr);
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_len));
  return std::string(reinterpret_cast<char*>(encoded), static_cast<size_t>(n));
}

// RFC 7231 date (Last-Modified) → ns since the epoch; 0 when unparsable.
int64_t HttpDateNs(const std::string& date) {
  if (date.empty()) return 0;
  const time_t t = curl_getdate(date.c_str(), nullptr);
  return t < 0 ? 0 : static_cast<int64_t>(t) * 1000000000;
}

bool ParseU64(const std::string& text, uint64_t& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtoull(text.c_str(), &end, 10);
  return errno == 0 && *end == '\0';
}

void AddCondition(const Condition& condition, S3Request& request) {
  if (!condition.if_match.empty()) request.headers.emplace_back("If-Match", condition.if_match);
  if (condition.if_none_match_any) request.headers.emplace_back("If-None-Match", "*");
}

Error Malformed(const S3Request& request, const std::string& resource, std::string_view what) {
  Error error;
  error.http_status = 200;
  error.code = "MalformedResponse";
  error.message = std::string("unexpected ") + std::string(what) + " response";
  error.resource = request.method + " " + resource;
  error.attempts = 1;
  return error;
}

// The object size from "Content-Range: bytes 0-99/1234" (or "bytes */1234").
std::optional<uint64_t> RangeTotal(const std::string& content_range) {
  const auto slash = content_range.rfind('/');
  uint64_t total = 0;
  if (slash == std::string::npos || !ParseU64(content_range.substr(slash + 1), total)) {
    return std::nullopt;
  }
  return total;
}

// Object metadata from the headers of a HEAD or GET response.
ObjectInfo InfoFromHeaders(std::string_view key, const HttpResponse& response) {
  ObjectInfo info;
  info.key = std::string(key);
  info.etag = response.Header("etag");
  info.mtime_ns = HttpDateNs(response.Header("last-modified"));
  if (auto total = RangeTotal(response.Header("content-range"))) {
    info.size = *total;
  } else if (response.status != 206 && response.status != 416) {
    ParseU64(response.Header("content-length"), info.size);
  }
  return info;
}

}  // namespace

struct Client::Impl {
  Impl(ClientConfig c, std::string b)
      : config(std::move(c)), bucket(std::move(b)), sender(config, bucket) {}

  Outcome<std::string> PutSingle(std::string_view key, const HttpBody& body,
                                 const Condition& condition);
  Outcome<std::string> PutMultipart(std::string_view key, int fd, uint64_t size,
                                    const Condition& condition);
  Outcome<Done> UploadParts(const std::string& key, const std::string& upload_id, int fd,
                            uint64_t size, uint64_t part_size, std::vector<std::string>& etags);
  void AbortMultipart(const std::string& key, const std::string& upload_id);

  const ClientConfig config;
  const std::string bucket;
  Sender sender;  // after config: it keeps a reference
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::unique_ptr<Client> Client::Create(ClientConfig config, std::string bucket) {
  return std::unique_ptr<Client>(
      new Client(std::make_unique<Impl>(std::move(config), std::move(bucket))));
}

const std::string& Client::bucket() const { return impl_->bucket; }
const ClientConfig& Client::config() const { return impl_->config; }
Location Client::location() const {
  return Location{.url = impl_->config.endpoint,
                  .region = impl_->config.region,
                  .credentials = impl_->config.credentials.Describe()};
}
void Client::set_request_hook(RequestHook hook) { impl_->sender.set_hook(std::move(hook)); }

Outcome<Done> Client::CheckBucket(std::string_view prefix) {
  S3Request request{.op = "list", .method = "GET"};
  request.query = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", std::string(prefix)}};
  auto response = impl_->sender.Send(request);
  if (!response) return response.error();
  if (!ParseListObjectsV2(response->body)) {
    return Malformed(request, impl_->sender.Resource(std::nullopt), "ListObjectsV2");
  }
  return Done{};
}

Outcome<Done> Client::Pages(std::string_view prefix, std::string_view delimiter, size_t max_keys,
                            const std::function<bool(Listing& page)>& each) {
  std::string token;
  size_t seen = 0;
  for (;;) {
    size_t page_size = kListPageSize;
    if (max_keys > 0) page_size = std::min(page_size, max_keys - seen);
    S3Request request{.op = "list", .method = "GET"};
    // encoding-type=url keeps keys that XML 1.0 cannot carry intact; servers
    // that ignore it (s3rver) send no <EncodingType> and raw keys.
    request.query = {{"list-type", "2"},
                     {"prefix", std::string(prefix)},
                     {"max-keys", std::to_string(page_size)},
                     {"encoding-type", "url"}};
    if (!delimiter.empty()) request.query.emplace_back("delimiter", std::string(delimiter));
    if (!token.empty()) request.query.emplace_back("continuation-token", token);

    auto response = impl_->sender.Send(request);
    if (!response) return response.error();
    auto page = ParseListObjectsV2(response->body);
    if (!page)
      return Malformed(request, impl_->sender.Resource(std::string(prefix)), "ListObjectsV2");
    Listing listing;
    listing.requests = 1;
    listing.objects = std::move(page->objects);
    listing.common_prefixes = std::move(page->common_prefixes);
    seen += listing.objects.size() + listing.common_prefixes.size();
    if (!each(listing)) break;
    if (!page->truncated) break;
    if (page->next_continuation_token.empty() || page->next_continuation_token == token) {
      return Malformed(request, impl_->sender.Resource(std::string(prefix)),
                       "truncated ListObjectsV2 without a new continuation token in");
    }
    token = std::move(page->next_continuation_token);
  }
  return Done{};
}

Outcome<ObjectInfo> Client::Head(std::string_view key) {
  S3Request request{.op = "head", .method = "HEAD", .key = std::string(key)};
  auto response = impl_->sender.Send(request);
  if (!response) {
    Error error = response.error();
    // HEAD responses have no body to name the error.
    if (error.http_status == 404 && error.message.empty()) {
      error.code = "NoSuchKey";
      error.message = "The specified key does not exist.";
    }
    return error;
  }
  return InfoFromHeaders(key, *response);
}

Outcome<size_t> Client::GetRange(std::string_view key, uint64_t offset, size_t length, char* buf,
                                 const Condition& condition, ObjectInfo* info) {
  if (length == 0) {
    if (info == nullptr) return size_t{0};
    auto head = Head(key);
    if (!head) return head.error();
    *info = *head;
    return size_t{0};
  }
  size_t filled = 0;
  uint64_t skipped = 0;
  S3Request request{.op = "get", .method = "GET", .key = std::string(key)};
  request.headers.emplace_back(
      "Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1));
  if (!condition.if_match.empty()) request.headers.emplace_back("If-Match", condition.if_match);
  request.also_ok = {416};  // range starts at or past the end: nothing to read
  request.before_attempt = [&] { filled = skipped = 0; };
  // Nothing to read when the range starts past the end. s3rver answers a
  // range on an empty object with "206, Content-Range: bytes 0-0/0,
  // Content-Length: 1" and never sends that byte: stop at the headers
  // rather than wait for the connection to time out.
  request.on_headers = [&](long status, const std::map<std::string, std::string>& headers) {
    if (status != 206) return true;
    auto it = headers.find("content-range");
    const auto total = it == headers.end() ? std::nullopt : RangeTotal(it->second);
    return !total || offset < *total;
  };
  request.sink = [&](long status, std::string_view chunk) {
    if (status == 200 && skipped < offset) {  // the server ignored Range
      const auto skip = static_cast<size_t>(std::min<uint64_t>(offset - skipped, chunk.size()));
      skipped += skip;
      chunk.remove_prefix(skip);
    }
    const size_t n = std::min(chunk.size(), length - filled);
    std::memcpy(buf + filled, chunk.data(), n);
    filled += n;
    return n == chunk.size();  // stop once the buffer is full
  };
  auto response = impl_->sender.Send(request);
  if (!response) return response.error();
  if (info != nullptr) *info = InfoFromHeaders(key, *response);
  if (response->status == 416) return size_t{0};
  return filled;
}

Outcome<std::string> Client::Impl::PutSingle(std::string_view key, const HttpBody& body,
                                             const Condition& condition) {
  S3Request request{.op = "put", .method = "PUT", .key = std::string(key)};
  AddCondition(condition, request);
  request.body = &body;
  auto response = sender.Send(request);
  if (!response) return response.error();
  return response->Header("etag");
}

Outcome<std::string> Client::Put(std::string_view key, std::string_view data,
                                 const Condition& condition) {
  const HttpBody body = HttpBody::FromString(data);
  return impl_->PutSingle(key, body, condition);
}

Outcome<std::string> Client::PutFile(std::string_view key, int fd, uint64_t size,
                                     const Condition& condition) {
  if (size > impl_->config.multipart_threshold && impl_->config.multipart_part_size > 0) {
    return impl_->PutMultipart(key, fd, size, condition);
  }
  const HttpBody body = HttpBody::FromFd(fd, 0, size);
  return impl_->PutSingle(key, body, condition);
}

Outcome<std::string> Client::Impl::PutMultipart(std::string_view key_view, int fd, uint64_t size,
                                                const Condition& condition) {
  const std::string key(key_view);
  S3Request create{.op = "multipart", .method = "POST", .key = key};
  create.query = {{"uploads", ""}};
  auto created = sender.Send(create);
  if (!created) return created.error();
  const auto upload_id = ParseUploadId(created->body);
  if (!upload_id) return Malformed(create, sender.Resource(key), "CreateMultipartUpload");

  // S3 allows 10,000 parts: larger files get larger parts.
  const uint64_t part_size =
      std::max<uint64_t>(config.multipart_part_size, (size + kMaxParts - 1) / kMaxParts);
  std::vector<std::string> etags;
  if (auto uploaded = UploadParts(key, *upload_id, fd, size, part_size, etags); !uploaded) {
    AbortMultipart(key, *upload_id);
    return uploaded.error();
  }

  const std::string xml = BuildCompleteMultipartUpload(etags);
  const HttpBody body = HttpBody::FromString(xml);
  S3Request complete{.op = "multipart", .method = "POST", .key = key};
  complete.query = {{"uploadId", *upload_id}};
  complete.headers.emplace_back("Content-Type", "application/xml");
  AddCondition(condition, complete);  // S3 checks conditions when completing
  complete.body = &body;
  complete.error_in_200_body = true;
  auto completed = sender.Send(complete);
  if (!completed) {
    AbortMultipart(key, *upload_id);
    return completed.error();
  }
  auto etag = ParseCompleteMultipartUploadETag(completed->body);
  if (!etag) return Malformed(complete, sender.Resource(key), "CompleteMultipartUpload");
  return *etag;
}

Outcome<Done> Client::Impl::UploadParts(const std::string& key, const std::string& upload_id,
                                        int fd, uint64_t size, uint64_t part_size,
                                        std::vector<std::string>& etags) {
  const uint64_t parts = (size + part_size - 1) / part_size;
  etags.assign(parts, "");
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::optional<Error> first_error;

  auto worker = [&] {
    while (!failed.load()) {
      const uint64_t index = next.fetch_add(1);
      if (index >= parts) return;
      const uint64_t offset = index * part_size;
      const HttpBody body = HttpBody::FromFd(fd, offset, std::min(part_size, size - offset));
      S3Request request{.op = "multipart", .method = "PUT", .key = key};
      request.query = {{"partNumber", std::to_string(index + 1)}, {"uploadId", upload_id}};
      request.body = &body;
      auto response = sender.Send(request);
      if (response && !response->Header("etag").empty()) {
        etags[index] = response->Header("etag");
        continue;
      }
      std::lock_guard lock(error_mu);
      if (!first_error) {
        first_error = response ? Malformed(request, sender.Resource(key), "UploadPart (no ETag)")
                               : response.error();
      }
      failed = true;
    }
  };
  const size_t workers = static_cast<size_t>(
      std::min<uint64_t>({parts, kParallelParts, std::max<size_t>(1, config.max_connections)}));
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers; ++i) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (first_error) return *first_error;
  return Done{};
}

void Client::Impl::AbortMultipart(const std::string& key, const std::string& upload_id) {
  // Best effort: parts left behind only cost storage until a lifecycle rule
  // removes them.
  S3Request abort{.op = "multipart", .method = "DELETE", .key = key};
  abort.query = {{"uploadId", upload_id}};
  abort.also_ok = {404};
  (void)sender.Send(abort);
}

Outcome<Done> Client::Delete(std::string_view key) {
  S3Request request{.op = "delete", .method = "DELETE", .key = std::string(key)};
  request.also_ok = {404};
  auto response = impl_->sender.Send(request);
  if (!response) return response.error();
  return Done{};
}

Outcome<Done> Client::DeleteMany(const std::vector<std::string>& keys) {
  for (size_t start = 0; start < keys.size(); start += kDeleteBatchSize) {
    const std::vector<std::string> batch(
        keys.begin() + static_cast<std::ptrdiff_t>(start),
        keys.begin() +
            static_cast<std::ptrdiff_t>(std::min(keys.size(), start + kDeleteBatchSize)));
    const std::string xml = BuildDeleteObjects(batch, /*quiet=*/true);
    const HttpBody body = HttpBody::FromString(xml);
    S3Request request{.op = "delete", .method = "POST"};
    request.query = {{"delete", ""}};
    request.headers = {{"Content-Type", "application/xml"}, {"Content-MD5", Base64Md5(xml)}};
    request.body = &body;
    request.error_in_200_body = true;
    auto response = impl_->sender.Send(request);
    if (!response) return response.error();
    auto failures = ParseDeleteResult(response->body);
    if (!failures) return Malformed(request, impl_->sender.Resource(std::nullopt), "DeleteObjects");
    if (!failures->empty()) {
      const DeleteFailure& f = failures->front();
      Error error;
      error.http_status = 200;
      error.code = f.code;
      error.message = f.message;
      error.resource = "DELETE " + impl_->sender.Resource(f.key);
      error.attempts = 1;
      return error;
    }
  }
  return Done{};
}

Outcome<std::string> Client::Copy(std::string_view from_key, std::string_view to_key,
                                  const Condition& source_condition) {
  S3Request request{.op = "copy", .method = "PUT", .key = std::string(to_key)};
  request.headers.emplace_back("x-amz-copy-source",
                               "/" + impl_->bucket + "/" + UriEncode(from_key, true));
  if (!source_condition.if_match.empty()) {
    request.headers.emplace_back("x-amz-copy-source-if-match", source_condition.if_match);
  }
  request.error_in_200_body = true;
  auto response = impl_->sender.Send(request);
  if (!response) return response.error();
  auto etag = ParseCopyObjectETag(response->body);
  if (!etag) return Malformed(request, impl_->sender.Resource(std::string(to_key)), "CopyObject");
  return *etag;
}

}  // namespace freshfs::s3
