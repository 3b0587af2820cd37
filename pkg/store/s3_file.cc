#include "store/s3_file.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "util/quote.h"
#include "util/unique_fd.h"

namespace freshfs::store {
namespace {

// Copies all of `from` into `to` (both at offset 0): a reflink where the
// filesystem shares blocks (btrfs, XFS), else in-kernel copies, else reads
// and writes. False with errno set when it fails.
bool CopyWhole(int from, int to) {
  if (::ioctl(to, FICLONE, from) == 0) return true;
  off_t in = 0, out = 0;
  bool by_kernel = true;
  for (;;) {
    ssize_t n;
    if (by_kernel) {
      n = ::copy_file_range(from, &in, to, &out, 1 << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) &&
          in == 0) {
        by_kernel = false;  // not between these two: read and write
        continue;
      }
    } else {
      char buffer[65536];
      n = ::pread(from, buffer, sizeof buffer, in);
      if (n > 0) {
        if (::pwrite(to, buffer, size_t(n), out) != n) return false;
        in += n;
        out += n;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0;
  }
}

constexpr size_t kDownloadChunk = 8 << 20;

// Now in UTC, e.g. "20261122T024513Z".
std::string UtcStamp() {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return stamp;
}

// "dir/report.csv" -> "dir/report.conflict-20261122T024513Z.csv".
std::string ConflictKey(const std::string& key) {
  const std::string stamp = UtcStamp();
  size_t slash = key.rfind('/');
  size_t dot = key.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) ||
      dot == (slash == std::string::npos ? 0 : slash + 1)) {
    dot = key.size();  // no extension (or a dot file)
  }
  return key.substr(0, dot) + ".conflict-" + stamp + key.substr(dot);
}

UniqueFd StagingFile(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return UniqueFd(fd);
  std::string tmpl = dir + "/staging-XXXXXX";
  fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd >= 0) ::unlink(tmpl.c_str());
  return UniqueFd(fd);
}

}  // namespace

struct S3File::Block {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int error = 0;
  std::string why;                  // with an error: what the fetch met
  cache::MemoryBlocks::Block data;  // set once done without error
};

void S3File::LoadBlock(S3Store* store, const std::string& key, const std::string& etag,
                       uint64_t object_size, uint64_t index, const std::shared_ptr<Block>& block) {
  const size_t bs = store->settings().block_size;
  const uint64_t offset = index * bs;
  const size_t length = size_t(std::min<uint64_t>(bs, object_size - std::min(object_size, offset)));
  // Another open file of this version fetched it lately: the only place it
  // still is once the object changed in S3.
  if (auto shared = store->memory_blocks().Get(key, etag, index)) {
    std::lock_guard lock(block->mu);
    block->data = std::move(shared);
    block->done = true;
    block->cv.notify_all();
    return;
  }
  std::string data(length, '\0');
  int error = 0;
  std::string why;
  cache::DiskCache* disk = store->settings().disk_cache;
  std::optional<size_t> cached;
  if (disk) cached = disk->Get(key, etag, index, data.data(), data.size());
  if (cached && *cached == length) {
    // served from the local cache
  } else {
    s3::Condition cond;
    cond.if_match = etag;
    s3::ObjectInfo info;
    auto got = store->client().GetRange(key, offset, length, data.data(), cond, &info);
    if (got && !info.etag.empty() && info.etag != etag) {
      error = ESTALE;  // a server that ignores If-Match sent another version
      why = "the object changed while it was read";
    } else if (!got) {
      error = got.error().http_status == 412 ? ESTALE : got.error().ToErrno();
      if (error == ENOENT) error = ESTALE;
      why = "reading " + std::to_string(length) + " bytes at " + std::to_string(offset) + ": " +
            got.error().Describe();
      // A read-ahead nobody waits for fails quietly: the read that needs
      // the block fetches it again and answers with the error (logged there).
      spdlog::debug("s3 block fetch failed: {}", why);
    } else {
      data.resize(*got);
      if (disk && *got == length) disk->Put(key, etag, index, data);
    }
  }
  cache::MemoryBlocks::Block shared;
  if (error == 0) {
    shared = std::make_shared<const std::string>(std::move(data));
    store->memory_blocks().Put(key, etag, index, shared);
  }
  std::lock_guard lock(block->mu);
  block->data = std::move(shared);
  block->error = error;
  block->why = std::move(why);
  block->done = true;
  block->cv.notify_all();
}

