// FileSystem: the logic behind every FUSE operation, in terms of inode
// numbers, names and Results, kept apart from the kernel protocol
// (fuse_ops.cc) so it can be tested without a mount.
//
// Owns the Store, the InodeTable and the open handles. Called concurrently
// from the FUSE worker threads; never holds the table lock across a Store
// call. Methods block on the Store.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fs/change_observer.h"
#include "fs/handle_table.h"
#include "fs/invalidation_log.h"
#include "fs/inode_table.h"
#include "store/store.h"
#include "util/result.h"

namespace freshfs::fs {

// A change asked of a read-only mount: EROFS, an answer (logged at debug),
// not a failure of the source.
Error ReadOnlyMount();

// What the mount reports and allows, independent of how the kernel caches.
struct FsSettings {
  bool read_only = false;
  std::optional<uid_t> uid;         // reported owner of every entry
  std::optional<gid_t> gid;         // reported group of every entry
  std::optional<mode_t> file_mode;  // permission bits reported for non-directories
  std::optional<mode_t> dir_mode;   // permission bits reported for directories
  // Check the entry against the source on every open (close-to-open).
  bool revalidate_on_open = false;
};

// One open file, from open/create to release: fi->fh is its number in the
// HandleTable.
struct OpenFile {
  fuse_ino_t ino = 0;
  uint64_t fh = 0;
  std::unique_ptr<store::FileHandle> handle;
  // Revalidation found the file changed: the kernel must drop its pages.
  bool changed_at_source = false;
  // Opened for writing (flush/fsync may then change the source; FUSE does
  // not repeat the open flags in those requests).
  bool writable = false;
  // The name led to another version of the object than the inode stands
  // for (replaced between the lookup and the open): this descriptor reads
  // and writes past the page cache, so the inode's pages never mix versions.
  bool direct_io = false;
  // Restored by a successor daemon without its data: written through a
  // predecessor whose upload never happened (docs/resume.md). Every request
  // on it fails with EIO; the kernel's other descriptors are unaffected.
  bool lost = false;
  // Writes through it so far, and whether some may exist only in the
  // handle (see FileSystem::NoteWritten).
  std::atomic<uint64_t> writes{0};
  std::atomic<bool> unsaved{false};
  // Held shared by every request using the file, exclusively by release: the
  // kernel sends release only after the last use is answered, and this makes
  // that order explicit (and visible to ThreadSanitizer).
  std::shared_mutex use_mu;
};

// An entry handed to the kernel: its inode number (lookup count already
// raised) and attributes as reported.
struct Entry {
  fuse_ino_t ino = 0;
  struct stat attr {};
};

// One open directory: a snapshot of its names taken at opendir (and again
// on a rewind to offset 0), so offsets stay stable across readdir calls.
struct DirHandle {
  fuse_ino_t ino = 0;
  uint64_t fh = 0;  // its number in the HandleTable
  std::mutex mu;
  bool loaded = false;
  std::vector<store::DirEntry> entries;  // [0] ".", [1] "..", then the children
  // Taken before the listing was read; atomic: read after a reply, outside mu.
  std::atomic<InvalidationLog::Ticket> listed{0};
};

// One item of a readdir reply. `entry.ino` is 0 for "." and ".." and for
// plain readdir; `next_offset` is what the kernel passes back to continue.
struct DirItem {
  std::string_view name;
  Entry entry;
  off_t next_offset = 0;
};

class FileSystem {
 public:
  FileSystem(std::unique_ptr<store::Store> store, FsSettings settings);
  ~FileSystem();

  const FsSettings& settings() const { return settings_; }
  // Who to tell about the mount's own changes (the watcher); may stay unset.
  void set_observer(ChangeObserver* observer) { observer_ = observer; }
  InodeTable& inodes() { return inodes_; }
  // The numbers the kernel holds for open files and directories.
  HandleTable& handles() { return handles_; }
  // Data invalidations of late, against which replies are checked.
  InvalidationLog& invalidations() { return invalidations_; }
  store::Store& store() { return *store_; }

