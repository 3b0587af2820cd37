#include "watch/s3_event_source.h"

#include <spdlog/spdlog.h>

#include "store/s3_tree.h"

namespace freshfs::watch {

S3EventSource::S3EventSource(Watcher* watcher, metrics::Metrics* metrics, std::string bucket,
                             std::string prefix, std::string address)
    : watcher_(watcher),
      metrics_(metrics),
      bucket_(std::move(bucket)),
      prefix_(std::move(prefix)),
      address_(std::move(address)) {}

S3EventSource::~S3EventSource() { Stop(); }

std::optional<std::string> S3EventSource::PathOfKey(std::string_view key,
                                                    std::string_view prefix) {
  if (key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  key.remove_prefix(prefix.size());
  if (key.back() == '/') key.remove_suffix(1);  // a directory marker
  if (store::s3tree::InvalidReason(key)) return std::nullopt;
  return std::string(key);
}

std::string S3EventSource::Start() {
  WebhookServer::Settings settings;
  settings.address = address_;
  settings.bucket = bucket_;
  server_ = std::make_unique<WebhookServer>(
      settings, [this](std::vector<S3Event> events) { Enqueue(std::move(events)); });
  std::string error = server_->Start();
  if (!error.empty()) return "--events-address \"" + address_ + "\": " + error;
  spdlog::info("accepting S3 event notifications at http://{}:{}/",
               address_.substr(0, address_.rfind(':')), server_->port());
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

void S3EventSource::Enqueue(std::vector<S3Event> events) {
  uint64_t applied = 0, ignored = 0;
  {
    std::lock_guard lock(mu_);
    for (S3Event& e : events) {
      auto path = PathOfKey(e.key, prefix_);
      if (!path) {
        ++ignored;
        continue;
      }
      ++applied;
      queue_.emplace_back(std::move(*path), e.removed);
    }
  }
  cv_.notify_one();
  if (metrics_) {
    if (applied) metrics_->EventsReceived("applied", applied);
    if (ignored) metrics_->EventsReceived("ignored", ignored);
  }
}

void S3EventSource::Work() {
  for (;;) {
    std::pair<std::string, bool> item;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    auto& [path, removed] = item;
    // Rescan from the highest ancestor the watcher does not know yet: a key
    // in a new directory makes the directory appear.
    std::string target = path;
    for (;;) {
      size_t slash = target.rfind('/');
      if (slash == std::string::npos) break;
      std::string parent = target.substr(0, slash);
      if (watcher_->Contains(parent)) break;
      target = parent;
    }
    watcher_->Rescan(target, /*deep=*/false);
    // The last object of a directory takes the directory with it.
    if (removed) {
      size_t slash = path.rfind('/');
      if (slash != std::string::npos) watcher_->Rescan(path.substr(0, slash), false);
    }
  }
}

}  // namespace freshfs::watch
