#include "store/s3_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "store/s3_file.h"
#include "util/quote.h"

namespace freshfs::store {
namespace {

std::string ParentOf(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

// What a user can do about a bucket that cannot be listed.
std::string BucketAdvice(const s3::ObjectClient& client, const s3::Error& e) {
  const std::string bucket = "bucket \"" + client.bucket() + "\"";
  const s3::Location where = client.location();
  const std::string endpoint = where.url.empty() ? "AWS S3" : where.url;
  if (e.http_status == 0)
    return "cannot reach " + endpoint + ": " + e.Describe() +
           " (check --s3-endpoint and the network)";
  if (e.http_status == 404 || e.code == "NoSuchBucket")
    return bucket + " does not exist at " + endpoint + " (" + e.Describe() +
           "; check the bucket name and --s3-endpoint)";
  if (e.http_status == 403)
    return "access to " + bucket + " denied for the credentials " + where.credentials + " (" +
           e.Describe() + "; check the credentials and the bucket policy)";
  if (e.http_status == 301 || e.code == "PermanentRedirect" ||
      e.code == "AuthorizationHeaderMalformed")
    return bucket + " is not in region " + where.region + " (" + e.Describe() +
           "; set --s3-region)";
  return "cannot list " + bucket + " at " + endpoint + ": " + e.Describe();
}

// How many directory levels of `dir` (a key's directory) the previous
// key's directory `last` does not share: in key order, each directory's
// keys come together, so this counts every directory once.
size_t NewLevels(std::string_view dir, std::string_view last) {
  size_t levels = 0;
  bool diverged = false;
  for (size_t pos = 0; pos < dir.size();) {
    size_t end = std::min(dir.find('/', pos), dir.size());
    if (!diverged && end <= last.size() && last.substr(0, end) == dir.substr(0, end) &&
        (end == last.size() || last[end] == '/')) {
      pos = end + 1;
      continue;
    }
    diverged = true;
    ++levels;
    pos = end + 1;
  }
  return levels;
}

}  // namespace

S3Store::S3Store(std::unique_ptr<s3::ObjectClient> client, S3StoreSettings settings)
    : client_(std::move(client)),
      settings_(std::move(settings)),
      pool_(4),
      metadata_(settings_.metadata_ttl, settings_.complete_listing_ttl) {}

S3Store::~S3Store() = default;

Result<std::unique_ptr<S3Store>> S3Store::Open(std::unique_ptr<s3::ObjectClient> client,
                                               S3StoreSettings settings, std::string* error) {
  auto checked = client->CheckBucket(settings.prefix);
  if (!checked) {
    *error = BucketAdvice(*client, checked.error());
    return checked.error().ToError();
  }
  return std::unique_ptr<S3Store>(new S3Store(std::move(client), std::move(settings)));
}

std::string S3Store::Describe() const {
  const std::string url = client_->location().url;
  std::string where = url.empty() ? "" : " at " + url;
  return "s3://" + client_->bucket() + "/" + settings_.prefix + where;
}

// The listing in every sync fails by itself when the bucket goes away; a
// separate check would cost a request per sync.
Status S3Store::CheckRoot() { return Status::Ok(); }

std::string S3Store::KeyOf(std::string_view path) const {
  return settings_.prefix + std::string(path);
}

struct stat S3Store::StatOf(std::string_view path, const s3tree::Node& node) const {
  return s3tree::StatOf(path, node, settings_.attributes);
}

size_t S3Store::skipped_keys() const {
  std::lock_guard lock(mu_);
  return skipped_;
}

s3::Outcome<std::string> S3Store::PutFileAsAllowed(std::string_view key, int fd, uint64_t size,
                                                   const s3::Condition& condition) {
  const bool conditional = condition.if_none_match_any || !condition.if_match.empty();
  if (!conditional || conditional_writes_refused_) return client_->PutFile(key, fd, size, {});
  auto put = client_->PutFile(key, fd, size, condition);
  if (put || put.error().http_status != 501) return put;
  if (!conditional_writes_refused_.exchange(true)) {
    spdlog::warn(
        "{}: the server refuses conditional writes ({}); uploads go without them from now on, "
        "checked by a HEAD just before each (another writer's change in the moment between "
        "the two can be overwritten)",
        Describe(), put.error().Describe());
  }
  return client_->PutFile(key, fd, size, {});
}

void S3Store::Remember(const std::string& path, const s3tree::Node& node) {
  std::lock_guard lock(mu_);
  metadata_.Remember(path, node, Clock::now());
}

void S3Store::Forget(const std::string& path) {
  std::lock_guard lock(mu_);
  metadata_.Forget(path);
}

void S3Store::Register(const std::string& path, S3File* file) {
  std::lock_guard lock(mu_);
  writers_.emplace(path, file);
}

void S3Store::Unregister(const std::string& path, S3File* file) {
  std::lock_guard lock(mu_);
  for (auto it = writers_.begin(); it != writers_.end(); ++it) {
    if (it->second == file) {
      writers_.erase(it);
      return;
    }
  }
  (void)path;
}

std::optional<struct stat> S3Store::StagedStat(std::string_view path) {
  S3File* file = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = writers_.find(path);
    if (it == writers_.end()) return std::nullopt;
    file = it->second;
    // LocalStat takes the file's lock; files unregister under mu_ before
    // they go away, so take it while still holding mu_.
    return file->LocalStat();
  }
}

void S3Store::LogSkipped(const std::vector<s3tree::Skipped>& skipped) {
  std::lock_guard lock(mu_);
  bool more = false;
  for (const auto& s : skipped) {
    if (logged_skips_.size() < 10000 && logged_skips_.insert(s.key).second) {
      spdlog::warn("s3 key {} is not shown: {}", Quoted(s.key), s.reason);
      more = true;
    }
  }
  // Directories listed one by one (lazy mounts never list the whole
  // bucket): the keys skipped in any of them so far.
  if (more && logged_skips_.size() > skipped_) {
    skipped_ = logged_skips_.size();
    if (settings_.on_skipped_keys) settings_.on_skipped_keys(skipped_);
  }
}

Result<s3tree::Node> S3Store::FetchNode(std::string_view path) {
  s3tree::Node node;
  if (path.empty()) {
    node.dir = true;
    return node;
  }
  const std::string key = KeyOf(path);
  bool known_file = false;
  {
    std::lock_guard lock(mu_);
    auto known = metadata_.Find(path);
    known_file = known && !known->node.dir;
  }
  if (known_file) {
    // Revalidating a file the kernel holds: one HEAD (cheaper than a
    // listing), and the listing below only if it is gone.
    auto head = client_->Head(key);
    if (head) {
      node.size = head->size;
      node.etag = head->etag;
      node.mtime_ns = s3tree::WholeSeconds(head->mtime_ns);
      return node;
    }
    if (head.error().http_status != 404) return head.error().ToError();
  }
  // A name not known as a file: one listing without a delimiter, from the
  // key itself (a lookup in a directory not listed yet). Keys sort
  // bytewise, so the object `key` (if any) comes first, then the keys that
  // extend the name with a byte below '/' ("key.txt", "key-old/..."), then
  // the first key under "key/" (if any). A few keys cover both questions
  // (is it an object, is it a prefix: the directory wins, s3_tree.h) for
  // files and directories alike. No delimiter: some servers (s3rver) leave
  // "key/" out of a delimiter listing when its keys lie two levels deeper.
  // Only when kProbeKeys such siblings fill the page is the prefix asked
  // about on its own (a second request; a third, a HEAD, if the page did
  // not show the object either).
  const std::string dir_prefix = key + "/";
  auto probe = client_->List(key, "", kProbeKeys);
  if (!probe) return probe.error().ToError();
  const s3::ObjectInfo* object = nullptr;
  const s3::ObjectInfo* below = nullptr;
  for (const s3::ObjectInfo& o : probe->objects) {
    if (o.key == key) object = &o;
    else if (o.key.compare(0, dir_prefix.size(), dir_prefix) == 0) {
      below = &o;
      break;
    }
  }
  std::optional<s3::Listing> second;
  std::optional<s3::ObjectInfo> headed;
  if (!below && probe->objects.size() >= kProbeKeys) {
    auto more = client_->List(dir_prefix, "", 1);
    if (!more) return more.error().ToError();
    second = std::move(*more);
    if (!second->objects.empty()) below = &second->objects.front();
    if (!below && !object) {
      // S3 lists the object first, but not every server lists in key
      // order (s3rver walks its directories): a full page without the
      // object proves nothing, one HEAD does.
      auto head = client_->Head(key);
      if (head) {
        headed = std::move(*head);
        object = &*headed;
      } else if (head.error().http_status != 404) {
        return head.error().ToError();
      }
    }
  }
  if (below) {
    node.dir = true;
    if (below->key == dir_prefix) node.mtime_ns = s3tree::WholeSeconds(below->mtime_ns);
    return node;
  }
  if (!object) return Error{ENOENT};
  node.size = object->size;
  node.etag = object->etag;
  node.mtime_ns = s3tree::WholeSeconds(object->mtime_ns);
  return node;
}

Result<struct stat> S3Store::Stat(std::string_view path) {
  if (auto staged = StagedStat(path)) return *staged;
  if (path.empty()) return StatOf(path, s3tree::Node{.dir = true});
  {
    std::lock_guard lock(mu_);
    MetadataCache::Answer known = metadata_.Lookup(path, Clock::now());
    if (known.kind == MetadataCache::Answer::kFound) return StatOf(path, known.node);
    if (known.kind == MetadataCache::Answer::kMissing)
      return Error{ENOENT};  // a recent listing of its directory has no such name
  }
  return StatFresh(path);
}

Result<struct stat> S3Store::StatFresh(std::string_view path) {
  if (auto staged = StagedStat(path)) return *staged;
  const auto start = Clock::now();
  auto node = FetchNode(path);
  std::lock_guard lock(mu_);
  if (!node) {
    if (node.error().code == ENOENT) metadata_.ForgetUnlessNewer(path, start);
    return node.error();
  }
  if (!path.empty()) metadata_.Remember(std::string(path), *node, start);
  return StatOf(path, *node);
}

std::optional<std::vector<Store::DetailedEntry>> S3Store::ListKnownLocked(std::string_view dir) {
  std::vector<DetailedEntry> out;
  const bool listed = metadata_.ListKnown(
      dir, Clock::now(),
      [&](const std::string& path, std::string_view name, const s3tree::Node& node) {
        out.push_back(DetailedEntry{std::string(name), StatOf(path, node)});
      });
  if (!listed) return std::nullopt;
  return out;
}

Result<std::vector<Store::DetailedEntry>> S3Store::ListDir(std::string_view dir, bool fresh) {
  if (!fresh) {
    // While a recent listing covers the directory, it answers: no request.
    std::lock_guard lock(mu_);
    if (auto known = ListKnownLocked(dir)) {
      bool exists = dir.empty() || metadata_.Contains(dir);
      AddWritersLocked(dir, &*known);
      if (!exists && known->empty()) return Error{ENOENT};
      return std::move(*known);
    }
  }
  const std::string base = dir.empty() ? settings_.prefix : KeyOf(dir) + "/";
  const auto start = Clock::now();
  auto listing = client_->List(base, "/");
  if (!listing) return listing.error().ToError();
  std::map<std::string, s3tree::Node> found;
  std::vector<s3tree::Skipped> skipped;
  bool marker = false;
  for (const std::string& p : listing->common_prefixes) {
    std::string name = p.substr(base.size());
    if (!name.empty() && name.back() == '/') name.pop_back();
    if (const char* reason = s3tree::InvalidReason(name)) {
      skipped.push_back({p, reason});
      continue;
    }
    found[name].dir = true;
  }
  for (const s3::ObjectInfo& o : listing->objects) {
    std::string name = o.key.substr(base.size());
    if (name.empty()) {
      marker = true;
      continue;
    }
    if (const char* reason = s3tree::InvalidReason(name)) {
      skipped.push_back({o.key, reason});
      continue;
    }
    auto [it, inserted] = found.try_emplace(name);
    if (!inserted && it->second.dir) {
      skipped.push_back({o.key, "both an object and a directory"});
      continue;
    }
    it->second.size = o.size;
    it->second.etag = o.etag;
    it->second.mtime_ns = s3tree::WholeSeconds(o.mtime_ns);
  }
  // The pages go before what stays is allocated (RememberLocked below):
  // the remembered entries then reuse their memory instead of landing
  // between them and leaving the freed pages only partly free.
  { s3::Listing drop = std::move(*listing); }
  LogSkipped(skipped);
  AddMissingButThere(dir, &found, start);
  std::vector<DetailedEntry> out;
  out.reserve(found.size());
  for (auto& [name, node] : found)
    out.push_back(DetailedEntry{name, StatOf(JoinPath(dir, name), node)});
  const bool gone = found.empty() && !marker && !dir.empty();
  {
    std::lock_guard lock(mu_);
    for (auto& [name, node] : found) metadata_.Remember(JoinPath(dir, name), node, start);
    metadata_.ForgetUnlisted(dir, found, start);
    metadata_.Trim(Clock::now());
    if (!gone) metadata_.MarkListed(std::string(dir), start);
    AddWritersLocked(dir, &out);
  }
  if (gone && out.empty()) {
    // Nothing under the prefix: the directory is gone (or never was).
    return Error{ENOENT};
  }
  return out;
}

void S3Store::AddMissingButThere(std::string_view dir, std::map<std::string, s3tree::Node>* found,
                                 Clock::time_point start) {
  std::vector<std::pair<std::string, s3tree::Node>> missing;
  {
    std::lock_guard lock(mu_);
    missing = metadata_.DirectoriesNotIn(dir, *found, start);
  }
  for (auto& [name, node] : missing) {
    auto below = client_->List(KeyOf(JoinPath(dir, name)) + "/", "", 1);
    // Kept unless S3 says it is empty: a failed check proves nothing.
    if (!below || !below->objects.empty()) found->emplace(name, node);
  }
}

void S3Store::AddWritersLocked(std::string_view dir, std::vector<DetailedEntry>* entries) {
  for (auto& [path, file] : writers_) {
    if (ParentOf(path) != dir) continue;
    std::string name = path.substr(dir.empty() ? 0 : dir.size() + 1);
    bool listed = std::any_of(entries->begin(), entries->end(),
                              [&](const DetailedEntry& e) { return e.name == name; });
    if (!listed) entries->push_back(DetailedEntry{name, file->LocalStat()});
  }
}

Result<std::vector<DirEntry>> S3Store::List(std::string_view dir) {
  auto detailed = ListDir(dir, /*fresh=*/false);
  if (!detailed) return detailed.error();
  std::vector<DirEntry> out;
  out.reserve(detailed->size());
  for (auto& e : *detailed)
    out.push_back(DirEntry{std::move(e.name), mode_t(e.attr.st_mode & S_IFMT), e.attr.st_ino});
  return out;
}

Result<std::vector<Store::DetailedEntry>> S3Store::ListDetailed(std::string_view dir) {
  return ListDir(dir, /*fresh=*/false);
}

Result<std::vector<Store::DetailedEntry>> S3Store::ListFresh(std::string_view dir) {
  return ListDir(dir, /*fresh=*/true);
}

Result<std::vector<Store::DetailedEntry>> S3Store::ListTree(std::string_view dir) {
  return ListTreeUpTo(dir, 0);
}

Result<std::vector<Store::DetailedEntry>> S3Store::ListTreeUpTo(std::string_view dir,
                                                                size_t max_keys) {
  const std::string base = dir.empty() ? settings_.prefix : KeyOf(dir) + "/";
  const auto start = Clock::now();
  auto listing = client_->List(base, "", max_keys > 0 ? max_keys + 1 : 0);
  if (!listing) return listing.error().ToError();
  if (max_keys > 0 && listing->objects.size() > max_keys) return Error{E2BIG};
  s3tree::Tree tree = s3tree::BuildTree(listing->objects, base);
  // A big bucket's listing is held three ways at once at most: free each
  // as soon as it is used (the keys here, the tree below).
  std::vector<s3::ObjectInfo>().swap(listing->objects);
  LogSkipped(tree.skipped);
  const std::string dir_prefix = dir.empty() ? "" : std::string(dir) + "/";
  std::vector<DetailedEntry> out;
  out.reserve(tree.nodes.size());
  for (auto& [path, node] : tree.nodes)
    out.push_back(DetailedEntry{path, StatOf(dir_prefix + path, node)});
  if (!dir.empty()) {
    std::lock_guard lock(mu_);
    for (auto& [path, node] : tree.nodes) metadata_.Remember(dir_prefix + path, node, start);
    AddUnlistedWritersLocked(
        dir_prefix, [&](const std::string& rel) { return tree.nodes.count(rel) > 0; }, &out);
    return out;
  }
  // A complete picture: replace what was known (built outside the lock),
  // except what the mount itself changed while the listing ran. (Built
  // whole before the tree goes: freeing tree nodes one by one between the
  // new map's allocations leaves pages half used, which RSS keeps.)
  MetadataCache::Complete fresh(start);
  uint64_t bytes = 0;
  for (auto& [path, node] : tree.nodes) {
    if (!node.dir) bytes += node.size;
    fresh.Add(path, node);
  }
  const uint64_t entries = tree.nodes.size();
  tree.nodes.clear();
  std::lock_guard lock(mu_);
  metadata_.ReplaceAll(fresh, Clock::now());  // what was known before goes after the lock
  listed_bytes_ = bytes;
  listed_entries_ = entries;
  skipped_ = tree.skipped.size();
  if (settings_.on_skipped_keys) settings_.on_skipped_keys(skipped_);
  AddUnlistedWritersLocked(
      "", [&](const std::string& rel) { return metadata_.Contains(rel); }, &out);
  return out;
}

void S3Store::AddUnlistedWritersLocked(const std::string& dir_prefix,
                                       const std::function<bool(const std::string& rel)>& listed,
                                       std::vector<DetailedEntry>* out) {
  // Files being written that S3 has not seen yet are part of the tree too.
  for (auto& [path, file] : writers_) {
    if (path.compare(0, dir_prefix.size(), dir_prefix) != 0) continue;
    std::string rel = path.substr(dir_prefix.size());
    if (!listed(rel)) out->push_back(DetailedEntry{rel, file->LocalStat()});
  }
}

Result<Store::Usage> S3Store::ScanUsage(const std::atomic<bool>& stop) {
  Usage usage;
  std::string last_dir;  // keys come in order: a directory's keys are together
  auto done = client_->ListPages(settings_.prefix, "", [&](s3::Listing& page) {
    for (const s3::ObjectInfo& o : page.objects) {
      std::string_view rel = std::string_view(o.key).substr(settings_.prefix.size());
      const size_t slash = rel.rfind('/');
      std::string_view dir =
          slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash);
      usage.entries += NewLevels(dir, last_dir);
      last_dir.assign(dir);
      if (slash != rel.size() - 1 && !rel.empty()) {
        ++usage.entries;
        usage.bytes += o.size;
      }
    }
    return !stop.load();
  });
  if (!done) return done.error().ToError();
  if (stop) return Error{ECANCELED};
  std::lock_guard lock(mu_);
  listed_bytes_ = usage.bytes;
  listed_entries_ = usage.entries;
  return usage;
}

