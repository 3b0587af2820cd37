#include "fs/fuse_ops.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <shared_mutex>
#include <vector>

namespace freshfs::fs {
namespace {

FuseContext& Ctx(fuse_req_t req) { return *static_cast<FuseContext*>(fuse_req_userdata(req)); }
FileSystem& Fs(fuse_req_t req) { return *Ctx(req).fs; }

OpenFile* FileOf(fuse_req_t req, const fuse_file_info* fi) {
  return fi ? Fs(req).handles().File(fi->fh) : nullptr;
}

// One request's use of an open file (or of none, when fi carries no handle).
class FileUse {
 public:
  FileUse(fuse_req_t req, const fuse_file_info* fi) : file_(FileOf(req, fi)) {
    if (file_) lock_ = std::shared_lock(file_->use_mu);
  }
  OpenFile* file() const { return file_; }
  store::FileHandle* handle() const { return file_ ? file_->handle.get() : nullptr; }
  // A descriptor a successor daemon could not restore (OpenFile::lost):
  // every use fails with EIO.
  bool lost() const { return file_ && file_->lost; }

 private:
  OpenFile* file_;
  std::shared_lock<std::shared_mutex> lock_;
};

// The one log line of a failed request. Answers applications meet in normal
// use (ENOENT and the like, see KindOf) go to debug, so an application
// asking again and again for a missing name does not fill the log; failures
// of the mount (EIO, ESTALE, ENOSPC, a store refusing) go to warning, with
// what the layer below said (messages hold no credentials).
void LogFailure(const char* op, const Error& error) {
  const auto level =
      error.kind == Error::Kind::kAnswer ? spdlog::level::debug : spdlog::level::warn;
  if (!spdlog::should_log(level)) return;  // the common case: ENOENT without --debug
  const char* name = strerrorname_np(error.code);
  const std::string errno_name = name ? name : std::to_string(error.code);
  if (error.message.empty()) {
    spdlog::log(level, "fuse {} failed: {}", op, errno_name);
  } else {
    spdlog::log(level, "fuse {} failed: {}: {}", op, errno_name, error.message);
  }
}

// Counts one request and its duration (freshfs_fuse_requests_total and
// freshfs_fuse_request_duration_seconds).
// The error a request is answered with is logged here, once, and counted by
// errno (freshfs_fuse_request_errors_total): ReplyError() finds the request
// being answered on its thread.
class Timed {
 public:
  Timed(fuse_req_t req, metrics::FuseOp op)
      : metrics_(Ctx(req).metrics), op_(op), start_(std::chrono::steady_clock::now()) {
    if (metrics_) metrics_->FuseRequestArrived(op_);
    current_ = this;
  }
  ~Timed() {
    current_ = nullptr;
    if (metrics_) metrics_->FuseRequestAnswered(op_, std::chrono::steady_clock::now() - start_);
  }
  Timed(const Timed&) = delete;
  Timed& operator=(const Timed&) = delete;

  static void Failed(const Error& error) {
    Timed* t = current_;
    LogFailure(t ? metrics::FuseOpName(t->op_) : "request", error);
    if (t && t->metrics_) t->metrics_->FuseRequestFailed(t->op_, error.code);
  }

 private:
  static thread_local Timed* current_;
  metrics::Metrics* metrics_;
  metrics::FuseOp op_;
  std::chrono::steady_clock::time_point start_;
};
thread_local Timed* Timed::current_ = nullptr;
using Op = metrics::FuseOp;

bool Degraded(fuse_req_t req) { return Ctx(req).notifications_unsupported.load(); }
double EntryTimeout(fuse_req_t req) {
  double t = Ctx(req).cache.entry_timeout;
  return Degraded(req) ? std::min(t, kFallbackTimeout) : t;
}
double AttrTimeout(fuse_req_t req) {
  double t = Ctx(req).cache.attr_timeout;
  return Degraded(req) ? std::min(t, kFallbackTimeout) : t;
}
// A read that hands the kernel pages of `ino`: if the source changed while
// it was answered, the invalidation that went out meanwhile is repeated
// after the reply (see InvalidationLog).
class CachedReply {
 public:
  CachedReply(fuse_req_t req, fuse_ino_t ino)
      : log_(Fs(req).invalidations()), ino_(ino), ticket_(log_.Begin()) {}
  // Call after the reply was written (and without touching the request,
  // which the reply freed): the kernel has taken the reply by then.
  void Done() { log_.AfterReply(ino_, ticket_); }

