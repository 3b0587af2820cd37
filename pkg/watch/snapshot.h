// Snapshot of the source as the watcher last saw it, and the diff that turns
// two snapshots into change events.
//
// Plain data and pure functions; callers synchronize.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/metrics.h"
#include "store/store.h"
#include "util/result.h"

namespace freshfs::watch {

using metrics::ChangeKind;

// What the watcher remembers of one entry: enough to tell content changes
// (size, mtime, identity) from attribute changes (mode, owner, links).
struct EntryState {
  mode_t mode = 0;  // type and permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  nlink_t nlink = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  ino_t ino = 0;  // the source's identity of the entry

  static EntryState From(const struct stat& st);
  bool is_dir() const { return S_ISDIR(mode); }
  bool operator==(const EntryState&) const = default;
};

// Relative path ("" is the root) -> state, ordered so that a directory's
// subtree is one contiguous range.
using Snapshot = std::map<std::string, EntryState, std::less<>>;

struct Change {
  ChangeKind kind = ChangeKind::kModified;
  std::string path;
  std::string from;  // kRenamed: where it was
  bool is_dir = false;   // after the change
  bool was_dir = false;  // before the change
  int64_t remote_mtime_ns = 0;  // when the source says it happened, 0 if unknown
};

// Changes that turn `before` into `after`. Directory mtime/size changes are
// not reported on their own: they follow from their children's changes.
std::vector<Change> Diff(const Snapshot& before, const Snapshot& after);

// Classifies one entry that exists in both; false if nothing a reader can
// see changed.
bool Classify(const EntryState& before, const EntryState& after, ChangeKind* kind);

// Whether `path` is `dir` or inside it ("" contains everything).
bool IsWithin(std::string_view path, std::string_view dir);

// `path` and everything under it, copied out / erased / replaced.
Snapshot CopySubtree(const Snapshot& snapshot, std::string_view path);
void EraseSubtree(Snapshot* snapshot, std::string_view path);
void ReplaceSubtree(Snapshot* snapshot, std::string_view path, Snapshot replacement);

// Reads `path` and, if it is a directory, everything under it, into `out`.
// Subdirectories that cannot be read are listed in `unreadable` (their own
// entry is recorded, their contents are not). Errors only for `path` itself.
Status ScanTree(store::Store& store, const std::string& path, Snapshot* out,
                std::vector<std::string>* unreadable);

}  // namespace freshfs::watch
