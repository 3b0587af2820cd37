// A scripted HTTP/1.1 server on 127.0.0.1 for the S3 client's wire tests:
// it records every request exactly as received and answers with the next
// reply of its script (the last reply repeats). Lets tests see the headers
// the client sends and make the "server" fail in chosen ways, which s3rver
// cannot do.
//
// One thread accepts, one thread per connection serves keep-alive requests.
// requests() may be called from the test thread at any time.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace freshfs::s3::testing {

struct FakeReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Accept the request, then send nothing (a stalled server) until stopped.
  bool hang = false;
  // Wait this long before replying.
  std::chrono::milliseconds delay{0};
};

struct ReceivedRequest {
  std::string method;
  std::string target;                          // path and query as on the request line
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string Header(const std::string& lower_name) const;
};

class FakeHttpServer {
 public:
  explicit FakeHttpServer(std::vector<FakeReply> script);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<ReceivedRequest> requests() const;
  // TCP connections accepted so far.
  int connections() const;
  // The most requests that were being answered at the same time.
  int max_in_flight() const;

 private:
  void AcceptLoop();
  void Serve(int fd);
  // Waits until fd is readable; false when stopping or on error.
  bool WaitReadable(int fd) const;

  std::vector<FakeReply> script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<ReceivedRequest> received_;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  std::vector<std::thread> connections_;
  std::thread acceptor_;
};

}  // namespace freshfs::s3::testing
