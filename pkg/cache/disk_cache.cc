#include "cache/disk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <tuple>

#include "cache/block_file.h"

namespace freshfs::cache {
namespace {

constexpr const char* kLockFile = "LOCK";

// A hit sets the file's mtime (for the LRU order of the next Open) only when
// the last one is older than this, so hot blocks cost no extra syscall.
constexpr int64_t kTouchIntervalSec = 60;

UniqueFd OpenDirAt(int parent, const char* name) {
  return UniqueFd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
}

// The names in a directory, without "." and "..".
Result<std::vector<std::string>> ListDir(int dirfd) {
  const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error{errno};
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(fd);
    return Error{err};
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  return names;
}

int64_t NowSec() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

uint64_t DiskCache::BlockFileSize(std::string_view key, std::string_view etag, size_t data_size) {
  return cache::BlockFileSize(key, etag, data_size);
}

Result<std::unique_ptr<DiskCache>> DiskCache::Open(const std::string& dir, uint64_t max_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{ec.value() > 0 ? ec.value() : EIO};
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Error{errno};
  UniqueFd lock(::openat(root.get(), kLockFile, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock.valid()) return Error{errno};
  // flock locks belong to the open file description, so this also refuses a
  // second DiskCache in the same process.
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return Error{errno == EWOULDBLOCK ? EBUSY : errno};
  }
  std::unique_ptr<DiskCache> cache(new DiskCache(dir, max_bytes, std::move(root), std::move(lock)));
  if (const Status loaded = cache->Load(); !loaded.ok()) return loaded.error();
  return cache;
}

DiskCache::~DiskCache() = default;

Status DiskCache::Load() {
  for (const char* sub : {kBlocksDir, kTmpDir}) {
    if (::mkdirat(root_.get(), sub, 0700) != 0 && errno != EEXIST) return Error(errno);
  }
  uint64_t removed = 0;

  // tmp/ holds what an earlier run did not finish writing.
  UniqueFd tmp = OpenDirAt(root_.get(), kTmpDir);
  if (!tmp.valid()) return Error(errno);
  Result<std::vector<std::string>> leftovers = ListDir(tmp.get());
  if (!leftovers.ok()) return leftovers.error();
  for (const std::string& name : *leftovers) RemoveEntry(tmp.get(), name, "tmp/");
  // Fail here, where the caller reports errors, rather than on every Put.
  const char* probe = "write-probe";
  UniqueFd probe_fd(::openat(tmp.get(), probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!probe_fd.valid()) return Error(errno);
  ::unlinkat(tmp.get(), probe, 0);

  UniqueFd blocks = OpenDirAt(root_.get(), kBlocksDir);
  if (!blocks.valid()) return Error(errno);
  Result<std::vector<std::string>> fanouts = ListDir(blocks.get());
  if (!fanouts.ok()) return fanouts.error();
  std::vector<BlockFileInfo> found;
  for (const std::string& name : *fanouts) {
    struct stat st;
    if (IsFanoutName(name) &&
        ::fstatat(blocks.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(st.st_mode)) {
      ScanFanout(blocks.get(), name, found, removed);
    } else {
      RemoveEntry(blocks.get(), name, "blocks/");
      ++removed;
    }
  }

  // Oldest first, so that each insertion at the front of the LRU list leaves
  // the most recently used block there.
  std::sort(found.begin(), found.end(), [](const BlockFileInfo& a, const BlockFileInfo& b) {
    return std::tie(a.mtime.tv_sec, a.mtime.tv_nsec, a.serial) <
           std::tie(b.mtime.tv_sec, b.mtime.tv_nsec, b.serial);
  });
  std::vector<std::string> unwanted;
  uint64_t evicted = 0;
  size_t blocks_kept = 0;
  {
    std::lock_guard lock(mu_);
    for (const BlockFileInfo& f : found) {
      next_serial_ = std::max(next_serial_, f.serial + 1);
      // Two copies of one block (a crash before an evicted copy was
      // removed, and the block had been stored again): keep the newer.
      if (FindLocked(f.key, f.etag, f.block).block != nullptr) {
        unwanted.push_back(EraseLocked(f.key, f.etag, f.block));
      }
      Slot slot = AddLocked(f.key, f.etag, f.digest, f.block);
      slot.block->file_bytes = f.file_bytes;
      slot.block->serial = f.serial;
      used_bytes_ += f.file_bytes;
      MarkReadyLocked(slot, f.mtime.tv_sec);
    }
    const size_t before = unwanted.size();
    MakeRoomLocked(0, unwanted);
    evicted = unwanted.size() - before;
    blocks_kept = lru_.size();
  }
  for (const std::string& path : unwanted) Unlink(path);
  spdlog::info(
      "disk cache {}: {} blocks, {} of {} bytes used ({} unusable files removed, "
      "{} evicted)",
      dir_, blocks_kept, used_bytes(), max_bytes_, removed, evicted);
  return Status::Ok();
}

void DiskCache::ScanFanout(int blocks_fd, const std::string& fanout,
                           std::vector<BlockFileInfo>& found, uint64_t& removed) {
  UniqueFd dir = OpenDirAt(blocks_fd, fanout.c_str());
  Result<std::vector<std::string>> names =
      dir.valid() ? ListDir(dir.get()) : Result<std::vector<std::string>>(Error{errno});
  if (!names.ok()) {
    LogIoError("list", std::string(kBlocksDir) + "/" + fanout, names.error().code);
    return;
  }
  for (const std::string& name : *names) {
    if (std::optional<BlockFileInfo> f = ValidateBlockFile(dir.get(), fanout, name)) {
      found.push_back(std::move(*f));
    } else {
      RemoveEntry(dir.get(), name, std::string(kBlocksDir) + "/" + fanout + "/");
      ++removed;
    }
  }
}

void DiskCache::RemoveEntry(int dirfd, const std::string& name, const std::string& where) {
  if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno == EISDIR && ::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) == 0) return;
  if (errno == ENOTEMPTY || errno == EEXIST) {
    spdlog::warn("disk cache {}: ignoring foreign directory {}{}", dir_, where, name);
    return;
  }
  LogIoError("remove", where + name, errno);
}

std::optional<size_t> DiskCache::Get(std::string_view key, std::string_view etag, uint64_t block,
                                     char* buf, size_t size) {
  std::string path;
  uint64_t serial = 0;
  uint64_t file_bytes = 0;
  bool touch = false;
  {
    std::lock_guard lock(mu_);
    const Slot slot = FindLocked(key, etag, block);
    if (slot.block == nullptr || !slot.block->ready) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    Block& b = *slot.block;
    lru_.splice(lru_.begin(), lru_, b.lru);
    path = BlockPath(slot.version->digest, block, b.serial);
    serial = b.serial;
    file_bytes = b.file_bytes;
    const int64_t now = NowSec();
    if (now - b.touched_sec >= kTouchIntervalSec) {
      b.touched_sec = now;
      touch = true;
    }
  }
  // The file cannot change under us (files are only ever renamed into place
  // under fresh names); if it is evicted meanwhile, the open fails or the
  // open descriptor still reads the whole block.
  const ReadOutcome read =
      ReadBlockFile(root_.get(), path, key, etag, block, file_bytes, buf, size, touch);
  if (read.status == ReadStatus::kHit) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    return read.length;
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  if (read.err != 0) LogIoError("read", path, read.err);
  if (read.status == ReadStatus::kUnavailable) return std::nullopt;
  // Damaged, or removed behind our back (unless it was evicted meanwhile).
  if (DropIfCurrent(key, etag, block, serial)) {
    corrupt_.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("disk cache {}: dropped damaged block {}", dir_, path);
    if (read.status == ReadStatus::kDamaged) Unlink(path);
  }
  return std::nullopt;
}

void DiskCache::Put(std::string_view key, std::string_view etag, uint64_t block,
                    std::string_view data) {
  if (key.size() + etag.size() > kMaxKeyAndEtagBytes) return;
  const uint64_t file_bytes = BlockFileSize(key, etag, data.size());
  if (file_bytes > max_bytes_) return;
  const std::string digest = DigestHex(key, etag);

  // Reserve the space (as a block that is not ready yet), write outside the
  // lock, then mark the block ready if nobody forgot it meanwhile.
  std::vector<std::string> victims;
  uint64_t serial = 0;
  {
    std::lock_guard lock(mu_);
    const Slot existing = FindLocked(key, etag, block);
    if (existing.block != nullptr) {
      // One ETag, one content: nothing new to store.
      if (existing.block->ready) lru_.splice(lru_.begin(), lru_, existing.block->lru);
      return;
    }
    // When nothing is left to evict, the space is held by other Puts' blocks
    // being written; this one is dropped.
    if (MakeRoomLocked(file_bytes, victims)) {
      serial = next_serial_++;
      Slot slot = AddLocked(key, etag, digest, block);
      slot.block->file_bytes = file_bytes;
      slot.block->serial = serial;
      used_bytes_ += file_bytes;
    }
  }
  for (const std::string& victim : victims) Unlink(victim);
  if (serial == 0) return;

  const std::string path = BlockPath(digest, block, serial);
  const std::string tmp = TmpPath(serial);
  const WriteOutcome write = WriteBlockFile(root_.get(), tmp, path, key, etag, block, data);
  if (!write.ok()) LogIoError(write.failed, tmp, write.err);
  const bool written = write.ok();
  bool kept = false;
  {
    std::lock_guard lock(mu_);
    Slot slot = FindLocked(key, etag, block);
    if (slot.block != nullptr && slot.block->serial == serial) {
      if (written) {
        MarkReadyLocked(slot, NowSec());
        kept = true;
      } else {
        EraseLocked(key, etag, block);
      }
    }
  }
  if (written) {
    bytes_written_.fetch_add(file_bytes, std::memory_order_relaxed);
    if (!kept) Unlink(path);  // forgotten while it was being written
  }
}

void DiskCache::Forget(std::string_view key) {
  std::vector<std::string> files;
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return;
    for (auto& [etag, version] : it->second) {
      for (auto& [block, b] : version.blocks) {
        used_bytes_ -= b.file_bytes;
        // A block still being written has no file yet; its Put removes the
        // file when it finds the block gone.
        if (b.ready) {
          lru_.erase(b.lru);
          files.push_back(BlockPath(version.digest, block, b.serial));
        }
      }
    }
    index_.erase(it);
  }
  for (const std::string& file : files) Unlink(file);
}

uint64_t DiskCache::used_bytes() const {
  std::lock_guard lock(mu_);
  return used_bytes_;
}

DiskCache::Stats DiskCache::stats() const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  return Stats{hits_.load(kRelaxed),          misses_.load(kRelaxed),  evictions_.load(kRelaxed),
               bytes_written_.load(kRelaxed), corrupt_.load(kRelaxed), io_errors_.load(kRelaxed)};
}

