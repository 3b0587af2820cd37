#include "fs/filesystem.h"

#include <fcntl.h>
#include <linux/fs.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "util/quote.h"

namespace freshfs::fs {

Error ReadOnlyMount() { return Error{EROFS, "read-only mount", Error::Kind::kAnswer}; }
namespace {

// Names the kernel sends are single components; anything else is refused.
bool ValidName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos;
}

// Files with several links are matched by the source's inode number, so all
// their names share one kernel inode.
ino_t IdentityOf(const struct stat& st) {
  if (S_ISDIR(st.st_mode) || st.st_nlink <= 1) return 0;
  return st.st_ino ^ (ino_t(st.st_dev) << 40);  // a source may span filesystems
}

bool Writes(int flags) { return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC); }

}  // namespace

FileSystem::FileSystem(std::unique_ptr<store::Store> store, FsSettings settings)
    : store_(std::move(store)), settings_(settings) {}

FileSystem::~FileSystem() {
  // Files and directories still open when the mount goes away get no release
  // from the kernel.
  for (auto& [ino, file] : open_) delete file;
  for (DirHandle* dir : open_dirs_) delete dir;
}

void FileSystem::Report(struct stat* st) const {
  if (settings_.uid) st->st_uid = *settings_.uid;
  if (settings_.gid) st->st_gid = *settings_.gid;
  const auto& mode = S_ISDIR(st->st_mode) ? settings_.dir_mode : settings_.file_mode;
  if (mode && !S_ISLNK(st->st_mode)) st->st_mode = (st->st_mode & S_IFMT) | (*mode & 07777);
}

Result<std::string> FileSystem::PathOf(fuse_ino_t ino) const {
  auto path = inodes_.PathOf(ino);
  if (!path) return NoPathError(ino);
  return std::move(*path);
}

Error FileSystem::NoPathError(fuse_ino_t ino) const {
  // An inode whose name now leads to another object (replaced while a path
  // walk that found it was under way): ESTALE makes the kernel walk the
  // path again with its names revalidated (as for NFS), so stat(2) of a
  // name that was replaced reaches the new object instead of failing. A
  // deleted name is simply gone. Either is an answer, not a failure.
  return Error(inodes_.FormerPath(ino) ? ESTALE : ENOENT, {}, Error::Kind::kAnswer);
}

Result<std::string> FileSystem::ChildPathOf(fuse_ino_t parent, std::string_view name) const {
  if (!ValidName(name)) return Error{name.size() > NAME_MAX ? ENAMETOOLONG : EINVAL};
  auto path = inodes_.ChildPath(parent, name);
  if (!path) return Error{ENOENT};
  return std::move(*path);
}

fuse_ino_t FileSystem::Enter(fuse_ino_t parent, std::string_view name, const std::string& path,
                             const struct stat& st) {
  // Lookup count +1: the caller replies with this entry.
  fuse_ino_t ino = inodes_.Lookup(parent, name, st.st_mode, IdentityOf(st), store::VersionOf(st));
  if (ino != 0 && observer_) observer_->ServedState(path, st);
  return ino;
}

Result<Entry> FileSystem::EnterNew(fuse_ino_t parent, std::string_view name,
                                   const std::string& path) {
  auto st = store_->Stat(path);
  if (!st) return st.error();
  Entry entry;
  entry.attr = *st;
  Report(&entry.attr);
  entry.ino = Enter(parent, name, path, *st);
  if (entry.ino == 0) return Error{ENOENT};
  return entry;
}

void FileSystem::FollowOwnChange(fuse_ino_t ino, const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return;
  inodes_.SetVersion(ino, store::VersionOf(st));
  // What the kernel caches of it is what the writer wrote: the new version.
  inodes_.Confirm(ino);
}

bool FileSystem::SameVersion(fuse_ino_t ino, store::FileHandle& handle) {
  const uint64_t want = inodes_.VersionOf(ino);
  if (want == 0) return true;
  auto st = handle.Stat();
  return !st || store::VersionOf(*st) == want;
}