Result<std::string> S3Store::ReadLink(std::string_view) { return Error{EINVAL}; }

// Used: the bytes and entries (files and directories) the last complete
// listing held, 0 before there was one. Free: a bucket has no size limit to
// report, so a constant (4 PiB, 2^32 entries) that `df` and kubelet can add
// to the used part; "total" is used plus that.
Result<struct statvfs> S3Store::StatFs() {
  constexpr uint64_t kBlock = 4096, kFreeBlocks = 1ull << 40, kFreeFiles = 1ull << 32;
  uint64_t bytes, entries;
  {
    std::lock_guard lock(mu_);
    bytes = listed_bytes_;
    entries = listed_entries_;
  }
  struct statvfs st {};
  st.f_bsize = kBlock;
  st.f_frsize = kBlock;
  st.f_bfree = st.f_bavail = kFreeBlocks;
  st.f_blocks = kFreeBlocks + (bytes + kBlock - 1) / kBlock;
  st.f_ffree = st.f_favail = kFreeFiles;
  st.f_files = kFreeFiles + entries;
  st.f_namemax = 255;
  return st;
}

Result<std::unique_ptr<FileHandle>> S3Store::Open(std::string_view path, int flags) {
  bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  s3tree::Node node;
  if (writes) {
    // Writing starts from what S3 holds now, not from what was listed.
    auto fetched = FetchNode(path);
    if (!fetched) return fetched.error();
    node = *fetched;
  } else {
    std::lock_guard lock(mu_);
    if (auto known = metadata_.Find(path)) node = known->node;
  }
  if (!writes && node.etag.empty() && !node.dir) {
    auto fetched = FetchNode(path);
    if (!fetched) return fetched.error();
    node = *fetched;
  }
  if (node.dir) return Error{EISDIR};
  auto file = S3File::Open(this, std::string(path), node, flags, /*create=*/false);
  if (!file) return file.error();
  return std::unique_ptr<FileHandle>(std::move(*file));
}

