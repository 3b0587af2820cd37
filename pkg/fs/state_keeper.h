// StateKeeper: keeps a FileSystem's resume state current in a StateJournal
// (docs/resume.md), and restores a predecessor's.
//
//   Restore()  before serving, in a successor: replays the journal into the
//              inode table, opens the handles again, then starts a fresh
//              segment with a snapshot (the old one may end in half a record
//              of a daemon that was killed).
//   Start()    attaches the journal to the inode and handle tables (every
//              change is appended as it happens, under the table's lock)
//              and runs a thread that compacts the journal when it has grown
//              to several times the live state.
//
// Lock order, the same everywhere: inode table, handle table, journal.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

#include "fs/filesystem.h"
#include "fs/state_journal.h"

namespace freshfs::fs {

struct RestoreReport {
  size_t records = 0;
  size_t inodes = 0;  // nodes the kernel holds, the root aside
  size_t files = 0;   // open files restored
  size_t dirs = 0;    // open directories restored
  size_t lost = 0;    // open files that fail with EIO from now on
};

class StateKeeper {
 public:
  StateKeeper(StateJournal* journal, FileSystem* fs);
  ~StateKeeper();

  // Replays `journal` into `fs` (fresh: nothing looked up, nothing open).
  // False with *error on a damaged journal.
  static bool Restore(StateJournal& journal, FileSystem& fs, RestoreReport* report,
                      std::string* error);

  void Start();
  void Stop();
  // Writes the live state as a new segment (any thread).
  void Compact();

 private:
  void Loop();

  StateJournal* const journal_;
  FileSystem* const fs_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace freshfs::fs