S3File::S3File(S3Store* store, std::string path, const s3tree::Node& node, bool writable)
    : store_(store), writable_(writable), path_(std::move(path)), node_(node) {}

Result<std::unique_ptr<S3File>> S3File::Open(S3Store* store, std::string path,
                                             const s3tree::Node& node, int flags, bool create) {
  bool writable = create || (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
  std::unique_ptr<S3File> file(new S3File(store, std::move(path), node, writable));
  if (!writable) return file;
  file->is_new_ = create;
  Status s = file->Stage(create || (flags & O_TRUNC));
  if (!s.ok()) return s.error();
  store->Register(file->path_, file.get());
  return file;
}

S3File::~S3File() {
  if (!writable_) return;
  {
    // Written through mmap after the last close, or a failed upload: one
    // more try; the data is kept locally if it fails. No request gets this
    // error, so it is logged here (a flush's is logged where it is answered).
    std::lock_guard io(io_mu_);
    if (Status s = UploadLocked(); !s.ok()) spdlog::error("{}", s.error().message);
  }
  store_->Unregister(path_, this);
}

Status S3File::Stage(bool truncate) {
  staging_ = StagingFile(store_->settings().staging_dir);
  if (!staging_.valid()) {
    return Error(EIO, "cannot create a staging file in " + store_->settings().staging_dir + ": " +
                          std::strerror(errno));
  }
  if (truncate) {
    dirty_ = !is_new_;  // O_TRUNC empties the object even if nothing is written
    return Status::Ok();
  }
  // Appends and writes in the middle need the current content.
  std::string chunk;
  s3::Condition cond;
  cond.if_match = node_.etag;
  const std::string key = store_->KeyOf(path_);
  for (uint64_t off = 0; off < node_.size; off += kDownloadChunk) {
    size_t len = size_t(std::min<uint64_t>(kDownloadChunk, node_.size - off));
    chunk.resize(len);
    auto got = store_->client().GetRange(key, off, len, chunk.data(), cond);
    if (!got) {
      return Error(got.error().http_status == 412 ? ESTALE : EIO,
                   "opening for writing: download failed: " + got.error().Describe());
    }
    if (::pwrite(staging_.get(), chunk.data(), *got, off_t(off)) != ssize_t(*got))
      return Error(EIO);
  }
  return Status::Ok();
}

Result<size_t> S3File::Read(char* buf, size_t size, off_t offset) {
  if (offset < 0) return Error{EINVAL};
  if (writable_) {
    ssize_t n = ::pread(staging_.get(), buf, size, offset);
    if (n < 0) return Error{errno};
    return size_t(n);
  }
  return ReadRemote(buf, size, offset);
}

std::shared_ptr<S3File::Block> S3File::FetchBlock(uint64_t index, bool wait) {
  std::shared_ptr<Block> block;
  bool load_here = false;
  std::string key, etag;
  uint64_t size;
  {
    std::lock_guard lock(state_mu_);
    auto& slot = blocks_[index];
    if (slot && wait) {
      // A fetch that failed (a read-ahead during an outage, throttling) is
      // tried again by the read that needs the block, not remembered as
      // this file's answer for it. (Lock order: state_mu_, then a block's.)
      bool failed;
      {
        std::lock_guard block_lock(slot->mu);
        failed = slot->done && slot->error != 0;
      }
      if (failed) slot.reset();  // not under its lock: this may free the block
    }
    if (!slot) {
      slot = std::make_shared<Block>();
      load_here = true;
    }
    block = slot;
    key = store_->KeyOf(path_);
    etag = node_.etag;
    size = node_.size;
  }
  if (load_here) {
    if (wait) {
      LoadBlock(store_, key, etag, size, index, block);
    } else {
      S3Store* store = store_;
      store_->readahead_pool().Submit([store, key, etag, size, index, block] {
        LoadBlock(store, key, etag, size, index, block);
      });
    }
  }
  if (wait) {
    std::unique_lock lock(block->mu);
    block->cv.wait(lock, [&] { return block->done; });
  }
  return block;
}

Status S3File::Pin() {
  if (writable_) return Status::Ok();
  const size_t bs = store_->settings().block_size;
  std::string key, etag;
  uint64_t size;
  {
    std::lock_guard lock(state_mu_);
    if (blocks_.count(0)) return Status::Ok();  // reading a settled version already
    key = store_->KeyOf(path_);
    etag = node_.etag;
    size = node_.size;
  }
  // With the first block of the version the metadata names on disk, one
  // HEAD tells whether that is still the object's version.
  if (cache::DiskCache* disk = store_->settings().disk_cache; disk && !etag.empty()) {
    std::string cached(size_t(std::min<uint64_t>(bs, size)), '\0');
    auto got = disk->Get(key, etag, 0, cached.data(), cached.size());
    if (got && *got == cached.size()) {
      auto head = store_->client().Head(key);
      if (head && head->etag == etag) {
        auto block = std::make_shared<Block>();
        block->data = std::make_shared<const std::string>(std::move(cached));
        block->done = true;
        std::lock_guard lock(state_mu_);
        blocks_[0] = std::move(block);
        return Status::Ok();
      }
    }
  }
  // Unconditional: the point is to learn which version S3 has now (the
  // metadata may be a poll interval old). The block is the one the first
  // read would fetch.
  std::string data(bs, '\0');
  s3::ObjectInfo info;
  auto got = store_->client().GetRange(key, 0, bs, data.data(), s3::Condition{}, &info);
  if (!got) return got.error().ToError();
  data.resize(*got);
  auto block = std::make_shared<Block>();
  std::lock_guard lock(state_mu_);
  if (!info.etag.empty() && info.etag != node_.etag) {
    node_.etag = info.etag;
    node_.size = info.size;
    if (info.mtime_ns > 0) node_.mtime_ns = info.mtime_ns;
  }
  auto shared = std::make_shared<const std::string>(std::move(data));
  if (!node_.etag.empty() && shared->size() == std::min<uint64_t>(bs, node_.size)) {
    if (cache::DiskCache* disk = store_->settings().disk_cache)
      disk->Put(key, node_.etag, 0, *shared);
    store_->memory_blocks().Put(key, node_.etag, 0, shared);
  }
  block->data = std::move(shared);
  block->done = true;
  blocks_[0] = std::move(block);
  return Status::Ok();
}

Result<size_t> S3File::ReadRemote(char* buf, size_t size, off_t offset) {
  // One open file reads one version of the object, as a descriptor of a
  // replaced local file keeps reading the file it opened; the mount gives
  // the new version a new inode. S3 keeps no old versions (unversioned
  // buckets), so a range not fetched before the object changed is gone:
  // that read fails, and a new open reads the new version.
  auto r = ReadRemoteOnce(buf, size, offset);
  if (!r && r.error().code == ESTALE) {
    std::string path;
    {
      std::lock_guard lock(state_mu_);
      path = path_;
    }
    (void)store_->StatFresh(path);  // the next open finds the new version
    return Error{EIO, "s3 object " + Quoted(store_->KeyOf(path)) +
                          " changed while open; reopen it to read the new version"};
  }
  return r;
}

Result<size_t> S3File::ReadRemoteOnce(char* buf, size_t size, off_t offset) {
  const size_t bs = store_->settings().block_size;
  uint64_t object_size, first, last;
  bool sequential;
  {
    std::lock_guard lock(state_mu_);
    object_size = node_.size;
    if (uint64_t(offset) >= object_size || size == 0) return size_t(0);
    size = size_t(std::min<uint64_t>(size, object_size - uint64_t(offset)));
    first = uint64_t(offset) / bs;
    last = (uint64_t(offset) + size - 1) / bs;
    sequential = offset == next_sequential_ || blocks_.count(first);
    next_sequential_ = offset + off_t(size);
    if (!sequential) {
      window_ = 1;
      blocks_.clear();
    } else {
      blocks_.erase(blocks_.begin(), blocks_.lower_bound(first));  // consumed
    }
  }
  if (!sequential) {
    // A jump: fetch just what was asked for, unless another open file of
    // this version fetched its block lately (the only place it may still
    // be once the object changed in S3).
    s3::Condition cond;
    std::string key, etag;
    {
      std::lock_guard lock(state_mu_);
      key = store_->KeyOf(path_);
      cond.if_match = node_.etag;
    }
    if (first == last) {
      if (auto shared = store_->memory_blocks().Get(key, cond.if_match, first)) {
        const uint64_t from = uint64_t(offset) - first * bs;
        if (from + size <= shared->size()) {
          std::memcpy(buf, shared->data() + from, size);
          return size;
        }
      }
    }
    s3::ObjectInfo info;
    auto got = store_->client().GetRange(key, uint64_t(offset), size, buf, cond, &info);
    if ((got && !info.etag.empty() && info.etag != cond.if_match) ||
        (!got && got.error().http_status == 412))
      return Error{ESTALE};
    if (!got) {
      return Error{EIO, "reading " + std::to_string(size) + " bytes at " + std::to_string(offset) +
                            ": " + got.error().Describe()};
    }
    return *got;
  }
  size_t copied = 0;
  for (uint64_t index = first; index <= last; ++index) {
    auto block = FetchBlock(index, /*wait=*/true);
    if (block->error) return Error{block->error, block->why};
    uint64_t block_start = index * bs;
    uint64_t from = std::max<uint64_t>(uint64_t(offset), block_start) - block_start;
    if (from >= block->data->size()) break;
    size_t n = std::min(size - copied, block->data->size() - size_t(from));
    std::memcpy(buf + copied, block->data->data() + from, n);
    copied += n;
  }
  // Read ahead: the window doubles while the reader stays sequential.
  uint64_t blocks_total = (object_size + bs - 1) / bs;
  size_t window;
  {
    std::lock_guard lock(state_mu_);
    window_ = std::min(window_ * 2, store_->settings().readahead_blocks);
    window = window_;
  }
  for (uint64_t index = last + 1; index <= last + window && index < blocks_total; ++index) {
    FetchBlock(index, /*wait=*/false);
  }
  return copied;
}

Result<size_t> S3File::Write(const char* buf, size_t size, off_t offset) {
  if (!writable_) return Error{EBADF};
  std::lock_guard io(io_mu_);
  ssize_t n = ::pwrite(staging_.get(), buf, size, offset);
  if (n < 0) return Error{errno};
  std::lock_guard lock(state_mu_);
  dirty_ = true;
  ++changes_;
  return size_t(n);
}

struct stat S3File::LocalStat() {
  std::lock_guard lock(state_mu_);
  s3tree::Node node = node_;
  struct stat local {};
  if (staging_.valid() && ::fstat(staging_.get(), &local) == 0) {
    node.size = uint64_t(local.st_size);
    if (dirty_ || is_new_) node.mtime_ns = int64_t(local.st_mtim.tv_sec) * 1'000'000'000;
  }
  struct stat st = s3tree::StatOf(path_, node, store_->settings().attributes);
  return st;
}

Result<struct stat> S3File::Stat() {
  if (writable_) return LocalStat();
  std::lock_guard lock(state_mu_);
  return s3tree::StatOf(path_, node_, store_->settings().attributes);
}

void S3File::Renamed(const std::string& path, const std::string& etag) {
  std::lock_guard lock(state_mu_);
  path_ = path;
  node_.etag = etag;
  is_new_ = etag.empty();  // never uploaded: nothing moved in S3
}

Status S3File::SetAttr(const AttrChange& change) {
  if (change.mode || change.uid || change.gid) return Error(EPERM);
  if (change.size) {
    if (!writable_) return Error(EBADF);
    std::lock_guard io(io_mu_);
    if (::ftruncate(staging_.get(), *change.size) != 0) return Error(errno);
    std::lock_guard lock(state_mu_);
    dirty_ = true;
    ++changes_;
  }
  return Status::Ok();  // times: S3 keeps its own LastModified
}

Status S3File::Flush() {
  if (!writable_) return Status::Ok();
  std::lock_guard io(io_mu_);
  return UploadLocked();
}

Status S3File::Fsync(bool) { return Flush(); }

Status S3File::Allocate(int, off_t, off_t) { return Error(EOPNOTSUPP); }

Result<off_t> S3File::Seek(off_t offset, int whence) {
  auto st = Stat();
  if (!st) return st.error();
  if (offset < 0 || offset >= st->st_size) return Error{ENXIO};
  if (whence == SEEK_DATA) return offset;
  if (whence == SEEK_HOLE) return off_t(st->st_size);
  return Error{EINVAL};
}

// The data of a failed upload goes to <staging>/failed/STAMP-N-KEY, KEY with
// '/' as '%': N makes the name unique (two failures in one second whose keys
// read the same), and a name that would pass NAME_MAX is cut, with the whole
// key in NAME.key beside it. The log names the file.
namespace {
// The message names where the data went: it must reach the log, from the
// request that gets it or, without one, from ~S3File.
Error SaveFailedError(std::string what) { return Error(EIO, std::move(what)); }
}  // namespace

Status S3File::SaveFailedLocked(const std::string& key, const std::string& why) {
  constexpr size_t kMaxName = 250;  // NAME_MAX less room for ".key"
  uint64_t changes;
  {
    std::lock_guard lock(state_mu_);
    changes = changes_;
  }
  if (!saved_as_.empty() && saved_at_change_ == changes) {
    return SaveFailedError("upload of " + Quoted(key) + " failed again (" + why +
                           "); the data is still kept in " + Quoted(saved_as_));
  }
  const std::string dir = store_->settings().staging_dir + "/failed";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string encoded = key;
  std::replace(encoded.begin(), encoded.end(), '/', '%');
  const std::string stamp = UtcStamp();
  std::string dest, problem;
  bool cut = false;
  for (int n = 0; n < 10000 && dest.empty(); ++n) {
    std::string name = stamp + "-" + std::to_string(n) + "-" + encoded;
    cut = name.size() > kMaxName;
    if (cut) name.resize(kMaxName);
    const std::string candidate = dir + "/" + name;
    // A copy, never over another file, and never a link: what the file
    // holds later must not change what failed.
    UniqueFd out(::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out.valid()) {
      if (errno == EEXIST) continue;
      problem = std::strerror(errno);
      break;
    }
    if (!CopyWhole(staging_.get(), out.get())) problem = std::strerror(errno);
    if (!problem.empty()) {
      ::unlink(candidate.c_str());
      break;
    }
    dest = candidate;
  }
  if (dest.empty()) {
    return SaveFailedError("upload of " + Quoted(key) + " failed (" + why +
                           "), and its data could not be saved in " + Quoted(dir) + ": " +
                           (problem.empty() ? "no free name" : problem) +
                           "; it is kept by this mount until the file is closed");
  }
  saved_as_ = dest;
  saved_at_change_ = changes;
  if (cut) {
    UniqueFd note(::open((dest + ".key").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (note.valid()) (void)!::write(note.get(), (key + "\n").data(), key.size() + 1);
  }
  return SaveFailedError("upload of " + Quoted(key) + " failed (" + why +
                         "); the data is kept in " + Quoted(dest) +
                         (cut ? " (the whole key in " + Quoted(dest + ".key") + ")" : ""));
}

void S3File::Unlinked() {
  std::lock_guard lock(state_mu_);
  unlinked_ = true;
}

Status S3File::UploadLocked() {
  std::string path;
  s3tree::Node started_from;
  bool is_new;
  {
    std::lock_guard lock(state_mu_);
    if ((!dirty_ && !is_new_) || unlinked_) return Status::Ok();
    path = path_;
    started_from = node_;
    is_new = is_new_;
  }
  struct stat local {};
  if (::fstat(staging_.get(), &local) != 0) return Error(errno);
  const std::string key = store_->KeyOf(path);
  s3::ObjectClient& client = store_->client();
  s3::Condition cond;
  bool conflict = false;
  if (store_->settings().conflict == ConflictPolicy::kKeepBoth) {
    // Servers that ignore conditional writes still get a check: what is
    // there now must be what this file started from.
    auto now = client.Head(key);
    if (now) {
      conflict = is_new || now->etag != started_from.etag;
    } else if (now.error().http_status != 404) {
      return SaveFailedLocked(key, now.error().Describe());
    }
    if (!now || is_new) {
      cond.if_none_match_any = true;  // gone or new: nobody may create it meanwhile
    } else {
      cond.if_match = started_from.etag;
    }
  }
  std::string etag;
  if (!conflict) {
    const uint64_t size = uint64_t(local.st_size);
    auto put = store_->PutFileAsAllowed(key, staging_.get(), size, cond);
    if (!put && put.error().http_status == 404 && put.error().code != "NoSuchBucket" &&
        !cond.if_match.empty()) {
      // Deleted by another writer since the HEAD: as if the HEAD had found
      // it gone (above), this file creates it anew.
      cond = s3::Condition{.if_none_match_any = true};
      put = store_->PutFileAsAllowed(key, staging_.get(), size, cond);
    }
    if (put) {
      etag = *put;
    } else if (put.error().http_status == 412) {
      conflict = true;
    } else {
      return SaveFailedLocked(key, put.error().Describe());
    }
  }
  if (conflict) {
    std::string other = ConflictKey(key);
    s3::Condition fresh;
    fresh.if_none_match_any = true;
    auto put = store_->PutFileAsAllowed(other, staging_.get(), uint64_t(local.st_size), fresh);
    if (!put) return SaveFailedLocked(other, "conflict copy: " + put.error().Describe());
    std::string what = key +
                       " was changed by another writer since it was opened here; their version "
                       "stays, this one was saved as " +
                       other;
    std::lock_guard lock(state_mu_);
    dirty_ = false;
    is_new_ = false;
    return Error(ESTALE, std::move(what));
  }
  // What S3 now holds (LastModified is not in the PUT response).
  s3tree::Node node;
  node.size = uint64_t(local.st_size);
  node.etag = etag;
  node.mtime_ns = int64_t(std::time(nullptr)) * 1'000'000'000;
  if (auto head = client.Head(key); head && head->etag == etag) {
    node.mtime_ns = s3tree::WholeSeconds(head->mtime_ns);
  }
  {
    std::lock_guard lock(state_mu_);
    node_ = node;
    dirty_ = false;
    is_new_ = false;
  }
  if (store_->settings().disk_cache) store_->settings().disk_cache->Forget(key);
  store_->Remember(path, node);
  return Status::Ok();
}

}  // namespace freshfs::store