Result<std::unique_ptr<FileHandle>> S3Store::Create(std::string_view path, int flags, mode_t,
                                                    const Caller&) {
  // What a recent listing says is as good as asking (a name that appears
  // meanwhile is caught by the upload, which checks again).
  auto existing = Stat(path);
  if (existing) return Error{EEXIST};  // an open, not a creation (see Store::Create)
  if (existing.error().code != ENOENT) return existing.error();
  auto file = S3File::Open(this, std::string(path), s3tree::Node{}, flags, /*create=*/true);
  if (!file) return file.error();
  return std::unique_ptr<FileHandle>(std::move(*file));
}

Status S3Store::MakeDir(std::string_view path, mode_t, const Caller&) {
  auto existing = StatFresh(path);
  if (existing) return Error(EEXIST);
  if (existing.error().code != ENOENT) return existing.error();
  auto put = client_->Put(KeyOf(path) + "/", "");
  if (!put) return put.error().ToError();
  s3tree::Node node{.dir = true};
  node.mtime_ns = int64_t(std::time(nullptr)) * 1'000'000'000;
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  metadata_.Remember(std::string(path), node, now);
  // Nothing was under it a moment ago: as good as a listing of it, so the
  // names created in it next need no request to be known as new.
  metadata_.MarkListed(std::string(path), now);
  return Status::Ok();
}

