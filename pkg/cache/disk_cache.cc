#include "cache/disk_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <tuple>

namespace freshfs::cache {
namespace {

constexpr const char* kLockFile = "LOCK";
constexpr const char* kBlocksDir = "blocks";
constexpr const char* kTmpDir = "tmp";

// A block file: this fixed part, then the key, the etag and the data.
//   0 magic (8)   8 key length (4)   12 etag length (4)   16 block (8)
//  24 data length (8)   32 CRC32 of the data (4)
//  36 CRC32 of bytes 0..35, the key and the etag (4)
// Integers are little-endian. A new layout gets a new magic, which makes the
// files of the old one foreign (removed at Open).
constexpr char kMagic[8] = {'F', 'R', 'S', 'H', 'B', 'L', 'K', '1'};
constexpr size_t kFixedHeaderSize = 40;
constexpr size_t kHeaderCrcOffset = 36;
// S3 keys have at most 1024 bytes; a larger length means a damaged header.
constexpr size_t kMaxKeyAndEtagBytes = 16 * 1024;

// A hit sets the file's mtime (for the LRU order of the next Open) only when
// the last one is older than this, so hot blocks cost no extra syscall.
constexpr int64_t kTouchIntervalSec = 60;

void PutLe32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = char(v >> (8 * i));
}
void PutLe64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = char(v >> (8 * i));
}
uint32_t GetLe32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
  return v;
}
uint64_t GetLe64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint8_t(p[i]);
  return v;
}

uint32_t Crc32(std::string_view data, uint32_t crc = 0) {
  return uint32_t(crc32_z(crc, reinterpret_cast<const Bytef*>(data.data()), data.size()));
}

