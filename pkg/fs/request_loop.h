// RequestLoop: the threads that read the kernel's requests from the FUSE
// device and answer them, in place of libfuse's own loop, for two things
// that loop cannot do (docs/resume.md):
//
//   - all threads read the one device fd the mount was made with (no
//     per-thread clones): a request read by a daemon that dies stays on
//     that fd's "processing" list, which the supervisor keeps open, so the
//     kernel can hand it to a successor (FUSE_NOTIFY_RESEND). A clone's
//     requests would be failed with ECONNABORTED when the clone closes.
//   - Stop() ends reading without losing a request: every request read is
//     answered before Run() returns (libfuse's loop may read one and drop it
//     on exit), so a successor can take over with nothing in flight.
//
// Threads: up to max_threads, started as requests keep them all busy.
// Run() on one thread; Stop() from any.
#pragma once

#include <fuse_lowlevel.h>
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <string>

namespace freshfs::fs {

class RequestLoop {
 public:
  // `after_init(request)`: once the kernel's INIT request was answered,
  // with the request's bytes as read. `on_resent()`: for each request the
  // kernel sends again after FUSE_NOTIFY_RESEND (one a dead predecessor had
  // read but not answered; Linux 6.9+ marks them).
  RequestLoop(fuse_session* se, unsigned max_threads,
              std::function<void(std::string_view request)> after_init,
              std::function<void()> on_resent = {});
  ~RequestLoop();

  enum class End { kUnmounted, kStopped, kError };
  // Serves until the connection ends (unmount or abort), a read fails, or
  // Stop() (also a Stop() that came before); every request read is
  // answered first. After kStopped, Rearm() and Run() serve again (a
  // take-over that did not happen).
  End Run();
  void Rearm();
  int error() const { return error_; }

  // Once: `f` runs right after the next request other than INIT was
  // answered, on the thread that answered it (a successor's first answer
  // ends the pause applications saw: docs/resume.md#upgrade). Any thread.
  void AfterNextAnswer(std::function<void()> f);

  // Any thread: no request is read after this returns... eventually: the
  // threads blocked in read(2) are interrupted (a no-op signal) until all
  // have left. Run() returns once they have.
  void Stop();

 private:
  struct Worker {
    RequestLoop* loop = nullptr;
    pthread_t thread{};
    std::atomic<bool> reading{false};  // in (or about to enter) read(2)
  };
  static void* WorkerMain(void* worker);
  void Work(Worker& self);
  void StartWorkerLocked();
  void Answered();

  fuse_session* const se_;
  const unsigned max_threads_;
  std::function<void(std::string_view)> after_init_;
  std::function<void()> on_resent_;
  std::mutex next_answer_mu_;
  std::function<void()> next_answer_;
  std::atomic<bool> next_answer_armed_{false};

  std::mutex mu_;
  std::condition_variable all_done_;
  std::list<Worker> workers_;  // started by this Run (joined by it)
  unsigned running_ = 0;
  std::atomic<unsigned> idle_{0};  // workers waiting in read(2)
  std::atomic<bool> stop_{false};
  bool ended_ = false;  // the connection is gone
  int error_ = 0;
};

}  // namespace freshfs::fs