Result<Entry> FileSystem::Lookup(fuse_ino_t parent, std::string_view name) {
  if (name.size() > NAME_MAX) return Error{ENAMETOOLONG};
  if (!ValidName(name)) return Error{ENOENT};
  auto path = ChildPathOf(parent, name);
  if (!path) return path.error();
  auto entry = EnterNew(parent, name, *path);
  // The kernel may cache the "no such file" (a lazily built watcher lists
  // the directory later and must then report the name if it exists).
  if (!entry && entry.error().code == ENOENT && observer_) observer_->Missed(*path);
  return entry;
}

void FileSystem::Forget(fuse_ino_t ino, uint64_t nlookup) {
  inodes_.Forget(ino, nlookup);
  if (!inodes_.Known(ino)) DropUnopened(ino);
}

store::FileHandle* FileSystem::AnyOpenHandle(fuse_ino_t ino) {
  std::lock_guard lock(open_mu_);
  auto it = open_.find(ino);
  return it == open_.end() ? nullptr : it->second->handle.get();
}

void FileSystem::Track(OpenFile* file) {
  std::lock_guard lock(open_mu_);
  open_.emplace(file->ino, file);
}

Result<struct stat> FileSystem::GetAttr(fuse_ino_t ino, store::FileHandle* fh) {
  Result<struct stat> st = Error{ENOENT};
  if (fh) {
    st = fh->Stat();
  } else if (auto path = inodes_.PathOf(ino)) {
    st = store_->Stat(*path);
  } else if (store::FileHandle* open = AnyOpenHandle(ino)) {
    st = open->Stat();  // unlinked but still open
  } else {
    st = NoPathError(ino);
  }
  if (st) Report(&*st);
  return st;
}

Result<struct stat> FileSystem::SetAttr(fuse_ino_t ino, const store::AttrChange& change,
                                        store::FileHandle* fh) {
  if (settings_.read_only) return ReadOnlyMount();
  if (!fh) {
    if (auto path = inodes_.PathOf(ino)) {
      OwnChange own(observer_, *path);
      Status s = store_->SetAttr(*path, change);
      if (!s.ok()) return s.error();
      auto st = GetAttr(ino, nullptr);
      if (st) FollowOwnChange(ino, *st);
      return st;
    }
    fh = AnyOpenHandle(ino);
    if (!fh) return Error{ENOENT};
  }
  std::optional<OwnChange> own;
  if (auto path = inodes_.PathOf(ino)) own.emplace(observer_, *path);
  Status s = fh->SetAttr(change);
  if (!s.ok()) return s.error();
  auto st = GetAttr(ino, fh);
  if (st && own) FollowOwnChange(ino, *st);
  return st;
}

Result<std::string> FileSystem::ReadLink(fuse_ino_t ino) {
  auto path = PathOf(ino);
  if (!path) return path.error();
  return store_->ReadLink(*path);
}

Result<Entry> FileSystem::MakeNode(fuse_ino_t parent, std::string_view name, mode_t mode,
                                   dev_t rdev, const store::Caller& caller) {
  if (settings_.read_only) return ReadOnlyMount();
  auto path = ChildPathOf(parent, name);
  if (!path) return path.error();
  OwnChange own(observer_, *path);
  Status s = store_->MakeNode(*path, mode, rdev, caller);
  if (!s.ok()) return s.error();
  return EnterNew(parent, name, *path);
}

Result<Entry> FileSystem::MakeDir(fuse_ino_t parent, std::string_view name, mode_t mode,
                                  const store::Caller& caller) {
  if (settings_.read_only) return ReadOnlyMount();
  auto path = ChildPathOf(parent, name);
  if (!path) return path.error();
  OwnChange own(observer_, *path);
  Status s = store_->MakeDir(*path, mode, caller);
  if (!s.ok()) return s.error();
  return EnterNew(parent, name, *path);
}