 private:
  InvalidationLog& log_;
  fuse_ino_t ino_;
  InvalidationLog::Ticket ticket_;
};

DirHandle* DirOf(fuse_req_t req, const fuse_file_info* fi) { return Fs(req).handles().Dir(fi->fh); }

// Who sent the request. The umask is only sent with mknod, mkdir and create
// (0 otherwise), unapplied when the kernel granted FUSE_CAP_DONT_MASK.
store::Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  return store::Caller{c->uid, c->gid, c->umask};
}

fuse_entry_param EntryParam(fuse_req_t req, const Entry& entry) {
  fuse_entry_param e{};
  e.ino = entry.ino;
  e.generation = 0;  // inode numbers are never reused within a mount
  e.attr = entry.attr;
  e.attr_timeout = AttrTimeout(req);
  e.entry_timeout = EntryTimeout(req);
  return e;
}

// Every reply with an error goes through here.
int ReplyError(fuse_req_t req, const Error& error) {
  Timed::Failed(error);
  return fuse_reply_err(req, error.code);
}
// Success without data.
int ReplyOk(fuse_req_t req) { return fuse_reply_err(req, 0); }

void ReplyStatus(fuse_req_t req, const Status& s) {
  if (!s.ok()) return (void)ReplyError(req, s.error());
  ReplyOk(req);
}

// A descriptor a successor daemon could not restore.
Error Lost() { return Error{EIO, "file descriptor not restored after a daemon take-over"}; }

void ReplyEntry(fuse_req_t req, const Result<Entry>& r) {
  if (!r) return (void)ReplyError(req, r.error());
  fuse_entry_param e = EntryParam(req, *r);
  FileSystem& fs = Fs(req);                                  // a reply frees `req`, failed or not
  if (fuse_reply_entry(req, &e) != 0) fs.Forget(r->ino, 1);  // request was interrupted
}

void ReplyAttr(fuse_req_t req, const Result<struct stat>& r) {
  if (!r) return (void)ReplyError(req, r.error());
  fuse_reply_attr(req, &*r, AttrTimeout(req));
}

void ReplyXattr(fuse_req_t req, const Result<std::string>& r, size_t size) {
  if (!r) return (void)ReplyError(req, r.error());
  if (size == 0) return (void)fuse_reply_xattr(req, r->size());
  if (r->size() > size) return (void)ReplyError(req, Error{ERANGE});
  fuse_reply_buf(req, r->data(), r->size());
}

// ---- ops ----

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* ctx = static_cast<FuseContext*>(userdata);
  ctx->conn = conn;
  if (ctx->on_init) ctx->on_init(conn);
  if (const std::optional<KernelInit>& saved = ctx->resume_init) {
    conn->want = unsigned(saved->want);
    conn->max_write = saved->max_write;
    conn->max_readahead = saved->max_readahead;
    conn->max_background = saved->max_background;
    conn->congestion_threshold = saved->congestion_threshold;
    conn->time_gran = saved->time_gran;
  }
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Timed timed(req, Op::kLookup);
  auto r = Fs(req).Lookup(parent, name);
  const KernelCacheSettings& cache = Ctx(req).cache;
  if (!r && r.error().code == ENOENT && cache.negative_timeout > 0 && !Degraded(req)) {
    // A negative entry: the kernel remembers "no such name" for a while
    // (the watcher drops it with inval_entry when the name appears). The
    // caller gets ENOENT all the same: counted as one.
    Timed::Failed(r.error());
    fuse_entry_param e{};
    e.entry_timeout = cache.negative_timeout;
    fuse_reply_entry(req, &e);
    return;
  }
  ReplyEntry(req, r);
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Timed timed(req, Op::kForget);
  Fs(req).Forget(ino, nlookup);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  Timed timed(req, Op::kForget);
  for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Timed timed(req, Op::kGetattr);
  FileUse use(req, fi);
  if (use.lost()) return (void)ReplyError(req, Lost());
  ReplyAttr(req, Fs(req).GetAttr(ino, use.handle()));
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Timed timed(req, Op::kSetattr);
  store::AttrChange change;
  if (to_set & FUSE_SET_ATTR_MODE) change.mode = attr->st_mode;
  if (to_set & FUSE_SET_ATTR_UID) change.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) change.gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) change.size = attr->st_size;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) change.atime = timespec{0, UTIME_NOW};
  else if (to_set & FUSE_SET_ATTR_ATIME) change.atime = attr->st_atim;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) change.mtime = timespec{0, UTIME_NOW};
  else if (to_set & FUSE_SET_ATTR_MTIME) change.mtime = attr->st_mtim;
  FileUse use(req, fi);
  if (use.lost()) return (void)ReplyError(req, Lost());
  auto r = Fs(req).SetAttr(ino, change, use.handle());
  if (r && use.file() && change.size) Fs(req).NoteWritten(use.file());
  ReplyAttr(req, r);
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Timed timed(req, Op::kReadlink);
  auto r = Fs(req).ReadLink(ino);
  if (!r) return (void)ReplyError(req, r.error());
  fuse_reply_readlink(req, r->c_str());
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Timed timed(req, Op::kMknod);
  ReplyEntry(req, Fs(req).MakeNode(parent, name, mode, rdev, CallerOf(req)));
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Timed timed(req, Op::kMkdir);
  ReplyEntry(req, Fs(req).MakeDir(parent, name, mode, CallerOf(req)));
}

void OpSymlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  Timed timed(req, Op::kSymlink);
  ReplyEntry(req, Fs(req).Symlink(target, parent, name, CallerOf(req)));
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  Timed timed(req, Op::kLink);
  ReplyEntry(req, Fs(req).Link(ino, new_parent, new_name));
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Timed timed(req, Op::kUnlink);
  ReplyStatus(req, Fs(req).Unlink(parent, name));
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Timed timed(req, Op::kRmdir);
  ReplyStatus(req, Fs(req).RemoveDir(parent, name));
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
              const char* new_name, unsigned int flags) {
  Timed timed(req, Op::kRename);
  ReplyStatus(req, Fs(req).Rename(parent, name, new_parent, new_name, flags, CallerOf(req)));
}

void SetOpenFlags(fuse_req_t req, fuse_file_info* fi, const OpenFile& file) {
  // Keep cached pages unless the file was just found changed at the source
  // (then the kernel drops them as part of this open).
  fi->keep_cache = Ctx(req).cache.keep_cache && !Degraded(req) && !file.changed_at_source;
  if (file.direct_io) {
    // Another version than the inode's: past the page cache, which keeps
    // the inode's own version for the descriptors opened on it.
    fi->direct_io = 1;
    fi->keep_cache = 1;
  }
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Timed timed(req, Op::kOpen);
  if (Ctx(req).cache.no_open) {
    // With FUSE_CAP_NO_OPEN_SUPPORT, ENOSYS tells the kernel to stop sending
    // open (and release) for this mount: it keeps pages and reads with fh 0.
    return (void)ReplyError(req, Error{ENOSYS});
  }
  auto r = Fs(req).Open(ino, fi->flags);
  if (!r) return (void)ReplyError(req, r.error());
  fi->fh = (*r)->fh;
  SetOpenFlags(req, fi, **r);
  FileSystem& fs = Fs(req);  // a reply frees `req`, failed or not
  if (fuse_reply_open(req, fi) != 0) fs.Release(*r);
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  Timed timed(req, Op::kCreate);
  auto r = Fs(req).Create(parent, name, mode, fi->flags, CallerOf(req));
  if (!r) return (void)ReplyError(req, r.error());
  fi->fh = r->file->fh;
  SetOpenFlags(req, fi, *r->file);
  fuse_entry_param e = EntryParam(req, r->entry);
  FileSystem& fs = Fs(req);  // a reply frees `req`, failed or not
  if (fuse_reply_create(req, &e, fi) != 0) {
    fs.Release(r->file);
    fs.Forget(r->entry.ino, 1);
  }
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Timed timed(req, Op::kRead);
  if (Ctx(req).cache.push_small_files) Fs(req).NoteRead(ino);
  CachedReply cached(req, ino);
  FileUse use(req, fi);
  if (use.lost()) return (void)ReplyError(req, Lost());
  store::FileHandle* fh = use.handle();
  std::vector<char> data(size);
  // Without a handle no open was sent (FUSE_CAP_NO_OPEN_SUPPORT).
  auto r =
      fh ? fh->Read(data.data(), size, off) : Fs(req).ReadUnopened(ino, data.data(), size, off);
  if (!r) return (void)ReplyError(req, r.error());
  fuse_reply_buf(req, data.data(), *r);
  cached.Done();
}

