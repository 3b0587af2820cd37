// Listing: what one scan of the source read below a directory (the
// listing's root), grouped by directory so a Snapshot can be reconciled
// with it one directory at a time, in name order.
//
// Compact: each entry is its name and a 40-byte EntryState. The store's
// answers (a struct stat per entry) are copied from and dropped at once, so
// a scan directory by directory never holds more than this.
//
// Built on one thread, then only read.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "store/store.h"
#include "util/result.h"
#include "watch/entry_state.h"

namespace freshfs::watch {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class Listing {
 public:
  struct Item {
    std::string_view name;
    EntryState state;
  };

  // One Store::ListTree() answer: each name a path relative to the root, in
  // any order (key order is cheapest). An entry whose directory is not
  // itself listed is unreachable and ignored.
  void AddTree(std::vector<store::Store::DetailedEntry> entries);
  // One directory's children (Store::ListDetailed()), `dir` relative to the root.
  void AddDir(std::string_view dir, std::vector<store::Store::DetailedEntry> entries);
  // (Each directory's children come from one Add*() call.)
  // A directory whose contents could not be read: what was known of them stays.
  void MarkUnreadable(std::string dir);
  // Sorts each directory's children by name. Call once, after the Add*()s.
  void Finish();

  // The children of `dir` (relative to the root) in name order, a name listed
  // twice keeping its last entry; empty if the scan did not list `dir`.
  std::span<const Item> ChildrenOf(std::string_view dir) const;
  bool Unreadable(std::string_view dir) const {
    return !unreadable_.empty() && unreadable_.count(dir) > 0;
  }
  size_t size() const { return items_.size(); }

 private:
  struct Range {
    uint32_t begin, end;
  };
  std::string_view Keep(std::string_view s);  // a copy that lives as long as the Listing
  uint32_t GroupOf(std::string_view dir);     // adds an empty group for a new dir

  std::vector<std::unique_ptr<char[]>> blocks_;  // Keep()'s copies
  char* block_next_ = nullptr;
  size_t block_left_ = 0;
  std::vector<Item> items_;    // grouped by directory
  std::vector<Range> groups_;  // by group number: where its items are
  std::unordered_map<std::string_view, uint32_t, StringHash, std::equal_to<>> group_of_;
  std::unordered_set<std::string, StringHash, std::equal_to<>> unreadable_;
};

// Lists everything under directory `path` of `store` into `out` (names
// relative to `path`): one ListTree() where the store has it, else directory
// by directory. Subdirectories that cannot be listed are marked unreadable;
// errors only for `path` itself.
Status ReadTree(store::Store& store, const std::string& path, Listing* out);

}  // namespace freshfs::watch
