// Small HTTP and polling helpers shared by the integration tests: a blocking
// request over libcurl, a raw HTTP/1.0 GET that reports every byte it got, a
// Prometheus text-format reader, and WaitFor.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace freshfs::testing {

struct HttpResult {
  int status = 0;  // 0: no response (connection refused, timeout)
  std::string body;
  std::string error;  // curl's message when status == 0
};

// `method` GET/POST/...; `body` sent as is (Content-Type: application/json
// when it starts with '{'); `headers` are extra lines ("Name: value").
HttpResult HttpRequest(const std::string& method, const std::string& url,
                       const std::string& body = "",
                       std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       const std::vector<std::string>& headers = {});

// The body of GET http://127.0.0.1:`port`/metrics when the answer is 200;
// nullopt otherwise (no connection, another status, a cut-off body).
std::optional<std::string> ScrapeMetrics(
    int port, std::chrono::milliseconds timeout = std::chrono::seconds(5));

// What one raw GET received. Unlike HttpRequest it keeps whatever arrived,
// however malformed or cut off, so a caller can tell "no response at all"
// from "part of a response" from "a whole response with status N".
struct RawHttpResponse {
  bool connected = false;  // false: connect/send/recv failed (no response at all)
  int status = 0;          // 0: the bytes received are not an HTTP response
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string raw;    // every byte received, head and body
  std::string error;  // the failing call and errno, e.g. "connect: Connection refused"
};

// One HTTP/1.0 GET of `path` on 127.0.0.1:`port` over a plain socket, read
// until the server closes; `timeout` bounds each send and receive.
RawHttpResponse RawHttpGet(int port, const std::string& path,
                           std::chrono::seconds timeout = std::chrono::seconds(5));

// Sum of the samples of metric `name` in Prometheus text `text` whose labels
// include all of `want`; nullopt when none matches. Text that does not parse
// (metrics::ParseExposition) fails the test and gives nullopt.
std::optional<double> MetricSum(const std::string& text, const std::string& name,
                                const std::map<std::string, std::string>& want = {});

// Calls `pred` every `every` until it is true or `timeout` passes. Returns
// how long it took, or nullopt on timeout.
std::optional<std::chrono::milliseconds> WaitFor(
    const std::function<bool()>& pred, std::chrono::milliseconds timeout,
    std::chrono::milliseconds every = std::chrono::milliseconds(10));

}  // namespace freshfs::testing
