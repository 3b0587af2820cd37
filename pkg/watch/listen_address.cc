#include "watch/listen_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/quote.h"

namespace freshfs::watch {
namespace {

struct HostPort {
  std::string host;  // without brackets
  bool bracketed = false;
  int port = 0;
};

std::string SplitAddress(std::string_view address, HostPort* out) {
  const std::string shown = Quoted(address);
  std::string_view port;
  if (address.starts_with('[')) {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) return "unterminated '[' in " + shown;
    if (close + 1 >= address.size() || address[close + 1] != ':') {
      return "expected [IPv6]:PORT, got " + shown;
    }
    out->host = std::string(address.substr(1, close - 1));
    out->bracketed = true;
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return "expected HOST:PORT, got " + shown;
    out->host = std::string(address.substr(0, colon));
    if (out->host.find(':') != std::string::npos) {
      return "IPv6 addresses need brackets ([::1]:PORT), got " + shown;
    }
    port = address.substr(colon + 1);
  }
  if (out->host.empty()) {
    return "missing host in " + shown + " (0.0.0.0 listens on all interfaces)";
  }
  const bool digits =
      !port.empty() && port.size() <= 5 &&
      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  out->port = digits ? std::stoi(std::string(port)) : -1;
  if (out->port < 0 || out->port > 65535) {
    return "invalid port " + Quoted(port) + " in " + shown + " (expected 0-65535)";
  }
  return "";
}

void SetV4(const in_addr& ip, int port, ListenAddress* out) {
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->addr);
  v4->sin_family = AF_INET;
  v4->sin_addr = ip;
  v4->sin_port = htons(static_cast<uint16_t>(port));
  out->len = sizeof(*v4);
  char text[INET_ADDRSTRLEN];
  out->host = inet_ntop(AF_INET, &ip, text, sizeof(text));
  out->loopback = (ntohl(ip.s_addr) >> 24) == 127;
}

void SetV6(const in6_addr& ip, int port, ListenAddress* out) {
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->addr);
  v6->sin6_family = AF_INET6;
  v6->sin6_addr = ip;
  v6->sin6_port = htons(static_cast<uint16_t>(port));
  out->len = sizeof(*v6);
  char text[INET6_ADDRSTRLEN];
  out->host = inet_ntop(AF_INET6, &ip, text, sizeof(text));
  out->loopback = IN6_IS_ADDR_LOOPBACK(&ip) || (IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127);
}

}  // namespace

std::string CheckListenAddress(std::string_view address) {
  HostPort hp;
  return SplitAddress(address, &hp);
}

std::string ResolveListenAddress(std::string_view address, ListenAddress* out) {
  HostPort hp;
  if (std::string error = SplitAddress(address, &hp); !error.empty()) return error;
  out->port = hp.port;
  in6_addr v6;
  if (hp.bracketed) {
    if (inet_pton(AF_INET6, hp.host.c_str(), &v6) != 1) {
      return "invalid IPv6 address " + Quoted(hp.host);
    }
    SetV6(v6, hp.port, out);
    return "";
  }
  in_addr v4;
  if (inet_pton(AF_INET, hp.host.c_str(), &v4) == 1) {
    SetV4(v4, hp.port, out);
    return "";
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(hp.host.c_str(), nullptr, &hints, &found);
  if (rc != 0) return "cannot resolve " + Quoted(hp.host) + ": " + gai_strerror(rc);
  const addrinfo* pick = nullptr;
  for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
    if (ai->ai_family == AF_INET6 && !pick) pick = ai;
  }
  std::string error;
  if (!pick) {
    error = "no IPv4 or IPv6 address for " + Quoted(hp.host);
  } else if (pick->ai_family == AF_INET) {
    SetV4(reinterpret_cast<const sockaddr_in*>(pick->ai_addr)->sin_addr, hp.port, out);
  } else {
    SetV6(reinterpret_cast<const sockaddr_in6*>(pick->ai_addr)->sin6_addr, hp.port, out);
  }
  freeaddrinfo(found);
  return error;
}

UniqueFd Listen(ListenAddress* address, std::string* error) {
  UniqueFd fd(socket(address->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  auto fail = [&](const char* what) {
    *error = std::string(what) + ": " + std::strerror(errno);
    return UniqueFd();
  };
  if (!fd.valid()) return fail("socket");
  const int on = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address->addr), address->len) != 0) {
    const std::string shown = address->addr.ss_family == AF_INET6
                                  ? "[" + address->host + "]:" + std::to_string(address->port)
                                  : address->host + ":" + std::to_string(address->port);
    *error = "cannot bind to " + shown + ": " + std::strerror(errno);
    return UniqueFd();
  }
  if (listen(fd.get(), SOMAXCONN) != 0) return fail("listen");
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return fail("getsockname");
  }
  address->port = bound.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  return fd;
}

}  // namespace freshfs::watch