void S3Store::KeepDirectory(std::string_view dir) {
  if (dir.empty()) return;
  const std::string marker = KeyOf(dir) + "/";
  auto below = client_->List(marker, "", 1);
  if (below && below->objects.empty()) {
    if (auto put = client_->Put(marker, ""); !put)
      spdlog::warn("could not keep the emptied directory {}: {}", marker, put.error().Describe());
  }
}

Status S3Store::Unlink(std::string_view path) {
  auto st = StatFresh(path);
  if (!st) return st.error();
  if (S_ISDIR(st->st_mode)) return Error(EISDIR);
  {
    std::lock_guard lock(mu_);
    auto [first, last] = writers_.equal_range(path);
    for (auto it = first; it != last; ++it) it->second->Unlinked();
  }
  auto del = client_->Delete(KeyOf(path));
  if (!del) return del.error().ToError();
  Forget(std::string(path));
  KeepDirectory(ParentOf(path));
  return Status::Ok();
}

Status S3Store::RemoveDir(std::string_view path) {
  const std::string marker = KeyOf(path) + "/";
  auto below = client_->List(marker, "", 2);
  if (!below) return below.error().ToError();
  {
    std::lock_guard lock(mu_);
    for (auto& [writer_path, file] : writers_)
      if (ParentOf(writer_path) == path) return Error(ENOTEMPTY);
  }
  if (below->objects.empty()) {
    auto head = client_->Head(KeyOf(path));
    return Error(head ? ENOTDIR : ENOENT);
  }
  for (const auto& o : below->objects)
    if (o.key != marker) return Error(ENOTEMPTY);
  auto del = client_->Delete(marker);
  if (!del) return del.error().ToError();
  Forget(std::string(path));
  KeepDirectory(ParentOf(path));
  return Status::Ok();
}

