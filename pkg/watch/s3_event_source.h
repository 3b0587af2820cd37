// S3EventSource: turns S3 event notifications pushed to --events-address
// into targeted rescans, so another writer's change shows in milliseconds
// instead of at the next poll.
//
// The webhook thread only queues paths: each key maps to a path under the
// volume's prefix (keys outside it or that cannot be paths are dropped),
// and a path already waiting absorbs further events for it (RescanQueue).
// One worker thread asks the watcher to rescan each path, which confirms the
// change with a HEAD/LIST before anything is invalidated: an event is a
// hint, never trusted on its own. When more paths arrive than the queue
// holds, the queue is dropped and one full sync is asked for instead (at
// most one a second while it keeps overflowing): the work stays bounded
// however many events arrive. Events can be lost in transit, so the
// staleness bound stays the poll interval (no heartbeat).
//
// Start() reads the token and binds (before the mount, so a bad address or
// token file fails the mount); Run() starts the worker once the mount is
// up. Stop() is idempotent.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "metrics/metrics.h"
#include "watch/rescan_queue.h"
#include "watch/watcher.h"
#include "watch/webhook_server.h"

namespace freshfs::watch {

class S3EventSource {
 public:
  struct Settings {
    std::string bucket;
    std::string prefix;            // "" or "dir/sub/"
    std::string address;           // --events-address HOST:PORT
    std::string token_file;        // --events-token-file; empty: no token (loopback only)
    size_t queue_capacity = 1024;  // paths waiting for a rescan
    // While the queue keeps overflowing, full syncs are asked for at most
    // this often.
    std::chrono::milliseconds overflow_sync_gap{1000};
  };

  S3EventSource(Watcher* watcher, metrics::Metrics* metrics, Settings settings);
  ~S3EventSource();

  std::string Start();  // error message, empty on success
  void Run();
  void Stop();
  int port() const { return server_ ? server_->port() : 0; }

  // The path `key` stands for under `prefix`, or nullopt.
  static std::optional<std::string> PathOfKey(std::string_view key, std::string_view prefix);

 private:
  using Clock = std::chrono::steady_clock;

  void Enqueue(const std::vector<S3Event>& events);
  void Work();
  void Rescan(const RescanQueue::Item& item);

  Watcher* watcher_;
  metrics::Metrics* metrics_;
  const Settings settings_;
  std::unique_ptr<WebhookServer> server_;

  std::mutex mu_;
  std::condition_variable cv_;
  RescanQueue queue_;
  bool sync_wanted_ = false;                // the queue overflowed since the last full sync asked
  Clock::time_point last_overflow_sync_{};  // when one was last asked for
  bool warned_overflow_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace freshfs::watch
