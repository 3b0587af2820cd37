// InodeTable: the inodes the kernel currently knows, their names in the tree
// and their lookup counts.
//
// Lookup counting is exact: every reply that hands the kernel an entry
// (lookup, create, mknod, mkdir, symlink, link, and each readdirplus entry
// other than "." and "..") calls Lookup(), which adds one; forget and
// forget_multi subtract what the kernel says. A node whose count reaches zero
// is dropped; its number is never reused (numbers are a 64-bit counter, so an
// (ino, generation=0) pair is unique for the life of the mount).
//
// Names: a node has one (parent, name) link, plus more for hard links: a
// link made through the mount, or a second name of a source file with
// several links (matched by the source's inode number), maps to the same
// node, so the kernel shares one inode and one page cache between the names.
// The first link is the path used to reach the source. A node whose names
// were all removed (unlink, rename over it, replaced at the source by another
// type) is "detached": it stays until forgotten, but has no path.
//
// Versions: each non-directory node also records the version of the
// source object the kernel was handed (the source's inode number; for S3 it
// changes with the ETag). A name that now means another version of the
// object (replaced by a rename over it, or a new PUT) gets a new node, as a
// local filesystem gives a new inode: the old node keeps its page cache for
// descriptors opened on it, and new opens never mix pages of two versions.
//
// Resume: with a journal set, every change is appended to it under the
// table lock as the call that made it (the table is deterministic: the same
// calls in the same order give the same inode numbers), so a successor
// replays them (docs/resume.md).
//
// Thread-safe: one mutex; no method blocks on I/O or calls out.
#pragma once

#include <fuse_lowlevel.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "fs/state_journal.h"
#include "util/slab_pool.h"
#include "util/small_string.h"

namespace freshfs::fs {

class InodeTable {
 public:
  static constexpr fuse_ino_t kRoot = FUSE_ROOT_ID;

  InodeTable();
  ~InodeTable();
  InodeTable(const InodeTable&) = delete;
  InodeTable& operator=(const InodeTable&) = delete;

  // Records that the kernel was handed (parent, name), an entry of type
  // `type` (S_IFMT bits); returns its inode number with the count raised by
  // one. A node already at that name with another type is detached and a new
  // one made (the name now means a different object).
  // `identity`: the source's inode number for a non-directory with more than
  // one link (0 otherwise): another name of the same file shares the node.
  // `version`: the source object's version (see above; 0 = unknown, matches
  // any): a node at that name with another version is detached and a new
  // one made, as for another type.
  // Returns 0 if `parent` is unknown (a caller bug or a forgotten parent).
  fuse_ino_t Lookup(fuse_ino_t parent, std::string_view name, mode_t type, ino_t identity = 0,
                    uint64_t version = 0);

  // A hard link made through the mount: (parent, name) becomes another name
  // of `ino`, whose count is raised by one. Returns 0 if either is unknown.
  fuse_ino_t AddLink(fuse_ino_t ino, fuse_ino_t parent, std::string_view name, ino_t identity);

  // Lowers the count by `n`; drops the node at zero. The root is never dropped.
  void Forget(fuse_ino_t ino, uint64_t n);

  // The path of `ino` relative to the source root ("" for the root), or
  // nullopt if the node is unknown or detached (or under a detached directory).
  std::optional<std::string> PathOf(fuse_ino_t ino) const;
  // The path that (parent, name) has, or nullopt if parent has no path.
  std::optional<std::string> ChildPath(fuse_ino_t parent, std::string_view name) const;

  // The nodes the kernel knows for a source path: its parent directory and
  // the entry itself (0 where unknown). For "" (the root): {0, kRoot}.
  struct Resolved {
    fuse_ino_t parent = 0;
    fuse_ino_t ino = 0;
  };
  Resolved Resolve(std::string_view path) const;

  // The node at (parent, name), or 0.
  fuse_ino_t Find(fuse_ino_t parent, std::string_view name) const;
  // The name is gone (unlink/rmdir at the source or through the mount).
  // The node keeps its other names, if it has any.
  void Detach(fuse_ino_t parent, std::string_view name);
  // The name now leads to another version of the object: as Detach(), but
  // the node remembers the name it had (FormerPath()), which still leads to
  // the object's newer version. (A lookup that finds another version at a
  // name retires the node there the same way.)
  void Retire(fuse_ino_t parent, std::string_view name);
  // The path a retired node had, while it has no other: an open of it that
  // was under way when it was retired opens what the name leads to now.
  std::optional<std::string> FormerPath(fuse_ino_t ino) const;
  // Mirrors rename(2): the node at `to` (if any) is detached, the one at
  // `from` (if any) takes its place. With `exchange`, the two swap.
  void Rename(fuse_ino_t from_parent, std::string_view from_name, fuse_ino_t to_parent,
              std::string_view to_name, bool exchange);

  // The source paths of the directories the kernel holds (looked up and not
  // yet forgotten), the root ("") first: everything the kernel may cache
  // lies in them (names, negative entries) or is one of them. For syncs that
  // cover only what the kernel may serve. One pass over every node under the
  // table lock.
  std::vector<std::string> DirectoryPaths() const;
  // Every entry the kernel holds (the root aside), with its type. One pass
  // under the table lock.
  std::vector<std::pair<std::string, mode_t>> Paths() const;
  // Every node the kernel holds, the root aside: its number and its first
  // name (parent 0 when detached). One pass under the table lock.
  struct Held {
    fuse_ino_t ino = 0;
    fuse_ino_t parent = 0;
    std::string name;
  };
  std::vector<Held> HeldNodes() const;
  // Up to `n` regular files the kernel holds, chosen at random (`seed`),
  // with their paths. One pass under the table lock.
  std::vector<std::pair<fuse_ino_t, std::string>> SampleFiles(size_t n, uint64_t seed) const;

