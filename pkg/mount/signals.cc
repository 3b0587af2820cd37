#include "mount/signals.h"

#include <signal.h>

#include <cerrno>

namespace freshfs::mount {
namespace {

constexpr int kWakeSignal = SIGUSR2;  // interrupts a wait; does nothing else

sigset_t TerminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);  // used only to stop the signal thread itself
  return set;
}

void Nothing(int) {}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);
  struct sigaction wake {};
  wake.sa_handler = Nothing;  // no SA_RESTART: the interrupted call returns EINTR
  sigaction(kWakeSignal, &wake, nullptr);
}

SignalThread::SignalThread(std::function<void(int)> on_signal) {
  thread_ = std::thread([on_signal = std::move(on_signal)] {
    sigset_t set = TerminationSet();
    int signo = 0;
    while (sigwait(&set, &signo) != 0) {
    }
    if (signo != SIGUSR1) on_signal(signo);
  });
}

SignalThread::~SignalThread() {
  if (!thread_.joinable()) return;
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void SignalThread::Interrupt(pthread_t thread) { pthread_kill(thread, kWakeSignal); }

}  // namespace freshfs::mount
