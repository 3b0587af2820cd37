#include "support/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "metrics/exposition.h"

namespace freshfs::testing {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

HttpResult HttpRequest(const std::string& method, const std::string& url, const std::string& body,
                       std::chrono::milliseconds timeout, const std::vector<std::string>& extra) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  HttpResult result;
  CURL* curl = curl_easy_init();
  if (!curl) {
    result.error = "curl_easy_init failed";
    return result;
  }
  curl_slist* headers = nullptr;
  if (!body.empty() && body.front() == '{')
    headers = curl_slist_append(headers, "Content-Type: application/json");
  for (const std::string& line : extra) headers = curl_slist_append(headers, line.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (method == "POST" || method == "PUT" || !body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  }
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    result.status = int(status);
  } else {
    result.error = curl_easy_strerror(rc);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

std::optional<std::string> ScrapeMetrics(int port, std::chrono::milliseconds timeout) {
  auto r = HttpRequest("GET", "http://127.0.0.1:" + std::to_string(port) + "/metrics", "", timeout);
  if (r.status != 200) return std::nullopt;
  return std::move(r.body);
}

RawHttpResponse RawHttpGet(int port, const std::string& path, std::chrono::seconds timeout) {
  RawHttpResponse r;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = std::string("socket: ") + std::strerror(errno);
    return r;
  }
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    r.error = std::string("connect: ") + std::strerror(errno);
    close(fd);
    return r;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    r.error = std::string("send: ") + std::strerror(errno);
    close(fd);
    return r;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // A reset before anything arrived is a connection error; a reset in
      // the middle of a response is judged by what arrived (truncated).
      r.error = std::string("recv: ") + std::strerror(errno);
      break;
    }
    if (n == 0) break;
    r.raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (r.raw.empty()) return r;
  r.connected = true;
  size_t head_end = r.raw.find("\r\n\r\n");
  if (r.raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) return r;
  std::string head = r.raw.substr(0, head_end);
  r.body = r.raw.substr(head_end + 4);
  size_t sp = head.find(' ');
  r.status = sp == std::string::npos ? 0 : std::atoi(head.c_str() + sp + 1);
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    size_t next = head.find("\r\n", pos + 2);
    std::string line =
        head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = line.find_first_not_of(' ', colon + 1);
      r.headers[name] = v == std::string::npos ? "" : line.substr(v);
    }
    pos = next;
  }
  return r;
}

std::optional<double> MetricSum(const std::string& text, const std::string& name,
                                const std::map<std::string, std::string>& want) {
  const metrics::ParsedExposition parsed = metrics::ParseExposition(text);
  if (!parsed.error.empty()) {
    ADD_FAILURE() << "the metrics do not parse: " << parsed.error;
    return std::nullopt;
  }
  return metrics::Sum(metrics::Samples(parsed.families), name, want);
}

std::optional<std::chrono::milliseconds> WaitFor(const std::function<bool()>& pred,
                                                 std::chrono::milliseconds timeout,
                                                 std::chrono::milliseconds every) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (;;) {
    if (pred()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (Clock::now() - start >= timeout) return std::nullopt;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace freshfs::testing
