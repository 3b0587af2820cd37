#include "watch/webhook_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>
#include <thread>

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

// civetweb's listening_ports wants a numeric address: resolve names here,
// once, preferring IPv4.
std::string ListeningPort(const HostPort& hp, std::string* out) {
  const std::string port = std::to_string(hp.port);
  char text[INET6_ADDRSTRLEN];
  in6_addr v6;
  if (hp.bracketed) {
    if (inet_pton(AF_INET6, hp.host.c_str(), &v6) != 1) {
      return "invalid IPv6 address " + Quoted(hp.host);
    }
    *out = "[" + hp.host + "]:" + port;
    return "";
  }
  in_addr v4;
  if (inet_pton(AF_INET, hp.host.c_str(), &v4) == 1) {
    *out = hp.host + ":" + port;
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
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(pick->ai_addr)->sin_addr, text,
              sizeof(text));
    *out = std::string(text) + ":" + port;
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(pick->ai_addr)->sin6_addr, text,
              sizeof(text));
    *out = "[" + std::string(text) + "]:" + port;
  }
  freeaddrinfo(found);
  return error;
}

// Opens and closes a TCP connection to host:port, ignoring every error.
void Knock(const std::string& host, int port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(*v6);
  } else {
    return;
  }
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
  close(fd);
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

// One-line plain-text reply. civetweb closes the connection afterwards
// (keep-alive is off).
int Reply(mg_connection* conn, int status, std::string_view text, const char* allow = nullptr) {
  const std::string body = std::string(text) + "\n";
  const mg_request_info* ri = mg_get_request_info(conn);
  const bool head = ri && ri->request_method && std::string_view(ri->request_method) == "HEAD";
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(body.size()).c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  // Without a Date header civetweb 1.15 formats one with gmtime(), which is
  // not thread-safe (a data race between workers).
  mg_response_header_add(conn, "Date", HttpDate().c_str(), -1);
  if (allow) mg_response_header_add(conn, "Allow", allow, -1);
  mg_response_header_send(conn);
  if (!head) mg_write(conn, body.data(), body.size());
  return status;
}

}  // namespace

std::string CheckListenAddress(std::string_view address) {
  HostPort hp;
  return SplitAddress(address, &hp);
}

WebhookServer::WebhookServer(Settings settings, Handler handler)
    : settings_(std::move(settings)), handler_(std::move(handler)) {}

WebhookServer::~WebhookServer() { Stop(); }

std::string WebhookServer::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (ctx_) return "S3 event server already running on port " + std::to_string(port_.load());
  const std::string where = "cannot serve S3 events on " + Quoted(settings_.address) + ": ";
  HostPort hp;
  std::string listening;
  if (std::string error = SplitAddress(settings_.address, &hp); !error.empty()) {
    return where + error;
  }
  if (std::string error = ListeningPort(hp, &listening); !error.empty()) return where + error;
  if (listening.starts_with('[') && !mg_check_feature(MG_FEATURES_IPV6)) {
    return where + "this civetweb build has no IPv6 support";
  }

  const std::string threads = std::to_string(std::max(1, settings_.worker_threads));
  const std::string timeout = std::to_string(settings_.request_timeout.count());
  // clang-format off
  const char* options[] = {
      "listening_ports", listening.c_str(),
      "num_threads", threads.c_str(),
      "request_timeout_ms", timeout.c_str(),
      "enable_keep_alive", "no",
      nullptr,
  };
  // clang-format on
  mg_callbacks callbacks{};
  callbacks.begin_request = &WebhookServer::HandleRequest;
  callbacks.log_message = &WebhookServer::LogMessage;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = options;
  char error_text[256] = "";
  mg_error_data error{};
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  {
    std::lock_guard log_lock(log_mu_);
    first_log_.clear();
  }
  ctx_ = mg_start2(&init, &error);
  if (!ctx_) {
    // civetweb logs the cause first ("cannot bind to 127.0.0.1:80: 98
    // (Address already in use)"); its error text only names the failed step.
    std::lock_guard log_lock(log_mu_);
    return where + (first_log_.empty() ? std::string(error_text) : first_log_);
  }
  mg_server_port bound{};
  if (mg_get_server_ports(ctx_, 1, &bound) < 1) {
    mg_stop(ctx_);
    ctx_ = nullptr;
    return where + "civetweb reports no listening port";
  }
  port_ = bound.port;
  wake_host_ = listening.starts_with('[') ? listening.substr(1, listening.find(']') - 1)
                                          : listening.substr(0, listening.rfind(':'));
  if (wake_host_ == "0.0.0.0") wake_host_ = "127.0.0.1";
  if (wake_host_ == "::") wake_host_ = "::1";
  spdlog::info("listening for S3 event notifications on {}:{}",
               listening.substr(0, listening.rfind(':')), bound.port);
  return "";
}

