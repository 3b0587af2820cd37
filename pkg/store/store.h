// Store: the remote a volume mirrors (a directory today, S3 later), addressed
// by relative paths ("" is the root, "a/b" a child; never a leading '/', never
// "." or ".." components). The FUSE layer above keeps inode numbers and lookup
// counts; a Store knows nothing about the kernel.
//
// Thread safety: every Store and FileHandle method may be called concurrently
// from any FUSE worker thread; implementations are thread-safe. Calls block on
// the remote (disk or network) and must not be made while holding a lock a
// FUSE request handler needs.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace freshfs::store {

// Who asked, so that what a store makes on a caller's behalf comes out as
// the caller's own system call would have made it (docs/posix.md): owned by
// the calling user (a store running as root gives it away), with the
// caller's umask applied unless the directory has a default ACL.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  // Not yet applied to the modes passed along (FUSE_CAP_DONT_MASK); 0 when
  // the kernel applied it already.
  mode_t umask = 0;
};

struct DirEntry {
  std::string name;
  mode_t type = 0;  // S_IFMT bits, 0 when unknown
  ino_t ino = 0;    // the store's inode number when it has one, else 0
};

// Which fields of SetAttr() to apply.
struct AttrChange {
  std::optional<mode_t> mode;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<off_t> size;
  std::optional<timespec> atime;  // tv_nsec may be UTIME_NOW
  std::optional<timespec> mtime;  // tv_nsec may be UTIME_NOW
};

// An open file. Owned by the FUSE layer's handle table from open/create to
// release. Methods are thread-safe (the kernel may issue parallel reads).
class FileHandle {
 public:
  virtual ~FileHandle() = default;
  virtual Result<size_t> Read(char* buf, size_t size, off_t offset) = 0;
  virtual Result<size_t> Write(const char* buf, size_t size, off_t offset) = 0;
  virtual Result<struct stat> Stat() = 0;
  virtual Status SetAttr(const AttrChange& change) = 0;
  virtual Status Flush() = 0;  // on every close(2) of a descriptor
  virtual Status Fsync(bool datasync) = 0;
  virtual Status Allocate(int mode, off_t offset, off_t length) = 0;
  virtual Result<off_t> Seek(off_t offset, int whence) = 0;  // SEEK_DATA/SEEK_HOLE
  // Settles which version of the object this handle reads, asking the
  // source if the handle only knows it from cached metadata, so Stat()
  // reports the version every read will return. A local file is settled at
  // open (the descriptor is the version); an S3 object fetches its first
  // block here, which its first read would fetch anyway.
  virtual Status Pin() { return Status::Ok(); }
  // Whether written data may stay in the handle until Flush()/Fsync()
  // (S3 stages it for the upload) instead of reaching the source at once.
  virtual bool KeepsWrites() const { return false; }
};

class Store {
 public:
  virtual ~Store() = default;

  // Human-readable description for logs, e.g. "dir:/srv/data".
  virtual std::string Describe() const = 0;

  // Whether the source is still where the user said it is (a sync against
  // a source that moved or vanished must fail, not report everything gone).
  virtual Status CheckRoot() { return Status::Ok(); }

