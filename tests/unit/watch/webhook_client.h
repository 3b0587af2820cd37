// Real HTTP clients of the S3 event webhook for unit tests: one libcurl
// request, and raw sockets for what curl will not do (stall, trickle, send
// a head and stop).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/unique_fd.h"

namespace freshfs::watch::testing {

struct HttpResponse {
  int curl = 0;  // CURLcode; 0: OK
  long status = 0;
  std::string body;
  std::string headers;
};

// One request to 127.0.0.1:port. `chunked` sends the body without a
// Content-Length; `headers` are extra lines such as "Authorization: ...".
HttpResponse Request(int port, const std::string& method, const std::string& path,
                     const std::string& body = "", bool chunked = false,
                     const std::vector<std::string>& headers = {});

// A TCP connection to 127.0.0.1:port (blocking), or an invalid descriptor.
UniqueFd Connect(int port);
bool SendAll(int fd, std::string_view data);
// What arrives until the peer closes or `timeout` passes, whichever first.
std::string ReadUntilClose(int fd, std::chrono::milliseconds timeout);

// An S3 event record and a body of records.
nlohmann::json Record(const std::string& event_name, const std::string& bucket,
                      const std::string& key);
std::string Records(const std::vector<nlohmann::json>& records);

}  // namespace freshfs::watch::testing
