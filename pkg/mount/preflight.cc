#include "mount/preflight.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "util/mountinfo.h"

namespace freshfs::mount {
namespace {

std::string Quote(const std::string& path) { return "\"" + path + "\""; }

// A source handed over as an open directory descriptor ("/dev/fd/N").
Checked CheckSourceFd(const std::string& given, int fd) {
  Checked c;
  const std::string descriptor = "source " + Quote(given) + ": descriptor " + std::to_string(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    c.error = descriptor +
              " is not open (the caller opens the directory and passes /dev/fd/N "
              "with that descriptor inherited)";
    return c;
  }
  if (!S_ISDIR(st.st_mode)) {
    c.error = descriptor + " is not a directory";
    return c;
  }
  if (st.st_nlink == 0) {
    c.error = descriptor + ": the directory was removed";
    return c;
  }
  // A descriptor of our own, above the standard ones (a daemon redirects
  // those), so that the caller's number may be anything.
  c.held.reset(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!c.held.valid()) {
    c.error = descriptor + ": " + std::strerror(errno);
    return c;
  }
  const std::string proc = "/proc/self/fd/" + std::to_string(c.held.get());
  if (::access(proc.c_str(), R_OK | X_OK) != 0) {
    c.error = descriptor + ": not readable: " + std::strerror(errno);
    c.held.reset();
    return c;
  }
  c.path = proc;
  c.name = given + " (" + CurrentPath(proc) + ")";
  return c;
}

}  // namespace

std::optional<int> DevFdNumber(const std::string& path) {
  constexpr std::string_view kPrefix = "/dev/fd/";
  if (!path.starts_with(kPrefix)) return std::nullopt;
  const std::string digits = path.substr(kPrefix.size());
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::atoi(digits.c_str());
}

std::string CurrentPath(const std::string& path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) ? std::string(resolved) : path;
}

bool IsMountPoint(const std::string& path) { return IsMountedAt(path); }

bool IsStrictlyInside(const std::string& inner, const std::string& outer) {
  if (inner.size() <= outer.size()) return false;
  if (outer == "/") return true;
  return inner.compare(0, outer.size(), outer) == 0 && inner[outer.size()] == '/';
}

Checked CheckSourceDir(const std::string& path) {
  if (std::optional<int> fd = DevFdNumber(path)) return CheckSourceFd(path, *fd);
  Checked c;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    c.error = "source " + Quote(path) + ": " + std::strerror(errno);
    return c;
  }
  if (!S_ISDIR(st.st_mode)) {
    c.error = "source " + Quote(path) + ": not a directory";
    return c;
  }
  if (::access(path.c_str(), R_OK | X_OK) != 0) {
    c.error = "source " + Quote(path) + ": not readable: " + std::strerror(errno);
    return c;
  }
  char resolved[PATH_MAX];
  if (!::realpath(path.c_str(), resolved)) {
    c.error = "source " + Quote(path) + ": " + std::strerror(errno);
    return c;
  }
  c.path = resolved;
  c.name = c.path;
  return c;
}

Checked CheckMountpoint(const std::string& path, bool taking_over) {
  Checked c;
  if (std::optional<int> fd = FuseFdOf(path)) {
    // Mounted by the caller, which hands over its /dev/fuse descriptor.
    struct stat st;
    if (::fstat(*fd, &st) != 0) {
      c.error = "mountpoint " + Quote(path) + ": descriptor " + std::to_string(*fd) +
                " is not open (the caller mounts with fd=N and passes /dev/fd/N with that "
                "descriptor inherited)";
    } else if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(10, 229)) {
      c.error =
          "mountpoint " + Quote(path) + ": descriptor " + std::to_string(*fd) + " is not /dev/fuse";
    } else {
      c.path = path;
    }
    return c;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOTCONN) {
      c.error = "mountpoint " + Quote(path) +
                ": a dead FUSE mount is still there (transport endpoint is not "
                "connected); remove it with: fusermount3 -u " +
                path;
    } else {
      c.error = "mountpoint " + Quote(path) + ": " + std::strerror(errno);
    }
    return c;
  }
  if (!S_ISDIR(st.st_mode)) {
    c.error = "mountpoint " + Quote(path) + ": not a directory";
    return c;
  }
  char resolved[PATH_MAX];
  if (!::realpath(path.c_str(), resolved)) {
    c.error = "mountpoint " + Quote(path) + ": " + std::strerror(errno);
    return c;
  }
  c.path = resolved;
  if (taking_over) {
    if (!IsMountPoint(c.path)) {
      c.error = "mountpoint " + Quote(path) + ": nothing is mounted there to take over";
      c.path.clear();
    }
    return c;
  }
  if (IsMountPoint(c.path)) {
    c.error = "mountpoint " + Quote(path) + ": already mounted (unmount it first: fusermount3 -u " +
              c.path + ")";
    c.path.clear();
  }
  return c;
}

}  // namespace freshfs::mount
