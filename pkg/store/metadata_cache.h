// MetadataCache: what S3Store (store/s3_store.h) remembers of the bucket's
// names and attributes, and for how long that answers without a request.
//
// Every listing and HEAD result is remembered with the time its request
// started (`as_of`); a newer answer replaces an older one, never the other
// way round. A directory listed whole (MarkListed) answers for its entries,
// and for names it does not have ("no such name"), while that listing is
// younger than `metadata_ttl`; a complete listing of the whole volume
// (ReplaceAll) answers for everything it covered while younger than
// CompleteTtl(). Trim() forgets what no listing renewed within the longer
// of the two.
//
// One entry per path the kernel holds: it is kept compact (docs/scale.md,
// "Memory per entry held"). Entries are grouped by directory: one map node
// per directory, keyed by its path, holding its entries as a sorted array
// of 64-byte (name, record) pairs, so a path is never stored whole and an
// entry costs no node of its own. An ETag of a single-part upload (a quoted
// MD5 in lower-case hex) is kept as its 16 bytes, any other in a SmallString.
//
// Not thread-safe: the store calls it under its own lock. Times are passed
// in (steady clock), so tests need no sleeping.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "store/s3_tree.h"
#include "util/small_string.h"

namespace freshfs::store {

class MetadataCache {
 public:
  using Clock = std::chrono::steady_clock;

 private:
  // One remembered entry; see the header comment on its size.
  struct Record {
    Record(const s3tree::Node& node, Clock::time_point as_of);
    s3tree::Node node() const;

    uint64_t size = 0;
    int64_t mtime_ns = 0;
    Clock::time_point as_of;
    std::variant<std::array<uint8_t, 16>, SmallString> etag;
    bool dir = false;
  };
  // 48 bytes; with its name, 64 (docs/scale.md measures it).
  static_assert(sizeof(Record) <= 48, "the per-entry record must not grow");

  // One entry of a directory.
  struct Entry {
    SmallString name;
    Record record;
  };
  static_assert(sizeof(Entry) <= 64, "the per-entry cost must not grow");
  // The entries remembered of one directory, and when a listing last
  // covered it whole.
  struct Dir {
    std::vector<Entry> entries;  // sorted by name
    std::optional<Clock::time_point> listed;
    bool empty() const { return entries.empty() && !listed; }
    // The entry `name`, or where it would go.
    std::vector<Entry>::iterator Seek(std::string_view name);
    std::vector<Entry>::const_iterator Seek(std::string_view name) const;
    // Adds `name` with `record` unless it is there; its entry, and
    // whether it was added.
    std::pair<Entry*, bool> Insert(std::string_view name, const Record& record);
  };
  using Dirs = std::map<std::string, Dir, std::less<>>;

 public:
  // complete_listing_ttl 0: metadata_ttl (see S3StoreSettings).
  MetadataCache(Clock::duration metadata_ttl, Clock::duration complete_listing_ttl);

  // What `path` is, as of `as_of` (kept unless something newer is known).
  void Remember(const std::string& path, const s3tree::Node& node, Clock::time_point as_of);
  // Forgets `path`, everything under it, and that any of them was listed.
  void Forget(const std::string& path);
  // Forgets `path` unless it was remembered after `start` (a request that
  // started at `start` found nothing there).
  void ForgetUnlessNewer(std::string_view path, Clock::time_point start);

  struct Known {
    s3tree::Node node;
    Clock::time_point as_of;
  };
  // Whatever is remembered of `path`, however old.
  std::optional<Known> Find(std::string_view path) const;
  bool Contains(std::string_view path) const;

  // What a lookup of `path` at `now` gets from memory: the node while a
  // recent listing (or request) vouches for it, kMissing while a recent
  // listing of its directory lacks it, else kAsk.
  struct Answer {
    enum Kind { kAsk, kMissing, kFound } kind = kAsk;
    s3tree::Node node;
  };
  Answer Lookup(std::string_view path, Clock::time_point now) const;

  // Whether a listing that started within its TTL covered all of `dir`.
  bool Listed(std::string_view dir, Clock::time_point now) const;
  // `dir` was listed whole by a listing that started at `start`.
  void MarkListed(const std::string& dir, Clock::time_point start);
  // How long the last complete listing answers for what it covered.
  Clock::duration CompleteTtl() const;

  // While a recent listing covers `dir`, calls `each` with the path and the
  // name of every entry of `dir` ("" the root) and returns true (no entry
  // when `dir` is not known as a directory); else returns false.
  bool ListKnown(std::string_view dir, Clock::time_point now,
                 const std::function<void(const std::string& path, std::string_view name,
                                          const s3tree::Node& node)>& each) const;
  // The subdirectories of `dir` (name, node) remembered from before `start`
  // whose names `listed` lacks.
  std::vector<std::pair<std::string, s3tree::Node>> DirectoriesNotIn(
      std::string_view dir, const std::map<std::string, s3tree::Node>& listed,
      Clock::time_point start) const;
  // After a complete listing of `dir` that started at `start`, keyed by
  // name: forgets the children it did not show (with everything under
  // them), except what was remembered after `start`.
  void ForgetUnlisted(std::string_view dir, const std::map<std::string, s3tree::Node>& listed,
                      Clock::time_point start);

  // A listing of the whole volume, gathered without the store's lock (one
  // Add per path, in key order), then handed to ReplaceAll.
  class Complete {
   public:
    explicit Complete(Clock::time_point start) : start_(start) {}
    void Add(const std::string& path, const s3tree::Node& node);

   private:
    friend class MetadataCache;
    Clock::time_point start_;
    Dirs dirs_;
  };
  // Makes `fresh` what is known (what the mount itself remembered after its
  // start stays), as of its start; `now`: when it was gathered. `fresh` is
  // left holding what was known before: free it outside the store's lock.
  void ReplaceAll(Complete& fresh, Clock::time_point now);

  // At most once per TTL: forgets what no listing or request renewed within it.
  void Trim(Clock::time_point now);

  // Entries remembered.
  size_t size() const;

 private:
  const Entry* FindEntry(std::string_view path) const;
  // The directories strictly below `dir` ("" the root: all but the root).
  std::pair<Dirs::iterator, Dirs::iterator> Below(std::string_view dir);

  const Clock::duration metadata_ttl_;
  const Clock::duration complete_listing_ttl_;
  Dirs dirs_;                           // keyed by directory path, "" the root
  Clock::time_point complete_as_of_{};  // start of the last complete listing
  Clock::duration complete_took_{};     // and how long it took
  Clock::time_point last_trim_{};
};

}  // namespace freshfs::store