  Result<Entry> Lookup(fuse_ino_t parent, std::string_view name);
  void Forget(fuse_ino_t ino, uint64_t nlookup);

  Result<struct stat> GetAttr(fuse_ino_t ino, store::FileHandle* fh);
  Result<struct stat> SetAttr(fuse_ino_t ino, const store::AttrChange& change,
                              store::FileHandle* fh);
  Result<std::string> ReadLink(fuse_ino_t ino);

  Result<Entry> MakeNode(fuse_ino_t parent, std::string_view name, mode_t mode, dev_t rdev,
                         const store::Caller& caller);
  Result<Entry> MakeDir(fuse_ino_t parent, std::string_view name, mode_t mode,
                        const store::Caller& caller);
  Result<Entry> Symlink(std::string_view target, fuse_ino_t parent, std::string_view name,
                        const store::Caller& caller);
  Result<Entry> Link(fuse_ino_t ino, fuse_ino_t new_parent, std::string_view new_name);
  Status Unlink(fuse_ino_t parent, std::string_view name);
  Status RemoveDir(fuse_ino_t parent, std::string_view name);
  Status Rename(fuse_ino_t parent, std::string_view name, fuse_ino_t new_parent,
                std::string_view new_name, unsigned flags, const store::Caller& caller);

  // Open/Create return a file owned by the caller until Release().
  Result<OpenFile*> Open(fuse_ino_t ino, int flags);
  struct Created {
    Entry entry;
    OpenFile* file = nullptr;
  };
  Result<Created> Create(fuse_ino_t parent, std::string_view name, mode_t mode, int flags,
                         const store::Caller& caller);
  void Release(OpenFile* file);
  // Resume: the files and directories a predecessor left open, opened
  // again under their numbers (after the inode table was restored). A file
  // that cannot be opened again, or held data not yet saved to the source,
  // is restored as lost (see OpenFile::lost). Returns how many were lost.
  size_t RestoreHandles(const std::map<uint64_t, SavedHandle>& saved);
  // After a write through `file`: a handle that keeps written data until a
  // flush (S3 stages it for the upload) marks the descriptor unsaved.
  void NoteWritten(OpenFile* file);
  // After a successful flush or fsync that began when `file` had seen
  // `writes_before` writes: saved, unless more came meanwhile.
  void NoteSaved(OpenFile* file, uint64_t writes_before);
  // Before a hand-over to a successor (docs/resume.md#upgrade), with no
  // request running: every open file holding written data the source does
  // not have yet is flushed (S3: uploaded, as an fsync would), so the
  // successor restores it whole instead of as lost. Returns how many
  // flushes failed (those stay unsaved).
  size_t SaveUnsaved();

  // Whether a descriptor open for writing exists for `ino`.
  bool OpenForWriting(fuse_ino_t ino);

  // After `caller` wrote through `file`: a write past the page cache
  // (OpenFile::direct_io) by anyone but root clears the set-user-ID bit, and
  // the set-group-ID bit of a group-executable file. For cached writes the
  // kernel clears them itself (with a SETATTR); for these it leaves that to
  // the filesystem (FUSE_WRITE_KILL_SUIDGID, which libfuse 3.14 does not pass
  // on, hence root standing for CAP_FSETID). See docs/posix.md.
  void ClearSetIdBitsAfterWrite(OpenFile* file, const store::Caller& caller);

  // Brackets a change made through an open file (write, fallocate) as the
  // mount's own, recording the file's attributes right after it.
  class OwnWrite {
   public:
    OwnWrite(FileSystem& fs, OpenFile* file);
    ~OwnWrite();
    OwnWrite(const OwnWrite&) = delete;
    OwnWrite& operator=(const OwnWrite&) = delete;

   private:
    FileSystem& fs_;
    OpenFile* file_;
    std::optional<std::string> path_;
  };

