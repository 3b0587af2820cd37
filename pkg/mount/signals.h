// Termination signals (SIGINT, SIGTERM, SIGHUP) handled on a thread of their
// own, so shutdown can run ordinary code: stop the freshness engine while
// the FUSE loop still answers requests (a kernel notification may wait for
// a lock held by a process whose request only the loop can answer), and only
// then end the loop.
#pragma once

#include <pthread.h>

#include <functional>
#include <thread>

namespace freshfs::mount {

// Blocks the termination signals in the calling thread and every thread it
// creates afterwards; call first thing in main's thread. Also ignores SIGPIPE.
void BlockTerminationSignals();

class SignalThread {
 public:
  // Runs `on_signal(signo)` on a new thread for the first termination signal.
  explicit SignalThread(std::function<void(int)> on_signal);
  ~SignalThread();  // stops the thread if no signal came

  // Interrupts a blocking call of `thread` (e.g. the FUSE loop's wait) with a
  // harmless signal whose handler does nothing.
  static void Interrupt(pthread_t thread);

 private:
  std::thread thread_;
};

}  // namespace freshfs::mount
