// HandleTable: the numbers the kernel holds for open files and directories
// (fuse_file_info::fh). Numbers, not pointers: a successor daemon that
// resumes the connection gives each number the same meaning again, and a
// number of the predecessor never collides with an address of its own.
// Numbers count up from 1 and are never reused; 0 means "no handle".
//
// With a journal set, each open, release and change of the "unsaved" mark
// is appended to it under the table's lock (docs/resume.md).
//
// Thread-safe: one shared mutex (lookups, on every read and write that
// reaches the daemon, take it shared).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <shared_mutex>
#include <unordered_map>

#include "fs/state_journal.h"

namespace freshfs::fs {

struct OpenFile;
struct DirHandle;

// What a journal says about one handle, for a successor to open it again.
struct SavedHandle {
  bool dir = false;
  uint64_t ino = 0;
  int flags = 0;           // the open flags (files)
  bool direct_io = false;  // the descriptor bypasses the page cache
  bool unsaved = false;    // data written through it may exist only in memory
};

class HandleTable {
 public:
  uint64_t AddFile(OpenFile* file, uint64_t ino, int flags, bool direct_io);
  uint64_t AddDir(DirHandle* dir, uint64_t ino);
  // Gives `fh` (a predecessor's number) to `file` / `dir`.
  void RestoreFile(uint64_t fh, OpenFile* file, const SavedHandle& saved);
  void RestoreDir(uint64_t fh, DirHandle* dir, const SavedHandle& saved);
  OpenFile* File(uint64_t fh) const;
  DirHandle* Dir(uint64_t fh) const;
  void Remove(uint64_t fh);
  // Data was written through `fh` that the source may not hold yet / it
  // now holds everything written so far.
  void MarkUnsaved(uint64_t fh, bool unsaved);
  size_t Size() const;

  void set_journal(StateJournal* journal) { journal_ = journal; }
  void WithLock(const std::function<void()>& f) const;
  void WriteSnapshotLocked(const StateJournal::Sink& sink) const;
  // Replays one record into `saved` (the handles a predecessor left open).
  // Returns false if the record is not a handle record.
  static bool Replay(std::string_view record, std::map<uint64_t, SavedHandle>* saved,
                     uint64_t* next, bool* malformed);
  // Numbers from `next` on are new (after a restore).
  void set_next(uint64_t next);

 private:
  struct Slot {
    void* ptr = nullptr;
    SavedHandle saved;
  };
  uint64_t AddLocked(void* ptr, const SavedHandle& saved);
  void JournalOpenLocked(uint64_t fh, const SavedHandle& saved) const;

  mutable std::shared_mutex mu_;
  uint64_t next_ = 1;
  std::unordered_map<uint64_t, Slot> slots_;
  StateJournal* journal_ = nullptr;
};

}  // namespace freshfs::fs
