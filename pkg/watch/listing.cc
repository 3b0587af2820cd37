#include "watch/listing.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>

namespace freshfs::watch {
namespace {

constexpr size_t kBlock = 64 * 1024;

// Whether `dir` lies strictly below `top` ("" holds everything).
bool Below(std::string_view dir, std::string_view top) {
  if (top.empty()) return !dir.empty();
  return dir.size() > top.size() && dir[top.size()] == '/' && dir.compare(0, top.size(), top) == 0;
}

}  // namespace

std::string_view Listing::Keep(std::string_view s) {
  if (s.empty()) return {};
  if (blocks_.empty() || s.size() > block_left_) {
    size_t size = std::max(kBlock, s.size());
    blocks_.push_back(std::make_unique<char[]>(size));
    block_next_ = blocks_.back().get();
    block_left_ = size;
  }
  char* at = block_next_;
  std::memcpy(at, s.data(), s.size());
  block_next_ += s.size();
  block_left_ -= s.size();
  return std::string_view(at, s.size());
}

uint32_t Listing::GroupOf(std::string_view dir) {
  auto it = group_of_.find(dir);
  if (it != group_of_.end()) return it->second;
  uint32_t g = uint32_t(groups_.size());
  groups_.push_back(Range{0, 0});
  group_of_.emplace(Keep(dir), g);
  return g;
}

void Listing::AddTree(std::vector<store::Store::DetailedEntry> entries) {
  // A counting sort by directory. The directories on the way to the last
  // entry are kept on a stack, so a listing in key order (S3's) costs one
  // hash lookup per directory, not one per entry or per change of directory.
  constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  struct Open {
    std::string_view dir;
    uint32_t group;
  };
  std::vector<Open> open;
  std::vector<uint32_t> group_of(entries.size(), kNone);
  std::vector<uint32_t> count(groups_.size());
  for (size_t k = 0; k < entries.size(); ++k) {
    std::string_view path = entries[k].name;
    if (path.empty()) continue;  // the root itself is not its own child
    size_t slash = path.rfind('/');
    std::string_view dir =
        slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
    while (!open.empty() && open.back().dir != dir && !Below(dir, open.back().dir)) open.pop_back();
    if (open.empty() || open.back().dir != dir) open.push_back(Open{dir, GroupOf(dir)});
    uint32_t g = open.back().group;
    group_of[k] = g;
    if (g >= count.size()) count.resize(g + 1);
    ++count[g];
  }
  size_t offset = items_.size();
  std::vector<uint32_t> next(count.size());
  for (size_t g = 0; g < count.size(); ++g) {
    if (count[g] == 0) continue;
    next[g] = uint32_t(offset);
    groups_[g] = Range{uint32_t(offset), uint32_t(offset + count[g])};
    offset += count[g];
  }
  items_.resize(offset);
  for (size_t k = 0; k < entries.size(); ++k) {
    if (group_of[k] == kNone) continue;
    std::string_view path = entries[k].name;
    size_t slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    items_[next[group_of[k]]++] = Item{Keep(name), EntryState::From(entries[k].attr)};
  }
}

// By value: the caller moves a whole listing in, and it is freed when this returns.
// NOLINTNEXTLINE(performance-unnecessary-value-param)
void Listing::AddDir(std::string_view dir, std::vector<store::Store::DetailedEntry> entries) {
  uint32_t g = GroupOf(dir);
  uint32_t begin = uint32_t(items_.size());
  for (const auto& e : entries) items_.push_back(Item{Keep(e.name), EntryState::From(e.attr)});
  groups_[g] = Range{begin, uint32_t(items_.size())};
}

void Listing::MarkUnreadable(std::string dir) { unreadable_.insert(std::move(dir)); }

void Listing::Finish() {
  auto by_name = [](const Item& a, const Item& b) { return a.name < b.name; };
  for (Range& range : groups_) {
    auto first = items_.begin() + range.begin;
    auto last = items_.begin() + range.end;
    // Strictly increasing (S3's order, mostly) needs nothing more.
    if (std::adjacent_find(first, last,
                           [](const Item& a, const Item& b) { return !(a.name < b.name); }) == last)
      continue;
    std::stable_sort(first, last, by_name);
    // A name listed twice keeps its last entry (the newest word on it).
    auto out = first;
    for (auto it = first; it != last; ++it) {
      if (it + 1 != last && (it + 1)->name == it->name) continue;
      *out++ = *it;
    }
    range.end = uint32_t(out - items_.begin());
  }
}

std::span<const Listing::Item> Listing::ChildrenOf(std::string_view dir) const {
  auto it = group_of_.find(dir);
  if (it == group_of_.end()) return {};
  const Range& range = groups_[it->second];
  return std::span<const Item>(items_.data() + range.begin, range.end - range.begin);
}

Status ReadTree(store::Store& store, const std::string& path, Listing* out) {
  if (auto tree = store.ListTree(path); tree || tree.error().code != ENOSYS) {
    if (!tree) return tree.error();
    out->AddTree(std::move(*tree));
    out->Finish();
    return Status::Ok();
  }
  // Breadth first, directory paths relative to `path`.
  std::deque<std::string> dirs{""};
  bool first = true;
  while (!dirs.empty()) {
    std::string dir = std::move(dirs.front());
    dirs.pop_front();
    auto entries = store.ListDetailed(dir.empty() ? path : store::JoinPath(path, dir));
    if (!entries) {
      if (first) return entries.error();
      // Gone since its parent was listed: it and its contents are gone.
      if (entries.error().code != ENOENT) out->MarkUnreadable(std::move(dir));
      continue;
    }
    first = false;
    for (const auto& e : *entries)
      if (S_ISDIR(e.attr.st_mode)) dirs.push_back(store::JoinPath(dir, e.name));
    out->AddDir(dir, std::move(*entries));
  }
  out->Finish();
  return Status::Ok();
}

}  // namespace freshfs::watch
