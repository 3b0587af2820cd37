// Block files: the on-disk format of one DiskCache block, and where it lives.
//
// Contract:
// - A block file is a header (key, etag, block number, data length, CRC32 of
//   the data, CRC32 of the header) followed by the data; its name is
//   <H>.<block>.<serial>, H the SHA-256 hex of (key, etag), in the fan-out
//   directory blocks/<first two digits of H>/. Keys never appear in names.
// - WriteBlockFile writes to a fresh tmp/ file and renames it into place, so a
//   path under blocks/ only ever names a whole file. Nothing is fsync'ed: data
//   lost to a power failure fails its checksum instead.
// - ReadBlockFile checks everything (header, names, lengths, data CRC) and
//   reports damage rather than returning wrong data. ValidateBlockFile checks
//   all but the data CRC (it runs on every file at Open; Get checks the data).
// - Nothing here removes a damaged file, logs or keeps state: the caller
//   decides. Paths are relative to the cache directory, which callers pass as
//   an open descriptor. The functions block on file I/O, hold no locks and may
//   run on any number of threads at once.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace freshfs::cache {

// Under the cache directory: the fan-out directories, and files being written.
inline constexpr const char* kBlocksDir = "blocks";
inline constexpr const char* kTmpDir = "tmp";

// S3 keys have at most 1024 bytes; a block file holds no more than this of key
// and etag together (a larger length read back means a damaged header).
inline constexpr size_t kMaxKeyAndEtagBytes = 16 * 1024;

// The size of the file holding a block of `data_size` bytes.
uint64_t BlockFileSize(std::string_view key, std::string_view etag, size_t data_size);

// The file name stem of a version of an object: SHA-256 hex of (key, etag),
// unambiguous ("ab", "c" and "a", "bc" differ).
std::string DigestHex(std::string_view key, std::string_view etag);

// blocks/<fan-out>/<digest>.<block>.<serial>; `serial` must be unique per write.
std::string BlockPath(const std::string& digest, uint64_t block, uint64_t serial);
// tmp/<serial>: where the write of that serial happens.
std::string TmpPath(uint64_t serial);
// Whether `name` can be a fan-out directory under blocks/.
bool IsFanoutName(std::string_view name);

// Writes (key, etag, block, data) to `tmp`, then renames it to `path`,
// creating the fan-out directory when it is missing. On failure the tmp file
// is removed (if this call made it), and `failed` names the step ("create",
// "write", "close", "rename") that failed with `err`.
struct WriteOutcome {
  const char* failed = nullptr;
  int err = 0;
  bool ok() const { return failed == nullptr; }
};
WriteOutcome WriteBlockFile(int root, const std::string& tmp, const std::string& path,
                            std::string_view key, std::string_view etag, uint64_t block,
                            std::string_view data);

enum class ReadStatus {
  kHit,
  kMissing,      // no file at `path`
  kDamaged,      // not exactly the expected block: the file is worth removing
  kUnavailable,  // could not be opened (e.g. EMFILE): the file may be fine
};
struct ReadOutcome {
  ReadStatus status;
  size_t length = 0;  // bytes copied into the buffer, on a hit
  int err = 0;        // when a syscall failed
};
// Reads the block file at `path`, which should hold `file_bytes` bytes of
// (key, etag, block), and copies its data into `buf`: all of it, or the first
// `size` bytes. With `touch_mtime`, sets the file's mtime on a hit.
ReadOutcome ReadBlockFile(int root, const std::string& path, std::string_view key,
                          std::string_view etag, uint64_t block, uint64_t file_bytes, char* buf,
                          size_t size, bool touch_mtime);

// A block file found in a fan-out directory.
struct BlockFileInfo {
  std::string key;
  std::string etag;
  std::string digest;
  uint64_t block = 0;
  uint64_t serial = 0;
  uint64_t file_bytes = 0;
  timespec mtime{};
};
// The file `name` in blocks/<fanout>/ (open as `dirfd`) if it is a regular
// file of ours whose header is intact, whose length matches it and whose name
// is the one its content calls for; nullopt for anything else.
std::optional<BlockFileInfo> ValidateBlockFile(int dirfd, const std::string& fanout,
                                               const std::string& name);

}  // namespace freshfs::cache
