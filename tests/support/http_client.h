// Small HTTP and polling helpers shared by the integration tests: a blocking
// request over libcurl, a Prometheus text-format reader, and WaitFor.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace freshfs::testing {

struct HttpResult {
  int status = 0;      // 0: no response (connection refused, timeout)
  std::string body;
  std::string error;   // curl's message when status == 0
};

// `method` GET/POST/...; `body` sent as is (Content-Type: application/json
// when it starts with '{').
HttpResult HttpRequest(const std::string& method, const std::string& url,
                       const std::string& body = "",
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Sum of the samples of metric `name` in Prometheus text `text` whose labels
// include all of `want`; nullopt when none matches.
std::optional<double> MetricSum(const std::string& text, const std::string& name,
                                const std::map<std::string, std::string>& want = {});

// Calls `pred` every `every` until it is true or `timeout` passes. Returns
// how long it took, or nullopt on timeout.
std::optional<std::chrono::milliseconds> WaitFor(
    const std::function<bool()>& pred, std::chrono::milliseconds timeout,
    std::chrono::milliseconds every = std::chrono::milliseconds(10));

}  // namespace freshfs::testing