  // Reads without an open (read-only mounts where the kernel skips open:
  // FUSE_CAP_NO_OPEN_SUPPORT). Uses a small cache of read-only descriptors.
  Result<size_t> ReadUnopened(fuse_ino_t ino, char* buf, size_t size, off_t offset);
  // Drops the cached descriptor of `ino` (its content changed at the source).
  void DropUnopened(fuse_ino_t ino);

  // Files read through the daemon lately (their pages were not cached), the
  // candidates for pushing new content into the page cache after a change.
  void NoteRead(fuse_ino_t ino);
  bool RecentlyRead(fuse_ino_t ino);
  // The whole content of the file at `path` if it has at most `limit` bytes.
  std::optional<std::string> ReadSmallFile(const std::string& path, size_t limit);

  Result<DirHandle*> OpenDir(fuse_ino_t ino);
  // Calls `emit` for each item from `offset` on until it returns false (the
  // reply buffer is full). With `plus`, each emitted child is looked up
  // (count +1); an item `emit` refuses is rolled back (count -1).
  Status ReadDir(DirHandle* dir, off_t offset, bool plus,
                 const std::function<bool(const DirItem&)>& emit);
  void ReleaseDir(DirHandle* dir);

  Result<struct statvfs> StatFs();

  Result<std::string> GetXattr(fuse_ino_t ino, const std::string& name);
  Result<std::string> ListXattr(fuse_ino_t ino);
  Status SetXattr(fuse_ino_t ino, const std::string& name, std::string_view value, int flags);
  Status RemoveXattr(fuse_ino_t ino, const std::string& name);

  // Applies --uid/--gid/--file-mode/--dir-mode to attributes from the store.
  void Report(struct stat* st) const;

 private:
  Result<std::string> PathOf(fuse_ino_t ino) const;
  // Why `ino` has no path: ESTALE for an inode whose name went away, ENOENT
  // for one the kernel does not hold.
  Error NoPathError(fuse_ino_t ino) const;
  Result<std::string> ChildPathOf(fuse_ino_t parent, std::string_view name) const;
  // Stats the new (parent, name) and hands it to the kernel (count +1).
  Result<Entry> EnterNew(fuse_ino_t parent, std::string_view name, const std::string& path);
  // Records (count +1) that the kernel is handed `st` at (parent, name).
  fuse_ino_t Enter(fuse_ino_t parent, std::string_view name, const std::string& path,
                   const struct stat& st);
  // The mount changed the object at `path` itself: the inode stands for
  // the version the source holds now.
  void FollowOwnChange(fuse_ino_t ino, const struct stat& st);
  // Whether `handle` reads the version `ino` stands for.
  bool SameVersion(fuse_ino_t ino, store::FileHandle& handle);
  store::FileHandle* AnyOpenHandle(fuse_ino_t ino);
  void Track(OpenFile* file);
  Status LoadDir(DirHandle* dir);

  std::unique_ptr<store::Store> store_;
  const FsSettings settings_;
  InodeTable inodes_;
  HandleTable handles_;
  InvalidationLog invalidations_;

  // Open files per inode, so an unlinked-but-open file can still be stat'ed
  // and truncated by inode (the kernel may send getattr without a handle).
  std::mutex open_mu_;
  std::unordered_multimap<fuse_ino_t, OpenFile*> open_;
  std::unordered_set<DirHandle*> open_dirs_;

  ChangeObserver* observer_ = nullptr;

  // Read-only descriptors for ReadUnopened(), at most kUnopenedMax.
  static constexpr size_t kUnopenedMax = 256;
  std::mutex unopened_mu_;
  std::unordered_map<fuse_ino_t, std::shared_ptr<store::FileHandle>> unopened_;

  static constexpr size_t kRecentReadsMax = 4096;
  std::mutex recent_mu_;
  std::unordered_set<fuse_ino_t> recent_reads_;
  std::deque<fuse_ino_t> recent_order_;  // oldest first, for eviction
};

}  // namespace freshfs::fs
