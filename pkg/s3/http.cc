#include "s3/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unistd.h>

namespace freshfs::s3 {
namespace {

// Error bodies are only parsed for their code and message; a misbehaving
// server must not make us buffer an arbitrary amount.
constexpr size_t kMaxErrorBody = 1 << 20;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// Per-transfer state shared with the libcurl callbacks.
struct Transfer {
  CURL* curl;
  const HttpRequest* request;
  HttpResponse* response;
  const HttpBody* body = nullptr;  // what PUT/POST send
  uint64_t body_pos = 0;
};

size_t OnHeader(char* data, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * nitems;
  std::string_view line(data, n);
  if (line == "\r\n" || line == "\n") {  // end of one response's headers
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && t->request->on_headers &&
        !t->request->on_headers(status, t->response->headers)) {
      t->response->stopped_early = true;
      return 0;  // CURLE_WRITE_ERROR ends the transfer
    }
    return n;
  }
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new response (after 100 Continue, say)
    return n;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->response->headers[Lower(Trim(line.substr(0, colon)))] =
        std::string(Trim(line.substr(colon + 1)));
  }
  return n;
}

size_t OnBody(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * nmemb;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  const bool success = status >= 200 && status < 300;
  if (success && t->request->sink) {
    if (!t->request->sink(status, std::string_view(data, n))) {
      t->response->stopped_early = true;
      return 0;  // CURLE_WRITE_ERROR ends the transfer
    }
    return n;
  }
  if (!success && t->response->body.size() >= kMaxErrorBody) return n;
  t->response->body.append(data, n);
  return n;
}

size_t OnRead(char* buf, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const HttpBody& body = *t->body;
  const size_t want =
      static_cast<size_t>(std::min<uint64_t>(size * nitems, body.size - t->body_pos));
  if (want == 0) return 0;
  const ssize_t got = body.read(t->body_pos, buf, want);
  if (got <= 0) {
    // A short body (the file shrank) would leave the server waiting for
    // bytes that never come; fail now instead.
    t->response->body_read_errno = got < 0 ? errno : EIO;
    return CURL_READFUNC_ABORT;
  }
  t->body_pos += static_cast<uint64_t>(got);
  return static_cast<size_t>(got);
}

int OnSeek(void* userdata, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(userdata);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->body->size) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->body_pos = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

class HeaderList {
 public:
  ~HeaderList() { curl_slist_free_all(list_); }
  void Add(const std::string& line) { list_ = curl_slist_append(list_, line.c_str()); }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

}  // namespace

HttpBody HttpBody::FromString(std::string_view data) {
  HttpBody body;
  body.size = data.size();
  body.read = [data](uint64_t offset, char* buf, size_t len) -> ssize_t {
    const size_t n = std::min<size_t>(len, data.size() - offset);
    std::memcpy(buf, data.data() + offset, n);
    return static_cast<ssize_t>(n);
  };
  return body;
}

HttpBody HttpBody::FromFd(int fd, uint64_t offset, uint64_t size) {
  HttpBody body;
  body.size = size;
  body.read = [fd, offset](uint64_t pos, char* buf, size_t len) -> ssize_t {
    for (;;) {
      ssize_t n = pread(fd, buf, len, static_cast<off_t>(offset + pos));
      if (n >= 0 || errno != EINTR) return n;
    }
  };
  return body;
}

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

HttpPool::HttpPool(HttpPoolConfig config) : config_(std::move(config)) { InitCurlOnce(); }

HttpPool::~HttpPool() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpPool::Acquire() {
  std::unique_lock lock(mu_);
  const size_t limit = std::max<size_t>(1, config_.max_connections);
  handle_freed_.wait(lock, [&] { return !idle_.empty() || created_ < limit; });
  if (!idle_.empty()) {
    void* h = idle_.back();
    idle_.pop_back();
    return h;
  }
  ++created_;
  lock.unlock();
  CURL* h = curl_easy_init();
  if (h == nullptr) {
    lock.lock();
    --created_;
    handle_freed_.notify_one();
  }
  return h;
}

void HttpPool::Release(void* handle) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(handle);
  }
  handle_freed_.notify_one();
}

bool HttpPool::IsTransientCurlError(int curl_code) {
  switch (curl_code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

HttpResponse HttpPool::Perform(const HttpRequest& request) {
  HttpResponse response;
  CURL* curl = static_cast<CURL*>(Acquire());
  if (curl == nullptr) {
    response.curl_code = CURLE_FAILED_INIT;
    response.curl_error = "curl_easy_init failed";
    return response;
  }
  // Reset keeps the handle's open connections, DNS and TLS session caches.
  curl_easy_reset(curl);

  Transfer transfer{curl, &request, &response};
  char error_buffer[CURL_ERROR_SIZE] = {};
  HeaderList headers;
  for (const auto& [name, value] : request.headers) {
    headers.Add(value.empty() ? name + ";" : name + ": " + value);
  }
  // No "Expect: 100-continue" round trip before bodies.
  headers.Add("Expect:");

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  // Keys may hold "/../" or "/./": they name objects, not directories.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "freshfs");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(config_.connect_timeout.count()));
  // libcurl counts the stall window in whole seconds.
  const long stall_seconds =
      std::max<long>(1, static_cast<long>((config_.stall_timeout.count() + 999) / 1000));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, stall_seconds);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!config_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, config_.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, config_.verify_tls ? 2L : 0L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);

  static const HttpBody kEmptyBody = HttpBody::FromString("");
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    transfer.body = request.body != nullptr ? request.body : &kEmptyBody;
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    if (request.method == "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "POST");
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(transfer.body->size));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, OnSeek);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &transfer);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  response.curl_code = code;
  if (code != CURLE_OK && !response.stopped_early) {
    response.curl_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    if (!response.curl_error.empty() && response.curl_error.back() == '\n') {
      response.curl_error.pop_back();
    }
  }
  // The handle must not point at this stack frame once it is reused.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  Release(curl);
  return response;
}

}  // namespace freshfs::s3
