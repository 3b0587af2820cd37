#include "cache/block_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "util/unique_fd.h"

namespace freshfs::cache {
namespace {

// A block file: this fixed part, then the key, the etag and the data.
//   0 magic (8)   8 key length (4)   12 etag length (4)   16 block (8)
//  24 data length (8)   32 CRC32 of the data (4)
//  36 CRC32 of bytes 0..35, the key and the etag (4)
// Integers are little-endian. A new layout gets a new magic, which makes the
// files of the old one foreign (removed at Open).
constexpr char kMagic[8] = {'F', 'R', 'S', 'H', 'B', 'L', 'K', '1'};
constexpr size_t kFixedHeaderSize = 40;
constexpr size_t kHeaderCrcOffset = 36;

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

std::string BlockFileName(const std::string& digest, uint64_t block, uint64_t serial) {
  char tail[48];
  std::snprintf(tail, sizeof tail, ".%llu.%llx", static_cast<unsigned long long>(block),
                static_cast<unsigned long long>(serial));
  return digest + tail;
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
  const uint32_t crc =
      Crc32(head.substr(kHeaderCrcOffset + 4), Crc32(head.substr(0, kHeaderCrcOffset)));
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

}  // namespace

uint64_t BlockFileSize(std::string_view key, std::string_view etag, size_t data_size) {
  return kFixedHeaderSize + key.size() + etag.size() + data_size;
}

std::string DigestHex(std::string_view key, std::string_view etag) {
  // The key's length goes first so that ("ab", "c") and ("a", "bc") differ.
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

std::string BlockPath(const std::string& digest, uint64_t block, uint64_t serial) {
  return std::string(kBlocksDir) + "/" + digest.substr(0, 2) + "/" +
         BlockFileName(digest, block, serial);
}

std::string TmpPath(uint64_t serial) { return std::string(kTmpDir) + "/" + std::to_string(serial); }

bool IsFanoutName(std::string_view name) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return name.size() == 2 && hex(name[0]) && hex(name[1]);
}

WriteOutcome WriteBlockFile(int root, const std::string& tmp, const std::string& path,
                            std::string_view key, std::string_view etag, uint64_t block,
                            std::string_view data) {
  std::string head = EncodeHeader(key, etag, block, data);
  UniqueFd fd(::openat(root, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return {"create", errno};
  iovec iov[2] = {{head.data(), head.size()}, {const_cast<char*>(data.data()), data.size()}};
  const char* failed = nullptr;
  if (!WritevFully(fd.get(), iov, 2)) {
    failed = "write";
  } else if (::close(fd.release()) != 0) {
    failed = "close";
  } else if (::renameat(root, tmp.c_str(), root, path.c_str()) != 0) {
    // Fan-out directories are made when first needed (or again, when
    // removed behind our back).
    const std::string fanout = path.substr(0, path.rfind('/'));
    if (errno != ENOENT || (::mkdirat(root, fanout.c_str(), 0700) != 0 && errno != EEXIST) ||
        ::renameat(root, tmp.c_str(), root, path.c_str()) != 0) {
      failed = "rename";
    }
  }
  if (failed == nullptr) return {};
  const int err = errno;
  ::unlinkat(root, tmp.c_str(), 0);
  return {failed, err};
}

ReadOutcome ReadBlockFile(int root, const std::string& path, std::string_view key,
                          std::string_view etag, uint64_t block, uint64_t file_bytes, char* buf,
                          size_t size, bool touch_mtime) {
  UniqueFd fd(::openat(root, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return {ReadStatus::kMissing};
    return {ReadStatus::kUnavailable, 0, errno};
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
  if (touch_mtime) (void)::futimens(fd.get(), nullptr);
  return {ReadStatus::kHit, std::min(data_length, size)};
}

std::optional<BlockFileInfo> ValidateBlockFile(int dirfd, const std::string& fanout,
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
  return BlockFileInfo{std::string(header->key),
                       std::string(header->etag),
                       std::move(parsed->digest),
                       parsed->block,
                       parsed->serial,
                       uint64_t(st.st_size),
                       st.st_mtim};
}

}  // namespace freshfs::cache
