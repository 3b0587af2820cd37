#include "store/dir_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "store/dir_file.h"
#include "store/source_stat.h"
#include "util/quote.h"

namespace freshfs::store {
namespace {

int OpenAt2(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags;
  how.resolve = resolve;
  return int(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

// The error of the call that just failed on `path` (relative to the
// source): its errno, and the path for the log.
Error SourceError(std::string_view path) {
  const int err = errno;
  return Error(err, "source path " + Quoted(path.empty() ? "." : path));
}

Status StatusOf(int rc, std::string_view path) {
  return rc == 0 ? Status::Ok() : SourceError(path);
}

// Whether new entries in the directory open as `dir` take their permissions
// from its default ACL instead of the umask (acl(5)).
bool HasDefaultAcl(int dir) {
  return ::getxattr(ProcFdPath(dir).c_str(), "system.posix_acl_default", nullptr, 0) > 0;
}

// Once per process: the source refuses to give new entries away (an NFS
// export squashing root, a filesystem without owners).
void WarnNotGivenAway(int err) {
  static std::once_flag once;
  std::call_once(once, [err] {
    spdlog::warn(
        "new entries cannot be given to the users who make them ({}): they belong to "
        "uid {}",
        std::strerror(err), ::geteuid());
  });
}

}  // namespace

std::string ProcFdPath(int fd, std::string_view leaf) {
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (!leaf.empty()) {
    path += '/';
    path += leaf;
  }
  return path;
}

Status ApplyAttrChange(int fd, const AttrChange& change) {
  if (change.mode && ::fchmod(fd, *change.mode & 07777) != 0) return Error(errno);
  if (change.uid || change.gid) {
    if (::fchown(fd, change.uid.value_or(uid_t(-1)), change.gid.value_or(gid_t(-1))) != 0)
      return Error(errno);
  }
  if (change.size && ::ftruncate(fd, *change.size) != 0) return Error(errno);
  if (change.atime || change.mtime) {
    timespec times[2] = {change.atime.value_or(timespec{0, UTIME_OMIT}),
                         change.mtime.value_or(timespec{0, UTIME_OMIT})};
    if (::futimens(fd, times) != 0) return Error(errno);
  }
  return Status::Ok();
}

Result<std::unique_ptr<DirStore>> DirStore::Open(const std::string& root, std::string name) {
  int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error{errno};
  if (name.empty()) name = root;
  return std::unique_ptr<DirStore>(new DirStore(UniqueFd(fd), root, std::move(name)));
}

Result<DirStore::Parent> DirStore::OpenParent(std::string_view path) const {
  Parent parent;
  if (path.empty()) {
    parent.fd = root_.get();
    parent.leaf = ".";
    return parent;
  }
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) {
    parent.fd = root_.get();
    parent.leaf = std::string(path);
    return parent;
  }
  std::string dir(path.substr(0, slash));
  int fd = OpenAt2(root_.get(), dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC,
                   RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (fd < 0) {
    // A parent that became a symlink or escapes the root is, for us, gone.
    int err = (errno == ELOOP || errno == EXDEV) ? ENOENT : errno;
    return Error{err};
  }
  parent.owned.reset(fd);
  parent.fd = fd;
  parent.leaf = std::string(path.substr(slash + 1));
  return parent;
}

DirStore::NewMode DirStore::ModeFor(const Parent& parent, mode_t mode, const Caller& caller) const {
  NewMode m;
  m.from_acl = HasDefaultAcl(parent.fd);
  m.create_with = m.from_acl ? mode : mode & ~(caller.umask & 0777);
  return m;
}

void DirStore::GiveToCaller(int entry, const struct stat& made, const Parent& parent,
                            const Caller& caller, std::optional<NewMode> mode) const {
  // An unprivileged daemon owns what it makes; root's callers are root.
  if (::geteuid() == 0 && (caller.uid != 0 || caller.gid != 0)) {
    struct stat dir;
    gid_t gid = caller.gid;
    if (::fstat(parent.fd, &dir) == 0 && (dir.st_mode & S_ISGID)) gid = gid_t(-1);
    if (::fchownat(entry, "", caller.uid, gid, AT_EMPTY_PATH) != 0) WarnNotGivenAway(errno);
  }
  if (!mode || S_ISLNK(made.st_mode)) return;
  // Permission bits as the umask (or the default ACL) gives them; set-ID
  // and sticky bits as the source gave them before the chown cleared them.
  mode_t wanted = made.st_mode & 07777;
  if (!mode->from_acl) wanted = (wanted & ~mode_t(0777)) | (mode->create_with & 0777);
  struct stat now;
  if (::fstatat(entry, "", &now, AT_EMPTY_PATH) != 0 || (now.st_mode & 07777) == wanted) return;
  (void)::chmod(ProcFdPath(entry).c_str(), wanted);
}

void DirStore::GiveToCallerByName(const Parent& parent, mode_t type, const Caller& caller,
                                  std::optional<NewMode> mode) const {
  UniqueFd entry(::openat(parent.fd, parent.leaf.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat made;
  if (!entry.valid() || ::fstatat(entry.get(), "", &made, AT_EMPTY_PATH) != 0) return;
  if ((made.st_mode & S_IFMT) != type || made.st_uid != ::geteuid()) return;
  GiveToCaller(entry.get(), made, parent, caller, mode);
}

Status DirStore::CheckRoot() {
  struct stat by_path, by_fd;
  if (::stat(root_path_.c_str(), &by_path) != 0) return Error(errno);
  if (::fstat(root_.get(), &by_fd) != 0) return Error(errno);
  if (by_path.st_dev != by_fd.st_dev || by_path.st_ino != by_fd.st_ino) return Error(ESTALE);
  // Removed, yet still reachable through /proc/self/fd/N: no links left.
  if (by_fd.st_nlink == 0) return Error(ENOENT);
  return Status::Ok();
}

Result<struct stat> DirStore::Stat(std::string_view path) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  struct stat st;
  if (SourceStatAt(parent->fd, parent->leaf.c_str(), AT_SYMLINK_NOFOLLOW, &st) != 0)
    return SourceError(path);
  return st;
}

template <typename Each>
Status DirStore::ReadDirectory(std::string_view path, Each each) const {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  int fd =
      ::openat(parent->fd, parent->leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return SourceError(path);
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    int err = errno;
    ::close(fd);
    return Error(err);
  }
  errno = 0;
  while (struct dirent* d = ::readdir(dir)) {
    std::string_view name(d->d_name);
    if (name != "." && name != "..") each(::dirfd(dir), *d);
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return Error(err, "reading source directory " + Quoted(path));
  return {};
}

Result<std::vector<DirEntry>> DirStore::List(std::string_view path) {
  std::vector<DirEntry> entries;
  Status s = ReadDirectory(path, [&](int, const struct dirent& d) {
    entries.push_back(
        DirEntry{d.d_name, d.d_type == DT_UNKNOWN ? mode_t(0) : mode_t(DTTOIF(d.d_type)), d.d_ino});
  });
  if (!s.ok()) return s.error();
  return entries;
}

Result<std::vector<Store::DetailedEntry>> DirStore::ListDetailed(std::string_view path) {
  std::vector<DetailedEntry> entries;
  Status s = ReadDirectory(path, [&](int dirfd, const struct dirent& d) {
    DetailedEntry e;
    if (SourceStatAt(dirfd, d.d_name, AT_SYMLINK_NOFOLLOW, &e.attr) != 0) return;  // vanished
    e.name = d.d_name;
    entries.push_back(std::move(e));
  });
  if (!s.ok()) return s.error();
  return entries;
}

Result<std::string> DirStore::ReadLink(std::string_view path) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  std::string target(PATH_MAX, '\0');
  ssize_t n = ::readlinkat(parent->fd, parent->leaf.c_str(), target.data(), target.size());
  if (n < 0) return SourceError(path);
  target.resize(size_t(n));
  return target;
}

Result<struct statvfs> DirStore::StatFs() {
  struct statvfs st;
  if (::fstatvfs(root_.get(), &st) != 0) return Error{errno};
  return st;
}

Result<std::unique_ptr<FileHandle>> DirStore::Open(std::string_view path, int flags) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  flags &= ~(O_CREAT | O_EXCL | O_NOCTTY);
  int fd = ::openat(parent->fd, parent->leaf.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return SourceError(path);
  return std::unique_ptr<FileHandle>(new DirFile(UniqueFd(fd)));
}

Result<std::unique_ptr<FileHandle>> DirStore::Create(std::string_view path, int flags, mode_t mode,
                                                     const Caller& caller) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  const NewMode m = ModeFor(*parent, mode, caller);
  UniqueFd fd(::openat(parent->fd, parent->leaf.c_str(),
                       (flags & ~O_NOCTTY) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       m.create_with));
  if (!fd.valid()) return SourceError(path);
  struct stat made;
  if (::fstat(fd.get(), &made) == 0) GiveToCaller(fd.get(), made, *parent, caller, m);
  return std::unique_ptr<FileHandle>(new DirFile(std::move(fd)));
}

Status DirStore::MakeDir(std::string_view path, mode_t mode, const Caller& caller) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  const NewMode m = ModeFor(*parent, mode, caller);
  if (::mkdirat(parent->fd, parent->leaf.c_str(), m.create_with) != 0) return SourceError(path);
  GiveToCallerByName(*parent, S_IFDIR, caller, m);
  return Status::Ok();
}

Status DirStore::MakeNode(std::string_view path, mode_t mode, dev_t rdev, const Caller& caller) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  const NewMode m = ModeFor(*parent, mode, caller);
  if (::mknodat(parent->fd, parent->leaf.c_str(), m.create_with, rdev) != 0)
    return SourceError(path);
  const mode_t type = (mode & S_IFMT) ? (mode & S_IFMT) : S_IFREG;
  GiveToCallerByName(*parent, type, caller, m);
  return Status::Ok();
}

Status DirStore::Symlink(std::string_view target, std::string_view path, const Caller& caller) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  if (::symlinkat(std::string(target).c_str(), parent->fd, parent->leaf.c_str()) != 0)
    return SourceError(path);
  GiveToCallerByName(*parent, S_IFLNK, caller, std::nullopt);
  return Status::Ok();
}

