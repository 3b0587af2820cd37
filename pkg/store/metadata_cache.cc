#include "store/metadata_cache.h"

#include <algorithm>

namespace freshfs::store {
namespace {

// (directory, name) of `path`: ("", path) at the top.
std::pair<std::string_view, std::string_view> Split(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string Join(std::string_view dir, std::string_view name) {
  std::string path;
  path.reserve(dir.size() + 1 + name.size());
  if (!dir.empty()) path.append(dir).push_back('/');
  path.append(name);
  return path;
}

// The directory `dir` of `dirs`, added if missing (no key is built when it
// is there).
template <typename Dirs>
auto& DirIn(Dirs& dirs, std::string_view dir) {
  auto d = dirs.find(dir);
  if (d == dirs.end()) d = dirs.emplace(std::string(dir), typename Dirs::mapped_type{}).first;
  return d->second;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case would not print back the same
}

}  // namespace

MetadataCache::Record::Record(const s3tree::Node& node, Clock::time_point as_of)
    : size(node.size), mtime_ns(node.mtime_ns), as_of(as_of), dir(node.dir) {
  const std::string& e = node.etag;
  std::array<uint8_t, 16> md5{};
  bool packed = e.size() == 34 && e.front() == '"' && e.back() == '"';
  for (size_t i = 0; packed && i < 16; ++i) {
    const int hi = HexDigit(e[1 + 2 * i]), lo = HexDigit(e[2 + 2 * i]);
    packed = hi >= 0 && lo >= 0;
    md5[i] = uint8_t(hi * 16 + lo);
  }
  if (packed) etag = md5;
  else etag = SmallString(e);
}

s3tree::Node MetadataCache::Record::node() const {
  s3tree::Node n{.dir = dir, .size = size, .mtime_ns = mtime_ns};
  if (const auto* md5 = std::get_if<std::array<uint8_t, 16>>(&etag)) {
    static constexpr char kHex[] = "0123456789abcdef";
    n.etag.reserve(34);
    n.etag.push_back('"');
    for (uint8_t b : *md5) {
      n.etag.push_back(kHex[b >> 4]);
      n.etag.push_back(kHex[b & 15]);
    }
    n.etag.push_back('"');
  } else {
    n.etag = std::string(std::get<SmallString>(etag).view());
  }
  return n;
}

auto MetadataCache::Dir::Seek(std::string_view name) -> std::vector<Entry>::iterator {
  return std::lower_bound(entries.begin(), entries.end(), name,
                          [](const Entry& e, std::string_view n) { return e.name.view() < n; });
}

auto MetadataCache::Dir::Seek(std::string_view name) const -> std::vector<Entry>::const_iterator {
  return std::lower_bound(entries.begin(), entries.end(), name,
                          [](const Entry& e, std::string_view n) { return e.name.view() < n; });
}

std::pair<MetadataCache::Entry*, bool> MetadataCache::Dir::Insert(std::string_view name,
                                                                  const Record& record) {
  // Listings come in name order: appending is the common case.
  auto at = !entries.empty() && entries.back().name.view() < name ? entries.end() : Seek(name);
  if (at != entries.end() && at->name == name) return {&*at, false};
  return {&*entries.insert(at, Entry{SmallString(name), record}), true};
}

MetadataCache::MetadataCache(Clock::duration metadata_ttl, Clock::duration complete_listing_ttl)
    : metadata_ttl_(metadata_ttl), complete_listing_ttl_(complete_listing_ttl) {}

const MetadataCache::Entry* MetadataCache::FindEntry(std::string_view path) const {
  auto [dir, name] = Split(path);
  auto d = dirs_.find(dir);
  if (d == dirs_.end()) return nullptr;
  auto it = d->second.Seek(name);
  return it != d->second.entries.end() && it->name == name ? &*it : nullptr;
}

std::pair<MetadataCache::Dirs::iterator, MetadataCache::Dirs::iterator> MetadataCache::Below(
    std::string_view dir) {
  if (dir.empty()) {  // every directory but the root, which sorts first
    auto first = dirs_.begin();
    if (first != dirs_.end() && first->first.empty()) ++first;
    return {first, dirs_.end()};
  }
  // "dir/..." sorts between "dir/" and "dir0" ('0' follows '/').
  std::string lo = std::string(dir) + "/", hi = std::string(dir) + "0";
  return {dirs_.lower_bound(lo), dirs_.lower_bound(hi)};
}

size_t MetadataCache::size() const {
  size_t n = 0;
  for (const auto& [path, dir] : dirs_) n += dir.entries.size();
  return n;
}

void MetadataCache::Remember(const std::string& path, const s3tree::Node& node,
                             Clock::time_point as_of) {
  auto [dir, name] = Split(path);
  Record record{node, as_of};
  auto [entry, inserted] = DirIn(dirs_, dir).Insert(name, record);
  if (!inserted && entry->record.as_of <= as_of) entry->record = std::move(record);
}

void MetadataCache::Forget(const std::string& path) {
  auto [dir, name] = Split(path);
  if (auto d = dirs_.find(dir); d != dirs_.end()) {
    auto it = d->second.Seek(name);
    if (it != d->second.entries.end() && it->name == name) d->second.entries.erase(it);
    if (d->second.empty()) dirs_.erase(d);
  }
  if (path.empty()) {  // the root's own record: its listing goes, its entries stay
    if (auto root = dirs_.find(path); root != dirs_.end()) root->second.listed.reset();
    return;
  }
  dirs_.erase(path);
  auto [first, last] = Below(path);
  dirs_.erase(first, last);
}

void MetadataCache::ForgetUnlessNewer(std::string_view path, Clock::time_point start) {
  auto [dir, name] = Split(path);
  auto d = dirs_.find(dir);
  if (d == dirs_.end()) return;
  auto it = d->second.Seek(name);
  if (it != d->second.entries.end() && it->name == name && it->record.as_of <= start)
    d->second.entries.erase(it);
  if (d->second.empty()) dirs_.erase(d);
}

std::optional<MetadataCache::Known> MetadataCache::Find(std::string_view path) const {
  const Entry* e = FindEntry(path);
  if (!e) return std::nullopt;
  return Known{e->record.node(), e->record.as_of};
}

bool MetadataCache::Contains(std::string_view path) const { return FindEntry(path) != nullptr; }

MetadataCache::Answer MetadataCache::Lookup(std::string_view path, Clock::time_point now) const {
  const Entry* e = FindEntry(path);
  const bool listed = Listed(Split(path).first, now);
  if (e && (listed || now - e->record.as_of < CompleteTtl()))
    return Answer{Answer::kFound, e->record.node()};
  if (!e && listed) return Answer{Answer::kMissing, {}};
  return Answer{};
}

MetadataCache::Clock::duration MetadataCache::CompleteTtl() const {
  using namespace std::chrono_literals;
  if (complete_listing_ttl_.count() <= 0) return metadata_ttl_;
  return complete_listing_ttl_ + 2 * complete_took_ + 1s;
}

bool MetadataCache::Listed(std::string_view dir, Clock::time_point now) const {
  if (now - complete_as_of_ < CompleteTtl()) return true;
  auto d = dirs_.find(dir);
  return d != dirs_.end() && d->second.listed && now - *d->second.listed < metadata_ttl_;
}

void MetadataCache::MarkListed(const std::string& dir, Clock::time_point start) {
  Dir& d = dirs_[dir];
  if (!d.listed || *d.listed < start) d.listed = start;
  // Listed whole: it grows no further for now, so no spare room is kept.
  if (d.entries.capacity() > d.entries.size() + d.entries.size() / 8) d.entries.shrink_to_fit();
}

bool MetadataCache::ListKnown(
    std::string_view dir, Clock::time_point now,
    const std::function<void(const std::string& path, std::string_view name,
                             const s3tree::Node& node)>& each) const {
  if (!Listed(dir, now)) return false;
  if (!dir.empty()) {
    const Entry* self = FindEntry(dir);
    if (!self || !self->record.dir) return true;  // caller says ENOENT
  }
  auto d = dirs_.find(dir);
  if (d == dirs_.end()) return true;
  for (const Entry& e : d->second.entries) each(Join(dir, e.name), e.name, e.record.node());
  return true;
}

std::vector<std::pair<std::string, s3tree::Node>> MetadataCache::DirectoriesNotIn(
    std::string_view dir, const std::map<std::string, s3tree::Node>& listed,
    Clock::time_point start) const {
  std::vector<std::pair<std::string, s3tree::Node>> missing;
  auto d = dirs_.find(dir);
  if (d == dirs_.end()) return missing;
  for (const Entry& e : d->second.entries) {
    std::string name(e.name.view());
    if (e.record.dir && e.record.as_of <= start && !listed.count(name))
      missing.emplace_back(std::move(name), e.record.node());
  }
  return missing;
}

void MetadataCache::ForgetUnlisted(std::string_view dir,
                                   const std::map<std::string, s3tree::Node>& listed,
                                   Clock::time_point start) {
  auto gone = [&](const Entry& e) { return e.record.as_of <= start; };  // else the mount's own
  if (auto d = dirs_.find(dir); d != dirs_.end()) {
    std::erase_if(d->second.entries,
                  [&](const Entry& e) { return !listed.count(std::string(e.name)) && gone(e); });
  }
  // Below a child the listing does not show as a directory: nothing stays
  // listed, and only the mount's own newer changes stay at all.
  auto [first, last] = Below(dir);
  const size_t skip = dir.empty() ? 0 : dir.size() + 1;
  for (auto it = first; it != last;) {
    std::string_view rel = std::string_view(it->first).substr(skip);
    const std::string name(rel.substr(0, rel.find('/')));
    auto child = listed.find(name);
    if (child != listed.end() && child->second.dir) {
      // Still there: its subtree stays as it is ('0' follows '/').
      it = dirs_.lower_bound(it->first.substr(0, skip) + name + "0");
      continue;
    }
    std::erase_if(it->second.entries, gone);
    it->second.listed.reset();
    it = it->second.empty() ? dirs_.erase(it) : std::next(it);
  }
  if (auto d = dirs_.find(dir); d != dirs_.end() && d->second.empty()) dirs_.erase(d);
}

void MetadataCache::Complete::Add(const std::string& path, const s3tree::Node& node) {
  auto [dir, name] = Split(path);
  DirIn(dirs_, dir).Insert(name, Record{node, start_});
}

void MetadataCache::ReplaceAll(Complete& fresh, Clock::time_point now) {
  for (const auto& kept : dirs_) {
    const std::string& path = kept.first;
    const Dir& dir = kept.second;
    Dir* into = nullptr;
    auto target = [&]() -> Dir& {
      if (!into) into = &fresh.dirs_[path];
      return *into;
    };
    for (const Entry& e : dir.entries) {
      if (e.record.as_of <= fresh.start_) continue;  // the mount's own, after the start
      auto [entry, inserted] = target().Insert(e.name, e.record);
      if (!inserted) entry->record = e.record;
    }
    if (dir.listed && *dir.listed > fresh.start_) target().listed = dir.listed;
  }
  dirs_.swap(fresh.dirs_);
  complete_as_of_ = fresh.start_;
  complete_took_ = now - fresh.start_;
}

void MetadataCache::Trim(Clock::time_point now) {
  // What is older than any TTL answers nothing any more (a directory the
  // kernel holds is listed again every poll, which renews its entries):
  // memory follows what is listed lately, not what was ever seen.
  const Clock::duration ttl = std::max<Clock::duration>(metadata_ttl_, CompleteTtl());
  if (now - last_trim_ < ttl) return;
  last_trim_ = now;
  const Clock::time_point old = now - ttl;
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    Dir& d = it->second;
    std::erase_if(d.entries, [&](const Entry& e) { return e.record.as_of < old; });
    if (d.listed && *d.listed < old) d.listed.reset();
    if (d.entries.capacity() > 2 * d.entries.size()) d.entries.shrink_to_fit();
    it = d.empty() ? dirs_.erase(it) : std::next(it);
  }
}

}  // namespace freshfs::store
