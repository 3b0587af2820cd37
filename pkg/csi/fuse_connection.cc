#include "csi/fuse_connection.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>

#include "util/mountinfo.h"
#include "util/quote.h"

namespace freshfs::csi {
namespace {

constexpr const char* kConnections = "/sys/fs/fuse/connections";

// The connection's directory name: the mount's device number as the kernel
// encodes it internally, (major << 20) | minor (FUSE mounts have major 0).
std::string ConnectionDir(const MountEntry& mount) {
  return std::string(kConnections) + "/" + std::to_string((mount.major << 20) | mount.minor);
}

}  // namespace

Result<UniqueFd> MountFuse(const std::string& target, const FuseMountOptions& options) {
  UniqueFd fd(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Internal(std::string("cannot open /dev/fuse: ") + std::strerror(errno));
  struct stat st {};
  if (::stat(target.c_str(), &st) != 0)
    return Internal("target " + Quoted(target) + ": " + std::strerror(errno));
  char text[160];
  std::snprintf(text, sizeof text,
                "fd=%d,rootmode=%o,user_id=0,group_id=0,default_permissions,allow_other", fd.get(),
                unsigned(st.st_mode & S_IFMT));
  unsigned long flags = MS_NOSUID | MS_NODEV | (options.read_only ? MS_RDONLY : 0);
  if (::mount(options.fsname.c_str(), target.c_str(), "fuse.freshfs", flags, text) != 0)
    return Internal("cannot mount " + Quoted(target) + ": " + std::strerror(errno));
  return fd;
}

bool IsFuseDevice(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 &&
         minor(st.st_rdev) == 229;
}

bool IsFuseMount(const std::string& target) { return IsMountedAt(target, "fuse"); }

int FuseMountCount(const std::string& target) { return int(MountsAt(target, "fuse").size()); }

void AbortFuse(const std::string& target) {
  const auto mounts = MountsAt(target, "fuse");
  if (mounts.empty()) return;
  // fusectl mounted here for the abort is unmounted again: the node is left
  // as it was found.
  bool mounted_here = false;
  if (!IsMountedAt(kConnections, "fusectl")) {
    mounted_here = ::mount("fusectl", kConnections, "fusectl", 0, nullptr) == 0;
    if (!mounted_here)
      spdlog::warn("cannot mount fusectl on {}: {}", kConnections, std::strerror(errno));
  }
  for (const MountEntry& mount : mounts) {
    const std::string abort = ConnectionDir(mount) + "/abort";
    UniqueFd fd(::open(abort.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid() || ::write(fd.get(), "1", 1) != 1)
      spdlog::warn("aborting the FUSE connection at {} ({}): {}", target, abort,
                   std::strerror(errno));
  }
  if (mounted_here) ::umount2(kConnections, MNT_DETACH);
}

void DetachFuse(const std::string& target) {
  for (int i = FuseMountCount(target); i > 0; --i) {
    if (::umount2(target.c_str(), MNT_DETACH) != 0) {
      spdlog::warn("detaching {}: {}", target, std::strerror(errno));
      return;
    }
  }
}

}  // namespace freshfs::csi
