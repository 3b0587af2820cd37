#include "fake_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace freshfs::s3::testing {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string ReceivedRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

FakeHttpServer::FakeHttpServer(std::vector<FakeReply> script) : script_(std::move(script)) {
  if (script_.empty()) script_.push_back(FakeReply{});
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 16) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::abort();  // a test machine without loopback cannot run these tests
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeHttpServer::~FakeHttpServer() {
  stopping_ = true;
  acceptor_.join();
  for (auto& t : connections_) t.join();
  close(listen_fd_);
}

std::vector<ReceivedRequest> FakeHttpServer::requests() const {
  std::lock_guard lock(mu_);
  return received_;
}

int FakeHttpServer::connections() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(connections_.size());
}

int FakeHttpServer::max_in_flight() const {
  std::lock_guard lock(mu_);
  return max_in_flight_;
}

bool FakeHttpServer::WaitReadable(int fd) const {
  while (!stopping_) {
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, 50);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
  return false;
}

void FakeHttpServer::AcceptLoop() {
  while (WaitReadable(listen_fd_)) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    connections_.emplace_back([this, fd] {
      Serve(fd);
      close(fd);
    });
  }
}

void FakeHttpServer::Serve(int fd) {
  std::string buffer;
  auto read_more = [&]() {
    if (!WaitReadable(fd)) return false;
    char chunk[65536];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  };
  for (;;) {
    size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return;
    }
    ReceivedRequest request;
    const std::string head = buffer.substr(0, header_end);
    buffer.erase(0, header_end + 4);
    size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = request_line.rfind(' ');
    request.method = request_line.substr(0, sp1);
    request.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      request.headers[Lower(line.substr(0, colon))] = value;
    }
    const size_t length = std::strtoull(request.Header("content-length").c_str(), nullptr, 10);
    while (buffer.size() < length) {
      if (!read_more()) return;
    }
    request.body = buffer.substr(0, length);
    buffer.erase(0, length);

    FakeReply reply;
    {
      std::lock_guard lock(mu_);
      reply = script_[std::min(received_.size(), script_.size() - 1)];
      received_.push_back(request);
      max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    }
    std::this_thread::sleep_for(reply.delay);
    if (reply.hang) {
      while (!stopping_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return;
    }
    std::string response = "HTTP/1.1 " + std::to_string(reply.status) + " Fake\r\n";
    for (const auto& [name, value] : reply.headers) response += name + ": " + value + "\r\n";
    const bool has_length =
        std::any_of(reply.headers.begin(), reply.headers.end(),
                    [](const auto& h) { return Lower(h.first) == "content-length"; });
    if (!has_length) response += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
    response += "\r\n";
    if (request.method != "HEAD") response += reply.body;
    {
      std::lock_guard lock(mu_);
      --in_flight_;
    }
    if (!SendAll(fd, response)) return;
  }
}

}  // namespace freshfs::s3::testing
