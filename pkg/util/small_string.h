// SmallString: a name as the per-entry structures keep it (the inode
// table's nodes, the watcher's snapshot), in 16 bytes instead of
// std::string's 32. Up to 15 bytes live inline; a longer name takes one
// allocation of exactly its size (no terminating NUL, no spare capacity).
// Entries the kernel holds are counted in hundreds of bytes each
// (docs/scale.md, "Memory per entry held"): this is 16 of them, twice.
//
// Reads as a std::string_view; no c_str(). Plain value type; callers
// synchronize.
#pragma once

#include <compare>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

namespace freshfs {

class SmallString {
 public:
  SmallString() { Clear(); }
  explicit SmallString(std::string_view s) { Init(s); }
  SmallString(const SmallString& other) { Init(other.view()); }
  SmallString(SmallString&& other) noexcept {
    std::memcpy(raw_, other.raw_, sizeof raw_);
    other.Clear();
  }
  SmallString& operator=(const SmallString& other) {
    if (this != &other) assign(other.view());
    return *this;
  }
  SmallString& operator=(SmallString&& other) noexcept {
    if (this != &other) {
      Free();
      std::memcpy(raw_, other.raw_, sizeof raw_);
      other.Clear();
    }
    return *this;
  }
  SmallString& operator=(std::string_view s) {
    assign(s);
    return *this;
  }
  ~SmallString() { Free(); }

  void assign(std::string_view s) {
    if (OnHeap() && s.data() >= HeapData() && s.data() < HeapData() + size()) {
      SmallString copy(s);  // `s` points into this string
      *this = std::move(copy);
      return;
    }
    Free();
    Init(s);
  }

  std::string_view view() const {
    return OnHeap() ? std::string_view(HeapData(), HeapSize())
                    : std::string_view(raw_, size_t(uint8_t(raw_[kTag])));
  }
  operator std::string_view() const { return view(); }  // NOLINT: reads as one
  const char* data() const { return OnHeap() ? HeapData() : raw_; }
  size_t size() const { return OnHeap() ? HeapSize() : size_t(uint8_t(raw_[kTag])); }
  bool empty() const { return size() == 0; }

  friend bool operator==(const SmallString& a, std::string_view b) { return a.view() == b; }
  friend std::strong_ordering operator<=>(const SmallString& a, std::string_view b) {
    const int c = a.view().compare(b);
    return c < 0   ? std::strong_ordering::less
           : c > 0 ? std::strong_ordering::greater
                   : std::strong_ordering::equal;
  }
  // Two SmallStrings: exact matches, so that C++20's rewritten candidates
  // (the one above, reversed) are not ambiguous (clang refuses them).
  friend bool operator==(const SmallString& a, const SmallString& b) {
    return a.view() == b.view();
  }
  friend std::strong_ordering operator<=>(const SmallString& a, const SmallString& b) {
    return a <=> b.view();
  }

 private:
  static constexpr size_t kTag = 15;  // inline: the size; on the heap: kHeap
  static constexpr uint8_t kHeap = 0xff;
  static constexpr size_t kInlineMax = 15;

  bool OnHeap() const { return uint8_t(raw_[kTag]) == kHeap; }
  const char* HeapData() const {
    const char* p;
    std::memcpy(&p, raw_, sizeof p);
    return p;
  }
  size_t HeapSize() const {
    uint32_t n;
    std::memcpy(&n, raw_ + sizeof(char*), sizeof n);
    return n;
  }
  void Clear() { std::memset(raw_, 0, sizeof raw_); }
  void Init(std::string_view s) {
    Clear();
    if (s.size() <= kInlineMax) {
      if (!s.empty()) std::memcpy(raw_, s.data(), s.size());
      raw_[kTag] = char(s.size());
      return;
    }
    char* p = new char[s.size()];
    std::memcpy(p, s.data(), s.size());
    const auto n = uint32_t(s.size());  // names: at most 255 bytes; paths: far below 4 GiB
    std::memcpy(raw_, &p, sizeof p);
    std::memcpy(raw_ + sizeof p, &n, sizeof n);
    raw_[kTag] = char(kHeap);
  }
  void Free() {
    if (OnHeap()) delete[] HeapData();
    Clear();
  }

  char raw_[16];
};

static_assert(sizeof(SmallString) == 16);

}  // namespace freshfs
