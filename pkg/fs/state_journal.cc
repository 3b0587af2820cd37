#include "fs/state_journal.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace freshfs::fs {
namespace {

constexpr char kMagic[8] = {'F', 'R', 'E', 'S', 'H', 'S', 'T', '\0'};
constexpr size_t kHeaderSize = 4096;
// Each segment: virtual space only (the memfd is sparse); what is written
// is what counts, and compaction keeps that a few times the live state.
constexpr size_t kSegmentSize = size_t(128) << 20;
constexpr size_t kAlign = 8;

size_t Padded(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

}  // namespace

struct StateJournal::Header {
  char magic[8];
  uint32_t format;
  uint32_t active;  // the segment in use, 0 or 1 (switched with one store)
  uint64_t segment_size;
  uint32_t usable;  // 0 once an append did not fit
  uint32_t init_len;
  uint64_t want;
  uint32_t max_write, max_readahead, max_background, congestion_threshold, time_gran, proto_minor;
  uint32_t owner_len;
  char owner[1024];
  char init[1024];
};

StateJournal::StateJournal(UniqueFd fd, void* map, size_t map_size)
    : fd_(std::move(fd)), map_(map), map_size_(map_size) {
  static_assert(sizeof(Header) <= kHeaderSize);
}

StateJournal::~StateJournal() { ::munmap(map_, map_size_); }

StateJournal::Header* StateJournal::header() const { return static_cast<Header*>(map_); }

char* StateJournal::Segment(uint32_t index) const {
  return static_cast<char*>(map_) + kHeaderSize + size_t(index) * header()->segment_size;
}

std::unique_ptr<StateJournal> StateJournal::Create(UniqueFd fd, std::string_view owner,
                                                   std::string* error) {
  const size_t size = kHeaderSize + 2 * kSegmentSize;
  if (owner.size() > sizeof(Header::owner)) owner = owner.substr(0, sizeof(Header::owner));
  if (::ftruncate(fd.get(), 0) != 0 || ::ftruncate(fd.get(), off_t(size)) != 0) {
    *error = std::string("cannot size the state file: ") + std::strerror(errno);
    return nullptr;
  }
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) {
    *error = std::string("cannot map the state file: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<StateJournal> j(new StateJournal(std::move(fd), map, size));
  Header* h = j->header();
  h->format = kStateFormat;
  h->segment_size = kSegmentSize;
  h->usable = 1;
  h->owner_len = uint32_t(owner.size());
  std::memcpy(h->owner, owner.data(), owner.size());
  // The magic last: a header is either whole or not a journal.
  __atomic_store_n(&h->active, 0, __ATOMIC_RELAXED);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(h->magic, kMagic, sizeof kMagic);
  return j;
}

std::unique_ptr<StateJournal> StateJournal::Open(UniqueFd fd, std::string_view owner,
                                                 std::string* error) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    *error = std::string("cannot read the state file: ") + std::strerror(errno);
    return nullptr;
  }
  if (size_t(st.st_size) < kHeaderSize) {
    *error = "the state file holds no state (" + std::to_string(st.st_size) + " bytes)";
    return nullptr;
  }
  Header h{};
  if (::pread(fd.get(), &h, sizeof h, 0) != ssize_t(sizeof h) ||
      std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) {
    *error = "the state file is not a freshfs state";
    return nullptr;
  }
  if (h.format != kStateFormat) {
    *error = "the state is in format " + std::to_string(h.format) +
             ", this freshfs-mount reads format " + std::to_string(kStateFormat);
    return nullptr;
  }
  const size_t size = kHeaderSize + 2 * size_t(h.segment_size);
  if (h.segment_size == 0 || size_t(st.st_size) < size || h.active > 1 ||
      h.owner_len > sizeof h.owner || h.init_len > sizeof h.init) {
    *error = "the state file is damaged (its header does not fit it)";
    return nullptr;
  }
  if (std::string_view(h.owner, h.owner_len) != owner.substr(0, sizeof h.owner)) {
    *error = "the state belongs to another source (\"" + std::string(h.owner, h.owner_len) + "\")";
    return nullptr;
  }
  if (h.init_len == 0) {
    *error = "the predecessor never answered the kernel's INIT (no connection to resume)";
    return nullptr;
  }
  if (!h.usable) {
    *error = "the predecessor's state is incomplete (its journal overflowed)";
    return nullptr;
  }
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) {
    *error = std::string("cannot map the state file: ") + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<StateJournal> j(new StateJournal(std::move(fd), map, size));
  // Appends continue after what Rewrite() puts in the other segment (the
  // tail of this one may hold half a record of the dead predecessor).
  size_t used = 0;
  j->ForEach([&used](std::string_view record) { used += Padded(8 + record.size()); });
  j->used_ = used;
  return j;
}