Result<Entry> FileSystem::Symlink(std::string_view target, fuse_ino_t parent, std::string_view name,
                                  const store::Caller& caller) {
  if (settings_.read_only) return ReadOnlyMount();
  auto path = ChildPathOf(parent, name);
  if (!path) return path.error();
  OwnChange own(observer_, *path);
  Status s = store_->Symlink(target, *path, caller);
  if (!s.ok()) return s.error();
  return EnterNew(parent, name, *path);
}

Result<Entry> FileSystem::Link(fuse_ino_t ino, fuse_ino_t new_parent, std::string_view new_name) {
  if (settings_.read_only) return ReadOnlyMount();
  auto existing = PathOf(ino);
  if (!existing) return existing.error();
  auto path = ChildPathOf(new_parent, new_name);
  if (!path) return path.error();
  OwnChange own(observer_, *path);
  Status s = store_->Link(*existing, *path);
  if (!s.ok()) return s.error();
  auto st = store_->Stat(*path);
  if (!st) return st.error();
  Entry entry;
  entry.attr = *st;
  Report(&entry.attr);
  // The new name shares the inode (and its page cache) with the old one.
  entry.ino = inodes_.AddLink(ino, new_parent, new_name, IdentityOf(*st));  // count +1
  if (entry.ino == 0) return Error{ENOENT};
  return entry;
}

Status FileSystem::Unlink(fuse_ino_t parent, std::string_view name) {
  if (settings_.read_only) return ReadOnlyMount();
  auto path = ChildPathOf(parent, name);
  if (!path) return path.error();
  OwnChange own(observer_, *path);
  Status s = store_->Unlink(*path);
  if (s.ok()) inodes_.Detach(parent, name);
  return s;
}

Status FileSystem::RemoveDir(fuse_ino_t parent, std::string_view name) {
  if (settings_.read_only) return ReadOnlyMount();
  auto path = ChildPathOf(parent, name);
  if (!path) return path.error();
  OwnChange own(observer_, *path);
  Status s = store_->RemoveDir(*path);
  if (s.ok()) inodes_.Detach(parent, name);
  return s;
}

Status FileSystem::Rename(fuse_ino_t parent, std::string_view name, fuse_ino_t new_parent,
                          std::string_view new_name, unsigned flags, const store::Caller& caller) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) return Error(EINVAL);
  if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
    return Error(EINVAL);
  if (settings_.read_only) return ReadOnlyMount();
  auto from = ChildPathOf(parent, name);
  if (!from) return from.error();
  auto to = ChildPathOf(new_parent, new_name);
  if (!to) return to.error();
  OwnChange own(observer_, *from, *to);
  Status s = store_->Rename(*from, *to, flags, caller);
  if (!s.ok()) return s;
  inodes_.Rename(parent, name, new_parent, new_name, flags & RENAME_EXCHANGE);
  // A store whose versions depend on the name (S3 copies the object) made
  // new ones; the inodes that moved stand for them.
  auto follow = [this](fuse_ino_t dir, std::string_view entry, const std::string& at) {
    if (fuse_ino_t moved = inodes_.Find(dir, entry); moved != 0)
      if (auto st = store_->Stat(at)) FollowOwnChange(moved, *st);
  };
  follow(new_parent, new_name, *to);
  if (flags & RENAME_EXCHANGE) follow(parent, name, *from);
  return s;
}