Status S3Store::RenameFile(const std::string& from, const std::string& to) {
  std::vector<S3File*> files;
  bool only_local = false;
  {
    std::lock_guard lock(mu_);
    auto [first, last] = writers_.equal_range(from);
    for (auto it = first; it != last; ++it) files.push_back(it->second);
  }
  auto head = client_->Head(KeyOf(from));
  if (!head) {
    if (head.error().http_status != 404 || files.empty()) return head.error().ToError();
    only_local = true;  // created here and not uploaded yet: nothing to move in S3
  }
  std::string etag;
  if (!only_local) {
    s3::Condition same;
    same.if_match = head->etag;
    auto copied = client_->Copy(KeyOf(from), KeyOf(to), same);
    if (!copied) return copied.error().ToError();
    etag = *copied;
    auto del = client_->Delete(KeyOf(from));
    if (!del) return del.error().ToError();
  }
  {
    std::lock_guard lock(mu_);
    auto [first, last] = writers_.equal_range(from);
    std::vector<S3File*> moved;
    for (auto it = first; it != last; ++it) moved.push_back(it->second);
    writers_.erase(first, last);
    for (S3File* f : moved) {
      f->Renamed(to, etag);
      writers_.emplace(to, f);
    }
  }
  Forget(from);
  Forget(to);
  if (!only_local) (void)StatFresh(to);
  return Status::Ok();
}

