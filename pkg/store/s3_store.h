// S3Store: a bucket (or a prefix of one) as a Store, through an
// s3::ObjectClient (s3/object_client.h; s3::Client in a mount).
//
// Tree mapping: store/s3_tree.h. Metadata (store/metadata_cache.h): every
// listing and HEAD result is remembered with the time its request started;
// Stat() and List*() answer from that memory while the listing of the
// directory is younger than `metadata_ttl` (the watcher's syncs refresh it
// every poll interval: the whole bucket in a full sync, the directories the
// kernel holds in a cached one, so lookups of known names cost no request),
// or than `complete_listing_ttl` for what only a complete listing covered.
// Such a directory also answers "no such name". StatFresh(), ListFresh(),
// ListTree() and everything else the watcher calls go to S3.
//
// Files: reads fetch ranges (store/s3_file.h: blocks with readahead for
// sequential reads, exact ranges for random ones, optionally through the
// on-disk cache); writes go to a staging file and are uploaded on
// flush/fsync, conditional on the version the file was opened at.
//
// Thread-safe, as every Store. Calls block on the network.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "cache/disk_cache.h"
#include "cache/memory_blocks.h"
#include "s3/object_client.h"
#include "store/metadata_cache.h"
#include "store/s3_tree.h"
#include "store/store.h"
#include "util/task_pool.h"

namespace freshfs::store {

class S3File;

// What to do when an upload finds the object changed by someone else since
// the file was opened (or created meanwhile, for a new file).
enum class ConflictPolicy {
  kKeepBoth,   // leave theirs, upload ours as "<name>.conflict-<UTC time><ext>", fail close()
  kOverwrite,  // last writer wins
};

struct S3StoreSettings {
  std::string prefix;  // "" or "dir/sub/" (normalized, trailing '/')
  s3tree::Attributes attributes;
  std::chrono::milliseconds metadata_ttl{1000};
  // With cached syncs, a complete listing answers for the directories no
  // later listing covers only this long (plus twice the time the listing
  // took): they are the ones the kernel does not hold, and a name it looks
  // up there anew must be as current as the last sync. 0: metadata_ttl.
  std::chrono::milliseconds complete_listing_ttl{0};
  std::string staging_dir;  // writes are staged here; failed uploads kept in <dir>/failed
  ConflictPolicy conflict = ConflictPolicy::kKeepBoth;
  size_t block_size = 8 << 20;             // sequential reads fetch blocks of this size
  size_t readahead_blocks = 4;             // at most this many fetched ahead per open file
  size_t max_dir_rename_objects = 1000;    // larger directories: EXDEV (mv copies instead)
  cache::DiskCache* disk_cache = nullptr;  // optional, not owned
  // Blocks open files fetched lately, shared between open files of one
  // version (cache::MemoryBlocks); in bytes.
  size_t memory_blocks_bytes = 32 << 20;
  std::function<void(size_t)> on_skipped_keys;  // after each complete listing
};

class S3Store final : public Store {
 public:
  // Checks that the bucket can be listed with these credentials; the error
  // message says what is wrong in words a user can act on.
  static Result<std::unique_ptr<S3Store>> Open(std::unique_ptr<s3::ObjectClient> client,
                                               S3StoreSettings settings, std::string* error);
  ~S3Store() override;

  std::string Describe() const override;
  Status CheckRoot() override;
  Result<struct stat> Stat(std::string_view path) override;
  Result<struct stat> StatFresh(std::string_view path) override;
  Result<std::vector<DirEntry>> List(std::string_view dir) override;
  Result<std::vector<DetailedEntry>> ListDetailed(std::string_view dir) override;
  Result<std::vector<DetailedEntry>> ListFresh(std::string_view dir) override;
  size_t ListPageSize() const override { return 1000; }  // ListObjectsV2's most keys
  Result<std::vector<DetailedEntry>> ListTree(std::string_view dir) override;
  Result<std::vector<DetailedEntry>> ListTreeUpTo(std::string_view dir, size_t max_keys) override;
  Result<std::string> ReadLink(std::string_view path) override;
  Result<struct statvfs> StatFs() override;
  // One ListObjectsV2 per 1,000 keys, no page kept; StatFs() reports it.
  Result<Usage> ScanUsage(const std::atomic<bool>& stop) override;