Result<OpenFile*> FileSystem::Open(fuse_ino_t ino, int flags) {
  if (settings_.read_only && Writes(flags)) return ReadOnlyMount();
  auto path = PathOf(ino);
  // The kernel found the inode by a name that now leads to a newer version
  // of the object (replaced while the open was under way): open that, past
  // the page cache.
  bool retired = false;
  if (!path) {
    if (auto former = inodes_.FormerPath(ino)) {
      path = std::move(*former);
      retired = true;
    }
  }
  if (!path) return path.error();
  auto file = std::make_unique<OpenFile>();
  file->ino = ino;
  file->writable = Writes(flags);
  if (settings_.revalidate_on_open && observer_) {
    file->changed_at_source = observer_->Revalidate(*path);
  }
  // O_TRUNC changes the file as it opens.
  std::optional<OwnChange> own;
  if (flags & O_TRUNC) own.emplace(observer_, *path);
  auto handle = store_->Open(*path, flags);
  if (!handle) return handle.error();
  file->handle = std::move(*handle);
  if (own) {
    if (auto st = file->handle->Stat(); st && !retired) FollowOwnChange(ino, *st);
  } else {
    // The name may lead to another object than the inode stands for by
    // now (replaced at the source since the lookup): reading it through the
    // inode's page cache would mix two versions there. A handle that reads
    // another version than the inode's, or one no read has confirmed yet,
    // first settles which version it really reads.
    if (!file->writable &&
        (retired || !inodes_.Confirmed(ino) || !SameVersion(ino, *file->handle))) {
      Status pinned = file->handle->Pin();
      if (!pinned.ok()) return pinned.error();
    }
    if (retired) {
      file->direct_io = true;
    } else if (SameVersion(ino, *file->handle)) {
      inodes_.Confirm(ino);
    } else {
      file->direct_io = true;
      // The kernel's inode is outdated: have it retired (unless the
      // revalidation above just did).
      if (observer_ && !file->changed_at_source) observer_->Recheck(*path);
    }
  }
  if (retired) file->direct_io = true;
  Track(file.get());
  file->fh = handles_.AddFile(file.get(), ino, flags, file->direct_io);
  // O_TRUNC emptied the file here; a handle that keeps writes (S3) has not
  // told the source yet.
  if (flags & O_TRUNC) NoteWritten(file.get());
  return file.release();
}

Result<FileSystem::Created> FileSystem::Create(fuse_ino_t parent, std::string_view name,
                                               mode_t mode, int flags,
                                               const store::Caller& caller) {
  if (settings_.read_only) return ReadOnlyMount();
  auto path = ChildPathOf(parent, name);
  if (!path) return path.error();
  auto file = std::make_unique<OpenFile>();
  file->writable = true;
  OwnChange own(observer_, *path);
  auto handle = store_->Create(*path, flags, mode, caller);
  // The name is taken although the kernel found it free (its "no such name"
  // is older than the entry): an O_CREAT open of an existing file is an
  // ordinary open, whose permission checks, O_TRUNC and O_EXCL the kernel
  // makes itself. On ESTALE it looks the name up again and does that.
  if (!handle && handle.error().code == EEXIST)
    return Error(ESTALE, "created meanwhile: looked up again", Error::Kind::kAnswer);
  if (!handle) return handle.error();
  auto st = (*handle)->Stat();
  if (!st) return st.error();
  Created created;
  created.entry.attr = *st;
  Report(&created.entry.attr);
  created.entry.ino = Enter(parent, name, *path, *st);  // count +1
  if (created.entry.ino == 0) return Error{ENOENT};
  file->ino = created.entry.ino;
  file->handle = std::move(*handle);
  Track(file.get());
  file->fh = handles_.AddFile(file.get(), file->ino, flags & ~(O_CREAT | O_EXCL | O_TRUNC),
                              file->direct_io);
  // A handle that keeps writes (S3) holds a file the source does not have
  // until its first upload: unsaved, as if written (a hand-over uploads it).
  NoteWritten(file.get());
  created.file = file.release();
  return created;
}

void FileSystem::Release(OpenFile* file) {
  handles_.Remove(file->fh);
  {
    std::lock_guard lock(open_mu_);
    auto [begin, end] = open_.equal_range(file->ino);
    for (auto it = begin; it != end; ++it) {
      if (it->second == file) {
        open_.erase(it);
        break;
      }
    }
  }
  { std::unique_lock last_use(file->use_mu); }
  delete file;
}

