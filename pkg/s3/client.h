// S3 client: the object operations freshfs needs, over libcurl with a pool of
// reusable connections, SigV4 signing (sigv4.h) and XML via pugixml.
//
// Thread safety: every method may be called from any thread concurrently;
// up to ClientConfig::max_connections requests run in parallel, more wait for
// a free connection. Calls block on the network (bounded by the timeouts and
// retry budget below) and must not be made under a lock a FUSE handler needs.
//
// Retries: network errors and timeouts, HTTP 5xx (incl. 503 SlowDown), 429,
// and the codes SlowDown/InternalError/RequestTimeout (also inside a 200, as
// S3 may send for copy and CompleteMultipartUpload) are retried with
// full-jitter exponential backoff, up to max_attempts in total; every attempt
// is signed anew and resends the whole body. Other errors return at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3/credential_provider.h"
#include "s3/credentials.h"

namespace freshfs::s3 {

// Parts of one multipart upload sent at once (docs/s3.md quotes it).
inline constexpr size_t kParallelParts = 4;

struct ClientConfig {
  // "http(s)://host[:port]". Empty: AWS, https://s3.<region>.amazonaws.com.
  std::string endpoint;
  std::string region = "us-east-1";
  bool path_style = false;  // http://host/bucket/key instead of http://bucket.host/key
  std::string ca_file;      // extra CA bundle for TLS; empty: system store
  bool verify_tls = true;
  // What requests are signed with: `credential_provider` when set (it
  // refreshes temporary credentials), else these fixed ones. `credentials`
  // also names the source in messages.
  Credentials credentials;
  std::shared_ptr<CredentialProvider> credential_provider;
  size_t max_connections = 16;
  std::chrono::milliseconds connect_timeout{5000};
  // A request that moves no byte for this long fails (and may be retried).
  std::chrono::milliseconds stall_timeout{10000};
  int max_attempts = 4;
  std::chrono::milliseconds retry_base_delay{100};  // doubled per attempt, jittered
  uint64_t multipart_threshold = 64ull << 20;       // PutFile: multipart above this
  uint64_t multipart_part_size = 16ull << 20;
};

// What went wrong with a request, after retries.
struct Error {
  int http_status = 0;  // 0: no HTTP response (DNS, connect, TLS, timeout)
  // S3 error code ("NoSuchKey", "AccessDenied", ...); without an HTTP
  // response one of "ConnectFailed", "ResolveFailed", "Timeout", "TLSError",
  // "NetworkError", "BodyReadError" (the local file could not be read).
  std::string code;
  std::string message;   // S3's <Message>, or curl's detail
  std::string resource;  // what the request was about: "HEAD s3://bucket/key"
  int attempts = 0;      // requests sent, retries included

  // ENOENT for 404, EACCES for 401/403 (and credential errors), ESTALE for
  // 412 (also when If-None-Match: * failed: a caller that asked for that
  // knows it means EEXIST), EBUSY for 409, EINVAL for other 4xx, ENOTSUP for
  // 501, EIO for network errors, timeouts and 5xx.
  int ToErrno() const;
  // One line for logs, never with credentials, e.g.
  // "HTTP 403 AccessDenied: Access Denied (GET s3://bucket/key)".
  std::string Describe() const;
};

// A value or an Error.
template <typename T>
class Outcome {
 public:
  Outcome(T value) : value_(std::move(value)) {}      // NOLINT: implicit by design
  Outcome(Error error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  const Error& error() const { return error_; }

 private:
  std::optional<T> value_;
  Error error_;
};
struct Done {};  // value of operations that return nothing

struct ObjectInfo {
  std::string key;  // full key, including the volume prefix
  uint64_t size = 0;
  std::string etag;      // as the server sends it, quotes included
  int64_t mtime_ns = 0;  // LastModified
};

struct Listing {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> common_prefixes;  // with the trailing delimiter
  size_t requests = 0;                       // how many ListObjectsV2 pages it took
};

// Preconditions for writes (PUT, copy) and reads.
struct Condition {
  std::string if_match;            // ETag the object must still have
  bool if_none_match_any = false;  // the object must not exist yet
};

class Client {
 public:
  static std::unique_ptr<Client> Create(ClientConfig config, std::string bucket);
  ~Client();

  const std::string& bucket() const;
  const ClientConfig& config() const;

  // Whether the bucket exists and these credentials may list it (one
  // ListObjectsV2 with max-keys=1). The Error says which, for mount-time
  // messages.
  Outcome<Done> CheckBucket(std::string_view prefix);

  // ListObjectsV2 under `prefix`, following continuation tokens. With a
  // delimiter ("/"), keys below the next delimiter fold into common_prefixes.
  // max_keys > 0 stops after that many entries (objects + prefixes).
  Outcome<Listing> List(std::string_view prefix, std::string_view delimiter, size_t max_keys = 0);
  // The same, one page (ListObjectsV2 response) at a time and never more in
  // memory: `page` gets each (it may move its contents out) and returns
  // false to stop.
  Outcome<Done> ListPages(std::string_view prefix, std::string_view delimiter,
                          const std::function<bool(Listing& page)>& page);

  Outcome<ObjectInfo> Head(std::string_view key);

  // GET bytes [offset, offset + length) into `buf`; returns how many were
  // read (fewer at the end of the object, 0 past it). `info`, when given,
  // receives the object's ETag/size/mtime from the response (size stays 0
  // when reading past the end). With condition.if_match, fails with 412 when
  // the object's ETag differs (if_none_match_any does not apply to reads).
  // Note: s3rver ignores If-Match on GET.
  Outcome<size_t> GetRange(std::string_view key, uint64_t offset, size_t length, char* buf,
                           const Condition& condition = {}, ObjectInfo* info = nullptr);

  // PUT the bytes of `data`. Returns the new ETag.
  Outcome<std::string> Put(std::string_view key, std::string_view data,
                           const Condition& condition = {});
  // PUT the first `size` bytes of file `fd` (read with pread, so the offset
  // is untouched), as a multipart upload above multipart_threshold (aborted
  // on failure). Returns the new ETag.
  Outcome<std::string> PutFile(std::string_view key, int fd, uint64_t size,
                               const Condition& condition = {});

  // DELETE; succeeds when the key does not exist (S3 semantics).
  Outcome<Done> Delete(std::string_view key);
  // DeleteObjects in batches of 1000; fails on the first key S3 refuses.
  Outcome<Done> DeleteMany(const std::vector<std::string>& keys);
  // Server-side copy; returns the new ETag. `source_condition.if_match`
  // applies to the source (x-amz-copy-source-if-match).
  // Note: s3rver decodes x-amz-copy-source with JS decodeURI, which leaves
  // "%2B" etc. encoded: copying a key with '+', '&', '=', ',', ';', '?', '#',
  // '$', ':' or '@' in it fails there (404) though it works on S3.
  Outcome<std::string> Copy(std::string_view from_key, std::string_view to_key,
                            const Condition& source_condition = {});

  // Counts every HTTP request sent (retries too), by operation name
  // ("list", "head", "get", "put", "delete", "copy", "multipart") and outcome
  // ("ok" or the HTTP status / "network"); for metrics and tests.
  using RequestHook = std::function<void(std::string_view op, std::string_view outcome)>;
  void set_request_hook(RequestHook hook);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  // ListObjectsV2 pages until `each` says stop, the listing ends or
  // max_keys (> 0) entries came.
  Outcome<Done> Pages(std::string_view prefix, std::string_view delimiter, size_t max_keys,
                      const std::function<bool(Listing& page)>& each);
  std::unique_ptr<Impl> impl_;
};

}  // namespace freshfs::s3
