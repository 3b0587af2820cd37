// WebhookServer: the HTTP endpoint object stores push S3 event
// notifications to (--events-address): MinIO and Ceph RGW webhooks, AWS via
// an SNS HTTP subscription. Each accepted body becomes one handler call with
// the keys that changed.
//
// Routes (keep-alive off: one request per connection):
//   POST <any path but /healthz>   "/" recommended; the path is ignored so
//                                  a store's configured URL needs no exact
//                                  match. Body parsed by ParseS3EventBody.
//       200 "accepted N events, ignored M" (also for test events and SNS
//           confirmations, whose SubscribeURL is logged for an operator);
//       400 one-line reason for malformed JSON, a wrong shape, or a body
//           over max_body_bytes: nothing is delivered, nothing changes;
//       500 if the handler threw.
//   GET/HEAD /healthz              200 "ok".
//   anything else                  405 with an Allow header.
// Events for another bucket than `bucket`, and events that cannot have
// changed an object (ObjectAccessed, tagging, ...), are counted and dropped.
// SNS signatures are not verified: listen on a trusted network; a forged
// request can only cause rescans.
//
// Threads: civetweb runs a listener thread and `worker_threads` workers.
// The handler runs on a worker thread, never concurrently with itself, only
// with a non-empty batch, and only between Start() and the return of Stop();
// the response is sent after it returns, so it should be quick (queue the
// work) and must not call Stop(). Start()/Stop() from the owner's thread;
// port() and stats() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "watch/s3_events.h"

struct mg_connection;
struct mg_context;

namespace freshfs::watch {

class WebhookServer {
 public:
  struct Settings {
    // "HOST:PORT" or "[IPv6]:PORT"; HOST may be a name (resolved once, at
    // Start(), IPv4 preferred), 0.0.0.0 listens on all interfaces; PORT 0
    // picks a free port. IPv6 needs a civetweb built with it (Debian's
    // 1.15 is not: Start() says so).
    std::string address;
    std::string bucket;                   // deliver only this bucket's events; empty: any
    size_t max_body_bytes = 1024 * 1024;  // larger bodies get 400
    int worker_threads = 2;
    std::chrono::milliseconds request_timeout{10000};  // per request, for slow clients
  };
  struct Stats {
    uint64_t requests_accepted = 0;  // POSTs answered 200
    uint64_t requests_rejected = 0;  // requests answered 4xx/5xx (bad body, too large, 405)
    uint64_t events_delivered = 0;   // events handed to the handler
    uint64_t events_ignored = 0;     // other bucket, or an event that changes nothing
  };
  using Handler = std::function<void(std::vector<S3Event>)>;

  WebhookServer(Settings settings, Handler handler);
  ~WebhookServer();  // stops
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Binds and starts serving. Returns an error message (malformed address,
  // port taken, already running), empty on success. May be called again
  // after Stop().
  std::string Start();
  // Closes the listener, waits for requests in flight (and so for a running
  // handler call) to finish; otherwise returns within a few milliseconds.
  // Idempotent.
  void Stop();

  int port() const { return port_.load(); }  // bound port; 0 when stopped
  Stats stats() const;

 private:
  static int HandleRequest(mg_connection* conn);  // civetweb's begin_request
  static int LogMessage(const mg_connection* conn, const char* message);
  int Serve(mg_connection* conn);
  int ServeEvents(mg_connection* conn);
  int Reject(mg_connection* conn, int status, const std::string& reason,
             const char* allow = nullptr);

  const Settings settings_;
  const Handler handler_;
  std::mutex lifecycle_mu_;  // Start/Stop
  mg_context* ctx_ = nullptr;
  std::atomic<int> port_{0};
  std::mutex handler_mu_;  // one handler call at a time
  std::mutex log_mu_;
  std::string first_log_;  // civetweb's first complaint, for Start()'s error
  std::string wake_host_;  // numeric address Stop() connects to
  std::atomic<bool> warned_reject_{false};
  std::atomic<uint64_t> requests_accepted_{0};
  std::atomic<uint64_t> requests_rejected_{0};
  std::atomic<uint64_t> events_delivered_{0};
  std::atomic<uint64_t> events_ignored_{0};
};

// Checks the syntax of a "HOST:PORT" address without resolving or binding;
// returns an error message, empty if fine. For validating configuration.
std::string CheckListenAddress(std::string_view address);

}  // namespace freshfs::watch