void StateJournal::SaveInit(const KernelInit& init) {
  std::lock_guard lock(mu_);
  Header* h = header();
  size_t n = std::min(init.request.size(), sizeof h->init);
  std::memcpy(h->init, init.request.data(), n);
  h->want = init.want;
  h->max_write = init.max_write;
  h->max_readahead = init.max_readahead;
  h->max_background = init.max_background;
  h->congestion_threshold = init.congestion_threshold;
  h->time_gran = init.time_gran;
  h->proto_minor = init.proto_minor;
  __atomic_store_n(&h->init_len, uint32_t(n), __ATOMIC_RELEASE);
}

KernelInit StateJournal::Init() const {
  std::lock_guard lock(mu_);
  const Header* h = header();
  KernelInit init;
  uint32_t n = __atomic_load_n(&h->init_len, __ATOMIC_ACQUIRE);
  init.request.assign(h->init, std::min<size_t>(n, sizeof h->init));
  init.want = h->want;
  init.max_write = h->max_write;
  init.max_readahead = h->max_readahead;
  init.max_background = h->max_background;
  init.congestion_threshold = h->congestion_threshold;
  init.time_gran = h->time_gran;
  init.proto_minor = h->proto_minor;
  return init;
}

bool StateJournal::AppendAt(char* segment, size_t* used, std::string_view record) {
  const size_t total = Padded(8 + record.size());
  if (*used + total + kAlign > header()->segment_size) return false;
  char* at = segment + *used;
  std::memcpy(at + 8, record.data(), record.size());
  uint32_t payload = uint32_t(record.size());
  std::memcpy(at + 4, &payload, sizeof payload);
  // Committed by its length: a reader never sees half a record.
  __atomic_store_n(reinterpret_cast<uint32_t*>(at), uint32_t(total), __ATOMIC_RELEASE);
  *used += total;
  return true;
}

void StateJournal::Append(std::string_view record) {
  std::lock_guard lock(mu_);
  Header* h = header();
  if (held_ || !h->usable) return;
  if (!AppendAt(Segment(__atomic_load_n(&h->active, __ATOMIC_RELAXED)), &used_, record)) {
    h->usable = 0;
    spdlog::error(
        "resume state: the journal is full; this volume cannot be resumed by a "
        "successor until the next compaction");
  }
}

void StateJournal::Rewrite(const std::function<void(const Sink&)>& write_snapshot) {
  std::lock_guard lock(mu_);
  if (held_) return;
  Header* h = header();
  const uint32_t old = __atomic_load_n(&h->active, __ATOMIC_RELAXED);
  const uint32_t next = 1 - old;
  char* segment = Segment(next);
  size_t used = 0;
  bool fits = true;
  write_snapshot([&](std::string_view record) {
    if (fits) fits = AppendAt(segment, &used, record);
  });
  if (!fits) {
    // The live state does not fit a segment: leave the journal as it was
    // (unusable if it overflowed) and empty the attempt.
    ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                off_t(kHeaderSize + next * h->segment_size), off_t(h->segment_size));
    spdlog::error("resume state: the live state is larger than a journal segment ({} bytes)",
                  h->segment_size);
    return;
  }
  __atomic_store_n(&h->active, next, __ATOMIC_RELEASE);
  __atomic_store_n(&h->usable, 1, __ATOMIC_RELEASE);
  // Reads of the old segment see zeros from here on, and so a new journal
  // written there later ends where it should.
  ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
              off_t(kHeaderSize + old * h->segment_size), off_t(h->segment_size));
  used_ = used;
  snapshot_bytes_ = used;
}

void StateJournal::ForEach(const std::function<void(std::string_view record)>& f) const {
  const Header* h = header();
  const char* segment = Segment(__atomic_load_n(&h->active, __ATOMIC_ACQUIRE));
  size_t at = 0;
  while (at + 8 <= h->segment_size) {
    uint32_t total =
        __atomic_load_n(reinterpret_cast<const uint32_t*>(segment + at), __ATOMIC_ACQUIRE);
    if (total == 0) break;
    uint32_t payload = 0;
    std::memcpy(&payload, segment + at + 4, sizeof payload);
    if (total % kAlign != 0 || total < 8 + payload || at + total > h->segment_size) break;
    f(std::string_view(segment + at + 8, payload));
    at += total;
  }
}

void StateJournal::Hold(bool held) {
  std::lock_guard lock(mu_);
  held_ = held;
}

size_t StateJournal::ActiveBytes() const {
  std::lock_guard lock(mu_);
  return used_;
}

size_t StateJournal::SnapshotBytes() const {
  std::lock_guard lock(mu_);
  return snapshot_bytes_;
}

bool StateJournal::usable() const { return __atomic_load_n(&header()->usable, __ATOMIC_ACQUIRE); }

}  // namespace freshfs::fs
