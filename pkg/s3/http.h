// HTTP/1.1 transport for the S3 client: one request at a time per libcurl easy
// handle, handles pooled and reused so their keep-alive connections are too.
//
// Thread safety: HttpPool::Perform may be called from any thread. At most
// `max_connections` requests run at once; callers beyond that block until a
// handle is returned. Perform blocks for the whole transfer (bounded by the
// connect and stall timeouts). No retries here: the caller decides.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace freshfs::s3 {

struct HttpPoolConfig {
  size_t max_connections = 16;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds stall_timeout{10000};  // no byte moved for this long: fail
  std::string ca_file;                             // empty: system store
  bool verify_tls = true;
};

// A request body read on demand, so large files are never held in memory.
// `read` fills `buf` with up to `len` bytes starting at `offset` of the body
// and returns how many it wrote, or -1 on error (errno set). It is called
// from offset 0 again when a request is retried or curl rewinds.
struct HttpBody {
  uint64_t size = 0;
  std::function<ssize_t(uint64_t offset, char* buf, size_t len)> read;

  static HttpBody FromString(std::string_view data);  // `data` must outlive the request
  static HttpBody FromFd(int fd, uint64_t offset, uint64_t size);  // pread, fd offset untouched
};

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;     // fully encoded
  std::vector<std::pair<std::string, std::string>> headers;
  const HttpBody* body = nullptr;  // PUT/POST body; none: empty body
  // Called when the headers of the final response are in; returning false
  // ends the transfer there (HttpResponse::stopped_early is then set).
  std::function<bool(long status, const std::map<std::string, std::string>& headers)> on_headers;
  // Receives the body of 2xx responses (with their status) instead of
  // HttpResponse::body; returns false to stop the transfer
  // (HttpResponse::stopped_early is then set).
  std::function<bool(long status, std::string_view chunk)> sink;
};

struct HttpResponse {
  long status = 0;  // 0: no HTTP response
  // Header names lower-cased; of the final response only (not of a 100).
  std::map<std::string, std::string> headers;
  std::string body;            // non-2xx bodies always; 2xx bodies without a sink
  int curl_code = 0;           // CURLcode, 0 on success
  std::string curl_error;      // human-readable transport error, empty on success
  bool stopped_early = false;  // on_headers or sink asked to stop: not an error
  int body_read_errno = 0;     // the request body's `read` failed with this errno

  bool transport_ok() const { return curl_code == 0 || stopped_early; }
  // Header value or "" (name lower case).
  std::string Header(const std::string& name) const;
};

class HttpPool {
 public:
  explicit HttpPool(HttpPoolConfig config);
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  HttpResponse Perform(const HttpRequest& request);

  // Whether a failed transfer is worth retrying (timeouts, resets, refused
  // connections) rather than a local or configuration problem (bad URL, TLS
  // verification, a failing body read).
  static bool IsTransientCurlError(int curl_code);

 private:
  void* Acquire();  // CURL*; blocks while max_connections are in use
  void Release(void* handle);

  const HttpPoolConfig config_;
  std::mutex mu_;
  std::condition_variable handle_freed_;
  std::vector<void*> idle_;  // CURL* kept with their open connections
  size_t created_ = 0;
};

}  // namespace freshfs::s3