  // The version of the source object `ino` stands for (0 if unknown).
  uint64_t VersionOf(fuse_ino_t ino) const;
  // The mount itself changed the object (a write, truncate or rename through
  // it made a new version): the node stands for the new one.
  void SetVersion(fuse_ino_t ino, uint64_t version);
  // Whether data of the node's version was read from the source since it
  // was handed to the kernel (an S3 open of an unconfirmed node first asks
  // which version the object has now: see FileHandle::Pin()).
  bool Confirmed(fuse_ino_t ino) const;
  void Confirm(fuse_ino_t ino);

  mode_t TypeOf(fuse_ino_t ino) const;  // 0 if unknown
  bool Known(fuse_ino_t ino) const;
  uint64_t LookupCount(fuse_ino_t ino) const;  // 0 if unknown
  size_t Size() const;

  // Resume (see the top). Set before the table is used; may stay unset.
  void set_journal(StateJournal* journal) { journal_ = journal; }
  // Runs `f` with the table locked: a snapshot taken under further locks.
  void WithLock(const std::function<void()>& f) const;
  // Writes the whole table as records (the caller holds the lock: WithLock).
  void WriteSnapshotLocked(const StateJournal::Sink& sink) const;
  // Applies one record of a predecessor's journal (before set_journal).
  enum class Replayed { kApplied, kNotMine, kMalformed };
  Replayed Replay(std::string_view record);

 private:
  struct Link {
    fuse_ino_t parent = 0;
    std::string name;
  };
  // 56 bytes (docs/scale.md, "Memory per entry held"): what few nodes need
  // (a source identity, further names) lives in extras_.
  struct Node {
    fuse_ino_t ino = 0;
    fuse_ino_t parent = 0;  // first link; 0 when detached (and for the root)
    uint64_t nlookup = 0;
    uint64_t version = 0;  // see "Versions" above
    SmallString name;
    uint32_t type = 0;  // S_IFMT bits
    bool confirmed = false;
    bool extra = false;  // has an entry in extras_
  };
  struct Extra {
    ino_t identity = 0;    // set while in identities_
    std::list<Link> more;  // further hard links; a list: the names stay put
  };
  struct ChildKey {
    fuse_ino_t parent;
    std::string_view name;
    bool operator==(const ChildKey&) const = default;
  };
  struct ChildKeyHash {
    size_t operator()(const ChildKey& k) const noexcept;
  };
  // The index of first links: a set of nodes keyed by their own (parent,
  // name), so a name is stored once, in the node.
  struct FirstLinkHash {
    using is_transparent = void;
    size_t operator()(const ChildKey& k) const noexcept { return ChildKeyHash{}(k); }
    size_t operator()(const Node* n) const noexcept { return ChildKeyHash{}({n->parent, n->name}); }
  };
  struct FirstLinkEq {
    using is_transparent = void;
    static ChildKey Key(const ChildKey& k) { return k; }
    static ChildKey Key(const Node* n) { return {n->parent, n->name}; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const noexcept {
      return Key(a) == Key(b);
    }
  };
  // The nodes, keyed by their number.
  struct InoHash {
    using is_transparent = void;
    size_t operator()(fuse_ino_t ino) const noexcept { return absl::Hash<fuse_ino_t>{}(ino); }
    size_t operator()(const Node* n) const noexcept { return (*this)(n->ino); }
  };
  struct InoEq {
    using is_transparent = void;
    static fuse_ino_t Key(fuse_ino_t ino) { return ino; }
    static fuse_ino_t Key(const Node* n) { return n->ino; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const noexcept {
      return Key(a) == Key(b);
    }
  };

  // The node at (parent, name) by any of its links, or null.
  Node* ChildLocked(fuse_ino_t parent, std::string_view name) const;
  // Removes (parent, name) from the indexes (the node keeps its fields).
  void UnindexLocked(fuse_ino_t parent, std::string_view name);
  ino_t IdentityOf(const Node* node) const;
  void SetIdentityLocked(Node* node, ino_t identity);
  std::list<Link>* MoreOf(const Node* node) const;
  Extra& ExtraOf(Node* node);
  void DropExtraIfEmptyLocked(Node* node);
  Node* FindLocked(fuse_ino_t ino) const;
  void DetachLocked(Node* node);  // every link
  void AttachLocked(Node* node, fuse_ino_t parent, std::string_view name);
  void RemoveLinkLocked(Node* node, fuse_ino_t parent, std::string_view name);
  void RetireLocked(Node* node, fuse_ino_t parent, std::string_view name);
  void ForgetIdentityLocked(Node* node);
  bool PathOfLocked(const Node* node, std::string* out) const;
  void JournalLocked(const RecordWriter& record) const {
    if (journal_) journal_->Append(record.data());
  }
  Replayed RestoreNode(RecordReader& r);

  mutable std::mutex mu_;
  fuse_ino_t next_ino_ = kRoot + 1;
  SlabPool<Node> pool_;  // every node; see SlabPool for why
  absl::flat_hash_set<Node*, InoHash, InoEq> nodes_;
  absl::flat_hash_set<Node*, FirstLinkHash, FirstLinkEq> children_;  // first links
  // Further links (hard links, rare), keys pointing into Extra::more.
  std::unordered_map<ChildKey, Node*, ChildKeyHash> more_links_;
  absl::flat_hash_map<fuse_ino_t, Extra> extras_;  // rare, see Node
  std::unordered_map<ino_t, Node*> identities_;    // source inode -> node, multi-link files
  std::unordered_map<fuse_ino_t, Link> retired_;   // see Retire()
  StateJournal* journal_ = nullptr;
};

}  // namespace freshfs::fs