  Result<std::unique_ptr<FileHandle>> Open(std::string_view path, int flags) override;
  Result<std::unique_ptr<FileHandle>> Create(std::string_view path, int flags, mode_t mode,
                                             const Caller& caller) override;
  Status MakeDir(std::string_view path, mode_t mode, const Caller& caller) override;
  Status MakeNode(std::string_view path, mode_t mode, dev_t rdev, const Caller& caller) override;
  Status Symlink(std::string_view target, std::string_view path, const Caller& caller) override;
  Status Link(std::string_view existing, std::string_view path) override;
  Status Unlink(std::string_view path) override;
  Status RemoveDir(std::string_view path) override;
  Status Rename(std::string_view from, std::string_view to, unsigned flags,
                const Caller& caller) override;
  Status SetAttr(std::string_view path, const AttrChange& change) override;
  Result<std::string> GetXattr(std::string_view path, const std::string& name) override;
  Result<std::string> ListXattr(std::string_view path) override;
  Status SetXattr(std::string_view path, const std::string& name, std::string_view value,
                  int flags) override;
  Status RemoveXattr(std::string_view path, const std::string& name) override;

  // Keys the last listing had to skip (see s3_tree.h), for the metrics.
  size_t skipped_keys() const;

  // For S3File.
  s3::ObjectClient& client() { return *client_; }
  const S3StoreSettings& settings() const { return settings_; }
  TaskPool& readahead_pool() { return pool_; }
  cache::MemoryBlocks& memory_blocks() { return memory_blocks_; }
  // PutFile under `condition` as the server allows: a server that refuses
  // conditional writes (501 to If-Match or If-None-Match: *) gets the PUT
  // without them, then and from then on (logged once). Callers check with
  // a HEAD first, as for servers that ignore the headers (docs/s3.md).
  s3::Outcome<std::string> PutFileAsAllowed(std::string_view key, int fd, uint64_t size,
                                            const s3::Condition& condition);
  std::string KeyOf(std::string_view path) const;
  // Records what the mount itself just did to `path`.
  void Remember(const std::string& path, const s3tree::Node& node);
  void Forget(const std::string& path);
  // Files open for writing: Stat()/List() show their local state.
  void Register(const std::string& path, S3File* file);
  void Unregister(const std::string& path, S3File* file);

 private:
  using Clock = MetadataCache::Clock;

  // Keys a lookup's listing asks for (FetchNode).
  static constexpr size_t kProbeKeys = 16;

  S3Store(std::unique_ptr<s3::ObjectClient> client, S3StoreSettings settings);
  // One listing (rarely two): what `path` is in S3 right now.
  Result<s3tree::Node> FetchNode(std::string_view path);
  void LogSkipped(const std::vector<s3tree::Skipped>& skipped);
  std::optional<struct stat> StagedStat(std::string_view path);
  struct stat StatOf(std::string_view path, const s3tree::Node& node) const;
  // One delimiter listing of `dir` (from memory while a recent listing
  // covers it, unless `fresh`).
  Result<std::vector<DetailedEntry>> ListDir(std::string_view dir, bool fresh);
  // A directory's entries from memory while a recent listing covers it (an
  // empty list for an unknown directory), else nullopt.
  std::optional<std::vector<DetailedEntry>> ListKnownLocked(std::string_view dir);
  // Adds to `listed` the subdirectories of `dir` that memory holds from
  // before `start` and that S3 still has. (Some servers, s3rver among
  // them, leave a prefix out of a delimiter listing when all its keys lie
  // two levels deeper; a subdirectory is only gone once S3 says so.)
  void AddMissingButThere(std::string_view dir, std::map<std::string, s3tree::Node>* listed,
                          Clock::time_point start);
  void AddWritersLocked(std::string_view dir, std::vector<DetailedEntry>* entries);
  // Adds the files being written under `dir_prefix` ("" or "dir/") that
  // the listing lacks (`listed` of their path relative to it is false): S3
  // has not seen them yet.
  void AddUnlistedWritersLocked(const std::string& dir_prefix,
                                const std::function<bool(const std::string& rel)>& listed,
                                std::vector<DetailedEntry>* out);
  // After the last entry of `dir` went away: a marker keeps it (as a local
  // filesystem would; S3 would otherwise drop the directory with it).
  void KeepDirectory(std::string_view dir);
  Status RenameFile(const std::string& from, const std::string& to);
  Status RenameDir(const std::string& from, const std::string& to);

  std::unique_ptr<s3::ObjectClient> client_;
  const S3StoreSettings settings_;
  std::atomic<bool> conditional_writes_refused_{false};
  cache::MemoryBlocks memory_blocks_{settings_.memory_blocks_bytes};
  // After what read-ahead uses (the client, the settings, the shared
  // blocks): the pool's destructor runs the tasks still queued and joins
  // them before those go.
  TaskPool pool_;

  mutable std::mutex mu_;  // guards everything below
  MetadataCache metadata_;
  std::multimap<std::string, S3File*, std::less<>> writers_;
  std::set<std::string> logged_skips_;
  size_t skipped_ = 0;
  // What the last complete listing held: StatFs reports it as used.
  uint64_t listed_bytes_ = 0;
  uint64_t listed_entries_ = 0;
};

}  // namespace freshfs::store
