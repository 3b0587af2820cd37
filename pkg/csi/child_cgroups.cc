#include "csi/child_cgroups.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "util/quote.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace freshfs::csi {
namespace {

using namespace std::chrono_literals;

bool Populated(const std::string& dir) {
  std::ifstream in(dir + "/cgroup.events");
  std::string key, value;
  while (in >> key >> value)
    if (key == "populated") return value != "0";
  return false;
}

}  // namespace

Result<ChildCgroups> ChildCgroups::Open(const std::string& parent) {
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) return InvalidArgument("--child-cgroup " + Quoted(parent) + ": " + ec.message());
  struct statfs fs {};
  if (::statfs(parent.c_str(), &fs) != 0)
    return InvalidArgument("--child-cgroup " + Quoted(parent) + ": " + std::strerror(errno));
  if (fs.f_type != CGROUP2_SUPER_MAGIC)
    return InvalidArgument("--child-cgroup " + Quoted(parent) +
                           " is not a cgroup v2 directory (mount the host's /sys/fs/cgroup)");
  return ChildCgroups(parent);
}

Result<UniqueFd> ChildCgroups::Prepare(const std::string& name) const {
  const std::string dir = parent_ + "/" + name;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Internal("cgroup " + Quoted(dir) + ": " + std::strerror(errno));
  UniqueFd procs(::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  if (!procs.valid())
    return Internal("cgroup " + Quoted(dir) + ": cgroup.procs: " + std::strerror(errno));
  return procs;
}

UniqueFd ChildCgroups::NamespaceToEnter() const {
  struct stat ours {
  }, init{};
  if (::stat("/proc/self/ns/cgroup", &ours) != 0 || ::stat("/proc/1/ns/cgroup", &init) != 0 ||
      (ours.st_ino == init.st_ino && ours.st_dev == init.st_dev))
    return UniqueFd();
  return UniqueFd(::open("/proc/1/ns/cgroup", O_RDONLY | O_CLOEXEC));
}

bool ChildCgroups::Exists(const std::string& name) const {
  struct stat st {};
  return enabled() && ::stat((parent_ + "/" + name).c_str(), &st) == 0;
}

void ChildCgroups::Remove(const std::string& name) const {
  if (!Exists(name)) return;
  const std::string dir = parent_ + "/" + name;
  if (Populated(dir)) {
    std::ofstream(dir + "/cgroup.kill") << "1";
    for (int i = 0; i < 250 && Populated(dir); ++i) std::this_thread::sleep_for(20ms);
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT)
    spdlog::warn("removing cgroup {}: {}", dir, std::strerror(errno));
}

}  // namespace freshfs::csi
