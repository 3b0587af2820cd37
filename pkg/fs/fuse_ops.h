// The FUSE low-level operations table: each op decodes the request, calls
// FileSystem and replies. errno -> reply happens here and nowhere else.
#pragma once

#include <fuse_lowlevel.h>

#include <functional>

#include "fs/filesystem.h"

namespace freshfs::fs {

// How long the kernel may cache what we tell it.
struct KernelCacheSettings {
  double entry_timeout = 1.0;     // seconds a name -> inode mapping is trusted
  double attr_timeout = 1.0;      // seconds attributes are trusted
  double negative_timeout = 0.0;  // seconds a "no such name" is trusted; 0 = not cached
  bool keep_cache = false;        // keep page cache across open()
  bool cache_readdir = false;     // let the kernel cache directory listings
};

// The userdata of the session. Lives as long as the session.
struct FuseContext {
  FileSystem* fs = nullptr;
  KernelCacheSettings cache;
  // Called once from the init op, when the kernel connection is up.
  std::function<void(fuse_conn_info*)> on_init;
};

const fuse_lowlevel_ops& FuseOperations();

}  // namespace freshfs::fs