  virtual Result<struct stat> Stat(std::string_view path) = 0;           // lstat semantics
  virtual Result<std::vector<DirEntry>> List(std::string_view dir) = 0;  // no "." / ".."
  // List() plus each entry's attributes (lstat). Entries that vanish between
  // the two are left out. The default stats each entry by path.
  struct DetailedEntry {
    std::string name;
    struct stat attr;
  };
  virtual Result<std::vector<DetailedEntry>> ListDetailed(std::string_view dir);
  // Everything under directory `dir`, recursively, each name the path relative
  // to `dir` ("a", "a/b"), in as few requests as the store can (S3: one
  // ListObjectsV2 per 1,000 keys). ENOSYS when the store has no faster way
  // than listing directory by directory (the caller then does that).
  virtual Result<std::vector<DetailedEntry>> ListTree(std::string_view dir);
  // ListTree(), or E2BIG as soon as `dir` turns out to hold more than
  // `max_keys` keys (S3: after at most ceil(max_keys / 1000) + 1 requests).
  virtual Result<std::vector<DetailedEntry>> ListTreeUpTo(std::string_view dir, size_t max_keys) {
    (void)max_keys;
    return ListTree(dir);
  }
  // How many entries one listing request returns (S3: 1,000), when a
  // request is what a listing costs; 0 for a store whose listings are
  // local calls (a directory). The watcher weighs syncs by it.
  virtual size_t ListPageSize() const { return 0; }
  // ListDetailed() straight from the source, bypassing whatever the store
  // caches (the watcher's syncs of single directories). The default is
  // ListDetailed().
  virtual Result<std::vector<DetailedEntry>> ListFresh(std::string_view dir) {
    return ListDetailed(dir);
  }
  // Stat() straight from the source, bypassing whatever the store caches
  // (used by the watcher to confirm a change). The default is Stat().
  virtual Result<struct stat> StatFresh(std::string_view path) { return Stat(path); }
  virtual Result<std::string> ReadLink(std::string_view path) = 0;
  virtual Result<struct statvfs> StatFs() = 0;

  // What a whole view of the source holds (a background scan's answer).
  struct Usage {
    uint64_t entries = 0;  // files and directories, the root excluded
    uint64_t bytes = 0;    // of the files
  };
  // Walks the whole source without keeping it (S3: one ListObjectsV2 per
  // 1,000 keys, each page dropped before the next; the default: directory
  // by directory), giving up with ECANCELED once `stop` is set. A store
  // whose StatFs() reports usage from it (S3) keeps the answer.
  virtual Result<Usage> ScanUsage(const std::atomic<bool>& stop);

  virtual Result<std::unique_ptr<FileHandle>> Open(std::string_view path, int flags) = 0;
  // Makes a new file and opens it. EEXIST whenever the name is taken, with
  // or without O_EXCL: opening an existing file is an open, whose
  // permission checks are the kernel's (fs::FileSystem::Create).
  virtual Result<std::unique_ptr<FileHandle>> Create(std::string_view path, int flags, mode_t mode,
                                                     const Caller& caller) = 0;
  virtual Status MakeDir(std::string_view path, mode_t mode, const Caller& caller) = 0;
  virtual Status MakeNode(std::string_view path, mode_t mode, dev_t rdev, const Caller& caller) = 0;
  virtual Status Symlink(std::string_view target, std::string_view path, const Caller& caller) = 0;
  virtual Status Link(std::string_view existing, std::string_view path) = 0;
  virtual Status Unlink(std::string_view path) = 0;
  virtual Status RemoveDir(std::string_view path) = 0;
  // flags: 0, RENAME_NOREPLACE, RENAME_EXCHANGE or RENAME_WHITEOUT
  // (linux/fs.h semantics; EINVAL for what the store cannot do). A whiteout
  // left at `from` is the caller's, as a new entry.
  virtual Status Rename(std::string_view from, std::string_view to, unsigned flags,
                        const Caller& caller) = 0;
  virtual Status SetAttr(std::string_view path, const AttrChange& change) = 0;

  // Extended attributes; ENOTSUP when the store has none.
  virtual Result<std::string> GetXattr(std::string_view path, const std::string& name) = 0;
  virtual Result<std::string> ListXattr(std::string_view path) = 0;  // NUL-separated
  virtual Status SetXattr(std::string_view path, const std::string& name, std::string_view value,
                          int flags) = 0;
  virtual Status RemoveXattr(std::string_view path, const std::string& name) = 0;
};

// The version of the object a stat describes, as the kernel's inodes are
// keyed by it (fs::InodeTable): the source's inode number, which a rename
// over the name changes (S3 folds the ETag into it). 0 for directories,
// which are never replaced under a name that stays cached.
inline uint64_t VersionOf(const struct stat& st) {
  return S_ISDIR(st.st_mode) ? 0 : uint64_t(st.st_ino);
}

// Joins a directory path and a child name ("" + "a" -> "a", "a" + "b" -> "a/b").
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace freshfs::store
