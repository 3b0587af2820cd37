#include "watch/s3_event_source.h"

#include <spdlog/spdlog.h>

#include "store/s3_tree.h"
#include "util/quote.h"
#include "watch/webhook_auth.h"

namespace freshfs::watch {

S3EventSource::S3EventSource(Watcher* watcher, metrics::Metrics* metrics, Settings settings)
    : watcher_(watcher),
      metrics_(metrics),
      settings_(std::move(settings)),
      queue_(settings_.queue_capacity) {}

S3EventSource::~S3EventSource() { Stop(); }

std::optional<std::string> S3EventSource::PathOfKey(std::string_view key, std::string_view prefix) {
  if (key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  key.remove_prefix(prefix.size());
  if (key.back() == '/') key.remove_suffix(1);  // a directory marker
  if (store::s3tree::InvalidReason(key)) return std::nullopt;
  return std::string(key);
}

std::string S3EventSource::Start() {
  WebhookServer::Settings settings;
  settings.address = settings_.address;
  settings.bucket = settings_.bucket;
  if (!settings_.token_file.empty()) {
    std::string error = ReadTokenFile(settings_.token_file, &settings.token);
    if (!error.empty()) return "--events-token-file " + Quoted(settings_.token_file) + " " + error;
  }
  metrics::Metrics* metrics = metrics_;
  settings.on_reject = [metrics](RejectReason reason) {
    if (metrics) metrics->EventRequestRejected(RejectReasonName(reason));
  };
  server_ = std::make_unique<WebhookServer>(
      settings, [this](const std::vector<S3Event>& events) { Enqueue(events); });
  std::string error = server_->Start();
  if (!error.empty()) return "--events-address " + Quoted(settings_.address) + ": " + error;
  spdlog::info("accepting S3 event notifications at http://{}:{}/",
               settings_.address.substr(0, settings_.address.rfind(':')), server_->port());
  return "";
}

void S3EventSource::Run() {
  if (!worker_.joinable()) worker_ = std::thread([this] { Work(); });
}

void S3EventSource::Stop() {
  if (server_) server_->Stop();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void S3EventSource::Enqueue(const std::vector<S3Event>& events) {
  uint64_t applied = 0, collapsed = 0, dropped = 0, ignored = 0;
  bool overflowed = false, warn = false;
  {
    std::lock_guard lock(mu_);
    for (const S3Event& e : events) {
      auto path = PathOfKey(e.key, settings_.prefix);
      if (!path) {
        ++ignored;
      } else if (overflowed) {
        ++dropped;  // the full sync asked for covers it: it changed before now
      } else {
        switch (queue_.Add(std::move(*path), e.removed)) {
          case RescanQueue::Added::kQueued:
            ++applied;
            break;
          case RescanQueue::Added::kCollapsed:
            ++collapsed;
            break;
          case RescanQueue::Added::kOverflow:
            overflowed = true;
            ++dropped;
            break;
        }
      }
    }
    if (overflowed) {
      sync_wanted_ = true;
      warn = !std::exchange(warned_overflow_, true);
    }
  }
  cv_.notify_one();
  if (warn) {
    spdlog::warn(
        "more than {} paths wait for a rescan after S3 events: a full sync replaces them "
        "(counted in freshfs_events_queue_overflows_total; further overflows are not logged)",
        settings_.queue_capacity);
  }
  if (!metrics_) return;
  if (applied) metrics_->EventsReceived("applied", applied);
  if (collapsed) metrics_->EventsReceived("collapsed", collapsed);
  if (dropped) metrics_->EventsReceived("dropped", dropped);
  if (ignored) metrics_->EventsReceived("ignored", ignored);
  if (overflowed) metrics_->EventQueueOverflowed();
}

void S3EventSource::Work() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const Clock::time_point sync_due = last_overflow_sync_ + settings_.overflow_sync_gap;
    if (sync_wanted_ && Clock::now() >= sync_due) {
      sync_wanted_ = false;
      last_overflow_sync_ = Clock::now();
      lock.unlock();
      watcher_->RequestSync();  // the poll thread runs it; requests coalesce
      lock.lock();
    } else if (auto item = queue_.Pop()) {
      lock.unlock();
      Rescan(*item);
      lock.lock();
    } else if (sync_wanted_) {
      cv_.wait_until(lock, sync_due);
    } else {
      cv_.wait(lock);
    }
  }
}

void S3EventSource::Rescan(const RescanQueue::Item& item) {
  // Rescan from the highest ancestor the watcher does not know yet: a key
  // in a new directory makes the directory appear.
  std::string target = item.path;
  for (;;) {
    size_t slash = target.rfind('/');
    if (slash == std::string::npos) break;
    std::string parent = target.substr(0, slash);
    if (watcher_->Contains(parent)) break;
    target = parent;
  }
  watcher_->Rescan(target, /*deep=*/false);
  // The last object of a directory takes the directory with it.
  if (item.removed) {
    size_t slash = item.path.rfind('/');
    if (slash != std::string::npos) watcher_->Rescan(item.path.substr(0, slash), false);
  }
}

}  // namespace freshfs::watch
