#include "watch/webhook_server.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>

#include "util/quote.h"
#include "watch/http_request.h"
#include "watch/webhook_auth.h"

namespace freshfs::watch {
namespace {

using namespace std::chrono_literals;

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxAcceptsPerRound = 64;
// After the answer to a request that was not read whole, what the client
// still sends is read and dropped for this long, so that closing does not
// reset the connection before the client has read the answer.
constexpr auto kLingerTime = 1s;
constexpr auto kAcceptPause = 100ms;  // out of descriptors: let some close first
constexpr size_t kTrimAfterBodyBytes = 256 * 1024;

constexpr const char* kReasonNames[] = {"unauthorized",       "too_large", "malformed",
                                        "method_not_allowed", "timeout",   "overloaded",
                                        "internal_error"};
static_assert(std::size(kReasonNames) == size_t(RejectReason::kCount));

constexpr const char* kChallenge =
    "WWW-Authenticate: Bearer realm=\"freshfs\"\r\n"
    "WWW-Authenticate: Basic realm=\"freshfs\"\r\n";
constexpr const char* kRetryAfter = "Retry-After: 1\r\n";

const char* StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

std::string HttpDate() {
  const time_t now = time(nullptr);
  tm utc{};
  gmtime_r(&now, &utc);
  // Spelled out rather than strftime'd: HTTP dates are never localized.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char text[64];
  std::snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[utc.tm_wday],
                utc.tm_mday, kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
                utc.tm_sec);
  return text;
}

// One-line plain-text answer; the connection closes after it.
std::string Response(int status, std::string_view text, bool head_only, const char* extra_headers) {
  const std::string body = std::string(text) + "\n";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + StatusText(status) + "\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n";
  out += "Date: " + HttpDate() + "\r\n";
  out += extra_headers;
  out += "\r\n";
  if (!head_only) out += body;
  return out;
}

std::string PeerText(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (peer.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, text, sizeof(text));
  } else if (peer.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, text,
              sizeof(text));
  }
  return text;
}

bool WouldBlock() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

}  // namespace

const char* RejectReasonName(RejectReason reason) { return kReasonNames[size_t(reason)]; }

struct WebhookServer::Connection {
  enum class Phase { kReading, kWriting, kLingering, kClosed };

  Connection(UniqueFd socket, std::string from, Clock::time_point now, const Settings& s)
      : fd(std::move(socket)),
        peer(std::move(from)),
        accepted(now),
        deadline(now + s.head_timeout),
        reader(s.max_head_bytes, s.max_body_bytes) {}

  short PollEvents() const {
    switch (phase) {
      case Phase::kReading:
        return static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT));
      case Phase::kWriting:
        return POLLOUT;
      case Phase::kLingering:
        return POLLIN;
      case Phase::kClosed:
        return 0;
    }
    return 0;
  }
  bool SendingHead() const {
    return phase == Phase::kReading && reader.state() == HttpRequestReader::State::kHead;
  }

  UniqueFd fd;
  std::string peer;
  Clock::time_point accepted;
  Clock::time_point deadline;
  HttpRequestReader reader;
  Phase phase = Phase::kReading;
  std::string out;  // to send: "100 Continue" while reading, then the answer
  size_t sent = 0;
  size_t accounted = 0;  // bytes of this request counted in buffered_
  size_t discarded = 0;  // read and dropped while lingering
};

WebhookServer::WebhookServer(Settings settings, Handler handler)
    : settings_(std::move(settings)), handler_(std::move(handler)) {}

WebhookServer::~WebhookServer() { Stop(); }

std::string WebhookServer::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (thread_.joinable()) {
    return "S3 event server already running on port " + std::to_string(port_.load());
  }
  const std::string where = "cannot serve S3 events on " + Quoted(settings_.address) + ": ";
  ListenAddress address;
  if (std::string error = ResolveListenAddress(settings_.address, &address); !error.empty()) {
    return where + error;
  }
  if (settings_.token.empty() && !address.loopback) {
    return where + address.host +
           " is reachable from other hosts and no token is set, so anyone who reaches it "
           "could make this mount send S3 requests: give a token with --events-token-file "
           "(docs/s3.md), or listen on 127.0.0.1";
  }
  std::string error;
  listener_ = Listen(&address, &error);
  if (!listener_.valid()) return where + error;
  wake_ = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_.valid()) {
    listener_.reset();
    return where + "eventfd: " + std::strerror(errno);
  }
  shown_address_ = address.addr.ss_family == AF_INET6 ? "[" + address.host + "]" : address.host;
  stopping_ = false;
  port_ = address.port;
  thread_ = std::thread([this] { Loop(); });
  spdlog::info("listening for S3 event notifications on {}:{} ({})", shown_address_, address.port,
               settings_.token.empty() ? "no token: this host only" : "token required");
  return "";
}

