// The FUSE low-level operations table: each op decodes the request, calls
// FileSystem and replies. errno -> reply happens here and nowhere else.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "fs/filesystem.h"
#include "fs/state_journal.h"
#include "metrics/metrics.h"

namespace freshfs::fs {

// How long the kernel may cache what we tell it.
struct KernelCacheSettings {
  double entry_timeout = 1.0;     // seconds a name -> inode mapping is trusted
  double attr_timeout = 1.0;      // seconds attributes are trusted
  double negative_timeout = 0.0;  // seconds a "no such name" is trusted; 0 = not cached
  bool keep_cache = false;        // keep page cache across open()
  bool cache_readdir = false;     // let the kernel cache directory listings
  // The kernel is told explicitly when cached data went stale (a watcher
  // runs), so it need not drop pages itself when mtime changes
  // (FUSE_CAP_EXPLICIT_INVAL_DATA).
  bool explicit_inval_data = false;
  // Read-only mount: let the kernel skip open/flush/release entirely
  // (FUSE_CAP_NO_OPEN_SUPPORT), so cached open+read+close never reach us.
  bool no_open = false;
  // After a change, push the new content of small files read lately back
  // into the page cache (notify_store) instead of waiting for a read.
  bool push_small_files = false;
};

// Timeouts used once the kernel turned out not to support notifications.
inline constexpr double kFallbackTimeout = 1.0;

// The userdata of the session. Lives as long as the session.
struct FuseContext {
  FileSystem* fs = nullptr;
  KernelCacheSettings cache;
  metrics::Metrics* metrics = nullptr;  // optional
  // Set when the kernel answered a notification with ENOSYS: from then on
  // replies carry short timeouts and pages are not kept across opens.
  std::atomic<bool> notifications_unsupported{false};
  // The FUSE protocol minor version the kernel speaks (set by init).
  std::atomic<unsigned> kernel_minor{0};
  // Called once from the init op, when the kernel connection is up.
  std::function<void(fuse_conn_info*)> on_init;
  // The connection's parameters as negotiated (libfuse's, set by the init
  // op; read them after the INIT reply).
  fuse_conn_info* conn = nullptr;
  // Resuming a predecessor's connection: the init op answers the replayed
  // INIT with exactly what the predecessor was granted (the kernel keeps
  // those; it never sees this answer).
  std::optional<KernelInit> resume_init;
  // The kernel's answer to a notify_retrieve: the cached bytes it sent.
  std::function<void(void* cookie, std::string data)> on_retrieve;
};

const fuse_lowlevel_ops& FuseOperations();

}  // namespace freshfs::fs
