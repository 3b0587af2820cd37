#include "invalidate/invalidator.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "util/quote.h"

namespace freshfs::invalidate {

using metrics::InvalResult;

Invalidator::Invalidator(metrics::Metrics* metrics) : metrics_(metrics) {}

Invalidator::~Invalidator() { Stop(); }

void Invalidator::Start(KernelNotifier* notifier) {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  notifier_ = notifier;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Invalidator::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
    pending_keys_.clear();
  }
  wake_.notify_all();
  done_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Invalidator::KeyOf(const Notification& n) {
  std::string key;
  key.reserve(n.name.size() + 48);
  key += char('0' + int(n.type));
  key += ':';
  key += std::to_string(n.parent);
  key += ':';
  key += std::to_string(n.ino);
  key += ':';
  key += n.name;
  return key;
}

void Invalidator::Call(std::function<void(KernelNotifier&)> fn) {
  Notification n;
  n.call = std::move(fn);
  Enqueue(std::move(n));
}

void Invalidator::Enqueue(Notification n) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (n.call) {
      queue_.emplace_back(next_seq_++, std::move(n));
      wake_.notify_one();
      return;
    }
    // A pending full invalidation of the inode covers an attributes-only one.
    if (n.type == InvalType::kInodeAttr) {
      Notification data = n;
      data.type = InvalType::kInodeData;
      if (pending_keys_.count(KeyOf(data))) return;
    }
    if (!pending_keys_.insert(KeyOf(n)).second) {  // already pending
      if (n.type == InvalType::kStore) {
        // Pending content is outdated: the newest wins.
        for (auto& [seq, queued] : queue_)
          if (queued.type == InvalType::kStore && queued.ino == n.ino)
            queued.data = std::move(n.data);
      }
      return;
    }
    queue_.emplace_back(next_seq_++, std::move(n));
  }
  wake_.notify_one();
}

bool Invalidator::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  uint64_t target = next_seq_ - 1;
  return done_.wait_for(lock, timeout, [&] { return stopping_ || done_seq_.load() >= target; }) &&
         !stopping_;
}

bool Invalidator::EpochSupported() {
  if (epoch_.load() < 0) {
    Notification probe;
    probe.type = InvalType::kEpoch;
    Enqueue(probe);
    Flush(std::chrono::seconds(5));
  }
  return epoch_.load() == 1;
}

int FuseNotifier::SendBare(int32_t code, unsigned since_minor) {
  if (kernel_minor_->load() < since_minor) return -ENOSYS;
  // libfuse 3.14 has no wrapper for these: the notification is a bare header.
  struct {
    uint32_t len;
    int32_t error;  // the notify code
    uint64_t unique;
  } header = {sizeof header, code, 0};
  ssize_t n = ::write(fuse_session_fd(se_), &header, sizeof header);
  return n == ssize_t(sizeof header) ? 0 : -errno;
}

int FuseNotifier::IncrementEpoch() { return SendBare(8 /* FUSE_NOTIFY_INC_EPOCH */, 44); }

int FuseNotifier::Resend() { return SendBare(7 /* FUSE_NOTIFY_RESEND */, 40); }

size_t Invalidator::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void Invalidator::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto [seq, n] = std::move(queue_.front());
    queue_.pop_front();
    if (!n.call) pending_keys_.erase(KeyOf(n));
    lock.unlock();  // never hold our lock while the kernel may block us
    Send(n);
    lock.lock();
    done_seq_.store(seq);
    done_.notify_all();
  }
}

void Invalidator::Send(const Notification& n) {
  if (n.call) return n.call(*notifier_);
  InvalType type = n.type;
  int rc = -ENOSYS;
  switch (type) {
    case InvalType::kEntry:
      rc = notifier_->InvalEntry(n.parent, n.name);
      break;
    case InvalType::kExpireEntry:
      rc = notifier_->ExpireEntry(n.parent, n.name);
      if (rc == -ENOSYS) {  // kernel without FUSE_CAP_EXPIRE_ONLY
        type = InvalType::kEntry;
        rc = notifier_->InvalEntry(n.parent, n.name);
      }
      break;
    case InvalType::kDelete:
      rc = notifier_->Delete(n.parent, n.ino, n.name);
      break;
    case InvalType::kInodeData:
      rc = notifier_->InvalInode(n.ino, 0, 0);
      break;
    case InvalType::kInodeAttr:
      rc = notifier_->InvalInode(n.ino, -1, 0);
      break;
    case InvalType::kStore:
      rc = notifier_->Store(n.ino, n.data);
      break;
    case InvalType::kEpoch:
      rc = notifier_->IncrementEpoch();
      if (rc == -ENOSYS || rc == -EINVAL) {
        // Not an old kernel overall: just one without epochs.
        epoch_ = 0;
        if (metrics_) metrics_->Invalidation(type, InvalResult::kUnsupported);
        return;
      }
      epoch_ = rc == 0 ? 1 : epoch_.load();
      break;
    case InvalType::kCount:
      return;
  }
  InvalResult result = InvalResult::kOk;
  if (rc == -ENOENT) {
    result = InvalResult::kNotCached;
  } else if (rc == -ENOSYS) {
    result = InvalResult::kUnsupported;
    if (!unsupported_.exchange(true)) {
      spdlog::warn(
          "the kernel does not support cache notifications; falling back to short "
          "cache timeouts");
      if (on_unsupported_) on_unsupported_();
    }
  } else if (rc != 0) {
    result = InvalResult::kError;
    spdlog::debug("kernel notification {} for ino {} parent {} name {} failed: {}",
                  metrics::InvalTypeName(type), n.ino, n.parent, Quoted(n.name),
                  std::strerror(-rc));
  }
  if (metrics_) {
    metrics_->Invalidation(type, result);
    metrics_->Notified(std::chrono::duration<double>(Clock::now() - n.detected).count());
  }
}

}  // namespace freshfs::invalidate
