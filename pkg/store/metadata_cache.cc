#include "store/metadata_cache.h"

#include <algorithm>

namespace freshfs::store {
namespace {

std::string ParentOf(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
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

MetadataCache::MetadataCache(Clock::duration metadata_ttl, Clock::duration complete_listing_ttl)
    : metadata_ttl_(metadata_ttl), complete_listing_ttl_(complete_listing_ttl) {}

void MetadataCache::Remember(const std::string& path, const s3tree::Node& node,
                             Clock::time_point as_of) {
  auto [it, inserted] = known_.try_emplace(path, Record{node, as_of});
  if (!inserted && it->second.as_of <= as_of) it->second = Record{node, as_of};
}

void MetadataCache::Forget(const std::string& path) {
  known_.erase(path);
  listed_.erase(path);
  std::string lo = path + "/", hi = path + "0";
  known_.erase(known_.lower_bound(lo), known_.lower_bound(hi));
  listed_.erase(listed_.lower_bound(lo), listed_.lower_bound(hi));
}

void MetadataCache::ForgetUnlessNewer(std::string_view path, Clock::time_point start) {
  auto it = known_.find(path);
  if (it != known_.end() && it->second.as_of <= start) known_.erase(it);
}

std::optional<MetadataCache::Known> MetadataCache::Find(std::string_view path) const {
  auto it = known_.find(path);
  if (it == known_.end()) return std::nullopt;
  return Known{it->second.node(), it->second.as_of};
}

bool MetadataCache::Contains(std::string_view path) const {
  return known_.find(path) != known_.end();
}

MetadataCache::Answer MetadataCache::Lookup(std::string_view path, Clock::time_point now) const {
  auto it = known_.find(path);
  const bool listed = Listed(ParentOf(path), now);
  if (it != known_.end() && (listed || now - it->second.as_of < CompleteTtl()))
    return Answer{Answer::kFound, it->second.node()};
  if (it == known_.end() && listed) return Answer{Answer::kMissing, {}};
  return Answer{};
}

MetadataCache::Clock::duration MetadataCache::CompleteTtl() const {
  using namespace std::chrono_literals;
  if (complete_listing_ttl_.count() <= 0) return metadata_ttl_;
  return complete_listing_ttl_ + 2 * complete_took_ + 1s;
}

bool MetadataCache::Listed(std::string_view dir, Clock::time_point now) const {
  if (now - complete_as_of_ < CompleteTtl()) return true;
  auto it = listed_.find(dir);
  return it != listed_.end() && now - it->second < metadata_ttl_;
}

void MetadataCache::MarkListed(const std::string& dir, Clock::time_point start) {
  auto [it, inserted] = listed_.try_emplace(dir, start);
  if (!inserted && it->second < start) it->second = start;
}

bool MetadataCache::ListKnown(
    std::string_view dir, Clock::time_point now,
    const std::function<void(const std::string& path, std::string_view name,
                             const s3tree::Node& node)>& each) const {
  if (!Listed(dir, now)) return false;
  const std::string base = dir.empty() ? "" : std::string(dir) + "/";
  if (!dir.empty()) {
    auto self = known_.find(dir);
    if (self == known_.end() || !self->second.dir) return true;  // caller says ENOENT
  }
  auto it = known_.lower_bound(base);
  while (it != known_.end() && it->first.compare(0, base.size(), base) == 0) {
    std::string_view rel = std::string_view(it->first).substr(base.size());
    size_t slash = rel.find('/');
    if (slash == std::string_view::npos) {
      each(it->first, rel, it->second.node());
      ++it;
    } else {
      // Below a child directory: skip that whole subtree ('0' follows '/').
      it = known_.lower_bound(base + std::string(rel.substr(0, slash)) + "0");
    }
  }
  return true;
}

std::vector<std::pair<std::string, s3tree::Node>> MetadataCache::DirectoriesNotIn(
    std::string_view dir, const std::map<std::string, s3tree::Node>& listed,
    Clock::time_point start) const {
  std::vector<std::pair<std::string, s3tree::Node>> missing;
  const std::string base = dir.empty() ? "" : std::string(dir) + "/";
  auto it = known_.lower_bound(base);
  while (it != known_.end() && it->first.compare(0, base.size(), base) == 0) {
    std::string_view rel = std::string_view(it->first).substr(base.size());
    size_t slash = rel.find('/');
    std::string name(rel.substr(0, slash));
    if (slash != std::string_view::npos) {
      it = known_.lower_bound(base + name + "0");  // past the child's subtree
      continue;
    }
    if (it->second.dir && it->second.as_of <= start && !listed.count(name))
      missing.emplace_back(name, it->second.node());
    ++it;
  }
  return missing;
}

void MetadataCache::ForgetUnlisted(std::string_view dir,
                                   const std::map<std::string, s3tree::Node>& listed,
                                   Clock::time_point start) {
  const std::string base = dir.empty() ? "" : std::string(dir) + "/";
  auto listed_dir = [&](std::string_view name) {
    auto it = listed.find(std::string(name));
    return it != listed.end() && it->second.dir;
  };
  auto it = known_.lower_bound(base);
  while (it != known_.end() && it->first.compare(0, base.size(), base) == 0) {
    std::string_view rel = std::string_view(it->first).substr(base.size());
    size_t slash = rel.find('/');
    std::string_view name = rel.substr(0, slash);
    bool keep =
        slash == std::string_view::npos ? listed.count(std::string(name)) > 0 : listed_dir(name);
    if (keep && slash != std::string_view::npos) {
      it = known_.lower_bound(base + std::string(name) + "0");  // a listed directory's subtree
    } else if (!keep && it->second.as_of <= start) {
      it = known_.erase(it);  // gone (the mount's own newer changes stay)
    } else {
      ++it;
    }
  }
  for (auto l = listed_.lower_bound(base);
       l != listed_.end() && l->first.compare(0, base.size(), base) == 0;) {
    std::string_view rel = std::string_view(l->first).substr(base.size());
    if (!rel.empty() && !listed_dir(rel.substr(0, rel.find('/')))) {
      l = listed_.erase(l);
    } else {
      ++l;
    }
  }
}

void MetadataCache::Complete::Add(const std::string& path, const s3tree::Node& node) {
  entries_.emplace_hint(entries_.end(), path, Record{node, start_});
}

void MetadataCache::ReplaceAll(Complete& fresh, Clock::time_point now) {
  for (auto& [path, record] : known_)
    if (record.as_of > fresh.start_) fresh.entries_.insert_or_assign(path, record);
  known_.swap(fresh.entries_);
  complete_as_of_ = fresh.start_;
  complete_took_ = now - fresh.start_;
  std::erase_if(listed_, [&](const auto& l) { return l.second <= fresh.start_; });
}

void MetadataCache::Trim(Clock::time_point now) {
  // What is older than any TTL answers nothing any more (a directory the
  // kernel holds is listed again every poll, which renews its entries):
  // memory follows what is listed lately, not what was ever seen.
  const Clock::duration ttl = std::max<Clock::duration>(metadata_ttl_, CompleteTtl());
  if (now - last_trim_ < ttl) return;
  last_trim_ = now;
  const Clock::time_point old = now - ttl;
  std::erase_if(known_, [&](const auto& k) { return k.second.as_of < old; });
  std::erase_if(listed_, [&](const auto& l) { return l.second < old; });
}

}  // namespace freshfs::store
