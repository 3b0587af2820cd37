// FuseSession: one mounted FUSE session serving a FuseContext with a
// multi-threaded request loop. Mount() mounts; Run() serves until the
// filesystem is unmounted or SIGINT/SIGTERM/SIGHUP arrives; the destructor
// unmounts (if still mounted) and frees the session.
//
// Signals are the owner's business (see pkg/mount/signals.h): libfuse's
// handlers are not installed. Used from the main thread only.
#pragma once

#include <memory>
#include <string>

#include "fs/fuse_ops.h"

struct fuse_session;

namespace freshfs::fs {

struct SessionSettings {
  std::string mountpoint;  // absolute
  std::string fsname;      // shown in /proc/mounts, e.g. the source
  bool allow_other = false;
  bool read_only = false;
  bool debug = false;      // libfuse's request log on stderr
  unsigned max_threads = 16;
};

class FuseSession {
 public:
  // On failure returns nullptr and sets *error to one line saying why.
  static std::unique_ptr<FuseSession> Mount(FuseContext* ctx, const SessionSettings& settings,
                                            std::string* error);
  ~FuseSession();

  // Serves requests until unmounted or Exit() (followed by an interrupt of
  // the calling thread's wait). Returns 0 on a
  // clean end, else the loop's error.
  int Run();

  // Asks Run() to return (any thread, async-signal-safe wrt. libfuse).
  void Exit();

  // The libfuse session, for sending kernel notifications.
  fuse_session* raw() const { return se_; }

 private:
  FuseSession(fuse_session* se, SessionSettings settings)
      : se_(se), settings_(std::move(settings)) {}

  fuse_session* se_;
  SessionSettings settings_;
  bool mounted_ = true;
};

}  // namespace freshfs::fs
