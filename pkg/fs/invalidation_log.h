// InvalidationLog: which inodes had their cached data (file pages, a
// directory's cached listing) invalidated lately, so that a reply computed
// from the old state and delivered after the invalidation is followed by
// one more.
//
// Why: a READ or READDIR answered from the source before it changed can
// reach the kernel after the watcher told the kernel to drop that inode's
// cache, and fill the cache again with the old state; no later
// notification would come, and the kernel would serve it for as long as
// it caches (the kernel's folio lock orders an invalidation after a read
// of pages it already holds, but a directory listing is cached only once
// its reply is in, and a page added after the invalidation passed it is
// not covered). So each such request takes a Ticket before it asks the
// source, and after its reply checks whether an invalidation of its inode
// was noted since; if so, it asks for that invalidation once more.
//
// Note() is called by whoever queues a data invalidation, before it is
// queued; only for changes at the source, never for the repeats (or a
// busy file would be invalidated forever).
//
// Thread-safe, lock-free. Inodes share slots (4,096 of them): a collision
// costs a needless repeat, never a missed one. Hot path: Begin() is one
// atomic load, Raced() one more while nothing was invalidated.
#pragma once

#include <fuse_lowlevel.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>

namespace freshfs::fs {

class InvalidationLog {
 public:
  using Ticket = uint64_t;
  // Queues one more data invalidation of an inode (the Invalidator's).
  using Repeat = std::function<void(fuse_ino_t)>;

  void set_repeat(Repeat repeat) { repeat_ = std::move(repeat); }

  Ticket Begin() const { return seq_.load(); }

  void Note(fuse_ino_t ino) {
    const uint64_t seq = seq_.fetch_add(1) + 1;
    std::atomic<uint64_t>& slot = SlotOf(ino);
    uint64_t seen = slot.load();
    while (seen < seq && !slot.compare_exchange_weak(seen, seq)) {
    }
  }

  // Whether an invalidation of `ino` was noted after `ticket` was taken.
  bool Raced(fuse_ino_t ino, Ticket ticket) const {
    return seq_.load() != ticket && SlotOf(ino).load() > ticket;
  }

  // After the reply of a request that took `ticket`: repeats the
  // invalidation if one raced with it. True if it did.
  bool AfterReply(fuse_ino_t ino, Ticket ticket) {
    if (!Raced(ino, ticket)) return false;
    if (repeat_) repeat_(ino);
    return true;
  }

 private:
  static constexpr size_t kSlots = 4096;
  std::atomic<uint64_t>& SlotOf(fuse_ino_t ino) const {
    return slots_[(ino * 0x9e3779b97f4a7c15ULL) >> 52];  // top 12 bits
  }

  std::atomic<uint64_t> seq_{0};
  mutable std::array<std::atomic<uint64_t>, kSlots> slots_{};
  Repeat repeat_;
};

}  // namespace freshfs::fs