// Writes `in` at `off` as the mount's own change. Returns before any reply:
// once the kernel has the reply, the file may be released at any moment.
Result<size_t> WriteBuf(FileSystem& fs, OpenFile* file, fuse_bufvec* in, off_t off,
                        const store::Caller& caller) {
  FileSystem::OwnWrite own(fs, file);  // not a remote change
  store::FileHandle* fh = file->handle.get();
  size_t size = fuse_buf_size(in);
  Result<size_t> written = Error{EIO};
  if (in->count == 1 && !(in->buf[0].flags & FUSE_BUF_IS_FD)) {
    written = fh->Write(static_cast<const char*>(in->buf[0].mem), size, off);  // no copy
  } else {
    std::vector<char> data(size);
    fuse_bufvec flat = FUSE_BUFVEC_INIT(size);
    flat.buf[0].mem = data.data();
    ssize_t copied = fuse_buf_copy(&flat, in, fuse_buf_copy_flags(0));
    if (copied < 0) return Error{int(-copied), "reading the data to write from the kernel"};
    written = fh->Write(data.data(), size_t(copied), off);
  }
  if (written) {
    fs.NoteWritten(file);
    fs.ClearSetIdBitsAfterWrite(file, caller);
  }
  return written;
}

void OpWriteBuf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
  Timed timed(req, Op::kWrite);
  if (Fs(req).settings().read_only) return (void)ReplyError(req, ReadOnlyMount());
  FileUse use(req, fi);
  if (use.lost()) return (void)ReplyError(req, Lost());
  if (!use.handle()) return (void)ReplyError(req, Error{EBADF});
  auto r = WriteBuf(Fs(req), use.file(), in, off, CallerOf(req));
  if (!r) return (void)ReplyError(req, r.error());
  fuse_reply_write(req, *r);
}

// A store that uploads on close (S3) changes the source in flush/fsync of
// a file opened for writing: that is the mount's own change. (A read-only
// descriptor must not bracket anything: a remote change landing meanwhile
// would be taken for ours.)
// Once it succeeded, what was written before it is saved.
template <typename F>
Status FlushAsOwnChange(FileSystem& fs, OpenFile* file, F flush) {
  if (!file->writable) return flush();
  const uint64_t writes = file->writes.load();
  Status s;
  {
    FileSystem::OwnWrite own(fs, file);
    s = flush();
  }
  if (s.ok()) fs.NoteSaved(file, writes);
  return s;
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Timed timed(req, Op::kFlush);
  FileUse use(req, fi);
  if (use.lost()) return (void)ReplyError(req, Lost());
  store::FileHandle* fh = use.handle();
  // Nothing to flush on a read-only mount: ENOSYS makes the kernel stop
  // sending flush on every close().
  if (fh == nullptr || Fs(req).settings().read_only) return (void)ReplyError(req, Error{ENOSYS});
  ReplyStatus(req, FlushAsOwnChange(Fs(req), use.file(), [fh] { return fh->Flush(); }));
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Timed timed(req, Op::kRelease);
  if (OpenFile* file = FileOf(req, fi)) Fs(req).Release(file);
  ReplyOk(req);
}

void OpFsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  Timed timed(req, Op::kFsync);
  FileUse use(req, fi);
  if (use.lost()) return (void)ReplyError(req, Lost());
  store::FileHandle* fh = use.handle();
  if (fh == nullptr) return (void)ReplyOk(req);  // read-only, never opened
  ReplyStatus(req, FlushAsOwnChange(Fs(req), use.file(),
                                    [fh, datasync] { return fh->Fsync(datasync != 0); }));
}

void OpFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  Timed timed(req, Op::kFallocate);
  if (Fs(req).settings().read_only) return (void)ReplyError(req, ReadOnlyMount());
  Status s;
  {
    FileUse use(req, fi);
    if (use.lost()) return (void)ReplyError(req, Lost());
    if (!use.handle()) return (void)ReplyError(req, Error{EBADF});
    FileSystem::OwnWrite own(Fs(req), use.file());  // ends before the reply, as for writes
    s = use.handle()->Allocate(mode, offset, length);
    if (s.ok()) Fs(req).NoteWritten(use.file());
  }
  ReplyStatus(req, s);
}

void OpLseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  Timed timed(req, Op::kLseek);
  FileUse use(req, fi);
  if (use.lost()) return (void)ReplyError(req, Lost());
  store::FileHandle* fh = use.handle();
  if (fh == nullptr) return (void)ReplyError(req, Error{ENOSYS});  // the kernel's generic lseek
  auto r = fh->Seek(off, whence);
  if (!r) return (void)ReplyError(req, r.error());
  fuse_reply_lseek(req, *r);
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Timed timed(req, Op::kOpendir);
  auto r = Fs(req).OpenDir(ino);
  if (!r) return (void)ReplyError(req, r.error());
  fi->fh = (*r)->fh;
  bool cache = Ctx(req).cache.cache_readdir && !Degraded(req);
  fi->cache_readdir = cache;
  fi->keep_cache = cache;
  FileSystem& fs = Fs(req);  // a reply frees `req`, failed or not
  if (fuse_reply_open(req, fi) != 0) fs.ReleaseDir(*r);
}

void ReadDirCommon(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  DirHandle* dir = DirOf(req, fi);
  if (!dir) return (void)ReplyError(req, Error{EBADF});
  std::vector<char> buf(size);
  size_t used = 0;
  auto emit = [&](const DirItem& item) {
    std::string name(item.name);
    size_t left = size - used;
    size_t need;
    if (plus) {
      fuse_entry_param e = EntryParam(req, item.entry);
      need =
          fuse_add_direntry_plus(req, buf.data() + used, left, name.c_str(), &e, item.next_offset);
    } else {
      need = fuse_add_direntry(req, buf.data() + used, left, name.c_str(), &item.entry.attr,
                               item.next_offset);
    }
    if (need > left) return false;
    used += need;
    return true;
  };
  Status s = Fs(req).ReadDir(dir, off, plus, emit);
  if (!s.ok() && used == 0) return (void)ReplyError(req, s.error());
  // Once replied to, the request is freed and the directory may be
  // released: take what is needed after the reply now.
  InvalidationLog& log = Fs(req).invalidations();
  const fuse_ino_t ino = dir->ino;
  const InvalidationLog::Ticket listed = dir->listed;
  fuse_reply_buf(req, buf.data(), used);
  // The listing was read at opendir (or rewind): if the directory changed
  // since, the kernel may now cache it after it was told to drop it.
  log.AfterReply(ino, listed);
}

void OpReaddir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  Timed timed(req, Op::kReaddir);
  ReadDirCommon(req, size, off, fi, false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  Timed timed(req, Op::kReaddirplus);
  ReadDirCommon(req, size, off, fi, true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Timed timed(req, Op::kReleasedir);
  if (DirHandle* dir = DirOf(req, fi)) Fs(req).ReleaseDir(dir);
  ReplyOk(req);
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { ReplyOk(req); }

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  Timed timed(req, Op::kStatfs);
  auto r = Fs(req).StatFs();
  if (!r) return (void)ReplyError(req, r.error());
  fuse_reply_statfs(req, &*r);
}

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  Timed timed(req, Op::kXattr);
  ReplyStatus(req, Fs(req).SetXattr(ino, name, std::string_view(value, size), flags));
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Timed timed(req, Op::kXattr);
  ReplyXattr(req, Fs(req).GetXattr(ino, name), size);
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Timed timed(req, Op::kXattr);
  ReplyXattr(req, Fs(req).ListXattr(ino), size);
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Timed timed(req, Op::kXattr);
  ReplyStatus(req, Fs(req).RemoveXattr(ino, name));
}

void OpRetrieveReply(fuse_req_t req, void* cookie, fuse_ino_t, off_t, fuse_bufvec* bufv) {
  std::string data(fuse_buf_size(bufv), '\0');
  fuse_bufvec flat = FUSE_BUFVEC_INIT(data.size());
  flat.buf[0].mem = data.data();
  ssize_t copied = fuse_buf_copy(&flat, bufv, fuse_buf_copy_flags(0));
  data.resize(copied > 0 ? size_t(copied) : 0);
  if (Ctx(req).on_retrieve) Ctx(req).on_retrieve(cookie, std::move(data));
  fuse_reply_none(req);
}

fuse_lowlevel_ops MakeOperations() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.symlink = OpSymlink;
  ops.link = OpLink;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.open = OpOpen;
  ops.create = OpCreate;
  ops.read = OpRead;
  ops.write_buf = OpWriteBuf;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.fallocate = OpFallocate;
  ops.lseek = OpLseek;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  ops.retrieve_reply = OpRetrieveReply;
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& FuseOperations() {
  static const fuse_lowlevel_ops ops = MakeOperations();
  return ops;
}

}  // namespace freshfs::fs
