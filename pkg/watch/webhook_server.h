// WebhookServer: the HTTP endpoint object stores push S3 event
// notifications to (--events-address): MinIO and Ceph RGW webhooks, AWS via
// an SNS HTTP subscription. Each accepted body becomes one handler call with
// the keys that changed.
//
// Routes (one request per connection: every answer says Connection: close):
//   POST <any path but /healthz>   "/" recommended; the path is ignored so
//                                  a store's configured URL needs no exact
//                                  match. Body parsed by ParseS3EventBody.
//       200 "accepted N events, ignored M" (also for test events and SNS
//           confirmations, whose SubscribeURL is logged for an operator);
//       401 without the token (when one is set: see webhook_auth.h), read
//           before any of the body, for every route but /healthz;
//       400 one-line reason for a malformed request, malformed JSON or a
//           wrong shape; 413 for a body over max_body_bytes; nothing is
//           delivered, nothing changes;
//       408 when the request is not complete in time; 503 when the server
//           is at its limits (Retry-After: 1); 500 if the handler threw.
//   GET/HEAD /healthz              200 "ok" (no token needed).
//   anything else                  405 with an Allow header.
// Events for another bucket than `bucket`, and events that cannot have
// changed an object (ObjectAccessed, tagging, ...), are counted and dropped.
// SNS signatures are not verified: the token is what authenticates.
//
// Slow or idle clients cannot starve the others: one thread serves every
// connection without blocking (poll), so a connection costs a descriptor
// and its buffer, never a thread. A request must bring its head within
// head_timeout and the rest within request_timeout of connecting. At
// max_connections, a new connection takes the place of one that is only
// lingering after its answer, or of the oldest one still sending its head
// (a valid client sends its head at once); only when every connection is
// busy with a request is the new one answered 503. Requests being read
// hold at most max_buffered_bytes together.
//
// Threads: Start() and Stop() from the owner's thread; port() and stats()
// from any thread. The handler runs on the server's thread, one call at a
// time, only with a non-empty batch, and only between Start() and the
// return of Stop(); the response is sent after it returns, so it should be
// quick (queue the work) and must not call Stop(). on_reject runs on the
// server's thread too.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/unique_fd.h"
#include "watch/listen_address.h"
#include "watch/s3_events.h"

namespace freshfs::watch {

// Why a request was refused (label reason of
// freshfs_event_requests_rejected_total).
enum class RejectReason {
  kUnauthorized,      // 401: no token, or a wrong one
  kTooLarge,          // 413/431: body or head over the limits
  kMalformed,         // 400/501: not HTTP we take, not JSON, not an S3 event body
  kMethodNotAllowed,  // 405
  kTimeout,           // 408: not complete in time (a slow or idle client)
  kOverloaded,        // 503 or evicted: at max_connections or max_buffered_bytes
  kInternalError,     // 500: the handler threw
  kCount
};
const char* RejectReasonName(RejectReason reason);

class WebhookServer {
 public:
  struct Settings {
    // "HOST:PORT" or "[IPv6]:PORT"; HOST may be a name (resolved once, at
    // Start(), IPv4 preferred), 0.0.0.0 listens on all interfaces; PORT 0
    // picks a free port.
    std::string address;
    std::string bucket;  // deliver only this bucket's events; empty: any
    // The shared secret every request but /healthz must carry. Empty: none,
    // which Start() refuses unless the address is a loopback address.
    std::string token;
    size_t max_body_bytes = 1024 * 1024;
    size_t max_head_bytes = 16 * 1024;
    size_t max_connections = 64;
    size_t max_buffered_bytes = 8 * 1024 * 1024;       // request bytes held, all connections
    std::chrono::milliseconds head_timeout{5000};      // connect -> end of the head
    std::chrono::milliseconds request_timeout{15000};  // connect -> end of the body
    std::chrono::milliseconds write_timeout{5000};     // to send the answer
    std::function<void(RejectReason)> on_reject;       // each refused request
  };
  struct Stats {
    uint64_t requests_accepted = 0;                                 // POSTs answered 200
    uint64_t requests_rejected = 0;                                 // requests refused, any reason
    std::array<uint64_t, size_t(RejectReason::kCount)> rejected{};  // by reason
    uint64_t events_delivered = 0;                                  // events handed to the handler
    uint64_t events_ignored = 0;  // other bucket, or an event that changes nothing
  };
  using Handler = std::function<void(std::vector<S3Event>)>;

  WebhookServer(Settings settings, Handler handler);
  ~WebhookServer();  // stops
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Binds and starts serving. Returns an error message (malformed address,
  // port taken, no token on a non-loopback address, already running), empty
  // on success. May be called again after Stop().
  std::string Start();
  // Closes the listener and every connection; waits for a running handler
  // call to return. Idempotent.
  void Stop();

  int port() const { return port_.load(); }  // bound port; 0 when stopped
  Stats stats() const;

 private:
  struct Connection;
  using Clock = std::chrono::steady_clock;

  void Loop();
  void AcceptAll(Clock::time_point now);
  void Admit(UniqueFd fd, std::string peer, Clock::time_point now);
  // The connection to close for a new one at max_connections: one answered
  // already and only lingering, else the one that has been sending its head
  // the longest (a valid client sends its head at once: that one is the
  // likeliest to be slow or idle); nullptr when every one is busy with a
  // request.
  Connection* ToMakeRoom();
  void Receive(Connection& c, Clock::time_point now);
  void Flush(Connection& c, Clock::time_point now);
  void Linger(Connection& c);
  void Expire(Connection& c, Clock::time_point now);
  // The head is in: route, authorize, and either answer or read the body.
  void OnHead(Connection& c, Clock::time_point now);
  void OnRequest(Connection& c, Clock::time_point now);
  std::string ServeEvents(const std::string& body, int* status);
  void Respond(Connection& c, int status, std::string_view text, Clock::time_point now,
               const char* extra_headers = "");
  void Reject(Connection& c, RejectReason reason, int status, std::string_view text,
              Clock::time_point now, const char* extra_headers = "");
  void CountRejection(RejectReason reason, const std::string& peer, std::string_view text);
  // Keeps the bytes held by `c`'s request counted in buffered_; false when
  // they no longer fit.
  bool Account(Connection& c);
  void Close(Connection& c);

  const Settings settings_;
  const Handler handler_;
  std::mutex lifecycle_mu_;  // Start/Stop
  std::atomic<int> port_{0};
  std::thread thread_;
  UniqueFd listener_;
  UniqueFd wake_;  // eventfd: Stop() wakes the loop
  std::atomic<bool> stopping_{false};
  std::string shown_address_;

  // The server thread's own.
  std::vector<std::unique_ptr<Connection>> connections_;
  size_t buffered_ = 0;
  Clock::time_point accept_paused_until_{};

  std::atomic<bool> warned_reject_{false};
  std::atomic<uint64_t> requests_accepted_{0};
  std::array<std::atomic<uint64_t>, size_t(RejectReason::kCount)> rejected_{};
  std::atomic<uint64_t> events_delivered_{0};
  std::atomic<uint64_t> events_ignored_{0};
};

}  // namespace freshfs::watch