void WebhookServer::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (!ctx_) return;
  // civetweb's listener thread polls in 2 s quanta and checks the stop flag
  // in between; connecting to it wakes it at once.
  std::atomic<bool> stopped{false};
  std::thread waker([&] {
    while (!stopped.load()) {
      Knock(wake_host_, port_.load());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  mg_stop(ctx_);  // joins the workers, so no handler call is left running
  stopped = true;
  waker.join();
  ctx_ = nullptr;
  port_ = 0;
}

WebhookServer::Stats WebhookServer::stats() const {
  Stats s;
  s.requests_accepted = requests_accepted_.load();
  s.requests_rejected = requests_rejected_.load();
  s.events_delivered = events_delivered_.load();
  s.events_ignored = events_ignored_.load();
  return s;
}

int WebhookServer::HandleRequest(mg_connection* conn) {
  auto* self = static_cast<WebhookServer*>(mg_get_user_data(mg_get_context(conn)));
  // Exceptions must not unwind through civetweb's C frames.
  try {
    return self->Serve(conn);
  } catch (const std::exception& e) {
    return self->Reject(conn, 500, std::string("internal error: ") + e.what());
  } catch (...) {
    return self->Reject(conn, 500, "internal error");
  }
}

int WebhookServer::LogMessage(const mg_connection* conn, const char* message) {
  mg_context* ctx = conn ? mg_get_context(conn) : nullptr;
  auto* self = ctx ? static_cast<WebhookServer*>(mg_get_user_data(ctx)) : nullptr;
  if (self) {
    std::lock_guard lock(self->log_mu_);
    if (self->first_log_.empty()) self->first_log_ = message;
  }
  spdlog::debug("civetweb: {}", message);
  return 1;  // handled: keep civetweb from printing to stderr
}

int WebhookServer::Serve(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  const std::string_view method = ri->request_method ? ri->request_method : "";
  const std::string_view uri = ri->local_uri ? ri->local_uri : "";
  if (uri == "/healthz") {
    if (method == "GET" || method == "HEAD") return Reply(conn, 200, "ok");
    return Reject(conn, 405, "method not allowed", "GET, HEAD");
  }
  if (method != "POST") return Reject(conn, 405, "method not allowed", "POST");
  return ServeEvents(conn);
}

int WebhookServer::ServeEvents(mg_connection* conn) {
  const size_t limit = settings_.max_body_bytes;
  const std::string too_large = "body too large (limit " + std::to_string(limit) + " bytes)";
  const long long declared = mg_get_request_info(conn)->content_length;  // -1: chunked
  if (declared > 0 && static_cast<unsigned long long>(declared) > limit) {
    return Reject(conn, 400, too_large);
  }
  std::string body;
  if (declared > 0) body.reserve(static_cast<size_t>(declared));
  char buf[16384];
  for (;;) {
    const int n = mg_read(conn, buf, sizeof(buf));
    if (n < 0) return Reject(conn, 400, "cannot read body");
    if (n == 0) break;
    if (body.size() + static_cast<size_t>(n) > limit) return Reject(conn, 400, too_large);
    body.append(buf, static_cast<size_t>(n));
  }

  S3EventBody parsed = ParseS3EventBody(body);
  if (!parsed.ok()) return Reject(conn, 400, parsed.error);
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
    std::lock_guard lock(handler_mu_);
    events_delivered_ += delivered;
    try {
      handler_(std::move(wanted));
    } catch (const std::exception& e) {
      return Reject(conn, 500, std::string("handler failed: ") + e.what());
    }
  }
  ++requests_accepted_;
  return Reply(
      conn, 200,
      "accepted " + std::to_string(delivered) + " events, ignored " + std::to_string(ignored));
}

int WebhookServer::Reject(mg_connection* conn, int status, const std::string& reason,
                          const char* allow) {
  ++requests_rejected_;
  const mg_request_info* ri = mg_get_request_info(conn);
  const char* from = ri ? ri->remote_addr : "?";
  if (!warned_reject_.exchange(true)) {
    spdlog::warn(
        "S3 event request from {} rejected ({}): {} (further rejections are logged at "
        "debug level)",
        from, status, reason);
  } else {
    spdlog::debug("S3 event request from {} rejected ({}): {}", from, status, reason);
  }
  // The body may be unread (or endless): close instead of draining it.
  mg_disable_connection_keep_alive(conn);
  return Reply(conn, status, reason, allow);
}

}  // namespace freshfs::watch