// The file name stem of a version of an object. The key's length goes first
// so that ("ab", "c") and ("a", "bc") differ.
std::string DigestHex(std::string_view key, std::string_view etag) {
  std::string input(8, '\0');
  PutLe64(input.data(), key.size());
  input.append(key).append(etag);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // OpenSSL only fails here when it cannot allocate a few bytes.
  if (EVP_Digest(input.data(), input.size(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    std::fprintf(stderr, "freshfs: OpenSSL SHA-256 failed\n");
    std::abort();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * len, '\0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHex[md[i] >> 4];
    hex[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return hex;
}

std::string BlockFileName(const std::string& digest, uint64_t block, uint64_t serial) {
  char tail[48];
  std::snprintf(tail, sizeof tail, ".%llu.%llx", static_cast<unsigned long long>(block),
                static_cast<unsigned long long>(serial));
  return digest + tail;
}

std::string BlockPath(const std::string& digest, uint64_t block, uint64_t serial) {
  return std::string(kBlocksDir) + "/" + digest.substr(0, 2) + "/" +
         BlockFileName(digest, block, serial);
}

std::string TmpPath(uint64_t serial) {
  return std::string(kTmpDir) + "/" + std::to_string(serial);
}

bool IsFanoutName(std::string_view name) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return name.size() == 2 && hex(name[0]) && hex(name[1]);
}

struct ParsedName {
  std::string digest;
  uint64_t block = 0;
  uint64_t serial = 0;
};

// Accepts exactly the names BlockFileName makes.
std::optional<ParsedName> ParseBlockFileName(const std::string& name) {
  const size_t dot1 = name.find('.');
  const size_t dot2 = dot1 == std::string::npos ? dot1 : name.find('.', dot1 + 1);
  if (dot1 != 64 || dot2 == std::string::npos) return std::nullopt;
  ParsedName parsed{name.substr(0, 64)};
  const char* end = name.data() + name.size();
  if (std::from_chars(name.data() + dot1 + 1, name.data() + dot2, parsed.block).ptr !=
          name.data() + dot2 ||
      std::from_chars(name.data() + dot2 + 1, end, parsed.serial, 16).ptr != end) {
    return std::nullopt;
  }
  if (BlockFileName(parsed.digest, parsed.block, parsed.serial) != name) return std::nullopt;
  return parsed;
}

std::string EncodeHeader(std::string_view key, std::string_view etag, uint64_t block,
                         std::string_view data) {
  std::string head(kFixedHeaderSize, '\0');
  std::memcpy(head.data(), kMagic, sizeof kMagic);
  PutLe32(&head[8], uint32_t(key.size()));
  PutLe32(&head[12], uint32_t(etag.size()));
  PutLe64(&head[16], block);
  PutLe64(&head[24], data.size());
  PutLe32(&head[32], Crc32(data));
  head.append(key).append(etag);
  const uint32_t crc = Crc32(std::string_view(head).substr(kHeaderCrcOffset + 4),
                             Crc32(std::string_view(head).substr(0, kHeaderCrcOffset)));
  PutLe32(&head[kHeaderCrcOffset], crc);
  return head;
}

// The length of the whole header (fixed part, key, etag) that begins with
// `fixed` (kFixedHeaderSize bytes); nullopt if it is not one of ours.
std::optional<size_t> HeaderLength(const char* fixed) {
  if (std::memcmp(fixed, kMagic, sizeof kMagic) != 0) return std::nullopt;
  const size_t names = size_t(GetLe32(fixed + 8)) + GetLe32(fixed + 12);
  if (names > kMaxKeyAndEtagBytes) return std::nullopt;
  return kFixedHeaderSize + names;
}

struct Header {
  std::string_view key;
  std::string_view etag;
  uint64_t block = 0;
  uint64_t data_length = 0;
  uint32_t data_crc = 0;
};

// Parses and checks a whole header; nullopt if it is damaged.
std::optional<Header> ParseHeader(std::string_view head) {
  if (head.size() < kFixedHeaderSize || HeaderLength(head.data()) != head.size()) {
    return std::nullopt;
  }
  const uint32_t crc = Crc32(head.substr(kHeaderCrcOffset + 4),
                             Crc32(head.substr(0, kHeaderCrcOffset)));
  if (crc != GetLe32(head.data() + kHeaderCrcOffset)) return std::nullopt;
  const size_t key_length = GetLe32(head.data() + 8);
  return Header{head.substr(kFixedHeaderSize, key_length),
                head.substr(kFixedHeaderSize + key_length), GetLe64(head.data() + 16),
                GetLe64(head.data() + 24), GetLe32(head.data() + 32)};
}

// Drops the first `n` bytes of an iovec array; returns the new start.
iovec* Advance(iovec* iov, int& count, size_t n) {
  while (count > 0 && n >= iov->iov_len) {
    n -= iov->iov_len;
    ++iov;
    --count;
  }
  if (count > 0) {
    iov->iov_base = static_cast<char*>(iov->iov_base) + n;
    iov->iov_len -= n;
  }
  return iov;
}

// Reads until the buffers are full or the file ends; bytes read, or -1.
ssize_t PreadvFully(int fd, iovec* iov, int count) {
  size_t total = 0;
  while (count > 0) {
    const ssize_t n = ::preadv(fd, iov, count, off_t(total));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    total += size_t(n);
    iov = Advance(iov, count, size_t(n));
  }
  return ssize_t(total);
}

bool WritevFully(int fd, iovec* iov, int count) {
  while (count > 0) {
    const ssize_t n = ::writev(fd, iov, count);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    iov = Advance(iov, count, size_t(n));
  }
  return true;
}

enum class ReadStatus { kHit, kMissing, kDamaged, kUnavailable };
struct ReadOutcome {
  ReadStatus status;
  size_t length = 0;
  int err = 0;  // when a syscall failed
};

// Reads and checks the block file at `path`, which the index says holds
// `file_bytes` bytes of (key, etag, block).
ReadOutcome ReadBlockFile(int root, const std::string& path, std::string_view key,
                          std::string_view etag, uint64_t block, uint64_t file_bytes, char* buf,
                          size_t size, bool touch) {
  UniqueFd fd(::openat(root, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return {ReadStatus::kMissing};
    return {ReadStatus::kUnavailable, 0, errno};  // e.g. EMFILE: the block may be fine
  }
  const size_t head_length = kFixedHeaderSize + key.size() + etag.size();
  if (file_bytes < head_length) return {ReadStatus::kDamaged};
  const size_t data_length = file_bytes - head_length;
  std::string head(head_length, '\0');
  std::string spill;  // the data, when buf is too small for all of it
  char* data = buf;
  if (data_length > size) {
    spill.resize(data_length);
    data = spill.data();
  }
  iovec iov[2] = {{head.data(), head_length}, {data, data_length}};
  const ssize_t n = PreadvFully(fd.get(), iov, 2);
  if (n < 0) return {ReadStatus::kDamaged, 0, errno};
  if (uint64_t(n) != file_bytes) return {ReadStatus::kDamaged};

  const std::optional<Header> header = ParseHeader(head);
  if (!header || header->key != key || header->etag != etag || header->block != block ||
      header->data_length != data_length ||
      Crc32(std::string_view(data, data_length)) != header->data_crc) {
    return {ReadStatus::kDamaged};
  }
  if (!spill.empty()) std::memcpy(buf, spill.data(), size);
  // Recency is only a hint for the next Open; a failure here changes nothing.
  if (touch) (void)::futimens(fd.get(), nullptr);
  return {ReadStatus::kHit, std::min(data_length, size)};
}

UniqueFd OpenDirAt(int parent, const char* name) {
  return UniqueFd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
}

// The names in a directory, without "." and "..".
Result<std::vector<std::string>> ListDir(int dirfd) {
  const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno{errno};
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(fd);
    return Errno{err};
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

struct DiskCache::Found {
  std::string key;
  std::string etag;
  std::string digest;
  uint64_t block = 0;
  uint64_t serial = 0;
  uint64_t file_bytes = 0;
  timespec mtime{};
};

std::optional<DiskCache::Found> DiskCache::ReadFound(int dirfd, const std::string& fanout,
                                                    const std::string& name) {
  std::optional<ParsedName> parsed = ParseBlockFileName(name);
  if (!parsed || parsed->digest.compare(0, 2, fanout) != 0) return std::nullopt;
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  char fixed[kFixedHeaderSize];
  if (::pread(fd.get(), fixed, sizeof fixed, 0) != ssize_t(sizeof fixed)) return std::nullopt;
  const std::optional<size_t> head_length = HeaderLength(fixed);
  if (!head_length) return std::nullopt;
  std::string head(*head_length, '\0');
  if (::pread(fd.get(), head.data(), head.size(), 0) != ssize_t(head.size())) return std::nullopt;
  const std::optional<Header> header = ParseHeader(head);
  if (!header || header->block != parsed->block ||
      uint64_t(st.st_size) != head.size() + header->data_length ||
      DigestHex(header->key, header->etag) != parsed->digest) {
    return std::nullopt;
  }
  return Found{std::string(header->key), std::string(header->etag), std::move(parsed->digest),
               parsed->block,           parsed->serial,           uint64_t(st.st_size),
               st.st_mtim};
}

uint64_t DiskCache::BlockFileSize(std::string_view key, std::string_view etag, size_t data_size) {
  return kFixedHeaderSize + key.size() + etag.size() + data_size;
}

Result<std::unique_ptr<DiskCache>> DiskCache::Open(const std::string& dir, uint64_t max_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Errno{ec.value() > 0 ? ec.value() : EIO};
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Errno{errno};
  UniqueFd lock(::openat(root.get(), kLockFile, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock.valid()) return Errno{errno};
  // flock locks belong to the open file description, so this also refuses a
  // second DiskCache in the same process.
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return Errno{errno == EWOULDBLOCK ? EBUSY : errno};
  }
  std::unique_ptr<DiskCache> cache(new DiskCache(dir, max_bytes, std::move(root), std::move(lock)));
  if (const Status loaded = cache->Load(); !loaded.ok()) return Errno{loaded.error};
  return cache;
}

DiskCache::~DiskCache() = default;

Status DiskCache::Load() {
  for (const char* sub : {kBlocksDir, kTmpDir}) {
    if (::mkdirat(root_.get(), sub, 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno);
  }
  uint64_t removed = 0;

  // tmp/ holds what an earlier run did not finish writing.
  UniqueFd tmp = OpenDirAt(root_.get(), kTmpDir);
  if (!tmp.valid()) return Status::FromErrno(errno);
  Result<std::vector<std::string>> leftovers = ListDir(tmp.get());
  if (!leftovers.ok()) return Status::FromErrno(leftovers.error());
  for (const std::string& name : *leftovers) RemoveEntry(tmp.get(), name, "tmp/");
  // Fail here, where the caller reports errors, rather than on every Put.
  const char* probe = "write-probe";
  UniqueFd probe_fd(::openat(tmp.get(), probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!probe_fd.valid()) return Status::FromErrno(errno);
  ::unlinkat(tmp.get(), probe, 0);

  UniqueFd blocks = OpenDirAt(root_.get(), kBlocksDir);
  if (!blocks.valid()) return Status::FromErrno(errno);
  Result<std::vector<std::string>> fanouts = ListDir(blocks.get());
  if (!fanouts.ok()) return Status::FromErrno(fanouts.error());
  std::vector<Found> found;
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
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return std::tie(a.mtime.tv_sec, a.mtime.tv_nsec, a.serial) <
           std::tie(b.mtime.tv_sec, b.mtime.tv_nsec, b.serial);
  });
  std::vector<std::string> unwanted;
  uint64_t evicted = 0;
  size_t blocks_kept = 0;
  {
    std::lock_guard lock(mu_);
    for (const Found& f : found) {
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
  spdlog::info("disk cache {}: {} blocks, {} of {} bytes used ({} unusable files removed, "
               "{} evicted)",
               dir_, blocks_kept, used_bytes(), max_bytes_, removed, evicted);
  return Status::Ok();
}

void DiskCache::ScanFanout(int blocks_fd, const std::string& fanout, std::vector<Found>& found,
                           uint64_t& removed) {
  UniqueFd dir = OpenDirAt(blocks_fd, fanout.c_str());
  Result<std::vector<std::string>> names =
      dir.valid() ? ListDir(dir.get()) : Result<std::vector<std::string>>(Errno{errno});
  if (!names.ok()) {
    LogIoError("list", std::string(kBlocksDir) + "/" + fanout, names.error());
    return;
  }
  for (const std::string& name : *names) {
    if (std::optional<Found> f = ReadFound(dir.get(), fanout, name)) {
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
  const bool written = WriteBlockFile(TmpPath(serial), path, key, etag, block, data);
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
  return Stats{hits_.load(kRelaxed),          misses_.load(kRelaxed), evictions_.load(kRelaxed),
               bytes_written_.load(kRelaxed), corrupt_.load(kRelaxed), io_errors_.load(kRelaxed)};
}

DiskCache::Slot DiskCache::FindLocked(std::string_view key, std::string_view etag,
                                      uint64_t block) {
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

bool DiskCache::WriteBlockFile(const std::string& tmp, const std::string& path,
                               std::string_view key, std::string_view etag, uint64_t block,
                               std::string_view data) {
  std::string head = EncodeHeader(key, etag, block, data);
  UniqueFd fd(::openat(root_.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    LogIoError("create", tmp, errno);
    return false;
  }
  iovec iov[2] = {{head.data(), head.size()}, {const_cast<char*>(data.data()), data.size()}};
  const char* failed = nullptr;
  if (!WritevFully(fd.get(), iov, 2)) {
    failed = "write";
  } else if (::close(fd.release()) != 0) {
    failed = "close";
  } else if (::renameat(root_.get(), tmp.c_str(), root_.get(), path.c_str()) != 0) {
    // Fan-out directories are made when first needed (or again, when
    // removed behind our back).
    const std::string fanout = path.substr(0, path.rfind('/'));
    if (errno != ENOENT ||
        (::mkdirat(root_.get(), fanout.c_str(), 0700) != 0 && errno != EEXIST) ||
        ::renameat(root_.get(), tmp.c_str(), root_.get(), path.c_str()) != 0) {
      failed = "rename";
    }
  }
  if (failed == nullptr) return true;
  LogIoError(failed, tmp, errno);
  ::unlinkat(root_.get(), tmp.c_str(), 0);
  return false;
}

void DiskCache::Unlink(const std::string& path) {
  if (::unlinkat(root_.get(), path.c_str(), 0) != 0 && errno != ENOENT) {
    LogIoError("remove", path, errno);
  }
}

void DiskCache::LogIoError(const char* what, const std::string& path, int err) {
  // A failing disk fails every call; one warning says it, the count shows the rest.
  if (io_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
    spdlog::warn("disk cache {}: cannot {} {}: {} (the cache carries on; further errors are "
                 "logged at debug level)",
                 dir_, what, path, std::strerror(err));
  } else {
    spdlog::debug("disk cache {}: cannot {} {}: {}", dir_, what, path, std::strerror(err));
  }
}

}  // namespace freshfs::cache
