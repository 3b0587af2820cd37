#include "fs/handle_table.h"

#include <algorithm>
#include <mutex>

namespace freshfs::fs {

namespace {

// One open handle as a record (appended on open, and in every snapshot).
RecordWriter OpenRecord(uint64_t fh, const SavedHandle& s) {
  RecordWriter w(StateOp::kOpen);
  w.U64(fh).U8(s.dir).U64(s.ino).U32(uint32_t(s.flags)).U8(s.direct_io).U8(s.unsaved);
  return w;
}

}  // namespace

void HandleTable::JournalOpenLocked(uint64_t fh, const SavedHandle& saved) const {
  if (journal_) journal_->Append(OpenRecord(fh, saved).data());
}

uint64_t HandleTable::AddLocked(void* ptr, const SavedHandle& saved) {
  uint64_t fh = next_++;
  slots_.emplace(fh, Slot{ptr, saved});
  JournalOpenLocked(fh, saved);
  return fh;
}

uint64_t HandleTable::AddFile(OpenFile* file, uint64_t ino, int flags, bool direct_io) {
  std::unique_lock lock(mu_);
  return AddLocked(file,
                   SavedHandle{.dir = false, .ino = ino, .flags = flags, .direct_io = direct_io});
}

uint64_t HandleTable::AddDir(DirHandle* dir, uint64_t ino) {
  std::unique_lock lock(mu_);
  return AddLocked(dir, SavedHandle{.dir = true, .ino = ino});
}

void HandleTable::RestoreFile(uint64_t fh, OpenFile* file, const SavedHandle& saved) {
  std::unique_lock lock(mu_);
  slots_[fh] = Slot{file, saved};
  if (fh >= next_) next_ = fh + 1;
}

void HandleTable::RestoreDir(uint64_t fh, DirHandle* dir, const SavedHandle& saved) {
  std::unique_lock lock(mu_);
  slots_[fh] = Slot{dir, saved};
  if (fh >= next_) next_ = fh + 1;
}

OpenFile* HandleTable::File(uint64_t fh) const {
  if (fh == 0) return nullptr;
  std::shared_lock lock(mu_);
  auto it = slots_.find(fh);
  return it == slots_.end() || it->second.saved.dir ? nullptr
                                                    : static_cast<OpenFile*>(it->second.ptr);
}

DirHandle* HandleTable::Dir(uint64_t fh) const {
  if (fh == 0) return nullptr;
  std::shared_lock lock(mu_);
  auto it = slots_.find(fh);
  return it == slots_.end() || !it->second.saved.dir ? nullptr
                                                     : static_cast<DirHandle*>(it->second.ptr);
}

void HandleTable::Remove(uint64_t fh) {
  std::unique_lock lock(mu_);
  if (slots_.erase(fh) == 0) return;
  if (journal_) journal_->Append(RecordWriter(StateOp::kRelease).U64(fh).data());
}

void HandleTable::MarkUnsaved(uint64_t fh, bool unsaved) {
  std::unique_lock lock(mu_);
  auto it = slots_.find(fh);
  if (it == slots_.end() || it->second.saved.unsaved == unsaved) return;
  it->second.saved.unsaved = unsaved;
  if (journal_)
    journal_->Append(RecordWriter(unsaved ? StateOp::kUnsaved : StateOp::kSaved).U64(fh).data());
}

size_t HandleTable::Size() const {
  std::shared_lock lock(mu_);
  return slots_.size();
}

void HandleTable::WithLock(const std::function<void()>& f) const {
  std::unique_lock lock(mu_);
  f();
}

void HandleTable::WriteSnapshotLocked(const StateJournal::Sink& sink) const {
  sink(RecordWriter(StateOp::kNextHandle).U64(next_).data());
  for (const auto& [fh, slot] : slots_) sink(OpenRecord(fh, slot.saved).data());
}

bool HandleTable::Replay(std::string_view record, std::map<uint64_t, SavedHandle>* saved,
                         uint64_t* next, bool* malformed) {
  RecordReader r(record);
  switch (r.Op()) {
    case StateOp::kOpen: {
      uint64_t fh = r.U64();
      SavedHandle s;
      s.dir = r.U8() != 0;
      s.ino = r.U64();
      s.flags = int(r.U32());
      s.direct_io = r.U8() != 0;
      s.unsaved = r.U8() != 0;
      if (!r.ok() || fh == 0) break;
      (*saved)[fh] = s;
      if (fh >= *next) *next = fh + 1;
      return true;
    }
    case StateOp::kRelease: {
      uint64_t fh = r.U64();
      if (!r.ok()) break;
      saved->erase(fh);
      return true;
    }
    case StateOp::kUnsaved:
    case StateOp::kSaved: {
      const bool unsaved = StateOp(record[0]) == StateOp::kUnsaved;
      uint64_t fh = r.U64();
      if (!r.ok()) break;
      if (auto it = saved->find(fh); it != saved->end()) it->second.unsaved = unsaved;
      return true;
    }
    case StateOp::kNextHandle: {
      uint64_t n = r.U64();
      if (!r.ok()) break;
      *next = std::max(*next, n);
      return true;
    }
    default:
      return false;
  }
  *malformed = true;
  return true;
}

void HandleTable::set_next(uint64_t next) {
  std::unique_lock lock(mu_);
  next_ = std::max(next_, next);
}

}  // namespace freshfs::fs
