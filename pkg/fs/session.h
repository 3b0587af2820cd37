// FuseSession: one mounted FUSE session serving a FuseContext with a
// multi-threaded request loop (fs/request_loop.h). Mount() mounts, or takes
// the connection of a descriptor given as /dev/fd/N; Run() serves until
// the filesystem is unmounted or Exit(); the destructor unmounts (if it
// mounted, and still is mounted) and frees the session.
//
// Resume (docs/resume.md): with SessionSettings::resume, the session is a
// successor on a connection whose INIT a predecessor answered: Mount()
// replays the saved INIT to libfuse (whose answer the kernel ignores), and
// the session serves the kernel's next request as the predecessor would.
//
// Signals are the owner's business (see pkg/mount/signals.h): libfuse's
// handlers are not installed. Used from the main thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "fs/fuse_ops.h"
#include "fs/request_loop.h"
#include "fs/state_journal.h"

struct fuse_session;

namespace freshfs::fs {

struct SessionSettings {
  std::string mountpoint;  // absolute
  std::string fsname;      // shown in /proc/mounts, e.g. the source
  bool allow_other = false;
  bool read_only = false;
  bool debug = false;  // libfuse's request log on stderr
  unsigned max_threads = 16;
  // A predecessor's INIT, replayed instead of waiting for one (the
  // mountpoint is then /dev/fd/N, the connection's descriptor).
  const KernelInit* resume = nullptr;
  // A connection taken over from a standalone daemon (mountpoint
  // /dev/fd/N): the path it is mounted at, unmounted by the destructor as
  // libfuse would have (the connection was not mounted by this session).
  std::string unmount_path;
};

class FuseSession {
 public:
  // On failure returns nullptr and sets *error to one line saying why.
  static std::unique_ptr<FuseSession> Mount(FuseContext* ctx, const SessionSettings& settings,
                                            std::string* error);
  ~FuseSession();

  // Serves requests until unmounted or Exit(). Every request read is
  // answered before it returns.
  RequestLoop::End Run();
  // After Run() returned kStopped: serve again with the next Run().
  void Rearm() { loop_->Rearm(); }

  // Asks Run() to return (any thread), and waits until it stopped reading.
  void Exit();
  // The process hands the connection to a successor: the destructor then
  // leaves the mount alone.
  void Abandon() { mounted_ = false; }

  // Called with the INIT as negotiated, once the kernel's INIT was
  // answered (on a FUSE thread; not for a replayed INIT).
  void set_on_init_answered(std::function<void(const KernelInit&)> f) {
    on_init_answered_ = std::move(f);
  }

  // See RequestLoop::AfterNextAnswer.
  void AfterNextAnswer(std::function<void()> f) { loop_->AfterNextAnswer(std::move(f)); }

  // The libfuse session, for sending kernel notifications.
  fuse_session* raw() const { return se_; }

 private:
  FuseSession(fuse_session* se, FuseContext* ctx, SessionSettings settings);
  void InitAnswered(std::string_view request);

  fuse_session* se_;
  FuseContext* ctx_;
  SessionSettings settings_;
  bool mounted_ = true;
  std::unique_ptr<RequestLoop> loop_;
  std::function<void(const KernelInit&)> on_init_answered_;
};

}  // namespace freshfs::fs
