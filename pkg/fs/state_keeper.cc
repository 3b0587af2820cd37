#include "fs/state_keeper.h"

#include <algorithm>
#include <chrono>
#include <map>

namespace freshfs::fs {
namespace {

// Compaction once the journal holds this many times the live state (and
// at least this much): appends stay cheap, memory stays a small multiple.
constexpr size_t kGrowthFactor = 4;
constexpr size_t kMinCompactBytes = size_t(1) << 20;
constexpr auto kCheckInterval = std::chrono::milliseconds(200);

}  // namespace

StateKeeper::StateKeeper(StateJournal* journal, FileSystem* fs) : journal_(journal), fs_(fs) {}

StateKeeper::~StateKeeper() { Stop(); }

bool StateKeeper::Restore(StateJournal& journal, FileSystem& fs, RestoreReport* report,
                          std::string* error) {
  std::map<uint64_t, SavedHandle> handles;
  uint64_t next_handle = 1;
  bool malformed = false;
  journal.ForEach([&](std::string_view record) {
    if (malformed || record.empty()) {
      malformed = true;
      return;
    }
    ++report->records;
    if (HandleTable::Replay(record, &handles, &next_handle, &malformed)) return;
    if (fs.inodes().Replay(record) != InodeTable::Replayed::kApplied) malformed = true;
  });
  if (malformed) {
    *error = "the predecessor's state is damaged (record " + std::to_string(report->records) +
             " cannot be read)";
    return false;
  }
  report->inodes = fs.inodes().Size() - 1;
  for (const auto& [fh, saved] : handles) (saved.dir ? report->dirs : report->files)++;
  fs.handles().set_next(next_handle);
  report->lost = fs.RestoreHandles(handles);
  return true;
}

void StateKeeper::Start() {
  fs_->inodes().set_journal(journal_);
  fs_->handles().set_journal(journal_);
  // A segment of our own from the start: a predecessor's may end in half
  // a record, after which nothing may be appended.
  Compact();
  thread_ = std::thread([this] { Loop(); });
}

void StateKeeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StateKeeper::Compact() {
  fs_->inodes().WithLock([this] {
    fs_->handles().WithLock([this] {
      journal_->Rewrite([this](const StateJournal::Sink& sink) {
        fs_->inodes().WriteSnapshotLocked(sink);
        fs_->handles().WriteSnapshotLocked(sink);
      });
    });
  });
}

void StateKeeper::Loop() {
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, kCheckInterval, [this] { return stop_; })) {
    size_t used = journal_->ActiveBytes();
    size_t live = journal_->SnapshotBytes();
    if (used < kMinCompactBytes || used < kGrowthFactor * live) continue;
    lock.unlock();
    Compact();
    lock.lock();
  }
}

}  // namespace freshfs::fs
