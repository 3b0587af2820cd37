#include "mount/preflight.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace freshfs::mount {
namespace {

std::string Quote(const std::string& path) { return "\"" + path + "\""; }

}  // namespace

std::string UnescapeMountPath(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      auto octal = field.substr(i + 1, 3);
      if (octal.find_first_not_of("01234567") == std::string_view::npos) {
        out.push_back(char(std::stoi(std::string(octal), nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

bool IsMountPoint(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint ...
    std::istringstream fields(line);
    std::string id, parent, dev, root, mountpoint;
    fields >> id >> parent >> dev >> root >> mountpoint;
    if (UnescapeMountPath(mountpoint) == path) return true;
  }
  return false;
}

bool IsStrictlyInside(const std::string& inner, const std::string& outer) {
  if (inner.size() <= outer.size()) return false;
  if (outer == "/") return true;
  return inner.compare(0, outer.size(), outer) == 0 && inner[outer.size()] == '/';
}

Checked CheckSourceDir(const std::string& path) {
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
  return c;
}

Checked CheckMountpoint(const std::string& path) {
  Checked c;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOTCONN) {
      c.error = "mountpoint " + Quote(path) +
                ": a dead FUSE mount is still there (transport endpoint is not "
                "connected); remove it with: fusermount3 -u " + path;
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
  if (IsMountPoint(c.path)) {
    c.error = "mountpoint " + Quote(path) + ": already mounted (unmount it first: fusermount3 -u " +
              c.path + ")";
    c.path.clear();
  }
  return c;
}

}  // namespace freshfs::mount