Status S3Store::RenameDir(const std::string& from, const std::string& to) {
  const std::string old_base = KeyOf(from) + "/", new_base = KeyOf(to) + "/";
  auto listing = client_->List(old_base, "", settings_.max_dir_rename_objects + 1);
  if (!listing) return listing.error().ToError();
  if (listing->objects.size() > settings_.max_dir_rename_objects) {
    return Error(EXDEV, "rename of directory " + Quoted(from) +
                            " refused: S3 has no directory rename, and it holds more than " +
                            std::to_string(settings_.max_dir_rename_objects) +
                            " objects to copy one by one (mv copies and deletes instead)");
  }
  {
    std::lock_guard lock(mu_);
    for (auto& [path, file] : writers_)
      if (path.compare(0, from.size() + 1, from + "/") == 0) return Error(EBUSY);
  }
  std::vector<std::string> old_keys;
  for (const auto& o : listing->objects) {
    auto copied = client_->Copy(o.key, new_base + o.key.substr(old_base.size()));
    if (!copied) return copied.error().ToError();
    old_keys.push_back(o.key);
  }
  if (old_keys.empty()) {
    if (auto put = client_->Put(new_base, ""); !put) return put.error().ToError();
  }
  auto del = client_->DeleteMany(old_keys);
  if (!del) return del.error().ToError();
  Forget(from);
  Forget(to);
  return Status::Ok();
}

