// Invalidator: the one thread that tells the kernel what went stale.
//
// Why a dedicated thread: the kernel may block a notification until it holds
// the inode lock of the directory concerned, and a process holding that lock
// may itself be waiting for a FUSE request to be answered. Sending from a
// request handler, or while holding a lock a handler needs, can therefore
// deadlock the mount. Everyone else only Enqueue()s; this thread alone calls
// the KernelNotifier, holding no lock of ours while it does.
//
// The queue coalesces: a notification identical to one still pending is
// dropped (the pending one covers it). Flush() is a barrier: it returns when
// everything enqueued before it has been sent. ENOENT from the kernel means
// "not cached" and is counted, not an error; ENOSYS (an old kernel) is
// reported once through on_unsupported.
//
// Thread-safe: Enqueue/Flush from any thread.
#pragma once

#include <fuse_lowlevel.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "invalidate/notifier.h"
#include "metrics/metrics.h"

namespace freshfs::invalidate {

using Clock = std::chrono::steady_clock;
using metrics::InvalType;

struct Notification {
  InvalType type = InvalType::kEntry;
  fuse_ino_t parent = 0;  // kEntry, kExpireEntry, kDelete
  fuse_ino_t ino = 0;     // kDelete (the child), kInodeData, kInodeAttr, kStore
  std::string name;       // kEntry, kExpireEntry, kDelete
  std::string data;       // kStore: the file's new content
  Clock::time_point detected = Clock::now();
  // Set: not a notification of the kinds above but a call to make on the
  // notification thread, in order with them (a retrieve); never coalesced.
  std::function<void(KernelNotifier&)> call;
};

class Invalidator {
 public:
  explicit Invalidator(metrics::Metrics* metrics);
  ~Invalidator();

  // Starts the thread sending through `notifier` (which must outlive Stop()).
  void Start(KernelNotifier* notifier);
  // Stops the thread; what is still queued is dropped (the mount is going away).
  void Stop();

  void Enqueue(Notification n);
  // Runs `fn` on the notification thread after everything queued before.
  void Call(std::function<void(KernelNotifier&)> fn);
  // Waits until everything enqueued before this call was sent. False on timeout.
  bool Flush(std::chrono::milliseconds timeout);

  // Whether the kernel takes FUSE_NOTIFY_INC_EPOCH: tries it once (waits for
  // the answer) and remembers. Call after Start().
  bool EpochSupported();

  // Called once, on the invalidator thread, the first time the kernel answers ENOSYS.
  void set_on_unsupported(std::function<void()> fn) { on_unsupported_ = std::move(fn); }
  bool unsupported() const { return unsupported_.load(); }
  size_t pending() const;

  // Identifies a notification for coalescing: same key, same effect.
  static std::string KeyOf(const Notification& n);

 private:
  void Loop();
  void Send(const Notification& n);

  metrics::Metrics* metrics_;
  KernelNotifier* notifier_ = nullptr;
  std::function<void()> on_unsupported_;
  std::atomic<bool> unsupported_{false};
  std::atomic<int> epoch_{-1};  // -1 unknown, 0 no, 1 yes

  mutable std::mutex mu_;
  std::condition_variable wake_;  // work arrived or stopping
  std::condition_variable done_;  // done_seq_ advanced
  std::deque<std::pair<uint64_t, Notification>> queue_;
  std::unordered_set<std::string> pending_keys_;
  uint64_t next_seq_ = 1;
  std::atomic<uint64_t> done_seq_{0};
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace freshfs::invalidate