Status DirStore::Link(std::string_view existing, std::string_view path) {
  auto from = OpenParent(existing);
  if (!from) return from.error();
  auto to = OpenParent(path);
  if (!to) return to.error();
  return StatusOf(::linkat(from->fd, from->leaf.c_str(), to->fd, to->leaf.c_str(), 0), path);
}

Status DirStore::Unlink(std::string_view path) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  return StatusOf(::unlinkat(parent->fd, parent->leaf.c_str(), 0), path);
}

Status DirStore::RemoveDir(std::string_view path) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  return StatusOf(::unlinkat(parent->fd, parent->leaf.c_str(), AT_REMOVEDIR), path);
}

Status DirStore::Rename(std::string_view from, std::string_view to, unsigned flags,
                        const Caller& caller) {
  auto src = OpenParent(from);
  if (!src) return src.error();
  auto dst = OpenParent(to);
  if (!dst) return dst.error();
  if (::renameat2(src->fd, src->leaf.c_str(), dst->fd, dst->leaf.c_str(), flags) != 0)
    return SourceError(from);
  // A whiteout (a 0/0 character device) now stands at `from`, made anew.
  if (flags & RENAME_WHITEOUT) GiveToCallerByName(*src, S_IFCHR, caller, std::nullopt);
  return Status::Ok();
}

