#include "csi/dir_source.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "util/quote.h"

namespace freshfs::csi {
namespace {

bool IsUnder(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path == root || (path.starts_with(root) && path[root.size()] == '/');
}

std::string RootList(const std::vector<std::string>& roots) {
  std::string list;
  for (const std::string& root : roots) list += (list.empty() ? "" : ", ") + root;
  return "[" + list + "]";
}

// realpath(3), or the errno.
std::string RealPath(const std::string& path, int* error) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  if (!real) {
    *error = errno;
    return "";
  }
  *error = 0;
  return real.get();
}

// Whether walking `lexical` (absolute, lexically normal) from the root it
// lies under meets a symlink before it ends or reaches a missing component.
bool PassesSymlink(const std::string& lexical, const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    if (!IsUnder(lexical, root)) continue;
    std::string walked = root == "/" ? "" : root;
    std::string rest = lexical.substr(walked.size());
    size_t start = 0;
    while (start < rest.size()) {
      while (start < rest.size() && rest[start] == '/') ++start;
      if (start >= rest.size()) break;
      const size_t end = rest.find('/', start);
      walked += '/';
      walked.append(rest, start, end == std::string::npos ? std::string::npos : end - start);
      struct stat st;
      if (::lstat(walked.c_str(), &st) != 0) return false;
      if (S_ISLNK(st.st_mode)) return true;
      if (end == std::string::npos) break;
      start = end;
    }
    return false;
  }
  return false;
}

std::string Lexical(const std::string& path) {
  std::string normal = std::filesystem::path(path).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

}  // namespace

Result<std::string> ResolveDirSource(const std::string& path,
                                     const std::vector<std::string>& roots) {
  const std::string source = "source " + Quoted(path);
  if (roots.empty()) {
    return PermissionDenied(source +
                            ": directory sources are disabled on this node (the driver config "
                            "lists no allowedDirRoots)");
  }
  const std::string outside = source + " is outside the allowed directory roots " + RootList(roots);

  const std::string lexical = Lexical(path);
  bool lexically_inside = false;
  for (const std::string& root : roots) lexically_inside |= IsUnder(lexical, root);
  if (!lexically_inside) return PermissionDenied(outside);

  // Past a symlink, what realpath() finds (or fails to find) may be outside
  // the roots: every refusal there reads like the one for a path outside,
  // so an error never tells whether something outside exists.
  const bool through_symlink = PassesSymlink(lexical, roots);
  int error = 0;
  const std::string real = RealPath(path, &error);
  if (real.empty()) {
    if (through_symlink) return PermissionDenied(outside);
    switch (error) {
      case ENOENT:
        return NotFound(source + " does not exist");
      case ENOTDIR:
        return InvalidArgument(source + " is not a directory");
      case EACCES:
        return PermissionDenied(source + ": " + std::strerror(error));
      default:
        return Internal(source + ": " + std::strerror(error));
    }
  }
  bool really_inside = false;
  for (const std::string& root : roots) {
    int root_error = 0;
    const std::string real_root = RealPath(root, &root_error);
    if (!real_root.empty() && IsUnder(real, real_root)) really_inside = true;
  }
  if (!really_inside) return PermissionDenied(outside);
  struct stat st;
  if (::stat(real.c_str(), &st) != 0) return Internal(source + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) {
    if (through_symlink) return PermissionDenied(outside);
    return InvalidArgument(source + " is not a directory");
  }
  return real;
}

Result<UniqueFd> OpenDirSource(const std::string& path, const std::vector<std::string>& roots) {
  const std::string source = "source " + Quoted(path);
  const std::string lexical = Lexical(path);
  for (const std::string& root : roots) {
    int error = 0;
    const std::string real_root = RealPath(root, &error);
    if (real_root.empty() || !IsUnder(lexical, real_root)) continue;
    UniqueFd root_fd(::open(real_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd.valid()) continue;
    std::string relative = lexical.substr(real_root == "/" ? 1 : real_root.size());
    while (!relative.empty() && relative.front() == '/') relative.erase(0, 1);
    if (relative.empty()) relative.assign(1, '.');
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    const int fd = int(::syscall(SYS_openat2, root_fd.get(), relative.c_str(), &how, sizeof how));
    if (fd >= 0) return UniqueFd(fd);
    switch (errno) {
      case ELOOP:
      case EXDEV:
        return PermissionDenied(source + " leads through a symlink; refused (allowed roots " +
                                RootList(roots) + ")");
      case ENOENT:
        return NotFound(source + " does not exist");
      case ENOTDIR:
        return InvalidArgument(source + " is not a directory");
      case EACCES:
        return PermissionDenied(source + ": " + std::strerror(errno));
      default:
        return Internal(source + ": " + std::strerror(errno));
    }
  }
  return PermissionDenied(source + " is outside the allowed directory roots " + RootList(roots));
}

}  // namespace freshfs::csi
