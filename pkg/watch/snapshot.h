// Snapshot of the source as the watcher last saw it, and the reconciliation
// that brings it up to date with a fresh Listing while reporting what changed.
//
// Built for sources of millions of entries (docs/scale.md):
//   - a tree of directories; each entry stores its own name, not its path,
//     and a 40-byte EntryState; a directory's children are a sorted vector
//     cut into chunks of at most a few hundred, so adding one name to a
//     directory of a million costs one chunk, not the directory;
//   - a sync does not build a second snapshot to diff against: it walks the
//     snapshot and the listing side by side, directory by directory, and
//     updates in place; a directory whose names did not change is not
//     rebuilt, so an unchanged sync allocates nothing.
//
// Plain data; callers synchronize.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "metrics/metrics.h"
#include "watch/entry_state.h"
#include "watch/listing.h"

namespace freshfs::watch {

using metrics::ChangeKind;

struct Change {
  ChangeKind kind = ChangeKind::kModified;
  std::string path;
  std::string from;             // kRenamed: where it was
  bool is_dir = false;          // after the change
  bool was_dir = false;         // before the change
  int64_t remote_mtime_ns = 0;  // when the source says it happened, 0 if unknown
  // kModified: the name now means another object (a new source inode: a
  // rename over it; S3: a new ETag), not the same one rewritten in place.
  bool replaced = false;
};

// Classifies one entry that exists before and after; false if nothing a
// reader can see changed. A directory's own mtime/size changes are not
// changes: they follow from its children's.
bool Classify(const EntryState& before, const EntryState& after, ChangeKind* kind);

// Whether `path` is `dir` or inside it ("" contains everything).
bool IsWithin(std::string_view path, std::string_view dir);

// Paths a reconciliation leaves exactly as recorded, with everything under
// them (the mount's own changes in flight or just ended). An entry above
// such a path is not removed either, while the path is kept.
class KeepSet {
 public:
  void Add(std::string_view path);
  bool empty() const { return kept_.empty(); }
  bool Keeps(std::string_view path) const { return !empty() && kept_.count(path) > 0; }
  // Whether a kept path lies strictly below `dir`.
  bool Holds(std::string_view dir) const { return !empty() && above_.count(dir) > 0; }

 private:
  std::unordered_set<std::string, StringHash, std::equal_to<>> kept_, above_;
};

class Snapshot {
 public:
  Snapshot();
  ~Snapshot();
  Snapshot(const Snapshot& other);
  Snapshot& operator=(const Snapshot& other);
  Snapshot(Snapshot&&) noexcept;
  Snapshot& operator=(Snapshot&&) noexcept;

  // Entries, the root ("") included.
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const EntryState* Find(std::string_view path) const;
  // How many entries directory `path` holds (0 if none or not a directory).
  size_t ChildCount(std::string_view path) const;
  bool Contains(std::string_view path) const { return Find(path) != nullptr; }
  // Every entry, each directory before its children, siblings by name.
  void ForEach(const std::function<void(const std::string& path, const EntryState&)>& fn) const;

  // Records what a scan found at `path`: `fresh` its state now (nullptr:
  // gone) and, with `listing` (read below `path`, see ReadTree), everything
  // under it; without one, a directory keeps the children it had. Paths in
  // `keep` stay as they were. Appends each change, if `changes` is set, in
  // the order above (a directory's deletion before its children's).
  // False, changing nothing, if the parent directory of `path` is unknown.
  bool Reconcile(std::string_view path, const EntryState* fresh, const Listing* listing,
                 const KeepSet& keep, std::vector<Change>* changes);
  // Records one directory's listing (`listing` read at `dir`, its children
  // only: ReadDir): each child's own state; what lies below a subdirectory
  // stays as recorded, and a new subdirectory starts without children
  // (its own listing fills them in, reported as created). False if the
  // snapshot holds no directory `dir`.
  // `listing_dir`: where in `listing` the children of `dir` are (a listing
  // of the whole tree serves every directory; "" for one of `dir` alone).
  bool ReconcileDir(std::string_view dir, const Listing& listing, const KeepSet& keep,
                    std::vector<Change>* changes, std::string_view listing_dir = {});

  // Lazily built snapshots (Watcher::Settings::lazy) hold the directories
  // the kernel holds, not the whole source. A directory is "listed" once a
  // listing of it was recorded whole (ReconcileDir, BaselineDir); before
  // that it holds only the children recorded one by one (names the kernel
  // looked up), and after DropListing() again none.
  bool Listed(std::string_view dir) const;
  // ReconcileDir() for a directory not listed yet: a name the snapshot
  // lacks is recorded without being reported, unless `report_new(path)`
  // says the kernel may hold a view of it (a "no such file" it was given);
  // names it holds are compared as usual. The directory is listed after.
  bool BaselineDir(std::string_view dir, const Listing& listing, const KeepSet& keep,
                   const std::function<bool(const std::string&)>* report_new,
                   std::vector<Change>* changes, std::string_view listing_dir = {});
  // Forgets the children of every listed directory (other than the root)
  // for which `held(path)` is false, and everything under them, reporting
  // nothing: the kernel holds nothing there. Returns how many entries went.
  size_t DropListings(const std::function<bool(const std::string&)>& held);

 private:
  struct Node;
  class Children;
  class Reconciler;
  const Node* FindNode(std::string_view path) const;

  std::unique_ptr<Node> root_;  // null until the root is recorded
  size_t size_ = 0;
};

}  // namespace freshfs::watch
