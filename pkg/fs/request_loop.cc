#include "fs/request_loop.h"

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

namespace freshfs::fs {
namespace {

// Interrupts a worker's read(2); the handler does nothing, and without
// SA_RESTART the read returns EINTR (having taken no request).
constexpr int kWakeSignal = SIGUSR2;
void Nothing(int) {}

void InstallWakeHandler() {
  struct sigaction wake {};
  wake.sa_handler = Nothing;
  sigaction(kWakeSignal, &wake, nullptr);
}

// The start of every request (the kernel's struct fuse_in_header).
struct InHeader {
  uint32_t len;
  uint32_t opcode;
  uint64_t unique;
};
constexpr uint32_t kFuseInit = 26;
// The bit of `unique` the kernel sets on a request it sends again after
// FUSE_NOTIFY_RESEND (FUSE_UNIQUE_RESEND, protocol 7.40).
constexpr uint64_t kUniqueResend = uint64_t(1) << 63;

std::optional<InHeader> HeaderOf(const fuse_buf& buf) {
  if ((buf.flags & FUSE_BUF_IS_FD) || buf.size < sizeof(InHeader)) return std::nullopt;
  InHeader h;
  std::memcpy(&h, buf.mem, sizeof h);
  return h;
}

}  // namespace

RequestLoop::RequestLoop(fuse_session* se, unsigned max_threads,
                         std::function<void(std::string_view)> after_init,
                         std::function<void()> on_resent)
    : se_(se),
      max_threads_(std::max(1u, max_threads)),
      after_init_(std::move(after_init)),
      on_resent_(std::move(on_resent)) {
  InstallWakeHandler();
}

RequestLoop::~RequestLoop() { Stop(); }

void RequestLoop::StartWorkerLocked() {
  // Termination signals stay with the signal thread (they are blocked in
  // the creator already, and threads inherit its mask).
  Worker& w = workers_.emplace_back();
  w.loop = this;
  if (pthread_create(&w.thread, nullptr, WorkerMain, &w) == 0) {
    ++running_;
  } else {
    workers_.pop_back();
    spdlog::warn("cannot start another FUSE worker thread ({} running)", running_);
  }
}

void* RequestLoop::WorkerMain(void* worker) {
  auto* w = static_cast<Worker*>(worker);
  w->loop->Work(*w);
  return nullptr;
}

void RequestLoop::Work(Worker& self) {
  fuse_buf buf{};
  for (;;) {
    // Only a thread in read(2) is ever interrupted: a signal elsewhere
    // could fail a source call with EINTR.
    self.reading = true;
    if (stop_.load()) break;
    ++idle_;
    int res = fuse_session_receive_buf(se_, &buf);
    --idle_;
    self.reading = false;
    if (res == -EINTR || res == -EAGAIN) continue;
    if (res <= 0) {
      // 0: unmounted or aborted (libfuse saw ENODEV); otherwise a read error.
      std::lock_guard lock(mu_);
      ended_ = true;
      if (res < 0 && error_ == 0) error_ = -res;
      break;
    }
    if (idle_.load() == 0) {
      // Every worker busy: one more, up to the limit, reads the next request.
      std::lock_guard lock(mu_);
      if (!stop_.load() && !ended_ && running_ < max_threads_) StartWorkerLocked();
    }
    const std::optional<InHeader> header = HeaderOf(buf);
    if (header && (header->unique & kUniqueResend) && on_resent_) on_resent_();
    if (header && header->opcode == kFuseInit) {
      std::string request(static_cast<const char*>(buf.mem), buf.size);
      fuse_session_process_buf(se_, &buf);
      if (after_init_) after_init_(request);
    } else {
      // Answered even when Stop() came meanwhile: it was read.
      fuse_session_process_buf(se_, &buf);
      if (next_answer_armed_.load()) Answered();
    }
  }
  self.reading = false;
  std::free(buf.mem);
  std::lock_guard lock(mu_);
  --running_;
  all_done_.notify_all();
}

RequestLoop::End RequestLoop::Run() {
  {
    std::unique_lock lock(mu_);
    ended_ = false;
    error_ = 0;
    StartWorkerLocked();
    // Once one worker saw the end, the others' reads fail too (the kernel
    // wakes every reader on unmount or abort).
    all_done_.wait(lock, [this] { return running_ == 0; });
  }
  // Stop() may still signal them: joined under the lock, each has left its
  // loop (running_ is 0), so this is quick.
  std::lock_guard lock(mu_);
  for (Worker& w : workers_) pthread_join(w.thread, nullptr);
  workers_.clear();
  if (ended_) return error_ ? End::kError : End::kUnmounted;
  return End::kStopped;
}

void RequestLoop::Rearm() { stop_ = false; }

void RequestLoop::AfterNextAnswer(std::function<void()> f) {
  std::lock_guard lock(next_answer_mu_);
  next_answer_ = std::move(f);
  next_answer_armed_ = bool(next_answer_);
}

void RequestLoop::Answered() {
  std::function<void()> f;
  {
    std::lock_guard lock(next_answer_mu_);
    if (!next_answer_armed_.exchange(false)) return;  // another thread's
    f = std::move(next_answer_);
  }
  f();
}

void RequestLoop::Stop() {
  stop_ = true;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (running_ == 0) return;
      // A worker between its check of stop_ and its read gets the signal
      // before it blocks; hence the repetition until all have left.
      for (Worker& w : workers_)
        if (w.reading.load()) pthread_kill(w.thread, kWakeSignal);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace freshfs::fs
