// S3File: an open S3 object.
//
// Reading (not opened for writing): sequential reads fetch blocks of
// settings().block_size and keep up to readahead_blocks in flight on the
// store's pool, ramping up while the reader stays sequential; a read that
// jumps elsewhere fetches only the range it asked for. Pin() (called by
// the filesystem at open) fetches the first block unconditionally and
// settles the version from it; every later GET is conditional on that
// ETag, so one open file never mixes two versions (a range fetched after
// the object changed reads as EIO; reopen to see the new one).
// Blocks go through the optional on-disk cache, keyed by ETag.
//
// Writing: the object is staged in an unlinked local file (downloaded first
// unless O_TRUNC); writes, reads and truncates act on it. flush()/fsync()
// upload it when it changed, conditional on the version it was opened at
// (If-Match, or If-None-Match: * for a new file), then HEAD it so Stat()
// reports exactly what S3 now holds. When the object changed meanwhile,
// ConflictPolicy decides. A failed upload keeps the data: the staging file
// is linked into <staging_dir>/failed/ and the log says where.
//
// Thread-safe: the kernel may send parallel reads and writes.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "store/s3_store.h"
#include "util/unique_fd.h"

namespace freshfs::store {

class S3File final : public FileHandle {
 public:
  // `node`: the object as it is now (for a new file: empty, no ETag).
  static Result<std::unique_ptr<S3File>> Open(S3Store* store, std::string path,
                                              const s3tree::Node& node, int flags, bool create);
  ~S3File() override;

  Result<size_t> Read(char* buf, size_t size, off_t offset) override;
  Result<size_t> Write(const char* buf, size_t size, off_t offset) override;
  Result<struct stat> Stat() override;
  Status SetAttr(const AttrChange& change) override;
  Status Flush() override;
  Status Fsync(bool datasync) override;
  Status Allocate(int mode, off_t offset, off_t length) override;
  Result<off_t> Seek(off_t offset, int whence) override;
  Status Pin() override;
  bool KeepsWrites() const override { return true; }

  // For S3Store: the local state of a file open for writing.
  struct stat LocalStat();
  // The file's name changed to `path`, where S3 now holds `etag` (empty: nothing).
  void Renamed(const std::string& path, const std::string& etag);
  // The name was removed: whatever is written now is never uploaded.
  void Unlinked();

 private:
  struct Block;
  S3File(S3Store* store, std::string path, const s3tree::Node& node, bool writable);
  Status Stage(bool truncate);
  Status UploadLocked();  // io_mu_ held
  Status SaveFailedLocked(const std::string& key, const std::string& why);
  Result<size_t> ReadRemote(char* buf, size_t size, off_t offset);
  Result<size_t> ReadRemoteOnce(char* buf, size_t size, off_t offset);  // ESTALE: version changed
  std::shared_ptr<Block> FetchBlock(uint64_t index, bool wait);
  // Fills `block` (number `index` of object `key` at `etag`) from the disk
  // cache or S3. Runs on a FUSE thread or the readahead pool and touches
  // only what it is given, so the file may be closed meanwhile.
  static void LoadBlock(S3Store* store, const std::string& key, const std::string& etag,
                        uint64_t object_size, uint64_t index, const std::shared_ptr<Block>& block);

  S3Store* store_;
  const bool writable_;

  // Lock order: io_mu_, then the store's lock, then state_mu_. state_mu_ is
  // a leaf (held briefly, never across I/O or a call out): the store takes
  // it under its own lock to show a writer's local size.
  std::mutex io_mu_;  // serializes writes, truncates and uploads
  // Where a failed upload's data was kept, and as of which change: a second
  // failure of the same data says so instead of keeping another copy.
  std::string saved_as_;          // io_mu_
  uint64_t saved_at_change_ = 0;  // io_mu_
  std::mutex state_mu_;           // guards everything below
  uint64_t changes_ = 0;          // writes and truncates so far
  std::string path_;
  s3tree::Node node_;  // the object's version this file stands for
  UniqueFd staging_;   // writable files only
  bool dirty_ = false;
  bool is_new_ = false;  // created here, never uploaded
  bool unlinked_ = false;
  std::map<uint64_t, std::shared_ptr<Block>> blocks_;  // read-ahead window
  off_t next_sequential_ = 0;
  size_t window_ = 1;  // blocks to keep ahead, grows while sequential
};

}  // namespace freshfs::store
