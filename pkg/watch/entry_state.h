// EntryState: what the watcher remembers of one entry of the source.
#pragma once

#include <sys/stat.h>

#include <cstdint>

namespace freshfs::watch {

// Enough to tell content changes (size, mtime, identity) from attribute
// changes (mode, owner, links); 40 bytes, since a source may have millions.
struct EntryState {
  mode_t mode = 0;  // type and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  uint32_t nlink = 0;  // saturates at 2^32-1
  int64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t ino = 0;  // the source's identity of the entry

  static EntryState From(const struct stat& st);
  bool is_dir() const { return S_ISDIR(mode); }
  bool operator==(const EntryState&) const = default;
};

}  // namespace freshfs::watch
