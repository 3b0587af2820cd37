// S3EventSource: turns S3 event notifications pushed to --events-address
// into targeted rescans, so another writer's change shows in milliseconds
// instead of at the next poll.
//
// The webhook thread only queues keys; one worker thread maps each key to a
// path under the volume's prefix (keys outside it or that cannot be paths
// are dropped) and asks the watcher to rescan it, which confirms the change
// with a HEAD/LIST before anything is invalidated: an event is a hint, never
// trusted on its own. Events can be lost in transit, so the staleness bound
// stays the poll interval (no heartbeat).
//
// Start() binds (before the mount, so a bad address fails the mount);
// Run() starts the worker once the mount is up. Stop() is idempotent.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "metrics/metrics.h"
#include "watch/watcher.h"
#include "watch/webhook_server.h"

namespace freshfs::watch {

class S3EventSource {
 public:
  S3EventSource(Watcher* watcher, metrics::Metrics* metrics, std::string bucket,
                std::string prefix, std::string address);
  ~S3EventSource();

  std::string Start();  // error message, empty on success
  void Run();
  void Stop();
  int port() const { return server_ ? server_->port() : 0; }

  // The path `key` stands for under `prefix`, or nullopt.
  static std::optional<std::string> PathOfKey(std::string_view key, std::string_view prefix);

 private:
  void Enqueue(std::vector<S3Event> events);
  void Work();

  Watcher* watcher_;
  metrics::Metrics* metrics_;
  const std::string bucket_, prefix_, address_;
  std::unique_ptr<WebhookServer> server_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, bool>> queue_;  // path, removed
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace freshfs::watch