DiskCache::Slot DiskCache::FindLocked(std::string_view key, std::string_view etag, uint64_t block) {
  auto kit = index_.find(key);
  if (kit == index_.end()) return {};
  auto vit = kit->second.find(etag);
  if (vit == kit->second.end()) return {};
  auto bit = vit->second.blocks.find(block);
  if (bit == vit->second.blocks.end()) return {};
  return Slot{&vit->second, &bit->second, LruItem{&kit->first, &vit->first, block}};
}

DiskCache::Slot DiskCache::AddLocked(std::string_view key, std::string_view etag,
                                     const std::string& digest, uint64_t block) {
  auto kit = index_.find(key);
  if (kit == index_.end()) kit = index_.emplace(std::string(key), Versions{}).first;
  auto vit = kit->second.find(etag);
  if (vit == kit->second.end()) {
    vit = kit->second.emplace(std::string(etag), Version{digest, {}}).first;
  }
  Block& b = vit->second.blocks[block];
  return Slot{&vit->second, &b, LruItem{&kit->first, &vit->first, block}};
}

void DiskCache::MarkReadyLocked(const Slot& slot, int64_t touched_sec) {
  slot.block->ready = true;
  slot.block->touched_sec = touched_sec;
  lru_.push_front(slot.lru_item);
  slot.block->lru = lru_.begin();
}