Status S3Store::Rename(std::string_view from_view, std::string_view to_view, unsigned flags,
                       const Caller&) {
  // No atomic swap in S3, and no whiteouts (character devices).
  if (flags & (RENAME_EXCHANGE | RENAME_WHITEOUT)) return Error(EINVAL);
  const std::string from(from_view), to(to_view);
  auto src = StatFresh(from);
  if (!src) return src.error();
  bool dir = S_ISDIR(src->st_mode);
  if (dir && (to.compare(0, from.size() + 1, from + "/") == 0)) return Error(EINVAL);
  auto dst = StatFresh(to);
  if (dst) {
    if (flags & RENAME_NOREPLACE) return Error(EEXIST);
    if (dir && !S_ISDIR(dst->st_mode)) return Error(ENOTDIR);
    if (!dir && S_ISDIR(dst->st_mode)) return Error(EISDIR);
    if (dir) {
      Status s = RemoveDir(to);  // must be empty, as rename(2) wants
      if (!s.ok()) return s;
    }
  } else if (dst.error().code != ENOENT) {
    return dst.error();
  }
  Status s = dir ? RenameDir(from, to) : RenameFile(from, to);
  if (s.ok()) KeepDirectory(ParentOf(from));
  return s;
}

Status S3Store::SetAttr(std::string_view path, const AttrChange& change) {
  if (change.mode || change.uid || change.gid) return Error(EPERM);
  if (!change.size) return Status::Ok();  // times: S3 keeps its own LastModified
  auto file = Open(path, *change.size == 0 ? (O_WRONLY | O_TRUNC) : O_RDWR);
  if (!file) return file.error();
  Status s = (*file)->SetAttr(change);
  if (!s.ok()) return s;
  return (*file)->Flush();
}

Status S3Store::MakeNode(std::string_view, mode_t, dev_t, const Caller&) {
  return Error(EPERM);  // S3 holds only files and directories
}
Status S3Store::Symlink(std::string_view, std::string_view, const Caller&) { return Error(EPERM); }
Status S3Store::Link(std::string_view, std::string_view) { return Error(EPERM); }

Result<std::string> S3Store::GetXattr(std::string_view, const std::string&) {
  return Error{ENOTSUP};
}
Result<std::string> S3Store::ListXattr(std::string_view) { return std::string(); }
Status S3Store::SetXattr(std::string_view, const std::string&, std::string_view, int) {
  return Error(ENOTSUP);
}
Status S3Store::RemoveXattr(std::string_view, const std::string&) { return Error(ENOTSUP); }

}  // namespace freshfs::store
