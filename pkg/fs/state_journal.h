// StateJournal: what a successor needs to serve this daemon's kernel
// connection, kept where it survives the daemon (docs/resume.md): a shared
// memory file (memfd) that the supervisor holds as well, mapped here.
//
//   header    the format version, the kernel's INIT request as it was read,
//             the parameters negotiated in answer, what the state belongs to;
//   segments  two of them, one active: records of every change to the inode
//             table and the open handles, appended as they happen. When the
//             active one grows past a few times the live state, a snapshot
//             of the live state is written into the other and the header
//             switched to it (Rewrite), then the old one is emptied.
//
// A record is committed by its length, written last with one aligned store:
// a daemon killed in the middle of an append leaves a record of length 0,
// which ends the journal for the reader. Nothing is fsync'ed: the memfd
// lives in memory, as long as any process holds it.
//
// Thread-safe: one mutex orders appends; callers append while holding the
// lock that orders the change itself, so the journal's order is the order
// of the changes. Rewrite's callback runs under the journal lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "util/unique_fd.h"

namespace freshfs::fs {

// The state format this build writes and reads. A successor that finds
// another refuses to resume (the predecessor keeps serving).
inline constexpr uint32_t kStateFormat = 1;

// The kinds of records (the first byte of each). Inode records are written
// and replayed by InodeTable, handle records by HandleTable.
enum class StateOp : uint8_t {
  // InodeTable calls, replayed as calls (the table is deterministic).
  kLookup = 1,
  kAddLink = 2,
  kForget = 3,
  kDetach = 4,
  kRetire = 5,
  kRename = 6,
  kSetVersion = 7,
  kConfirm = 8,
  // Snapshot of the inode table: its counter, then one record per node.
  kNextIno = 9,
  kNode = 10,
  // Open files and directories (HandleTable).
  kOpen = 20,
  kRelease = 21,
  kUnsaved = 22,  // data written that the source does not hold yet
  kSaved = 23,    // ... and now it does
  kNextHandle = 24,
};

// What the kernel and the daemon agreed on at INIT. The kernel sends INIT
// once per connection: a successor replays the saved request to its own
// libfuse session and then wants exactly what was granted.
struct KernelInit {
  std::string request;  // fuse_in_header + fuse_init_in, as read from the device
  uint64_t want = 0;    // fuse_conn_info::want as answered
  uint32_t max_write = 0;
  uint32_t max_readahead = 0;
  uint32_t max_background = 0;
  uint32_t congestion_threshold = 0;
  uint32_t time_gran = 0;
  uint32_t proto_minor = 0;  // the kernel's protocol minor version
};

// Appends fields to a record (little-endian, as the host: the state never
// leaves the machine).
class RecordWriter {
 public:
  explicit RecordWriter(StateOp op) { buf_.push_back(char(op)); }
  RecordWriter& U8(uint8_t v) { return Raw(&v, sizeof v); }
  RecordWriter& U32(uint32_t v) { return Raw(&v, sizeof v); }
  RecordWriter& U64(uint64_t v) { return Raw(&v, sizeof v); }
  RecordWriter& Str(std::string_view s) {
    U32(uint32_t(s.size()));
    buf_.append(s);
    return *this;
  }
  std::string_view data() const { return buf_; }

 private:
  RecordWriter& Raw(const void* p, size_t n) {
    buf_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string buf_;
};

// Reads a record's fields in the order they were written; any read past the
// end makes ok() false (and returns zeros), so a decoder checks once.
class RecordReader {
 public:
  explicit RecordReader(std::string_view record) : rest_(record) {}
  StateOp Op() { return StateOp(U8()); }
  uint8_t U8() { return Raw<uint8_t>(); }
  uint32_t U32() { return Raw<uint32_t>(); }
  uint64_t U64() { return Raw<uint64_t>(); }
  std::string_view Str() {
    uint32_t n = U32();
    if (n > rest_.size()) {
      ok_ = false;
      return {};
    }
    std::string_view s = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return s;
  }
  bool ok() const { return ok_; }

 private:
  template <typename T>
  T Raw() {
    T v{};
    if (rest_.size() < sizeof v) {
      ok_ = false;
      return v;
    }
    __builtin_memcpy(&v, rest_.data(), sizeof v);
    rest_.remove_prefix(sizeof v);
    return v;
  }
  std::string_view rest_;
  bool ok_ = true;
};

class StateJournal {
 public:
  // Starts a new journal in `fd` (a fresh memfd; its size is set here).
  // `owner` names what the state belongs to (the source), checked by Open.
  static std::unique_ptr<StateJournal> Create(UniqueFd fd, std::string_view owner,
                                              std::string* error);
  // Opens the journal a predecessor left in `fd`. Refuses another format,
  // another owner, or a journal without a saved INIT, saying which.
  static std::unique_ptr<StateJournal> Open(UniqueFd fd, std::string_view owner,
                                            std::string* error);
  ~StateJournal();
  StateJournal(const StateJournal&) = delete;
  StateJournal& operator=(const StateJournal&) = delete;

  int fd() const { return fd_.get(); }

  // Once per connection, by the daemon that answered the kernel's INIT.
  void SaveInit(const KernelInit& init);
  // The saved INIT; empty `request` if none.
  KernelInit Init() const;

  // Appends one record (a RecordWriter's data). Never blocks on I/O. If the
  // active segment is full (compaction stopped keeping up), the journal
  // marks itself unusable: a successor then refuses it and the supervisor
  // falls back to a new mount.
  void Append(std::string_view record);

  // Writes a snapshot of the live state through `write_snapshot` (which
  // calls the given append for each record, and must not call Append) into
  // the other segment, makes it the active one and empties the old. The
  // caller holds every lock under which records are appended, so nothing
  // changes meanwhile.
  using Sink = std::function<void(std::string_view record)>;
  void Rewrite(const std::function<void(const Sink&)>& write_snapshot);

  // Calls `f` with each committed record of the active segment, in order.
  void ForEach(const std::function<void(std::string_view record)>& f) const;

  // Bytes in the active segment, and in it right after the last Rewrite.
  // While held, Append and Rewrite do nothing: the journal is another
  // daemon's (a successor taking over reads and rewrites it). After a
  // take-over that did not happen, the owner unholds it and writes the live
  // state anew (StateKeeper::Compact).
  void Hold(bool held);

  size_t ActiveBytes() const;
  size_t SnapshotBytes() const;
  bool usable() const;

 private:
  struct Header;
  StateJournal(UniqueFd fd, void* map, size_t map_size);
  Header* header() const;
  char* Segment(uint32_t index) const;
  // Appends at `*used` in `segment`; false if it does not fit.
  bool AppendAt(char* segment, size_t* used, std::string_view record);

  UniqueFd fd_;
  void* map_;
  size_t map_size_;
  mutable std::mutex mu_;
  size_t used_ = 0;            // bytes of the active segment in use
  size_t snapshot_bytes_ = 0;  // what the last Rewrite wrote
  bool held_ = false;
};

}  // namespace freshfs::fs