std::string DiskCache::EraseLocked(std::string_view key, std::string_view etag, uint64_t block) {
  // `key` and `etag` may point into the entries erased here: no use after.
  auto kit = index_.find(key);
  if (kit == index_.end()) return {};
  auto vit = kit->second.find(etag);
  if (vit == kit->second.end()) return {};
  auto bit = vit->second.blocks.find(block);
  if (bit == vit->second.blocks.end()) return {};
  const Block& b = bit->second;
  std::string path;
  if (b.ready) {
    path = BlockPath(vit->second.digest, block, b.serial);
    lru_.erase(b.lru);
  }
  used_bytes_ -= b.file_bytes;
  vit->second.blocks.erase(bit);
  if (vit->second.blocks.empty()) kit->second.erase(vit);
  if (kit->second.empty()) index_.erase(kit);
  return path;
}

bool DiskCache::MakeRoomLocked(uint64_t incoming, std::vector<std::string>& victims) {
  while (!FitsLocked(incoming) && !lru_.empty()) {
    const LruItem victim = lru_.back();
    victims.push_back(EraseLocked(*victim.key, *victim.etag, victim.block));
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  return FitsLocked(incoming);
}

bool DiskCache::FitsLocked(uint64_t incoming) const {
  // Written so that it cannot overflow (used_bytes_ exceeds max_bytes_ only
  // during Load).
  return used_bytes_ <= max_bytes_ && incoming <= max_bytes_ - used_bytes_;
}

bool DiskCache::DropIfCurrent(std::string_view key, std::string_view etag, uint64_t block,
                              uint64_t serial) {
  std::lock_guard lock(mu_);
  const Slot slot = FindLocked(key, etag, block);
  if (slot.block == nullptr || !slot.block->ready || slot.block->serial != serial) return false;
  EraseLocked(key, etag, block);
  return true;
}

void DiskCache::Unlink(const std::string& path) {
  if (::unlinkat(root_.get(), path.c_str(), 0) != 0 && errno != ENOENT) {
    LogIoError("remove", path, errno);
  }
}

void DiskCache::LogIoError(const char* what, const std::string& path, int err) {
  // A failing disk fails every call; one warning says it, the count shows the rest.
  if (io_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
    spdlog::warn(
        "disk cache {}: cannot {} {}: {} (the cache carries on; further errors are "
        "logged at debug level)",
        dir_, what, path, std::strerror(err));
  } else {
    spdlog::debug("disk cache {}: cannot {} {}: {}", dir_, what, path, std::strerror(err));
  }
}

}  // namespace freshfs::cache
