// DiskCache: a bounded on-disk cache of object data blocks, keyed by (object
// key, ETag, block number), that survives remounts. A changed object has a
// new ETag, so data of an old version is never served for it.
//
// Layout under the cache directory:
//   LOCK       flock'ed while a DiskCache has the directory open
//   tmp/       blocks being written (emptied at Open)
//   blocks/xx/<H>.<block>.<serial>
//              one file per block. H is the SHA-256 hex of (key, etag), xx its
//              first two digits (256 fan-out directories); serial is unique
//              per write, so a file name is never reused and removing a file
//              can never hit a newer copy of the same block. Keys never
//              appear in file names.
// Anything else at the top level is left alone; anything unusable inside
// blocks/ and tmp/ is removed at Open.
//
// A block file (format: cache/block_file.h) is a header (key, etag, block
// number, data length, CRC32 of the header and of the data) followed by the
// data. Get checks all of it, so a truncated, corrupted or misnamed file is a
// miss (and is removed), never wrong data. Blocks are written to tmp/ and
// renamed into place, so a crash never leaves a half block under blocks/;
// they are not fsync'ed, because data lost to a power failure fails its
// checksum and is refetched.
//
// Index: in memory, key -> etag -> block, rebuilt at Open by reading every
// block file's header, so Forget(key) finds all versions of a key without
// touching the disk. Recency (LRU) is kept in memory; a hit sets the file's
// mtime at most once a minute, and Open orders what it finds by mtime.
//
// Accounting: used_bytes() is the sum of the block files' sizes (headers
// included) plus the blocks being written; it never exceeds max_bytes().
//
// Ownership rule: the index owns the files. Whoever removes a block from the
// index (eviction, Forget, a failed check) unlinks its file.
//
// Thread-safe: Get/Put/Forget may be called from any number of threads. One
// mutex guards the index and is never held during file I/O; Get and Put do
// their file I/O on the caller's thread. The DiskCache must outlive all calls.
// A Get that races with Forget or eviction of its block may still return the
// block (it was valid when the Get began), never a mix of two blocks.
// Only one DiskCache may have a directory open at a time (any process).
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace freshfs::cache {

struct BlockFileInfo;  // cache/block_file.h

class DiskCache {
 public:
  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;      // blocks dropped to make room
    uint64_t bytes_written = 0;  // block file bytes written (headers included)
    uint64_t corrupt = 0;        // damaged or vanished blocks dropped by Get
    uint64_t io_errors = 0;      // failed reads/writes/removals (first one logged)
  };

  // Opens (creating) `dir`, takes its lock, indexes what an earlier run left
  // there (anything unreadable, partial or foreign inside blocks/ and tmp/ is
  // removed) and evicts least recently used blocks down to `max_bytes`.
  // Errors: EBUSY when another DiskCache (in any process) holds `dir`; the
  // errno of creating or writing in `dir` (EACCES, EROFS, ENOTDIR, ...).
  static Result<std::unique_ptr<DiskCache>> Open(const std::string& dir, uint64_t max_bytes);
  ~DiskCache();
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  // Copies block `block` of object `key` at version `etag` into `buf` and
  // returns the number of bytes copied: the block's length, or `size` if the
  // block is longer than that. nullopt on a miss.
  std::optional<size_t> Get(std::string_view key, std::string_view etag, uint64_t block, char* buf,
                            size_t size);

  // Stores a block, evicting least recently used ones to make room. Best
  // effort: a block that is already cached, larger than max_bytes() or whose
  // write fails is not stored (the first I/O error is logged).
  void Put(std::string_view key, std::string_view etag, uint64_t block, std::string_view data);

  // Drops every block of `key`, all versions (the object was deleted or
  // rewritten). A Put of `key` in progress meanwhile is discarded too.
  void Forget(std::string_view key);

  uint64_t used_bytes() const;
  uint64_t max_bytes() const { return max_bytes_; }
  Stats stats() const;

  // The size of the file holding a block of `data_size` bytes, as counted by
  // used_bytes().
  static uint64_t BlockFileSize(std::string_view key, std::string_view etag, size_t data_size);

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  // Points into the index's own key and etag strings (stable while the block exists).
  struct LruItem {
    const std::string* key;
    const std::string* etag;
    uint64_t block;
  };
  using LruList = std::list<LruItem>;  // most recently used first

  struct Block {
    uint64_t file_bytes = 0;
    uint64_t serial = 0;
    bool ready = false;       // false while its Put is still writing it
    int64_t touched_sec = 0;  // the file's mtime as last set or seen
    LruList::iterator lru;    // valid when ready
  };
  struct Version {
    std::string digest;  // SHA-256 hex of (key, etag): the file name stem
    std::unordered_map<uint64_t, Block> blocks;
  };
  using Versions = StringMap<Version>;  // by etag

  // Where a block is in the index (block == nullptr: not there).
  struct Slot {
    Version* version = nullptr;
    Block* block = nullptr;
    LruItem lru_item{};
  };

  DiskCache(std::string dir, uint64_t max_bytes, UniqueFd root, UniqueFd lock)
      : dir_(std::move(dir)),
        max_bytes_(max_bytes),
        root_(std::move(root)),
        lock_(std::move(lock)) {}

  Status Load();
  void ScanFanout(int blocks_fd, const std::string& fanout, std::vector<BlockFileInfo>& found,
                  uint64_t& removed);
  // Removes a foreign or damaged entry found at Open (`where` is its directory).
  void RemoveEntry(int dirfd, const std::string& name, const std::string& where);

  Slot FindLocked(std::string_view key, std::string_view etag, uint64_t block);
  // Adds a block that is not in the index yet, not ready.
  Slot AddLocked(std::string_view key, std::string_view etag, const std::string& digest,
                 uint64_t block);
  void MarkReadyLocked(const Slot& slot, int64_t touched_sec);
  // Removes a block from the index and returns its file's path ("" for a
  // block still being written, which has no file yet).
  std::string EraseLocked(std::string_view key, std::string_view etag, uint64_t block);
  bool FitsLocked(uint64_t incoming) const;
  // Evicts until `incoming` more bytes fit; false if they cannot.
  bool MakeRoomLocked(uint64_t incoming, std::vector<std::string>& victims);
  // Drops the block if it is still the copy with `serial`; true if it did.
  bool DropIfCurrent(std::string_view key, std::string_view etag, uint64_t block, uint64_t serial);
  void Unlink(const std::string& path);
  void LogIoError(const char* what, const std::string& path, int err);

  const std::string dir_;
  const uint64_t max_bytes_;
  const UniqueFd root_;  // the cache directory; all paths are relative to it
  const UniqueFd lock_;  // holds the flock

  mutable std::mutex mu_;
  StringMap<Versions> index_;  // by key
  LruList lru_;
  uint64_t used_bytes_ = 0;
  uint64_t next_serial_ = 1;

  std::atomic<uint64_t> hits_{0}, misses_{0}, evictions_{0}, bytes_written_{0}, corrupt_{0},
      io_errors_{0};
};

}  // namespace freshfs::cache
