// MemoryBlocks: recently fetched blocks of S3 objects, by key, ETag and
// block number, shared by every open file of the mount and bounded in bytes
// (least recently used out first).
//
// Why: each open file reads one version of its object (the ETag it was
// opened at), and S3 keeps no old versions. When a second descriptor of
// the same version needs a block the kernel does not cache (it was opened
// while the first was still reading), the block must come from here once
// the object has changed in S3: fetching it again would get the new
// version, which that descriptor must not mix in.
//
// Thread-safe (one mutex; no I/O under it). Blocks are immutable, shared.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace freshfs::cache {

class MemoryBlocks {
 public:
  using Block = std::shared_ptr<const std::string>;

  explicit MemoryBlocks(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  Block Get(std::string_view key, std::string_view etag, uint64_t index) {
    std::lock_guard lock(mu_);
    auto it = map_.find(Id(key, etag, index));
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);  // most recent first
    return it->second->block;
  }

  void Put(std::string_view key, std::string_view etag, uint64_t index, Block block) {
    if (!block || block->size() > capacity_) return;
    std::lock_guard lock(mu_);
    std::string id = Id(key, etag, index);
    if (auto it = map_.find(id); it != map_.end()) {
      bytes_ -= it->second->block->size();
      lru_.erase(it->second);
      map_.erase(it);
    }
    bytes_ += block->size();
    lru_.push_front(Entry{id, std::move(block)});
    map_.emplace(std::move(id), lru_.begin());
    while (bytes_ > capacity_) {
      bytes_ -= lru_.back().block->size();
      map_.erase(lru_.back().id);
      lru_.pop_back();
    }
  }

  size_t bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }

 private:
  struct Entry {
    std::string id;
    Block block;
  };
  static std::string Id(std::string_view key, std::string_view etag, uint64_t index) {
    std::string id;
    id.reserve(key.size() + etag.size() + 24);
    id.append(key).push_back('\0');
    id.append(etag).push_back('\0');
    id.append(std::to_string(index));
    return id;
  }

  const size_t capacity_;
  mutable std::mutex mu_;
  size_t bytes_ = 0;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
};

}  // namespace freshfs::cache