void WebhookServer::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (!thread_.joinable()) return;
  stopping_ = true;
  const uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof(one));
  thread_.join();  // the loop ends after the handler call it may be in
  listener_.reset();
  wake_.reset();
  port_ = 0;
}

WebhookServer::Stats WebhookServer::stats() const {
  Stats s;
  s.requests_accepted = requests_accepted_.load();
  for (size_t i = 0; i < s.rejected.size(); ++i) {
    s.rejected[i] = rejected_[i].load();
    s.requests_rejected += s.rejected[i];
  }
  s.events_delivered = events_delivered_.load();
  s.events_ignored = events_ignored_.load();
  return s;
}

void WebhookServer::Loop() {
  std::vector<pollfd> fds;
  while (!stopping_) {
    Clock::time_point now = Clock::now();
    fds.clear();
    fds.push_back({wake_.get(), POLLIN, 0});
    // A negative descriptor is skipped by poll(): no accepting while paused.
    fds.push_back({now >= accept_paused_until_ ? listener_.get() : -1, POLLIN, 0});
    Clock::time_point wake_at = now + 1s;
    if (now < accept_paused_until_) wake_at = std::min(wake_at, accept_paused_until_);
    for (const auto& c : connections_) {
      fds.push_back({c->fd.get(), c->PollEvents(), 0});
      wake_at = std::min(wake_at, c->deadline);
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake_at - now);
    if (poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, wait.count()))) < 0 &&
        errno != EINTR) {
      spdlog::warn("S3 event server: poll: {}", std::strerror(errno));
      std::this_thread::sleep_for(10ms);
    }
    if (stopping_) break;
    now = Clock::now();
    // Connections accepted below join the next round; none is removed
    // before the end of this one, so fds[i + 2] stays connections_[i].
    const size_t polled = fds.size() - 2;
    for (size_t i = 0; i < polled; ++i) {
      Connection& c = *connections_[i];
      const short events = fds[i + 2].revents;
      try {
        if (events & POLLOUT) Flush(c, now);
        if ((events & (POLLIN | POLLHUP | POLLERR)) && c.phase == Connection::Phase::kReading) {
          Receive(c, now);
        } else if (events && c.phase == Connection::Phase::kLingering) {
          Linger(c);
        } else if ((events & (POLLHUP | POLLERR)) && c.phase == Connection::Phase::kWriting) {
          Close(c);
        }
        Expire(c, now);
      } catch (const std::exception& e) {  // bad_alloc: drop this connection, keep serving
        spdlog::warn("S3 event server: dropping a connection from {}: {}", c.peer, e.what());
        Close(c);
      }
    }
    if (fds[1].revents & POLLIN) AcceptAll(now);
    std::erase_if(connections_,
                  [](const auto& c) { return c->phase == Connection::Phase::kClosed; });
  }
  for (auto& c : connections_) Close(*c);
  connections_.clear();
}

void WebhookServer::AcceptAll(Clock::time_point now) {
  for (size_t i = 0; i < kMaxAcceptsPerRound; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    const int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      Admit(UniqueFd(fd), PeerText(peer), now);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      spdlog::warn("S3 event server: cannot accept connections: {}", std::strerror(errno));
      accept_paused_until_ = now + kAcceptPause;
    }
    return;  // EAGAIN: none left
  }
}