bool FileSystem::OpenForWriting(fuse_ino_t ino) {
  std::lock_guard lock(open_mu_);
  auto [begin, end] = open_.equal_range(ino);
  return std::any_of(begin, end, [](const auto& entry) { return entry.second->writable; });
}

void FileSystem::ClearSetIdBitsAfterWrite(OpenFile* file, const store::Caller& caller) {
  if (!file->direct_io || caller.uid == 0) return;
  auto st = file->handle->Stat();
  if (!st) return;
  mode_t clear = st->st_mode & S_ISUID;
  if ((st->st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) clear |= S_ISGID;
  if (clear == 0) return;
  store::AttrChange change;
  change.mode = st->st_mode & 07777 & ~clear;
  (void)file->handle->SetAttr(change);
}

FileSystem::OwnWrite::OwnWrite(FileSystem& fs, OpenFile* file) : fs_(fs), file_(file) {
  if (!fs_.observer_) return;
  path_ = fs.inodes_.PathOf(file->ino);
  if (path_) fs_.observer_->BeginOwnChange(*path_);
}

FileSystem::OwnWrite::~OwnWrite() {
  if (!fs_.observer_ || !path_) return;
  auto st = file_->handle->Stat();
  if (st) fs_.FollowOwnChange(file_->ino, *st);  // an S3 upload is a new version
  fs_.observer_->EndOwnChange(*path_, st ? &*st : nullptr);
}

Result<size_t> FileSystem::ReadUnopened(fuse_ino_t ino, char* buf, size_t size, off_t offset) {
  std::shared_ptr<store::FileHandle> handle;
  {
    std::lock_guard lock(unopened_mu_);
    if (auto it = unopened_.find(ino); it != unopened_.end()) handle = it->second;
  }
  if (!handle) {
    auto path = PathOf(ino);
    if (!path) return path.error();
    auto opened = store_->Open(*path, O_RDONLY);
    if (!opened) return opened.error();
    handle = std::move(*opened);
    if (!inodes_.Confirmed(ino) || !SameVersion(ino, *handle)) {
      Status pinned = handle->Pin();
      if (!pinned.ok()) return pinned.error();
    }
    // Without an open there is no descriptor to read past the page cache:
    // the object the inode stands for was replaced and cannot be reached
    // by its name any more (as a stale NFS handle). The watcher retires the
    // inode; a new open of the name finds the new object.
    if (!SameVersion(ino, *handle)) {
      if (observer_) observer_->Recheck(*path);
      return Error{ESTALE, "replaced in the source since the kernel cached it: " + Quoted(*path)};
    }
    inodes_.Confirm(ino);
    std::lock_guard lock(unopened_mu_);
    if (unopened_.size() >= kUnopenedMax) unopened_.erase(unopened_.begin());
    unopened_[ino] = handle;
  }
  return handle->Read(buf, size, offset);
}

void FileSystem::NoteRead(fuse_ino_t ino) {
  std::lock_guard lock(recent_mu_);
  if (!recent_reads_.insert(ino).second) return;
  recent_order_.push_back(ino);
  if (recent_order_.size() > kRecentReadsMax) {
    recent_reads_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

bool FileSystem::RecentlyRead(fuse_ino_t ino) {
  std::lock_guard lock(recent_mu_);
  return recent_reads_.count(ino) > 0;
}

std::optional<std::string> FileSystem::ReadSmallFile(const std::string& path, size_t limit) {
  auto handle = store_->Open(path, O_RDONLY);
  if (!handle) return std::nullopt;
  std::string data(limit + 1, '\0');
  auto n = (*handle)->Read(data.data(), data.size(), 0);
  if (!n || *n > limit) return std::nullopt;
  data.resize(*n);
  return data;
}

void FileSystem::DropUnopened(fuse_ino_t ino) {
  std::lock_guard lock(unopened_mu_);
  unopened_.erase(ino);
}

Status FileSystem::LoadDir(DirHandle* dir) {
  auto path = PathOf(dir->ino);
  if (!path) return path.error();
  if (observer_) observer_->WillList(*path);  // a lazy watcher lists it first
  dir->listed = invalidations_.Begin();
  auto listing = store_->List(*path);
  if (!listing) return listing.error();
  // "." and ".." need non-zero inode numbers: readdir(3) skips entries with 0.
  auto self = store_->Stat(*path);
  ino_t self_ino = self ? self->st_ino : 1;
  ino_t parent_ino = self_ino;
  if (!path->empty()) {
    size_t slash = path->rfind('/');
    auto parent = store_->Stat(slash == std::string::npos ? "" : path->substr(0, slash));
    if (parent) parent_ino = parent->st_ino;
  }
  dir->entries.clear();
  dir->entries.reserve(listing->size() + 2);
  dir->entries.push_back(store::DirEntry{".", S_IFDIR, self_ino});
  dir->entries.push_back(store::DirEntry{"..", S_IFDIR, parent_ino});
  for (auto& e : *listing) dir->entries.push_back(std::move(e));
  dir->loaded = true;
  return Status::Ok();
}

Result<DirHandle*> FileSystem::OpenDir(fuse_ino_t ino) {
  auto dir = std::make_unique<DirHandle>();
  dir->ino = ino;
  Status s = LoadDir(dir.get());
  if (!s.ok()) return s.error();
  std::lock_guard lock(open_mu_);
  open_dirs_.insert(dir.get());
  dir->fh = handles_.AddDir(dir.get(), ino);
  return dir.release();
}

Status FileSystem::ReadDir(DirHandle* dir, off_t offset, bool plus,
                           const std::function<bool(const DirItem&)>& emit) {
  std::lock_guard lock(dir->mu);
  if ((offset == 0 && dir->loaded && dir->entries.size() > 2) || !dir->loaded) {
    // rewinddir(): a fresh snapshot, as a local filesystem would show. (Not
    // loaded: opened by a predecessor daemon, whose snapshot is gone.)
    Status s = LoadDir(dir);
    if (!s.ok()) return s;
  }
  std::optional<std::string> dir_path;
  if (plus) {
    dir_path = inodes_.PathOf(dir->ino);
    if (!dir_path) return Error(ENOENT);
  }
  for (size_t i = size_t(std::max<off_t>(offset, 0)); i < dir->entries.size(); ++i) {
    const store::DirEntry& e = dir->entries[i];
    DirItem item;
    item.name = e.name;
    item.next_offset = off_t(i + 1);
    item.entry.attr.st_ino = e.ino;
    item.entry.attr.st_mode = e.type;
    bool dot = i < 2;
    if (plus && !dot) {
      const std::string child = store::JoinPath(*dir_path, e.name);
      auto st = store_->Stat(child);
      if (!st) continue;  // vanished since the listing: skip it
      item.entry.attr = *st;
      Report(&item.entry.attr);
      item.entry.ino = Enter(dir->ino, e.name, child, *st);  // +1
    }
    if (!emit(item)) {
      // Did not fit into the reply: the kernel never sees it, so undo the +1.
      if (item.entry.ino != 0) inodes_.Forget(item.entry.ino, 1);
      break;
    }
  }
  return Status::Ok();
}

void FileSystem::ReleaseDir(DirHandle* dir) {
  handles_.Remove(dir->fh);
  {
    std::lock_guard lock(open_mu_);
    open_dirs_.erase(dir);
  }
  { std::lock_guard last_use(dir->mu); }  // after the last readdir (see OpenFile::use_mu)
  delete dir;
}

void FileSystem::NoteWritten(OpenFile* file) {
  file->writes.fetch_add(1);
  if (file->handle && file->handle->KeepsWrites() && !file->unsaved.exchange(true))
    handles_.MarkUnsaved(file->fh, true);
}

void FileSystem::NoteSaved(OpenFile* file, uint64_t writes_before) {
  if (file->writes.load() != writes_before) return;
  if (file->unsaved.exchange(false)) handles_.MarkUnsaved(file->fh, false);
}

size_t FileSystem::SaveUnsaved() {
  std::vector<OpenFile*> files;
  {
    std::lock_guard lock(open_mu_);
    for (const auto& [ino, file] : open_)
      if (file->unsaved.load() && !file->lost && file->handle) files.push_back(file);
  }
  size_t failed = 0;
  for (OpenFile* file : files) {
    const uint64_t writes = file->writes.load();
    Status s;
    {
      OwnWrite own(*this, file);
      s = file->handle->Flush();
    }
    if (s.ok()) NoteSaved(file, writes);
    else ++failed;
  }
  return failed;
}

size_t FileSystem::RestoreHandles(const std::map<uint64_t, SavedHandle>& saved) {
  size_t lost = 0;
  for (const auto& [fh, s] : saved) {
    if (s.dir) {
      auto dir = std::make_unique<DirHandle>();
      dir->ino = s.ino;
      dir->fh = fh;
      {
        std::lock_guard lock(open_mu_);
        open_dirs_.insert(dir.get());
      }
      handles_.RestoreDir(fh, dir.get(), s);
      static_cast<void>(dir.release());  // handles_ owns it until the kernel's releasedir
      continue;
    }
    auto file = std::make_unique<OpenFile>();
    file->ino = s.ino;
    file->fh = fh;
    file->writable = Writes(s.flags);
    file->direct_io = s.direct_io;
    std::optional<std::string> path = inodes_.PathOf(s.ino);
    if (!path) path = inodes_.FormerPath(s.ino);
    if (s.unsaved || !path) {
      file->lost = true;
    } else {
      auto handle = store_->Open(*path, s.flags & ~(O_CREAT | O_EXCL | O_TRUNC));
      if (handle) file->handle = std::move(*handle);
      else file->lost = true;
    }
    if (file->lost) {
      ++lost;
      spdlog::error("resume: descriptor {} of {} {}: every further use fails with EIO", fh,
                    path ? Quoted(*path) : "inode " + std::to_string(s.ino),
                    s.unsaved ? "held data the predecessor had not saved to the source"
                              : "cannot be opened again");
    }
    Track(file.get());
    handles_.RestoreFile(fh, file.get(), s);
    static_cast<void>(file.release());  // handles_ owns it until the kernel's release
  }
  return lost;
}

Result<struct statvfs> FileSystem::StatFs() { return store_->StatFs(); }

Result<std::string> FileSystem::GetXattr(fuse_ino_t ino, const std::string& name) {
  auto path = PathOf(ino);
  if (!path) return path.error();
  return store_->GetXattr(*path, name);
}

Result<std::string> FileSystem::ListXattr(fuse_ino_t ino) {
  auto path = PathOf(ino);
  if (!path) return path.error();
  return store_->ListXattr(*path);
}

Status FileSystem::SetXattr(fuse_ino_t ino, const std::string& name, std::string_view value,
                            int flags) {
  if (settings_.read_only) return ReadOnlyMount();
  auto path = PathOf(ino);
  if (!path) return path.error();
  OwnChange own(observer_, *path);
  return store_->SetXattr(*path, name, value, flags);
}

Status FileSystem::RemoveXattr(fuse_ino_t ino, const std::string& name) {
  if (settings_.read_only) return ReadOnlyMount();
  auto path = PathOf(ino);
  if (!path) return path.error();
  OwnChange own(observer_, *path);
  return store_->RemoveXattr(*path, name);
}

}  // namespace freshfs::fs
