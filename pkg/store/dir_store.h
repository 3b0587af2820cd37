// DirStore: a Store backed by a local directory (which may itself be an NFS,
// SMB or CephFS mount other machines write to).
//
// Every path is resolved relative to a descriptor of the root opened at
// start-up, with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) for the parent
// directories, so neither a symlink planted by another writer nor a ".."
// can make an operation leave the source tree. The final component is never
// followed (O_NOFOLLOW / AT_SYMLINK_NOFOLLOW): symlinks are served as symlinks.
//
// Thread-safe: holds no mutable state besides the root descriptor.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "store/store.h"
#include "util/unique_fd.h"

namespace freshfs::store {

class DirStore final : public Store {
 public:
  // Opens `root` (an absolute directory path, or "/proc/self/fd/N" for a
  // directory held open: then no path is looked up). `name` is how
  // Describe() shows it (default: `root`). Errors: errno of open(2).
  static Result<std::unique_ptr<DirStore>> Open(const std::string& root, std::string name = {});

  std::string Describe() const override { return "dir:" + name_; }

  // ENOENT when the source path is gone or the directory was removed (for
  // a root reached through /proc/self/fd/N, the only way it can be gone),
  // ESTALE when the path now leads to another directory than the one
  // mounted (follow it by remounting).
  Status CheckRoot() override;
  Result<struct stat> Stat(std::string_view path) override;
  Result<std::vector<DirEntry>> List(std::string_view dir) override;
  Result<std::vector<DetailedEntry>> ListDetailed(std::string_view dir) override;
  Result<std::string> ReadLink(std::string_view path) override;
  Result<struct statvfs> StatFs() override;

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

 private:
  DirStore(UniqueFd root, std::string root_path, std::string name)
      : root_(std::move(root)), root_path_(std::move(root_path)), name_(std::move(name)) {}

  // The directory holding `path`'s last component, and that component.
  // For the root itself, `leaf` is "." and the descriptor is the root's.
  struct Parent {
    UniqueFd owned;  // empty when the parent is the root
    int fd = -1;
    std::string leaf;
  };
  Result<Parent> OpenParent(std::string_view path) const;
  // Reads the directory at `path` with fdopendir; `each(dirfd, dirent)`.
  template <typename Each>
  Status ReadDirectory(std::string_view path, Each each) const;
  // A new entry's mode as the caller's own system call would make it: the
  // caller's umask applies, unless the directory's default ACL replaces it
  // (acl(5)); the source applies either when given `create_with`.
  struct NewMode {
    mode_t create_with = 0;  // for the creating system call (file type kept)
    bool from_acl = false;
  };
  NewMode ModeFor(const Parent& parent, mode_t mode, const Caller& caller) const;
  // Makes the new entry `entry` (a descriptor of it, O_PATH or not; `made`
  // its attributes) what the caller would have made: owned by the caller (a
  // root daemon makes entries as root), its group the directory's in a
  // set-group-ID directory, and with the permission bits of `mode` and the
  // set-ID bits the daemon's umask or that chown took away. Without `mode`,
  // only the owner (symlinks, whiteouts).
  void GiveToCaller(int entry, const struct stat& made, const Parent& parent, const Caller& caller,
                    std::optional<NewMode> mode) const;
  // The same for an entry made by name (mkdir, mknod, ...): left alone unless
  // the name still holds what the daemon made (of type `type`), not another
  // writer's.
  void GiveToCallerByName(const Parent& parent, mode_t type, const Caller& caller,
                          std::optional<NewMode> mode) const;

  UniqueFd root_;
  std::string root_path_;
  std::string name_;
};

// "/proc/self/fd/N[/leaf]": names what `fd` refers to without re-resolving
// the path it was opened by.
std::string ProcFdPath(int fd, std::string_view leaf = {});

// Applies `change` to the file open as `fd` (a regular descriptor).
Status ApplyAttrChange(int fd, const AttrChange& change);

}  // namespace freshfs::store