void WebhookServer::Admit(UniqueFd fd, std::string peer, Clock::time_point now) {
  const size_t open = static_cast<size_t>(
      std::count_if(connections_.begin(), connections_.end(),
                    [](const auto& c) { return c->phase != Connection::Phase::kClosed; }));
  if (open >= settings_.max_connections) {
    Connection* victim = ToMakeRoom();
    if (!victim) {
      // Every connection is busy with a request: refuse this one without
      // keeping it (one try to send the answer, then close).
      CountRejection(RejectReason::kOverloaded, peer, "too many connections");
      const std::string answer =
          Response(503, "too many connections; retry later", false, kRetryAfter);
      (void)!send(fd.get(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      return;
    }
    if (victim->phase != Connection::Phase::kLingering) {
      CountRejection(RejectReason::kOverloaded, victim->peer,
                     "connection limit reached: closed the oldest connection still sending "
                     "its request head");
    }
    Close(*victim);
  }
  connections_.push_back(
      std::make_unique<Connection>(std::move(fd), std::move(peer), now, settings_));
}

WebhookServer::Connection* WebhookServer::ToMakeRoom() {
  Connection* oldest = nullptr;
  for (const auto& c : connections_) {
    if (c->phase == Connection::Phase::kLingering) return c.get();
    if (c->SendingHead() && (!oldest || c->accepted < oldest->accepted)) oldest = c.get();
  }
  return oldest;
}

void WebhookServer::Receive(Connection& c, Clock::time_point now) {
  char buffer[kReadChunk];
  const ssize_t n = recv(c.fd.get(), buffer, sizeof(buffer), 0);
  if (n == 0 || (n < 0 && !WouldBlock())) {
    Close(c);  // gone before a whole request: nothing to answer
    return;
  }
  if (n < 0) return;
  c.reader.Feed(std::string_view(buffer, static_cast<size_t>(n)));
  if (!Account(c)) {
    Reject(c, RejectReason::kOverloaded, 503, "too many request bytes held; retry later", now,
           kRetryAfter);
    return;
  }
  using State = HttpRequestReader::State;
  if (c.reader.state() == State::kHeadDone) OnHead(c, now);
  if (c.phase != Connection::Phase::kReading) return;
  if (c.reader.state() == State::kDone) {
    OnRequest(c, now);
  } else if (c.reader.state() == State::kError) {
    const bool too_large = c.reader.error() == HttpRequestReader::Error::kTooLarge;
    Reject(c, too_large ? RejectReason::kTooLarge : RejectReason::kMalformed,
           c.reader.error_status(), c.reader.error_reason(), now);
  }
}

void WebhookServer::OnHead(Connection& c, Clock::time_point now) {
  const HttpRequestHead& head = c.reader.head();
  if (head.path == "/healthz") {
    if (head.method == "GET" || head.method == "HEAD") {
      Respond(c, 200, "ok", now);
    } else {
      Reject(c, RejectReason::kMethodNotAllowed, 405, "method not allowed", now,
             "Allow: GET, HEAD\r\n");
    }
    return;
  }
  if (!settings_.token.empty()) {
    const std::string* authorization = head.Header("authorization");
    if (!authorization || !AuthorizationMatches(*authorization, settings_.token)) {
      Reject(c, RejectReason::kUnauthorized, 401,
             authorization ? "wrong credentials" : "credentials required", now, kChallenge);
      return;
    }
  }
  if (head.method != "POST") {
    Reject(c, RejectReason::kMethodNotAllowed, 405, "method not allowed", now, "Allow: POST\r\n");
    return;
  }
  c.reader.ReadBody();
  if (c.reader.state() == HttpRequestReader::State::kError)
    return;  // too large: the caller answers
  if (head.content_length &&
      buffered_ + *head.content_length > settings_.max_buffered_bytes + c.accounted) {
    Reject(c, RejectReason::kOverloaded, 503, "too many request bytes held; retry later", now,
           kRetryAfter);
    return;
  }
  if (!Account(c)) {
    Reject(c, RejectReason::kOverloaded, 503, "too many request bytes held; retry later", now,
           kRetryAfter);
    return;
  }
  c.deadline = c.accepted + settings_.request_timeout;
  if (head.expect_continue && c.reader.state() == HttpRequestReader::State::kBody) {
    c.out += "HTTP/1.1 100 Continue\r\n\r\n";
    Flush(c, now);
  }
}

void WebhookServer::OnRequest(Connection& c, Clock::time_point now) {
  int status = 200;
  std::string text;
  try {
    text = ServeEvents(c.reader.body(), &status);
  } catch (const std::exception& e) {
    status = 500;
    text = std::string("internal error: ") + e.what();
  }
  // The JSON of a large body was parsed into a tree many times its size,
  // freed by now: hand the pages back, or the daemon's resident memory
  // keeps the peak of the largest body ever sent.
  if (c.reader.body().size() >= kTrimAfterBodyBytes) ::malloc_trim(0);
  if (status == 200) {
    ++requests_accepted_;
    Respond(c, 200, text, now);
  } else {
    Reject(c, status == 500 ? RejectReason::kInternalError : RejectReason::kMalformed, status, text,
           now);
  }
}

std::string WebhookServer::ServeEvents(const std::string& body, int* status) {
  S3EventBody parsed = ParseS3EventBody(body);
  if (!parsed.ok()) {
    *status = 400;
    return parsed.error;
  }
  switch (parsed.kind) {
    case S3BodyKind::kSubscriptionConfirmation:
      spdlog::warn(
          "SNS asks to confirm the subscription of topic {} to the S3 event feed: "
          "open {} to confirm",
          Quoted(parsed.topic_arn), Quoted(parsed.subscribe_url));
      break;
    case S3BodyKind::kUnsubscribeConfirmation:
      spdlog::warn("SNS topic {} unsubscribed the S3 event feed", Quoted(parsed.topic_arn));
      break;
    case S3BodyKind::kTestEvent:
      spdlog::info("S3 test event received");
      break;
    case S3BodyKind::kEvents:
      break;
  }

  std::vector<S3Event> wanted;
  wanted.reserve(parsed.events.size());
  for (auto& event : parsed.events) {
    if ((!settings_.bucket.empty() && event.bucket != settings_.bucket) || !ChangesObject(event)) {
      continue;
    }
    wanted.push_back(std::move(event));
  }
  const size_t ignored = parsed.events.size() - wanted.size();
  events_ignored_ += ignored;
  const size_t delivered = wanted.size();
  if (delivered > 0) {
    events_delivered_ += delivered;
    try {
      handler_(std::move(wanted));
    } catch (const std::exception& e) {
      *status = 500;
      return std::string("handler failed: ") + e.what();
    }
  }
  return "accepted " + std::to_string(delivered) + " events, ignored " + std::to_string(ignored);
}

void WebhookServer::Respond(Connection& c, int status, std::string_view text, Clock::time_point now,
                            const char* extra_headers) {
  c.out += Response(status, text, c.reader.head().method == "HEAD", extra_headers);
  c.phase = Connection::Phase::kWriting;
  c.deadline = now + settings_.write_timeout;
  Flush(c, now);
}

void WebhookServer::Reject(Connection& c, RejectReason reason, int status, std::string_view text,
                           Clock::time_point now, const char* extra_headers) {
  CountRejection(reason, c.peer, text);
  Respond(c, status, text, now, extra_headers);
}

void WebhookServer::CountRejection(RejectReason reason, const std::string& peer,
                                   std::string_view text) {
  ++rejected_[size_t(reason)];
  if (settings_.on_reject) settings_.on_reject(reason);
  if (!warned_reject_.exchange(true)) {
    spdlog::warn(
        "S3 event request from {} refused ({}): {} (further refusals are logged at debug "
        "level and counted in freshfs_event_requests_rejected_total)",
        peer, RejectReasonName(reason), text);
  } else {
    spdlog::debug("S3 event request from {} refused ({}): {}", peer, RejectReasonName(reason),
                  text);
  }
}

void WebhookServer::Flush(Connection& c, Clock::time_point now) {
  while (c.sent < c.out.size()) {
    const ssize_t n = send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      Close(c);
      return;
    }
  }
  c.out.clear();
  c.sent = 0;
  if (c.phase != Connection::Phase::kWriting) return;
  if (c.reader.state() == HttpRequestReader::State::kDone) {
    Close(c);
    return;
  }
  // The request was not read whole (refused early): stop sending, and
  // read what the client still sends for a moment before closing.
  shutdown(c.fd.get(), SHUT_WR);
  c.phase = Connection::Phase::kLingering;
  c.deadline = now + kLingerTime;
}

void WebhookServer::Linger(Connection& c) {
  char buffer[kReadChunk];
  const ssize_t n = recv(c.fd.get(), buffer, sizeof(buffer), 0);
  if (n < 0 && WouldBlock()) return;
  c.discarded += n > 0 ? static_cast<size_t>(n) : 0;
  if (n <= 0 || c.discarded > 2 * settings_.max_body_bytes) Close(c);
}

void WebhookServer::Expire(Connection& c, Clock::time_point now) {
  if (c.phase == Connection::Phase::kClosed || now < c.deadline) return;
  if (c.phase != Connection::Phase::kReading) {
    Close(c);
    return;
  }
  Reject(c, RejectReason::kTimeout, 408,
         c.SendingHead() ? "request head not complete in time" : "request not complete in time",
         now);
}

bool WebhookServer::Account(Connection& c) {
  const size_t held = c.reader.buffered_bytes();
  buffered_ = buffered_ - c.accounted + held;
  const bool grew = held > c.accounted;
  c.accounted = held;
  return !grew || buffered_ <= settings_.max_buffered_bytes;
}

void WebhookServer::Close(Connection& c) {
  buffered_ -= c.accounted;
  c.accounted = 0;
  c.fd.reset();
  c.phase = Connection::Phase::kClosed;
}

}  // namespace freshfs::watch
