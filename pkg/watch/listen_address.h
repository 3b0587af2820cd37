// Listen addresses of the S3 event webhook (--events-address): "HOST:PORT"
// or "[IPv6]:PORT" checked, resolved once and bound to a non-blocking
// listening socket.
//
// Pure functions apart from name resolution and the socket itself; callable
// from any thread.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "util/unique_fd.h"

namespace freshfs::watch {

struct ListenAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string host;  // numeric, without brackets: "127.0.0.1", "::1"
  int port = 0;
  bool loopback = false;  // 127.0.0.0/8, ::1 or ::ffff:127.x: reachable from this host only
};

// Checks the syntax of a "HOST:PORT" address without resolving or binding;
// returns an error message, empty if fine. For validating configuration.
std::string CheckListenAddress(std::string_view address);

// Splits and resolves `address` (a name once, preferring IPv4). Returns an
// error message, empty on success.
std::string ResolveListenAddress(std::string_view address, ListenAddress* out);

// Binds and listens (non-blocking, close-on-exec, SO_REUSEADDR); sets
// out->port to the port bound (for port 0). Returns an invalid descriptor
// and sets `*error` (e.g. "Address already in use") on failure.
UniqueFd Listen(ListenAddress* address, std::string* error);

}  // namespace freshfs::watch