Status DirStore::SetAttr(std::string_view path, const AttrChange& change) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  const char* leaf = parent->leaf.c_str();
  if (change.mode || change.size) {
    // chmod and truncate have no "don't follow" form: pin the entry with an
    // O_PATH descriptor and act on exactly that inode through /proc.
    UniqueFd pinned(::openat(parent->fd, leaf, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!pinned.valid()) return SourceError(path);
    std::string proc = ProcFdPath(pinned.get());
    if (change.mode && ::chmod(proc.c_str(), *change.mode & 07777) != 0) return SourceError(path);
    if (change.size && ::truncate(proc.c_str(), *change.size) != 0) return SourceError(path);
  }
  if (change.uid || change.gid) {
    if (::fchownat(parent->fd, leaf, change.uid.value_or(uid_t(-1)), change.gid.value_or(gid_t(-1)),
                   AT_SYMLINK_NOFOLLOW) != 0)
      return SourceError(path);
  }
  if (change.atime || change.mtime) {
    timespec times[2] = {change.atime.value_or(timespec{0, UTIME_OMIT}),
                         change.mtime.value_or(timespec{0, UTIME_OMIT})};
    if (::utimensat(parent->fd, leaf, times, AT_SYMLINK_NOFOLLOW) != 0) return SourceError(path);
  }
  return Status::Ok();
}

Result<std::string> DirStore::GetXattr(std::string_view path, const std::string& name) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  std::string proc = ProcFdPath(parent->fd, parent->leaf);
  for (;;) {
    ssize_t size = ::lgetxattr(proc.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) return SourceError(path);
    std::string value(size_t(size), '\0');
    ssize_t n = ::lgetxattr(proc.c_str(), name.c_str(), value.data(), value.size());
    if (n < 0 && errno == ERANGE) continue;  // grew in between
    if (n < 0) return SourceError(path);
    value.resize(size_t(n));
    return value;
  }
}

Result<std::string> DirStore::ListXattr(std::string_view path) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  std::string proc = ProcFdPath(parent->fd, parent->leaf);
  for (;;) {
    ssize_t size = ::llistxattr(proc.c_str(), nullptr, 0);
    if (size < 0) return SourceError(path);
    std::string names(size_t(size), '\0');
    ssize_t n = ::llistxattr(proc.c_str(), names.data(), names.size());
    if (n < 0 && errno == ERANGE) continue;
    if (n < 0) return SourceError(path);
    names.resize(size_t(n));
    return names;
  }
}

Status DirStore::SetXattr(std::string_view path, const std::string& name, std::string_view value,
                          int flags) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  std::string proc = ProcFdPath(parent->fd, parent->leaf);
  return StatusOf(::lsetxattr(proc.c_str(), name.c_str(), value.data(), value.size(), flags), path);
}

Status DirStore::RemoveXattr(std::string_view path, const std::string& name) {
  auto parent = OpenParent(path);
  if (!parent) return parent.error();
  std::string proc = ProcFdPath(parent->fd, parent->leaf);
  return StatusOf(::lremovexattr(proc.c_str(), name.c_str()), path);
}

}  // namespace freshfs::store
