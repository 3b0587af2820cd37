#include "csi/volume_process.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "csi/dir_source.h"
#include "csi/fuse_connection.h"
#include "csi/mount_args.h"
#include "csi/spawn.h"
#include "csi/volume_credentials.h"
#include "util/quote.h"

namespace freshfs::csi {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The last non-empty line of `path` from `offset` on.
std::string LastLine(const std::string& path, std::streamoff offset) {
  std::ifstream in(path);
  in.seekg(offset);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

std::streamoff FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// pidfd_getfd(2): a duplicate of fd `number` of the process behind `pidfd`.
bool IsListeningSeqpacket(int fd) {
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return false;
  len = sizeof listening;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
         type == SOCK_SEQPACKET && listening;
}

UniqueFd TakeFd(int pidfd, int number) {
  return UniqueFd(int(::syscall(SYS_pidfd_getfd, pidfd, number, 0)));
}

bool SameFile(int a, int b) {
  struct stat sa {
  }, sb{};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

Status ChownTree(const std::string& dir, uid_t uid, gid_t gid) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) == 0 && st.st_uid == uid && st.st_gid == gid) return Status::Ok();
  std::error_code ec;
  if (::lchown(dir.c_str(), uid, gid) != 0)
    return Internal("chown " + Quoted(dir) + ": " + std::strerror(errno));
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, gid) != 0)
      return Internal("chown " + Quoted(it->path().string()) + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// The credentials as a sealed memfd of any size, readable by `owner` alone
// (the child opens /dev/fd/3 again, which checks the file's mode).
Result<UniqueFd> CredentialsFile(const std::string& text, std::pair<uid_t, gid_t> owner) {
  UniqueFd fd(::memfd_create("freshfs-credentials", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return Internal(std::string("memfd_create: ") + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Internal(std::string("writing the credentials: ") + std::strerror(errno));
    done += size_t(n);
  }
  if (::fchmod(fd.get(), 0400) != 0 || ::fchown(fd.get(), owner.first, owner.second) != 0 ||
      ::lseek(fd.get(), 0, SEEK_SET) != 0 ||
      ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
    return Internal(std::string("sealing the credentials: ") + std::strerror(errno));
  return fd;
}

}  // namespace

const std::vector<int> kDirCapabilities = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_CHOWN,
                                           CAP_FOWNER,       CAP_FSETID,          CAP_MKNOD};

VolumeProcess::VolumeProcess(const ProcessSettings& settings, VolumeSpec spec,
                             std::string state_dir, std::string cgroup)
    : settings_(settings),
      spec_(std::move(spec)),
      state_dir_(std::move(state_dir)),
      cgroup_(std::move(cgroup)),
      s3_(IsS3Spec(spec_)) {}

VolumeProcess::~VolumeProcess() = default;

Status VolumeProcess::OpenSource() {
  if (s3_ || source_.valid()) return Status::Ok();
  auto fd = OpenDirSource(spec_.attributes.at("source"), settings_.allowed_dir_roots);
  if (!fd) return fd.error();
  source_ = std::move(*fd);
  return Status::Ok();
}

Status VolumeProcess::PrepareDirs(std::string* staging, std::string* cache, std::string* log) {
  *staging = state_dir_ + "/staging";
  *cache = state_dir_ + "/cache";
  *log = state_dir_ + "/freshfs-mount.log";
  std::error_code ec;
  fs::create_directories(*staging, ec);
  if (!ec) fs::create_directories(*cache, ec);
  if (ec) return Internal("volume directory " + Quoted(state_dir_) + ": " + ec.message());
  ::chmod(state_dir_.c_str(), 0700);
  // An S3 volume's process runs unprivileged: its directories are its own.
  if (!s3_) return Status::Ok();
  if (Status s = ChownTree(state_dir_, settings_.s3_user.first, settings_.s3_user.second); !s.ok())
    return s;
  return WritePodToken(spec_, state_dir_, settings_.s3_user);
}

Status VolumeProcess::RenewPodToken(const std::string& token) {
  VolumeSpec renewed = spec_;
  renewed.pod_token = token;
  if (Status s = WritePodToken(renewed, state_dir_, settings_.s3_user); !s.ok()) return s;
  spec_ = std::move(renewed);
  return Status::Ok();
}

Status VolumeProcess::Start() {
  const std::string& target = spec_.target_path;
  if (Status s = OpenSource(); !s.ok()) return s;
  std::string staging, cache, log;
  if (Status s = PrepareDirs(&staging, &cache, &log); !s.ok()) return s;
  DetachFuse(target);  // a dead mount of an earlier child
  std::error_code ec;
  fs::create_directories(target, ec);
  if (ec) return Internal("target " + Quoted(target) + ": " + ec.message());

  auto fuse = MountFuse(target, {spec_.attributes.at("source"), IsReadOnlySpec(spec_)});
  if (!fuse) return fuse.error();
  // From here on a failure unmounts again.
  auto fail = [&](Status s) {
    if (::umount2(target.c_str(), MNT_DETACH) != 0)
      spdlog::warn("unmounting {}: {}", target, std::strerror(errno));
    settings_.cgroups.Remove(cgroup_);
    return s;
  };

  // The resume state: a memory file kept here, so that a successor finds
  // it when this child dies (docs/resume.md).
  state_.reset(::memfd_create("freshfs-state", MFD_CLOEXEC));
  if (!state_.valid()) return fail(Internal(std::string("memfd_create: ") + std::strerror(errno)));
  if (s3_ && ::fchown(state_.get(), settings_.s3_user.first, settings_.s3_user.second) != 0)
    return fail(Internal(std::string("fchown of the resume state: ") + std::strerror(errno)));
  Status spawned = SpawnChild(fuse->get(), staging, cache, log, {});
  if (!spawned.ok()) {
    state_.reset();
    return fail(spawned);
  }
  fuse_ = std::move(*fuse);
  spdlog::info("volume {} mounted at {} (freshfs-mount pid {}{})", spec_.volume_id, target, pid_,
               settings_.cgroups.enabled()
                   ? ", cgroup " + settings_.cgroups.parent() + "/" + cgroup_
                   : std::string());
  return Status::Ok();
}

Status VolumeProcess::Resume() {
  if (!fuse_.valid() || !state_.valid())
    return Internal("volume " + spec_.volume_id + ": no connection or state to resume");
  ForgetChild();
  std::string staging, cache, log;
  if (Status s = PrepareDirs(&staging, &cache, &log); !s.ok()) return s;
  Status s = SpawnChild(fuse_.get(), staging, cache, log, {"--resume", "crash"});
  if (!s.ok()) return s;
  spdlog::info("volume {}: freshfs-mount pid {} resumed the connection at {}", spec_.volume_id,
               pid_, spec_.target_path);
  return Status::Ok();
}

Status VolumeProcess::Upgrade() {
  if (!control_.valid() || !fuse_.valid() || !state_.valid())
    return Internal("volume " + spec_.volume_id + ": its freshfs-mount (pid " +
                    std::to_string(pid_) + ") has no control socket to hand over on");
  const pid_t old_pid = pid_;
  UniqueFd old_pidfd = std::move(pidfd_);
  const bool old_own = own_child_;
  std::string staging, cache, log;
  Status s = PrepareDirs(&staging, &cache, &log);
  if (s.ok()) s = SpawnChild(fuse_.get(), staging, cache, log, {"--take-over"});
  if (!s.ok()) {
    pidfd_ = std::move(old_pidfd);  // it serves on
    return s;
  }
  // The predecessor exits once its successor serves (after one last sync).
  pollfd p{old_pidfd.get(), POLLIN, 0};
  if (::poll(&p, 1, 10000) == 0) {
    spdlog::warn("volume {}: freshfs-mount pid {} handed over but did not exit; killing it",
                 spec_.volume_id, old_pid);
    ::syscall(SYS_pidfd_send_signal, old_pidfd.get(), SIGKILL, nullptr, 0);
    ::poll(&p, 1, 5000);
  }
  if (old_own) {
    siginfo_t info{};
    ::waitid(P_PIDFD, id_t(old_pidfd.get()), &info, WEXITED | WNOHANG);
  }
  spdlog::info("volume {}: freshfs-mount pid {} ({}) took over from pid {}", spec_.volume_id, pid_,
               settings_.mount_binary, old_pid);
  return Status::Ok();
}

bool VolumeProcess::RunsAnotherBinary() const {
  struct stat running, ours;
  if (pid_ <= 0 || ::stat(("/proc/" + std::to_string(pid_) + "/exe").c_str(), &running) != 0 ||
      ::stat(settings_.mount_binary.c_str(), &ours) != 0)
    return false;
  return running.st_dev != ours.st_dev || running.st_ino != ours.st_ino;
}

// A listening socket at an abstract address the kernel picks: children of
// another user can reach it (no file), and only children of the same user
// are let in (the child checks SO_PEERCRED).
static UniqueFd ControlListener() {
  UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!sock.valid() ||
      ::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(sa_family_t)) != 0 ||
      ::listen(sock.get(), 4) != 0)
    return {};
  return sock;
}

Status VolumeProcess::SpawnChild(int fuse, const std::string& staging, const std::string& cache,
                                 const std::string& log, std::vector<std::string> extra) {
  if (!control_.valid()) control_ = ControlListener();
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd ready_read(ready[0]), ready_write(ready[1]), credentials;
  if (!spec_.secrets.empty()) {
    // A sealed memory file, not a pipe: written in full before the child
    // exists, whatever its size, and nothing here can block on a reader.
    auto made = CredentialsFile(CredentialsFileText(spec_.secrets), settings_.s3_user);
    if (!made) return made.error();
    credentials = std::move(*made);
  }

  SpawnPlan plan;
  plan.argv = MountArgs(settings_.mount_binary, spec_,
                        VolumeDirs{staging, cache, PodTokenFile(state_dir_)});
  // Before SOURCE and MOUNTPOINT, the last two.
  extra.insert(extra.begin(), {"--state-fd", std::to_string(kStateFd)});
  if (control_.valid()) extra.insert(extra.begin(), {"--control-fd", std::to_string(kControlFd)});
  plan.argv.insert(plan.argv.end() - 2, extra.begin(), extra.end());
  UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  plan.log_fd = log_fd.get();
  plan.fds = {{fuse, kFuseFd}, {ready_write.get(), kReadyFd}, {state_.get(), kStateFd}};
  if (credentials.valid()) plan.fds.push_back({credentials.get(), kCredentialsFd});
  if (source_.valid()) plan.fds.push_back({source_.get(), kSourceFd});
  if (control_.valid()) plan.fds.push_back({control_.get(), kControlFd});
  UniqueFd procs, cgroup_ns;
  if (settings_.cgroups.enabled()) {
    auto opened = settings_.cgroups.Prepare(cgroup_);
    if (!opened) return opened.error();
    procs = std::move(*opened);
    cgroup_ns = settings_.cgroups.NamespaceToEnter();
  }
  plan.cgroup_procs_fd = procs.get();
  plan.cgroup_namespace_fd = cgroup_ns.get();
  if (s3_) {
    plan.user = settings_.s3_user;
  } else {
    plan.keep_caps = kDirCapabilities;
  }
  const std::streamoff log_start = FileSize(log);
  auto pid = Spawn(plan);
  if (!pid)
    return Internal("starting freshfs-mount for volume " + spec_.volume_id + ": " +
                    pid.error().message);
  ready_write.reset();
  credentials.reset();
  auto port = AwaitReady(ready_read.get(), settings_.ready_timeout);
  if (!port) {
    ::kill(*pid, SIGKILL);
    ::waitpid(*pid, nullptr, 0);
    std::string why = port.error().message;
    if (const std::string last = LastLine(log, log_start);
        !last.empty() && why.find(last) == std::string::npos)
      why += " (last log line: " + last + ")";
    return Error{port.error().code,
                 "freshfs-mount for volume " + spec_.volume_id + " failed: " + why};
  }
  pid_ = *pid;
  own_child_ = true;
  pidfd_ = OpenPidFd(pid_);
  start_time_ = ProcessStartTime(pid_);
  port_ = *port;
  return Status::Ok();
}

Status VolumeProcess::Adopt(pid_t pid, uint64_t start_time, int port) {
  if (start_time == 0 || ProcessStartTime(pid) != start_time)
    return NotFound("freshfs-mount (pid " + std::to_string(pid) + ") is gone");
  if (!IsFuseMount(spec_.target_path))
    return NotFound("nothing is mounted at " + spec_.target_path);
  UniqueFd pidfd = OpenPidFd(pid);
  if (!pidfd.valid() || ProcessStartTime(pid) != start_time)
    return NotFound("freshfs-mount (pid " + std::to_string(pid) + ") is gone");
  UniqueFd fuse = TakeFd(pidfd.get(), kFuseFd);
  if (!fuse.valid() || !IsFuseDevice(fuse.get()))
    return Internal("cannot take the FUSE connection of pid " + std::to_string(pid) + ": " +
                    (fuse.valid() ? "fd 4 is not /dev/fuse" : std::strerror(errno)));
  if (!s3_) {
    // The directory it serves must still be what the current config allows
    // at the source path (the roots may have changed; nothing is re-resolved
    // for the child either way).
    UniqueFd served = TakeFd(pidfd.get(), kSourceFd);
    if (Status s = OpenSource(); !s.ok()) return s;
    if (!served.valid() || !SameFile(served.get(), source_.get())) {
      source_.reset();
      return PermissionDenied("volume " + spec_.volume_id +
                              ": the directory its freshfs-mount "
                              "serves is not what " +
                              spec_.attributes.at("source") + " is now");
    }
  }
  // Its resume state (none from a freshfs-csi before resume existed: that
  // volume is mounted anew if its child dies).
  state_ = TakeFd(pidfd.get(), kStateFd);
  control_ = TakeFd(pidfd.get(), kControlFd);
  if (control_.valid() && !IsListeningSeqpacket(control_.get())) control_.reset();
  pid_ = pid;
  start_time_ = start_time;
  port_ = port;
  pidfd_ = std::move(pidfd);
  fuse_ = std::move(fuse);
  own_child_ = false;
  return Status::Ok();
}

bool VolumeProcess::KernelResends() {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 9);
}

bool VolumeProcess::Alive() {
  if (pid_ <= 0) return false;
  if (PidFdAlive(pidfd_.get())) return true;
  Reap();
  return false;
}

void VolumeProcess::Reap() {
  if (!own_child_ || !pidfd_.valid()) return;
  siginfo_t info{};
  ::waitid(P_PIDFD, id_t(pidfd_.get()), &info, WEXITED | WNOHANG);  // exactly this child
}

void VolumeProcess::ForgetChild() {
  pid_ = -1;
  start_time_ = 0;
  port_ = 0;
  pidfd_.reset();
}

void VolumeProcess::Clear() {
  AbortFuse(spec_.target_path);
  fuse_.reset();
  state_.reset();
  DetachFuse(spec_.target_path);
  settings_.cgroups.Remove(cgroup_);
  ForgetChild();
}

void VolumeProcess::Stop() {
  const std::string& target = spec_.target_path;
  if (IsFuseMount(target) && ::umount2(target.c_str(), 0) != 0) {
    spdlog::warn("unmounting {}: {}; detaching it", target, std::strerror(errno));
    DetachFuse(target);
  }
  DetachFuse(target);  // anything stacked below
  if (pid_ > 0 && PidFdAlive(pidfd_.get())) {
    // It exits by itself once the mount is gone; SIGTERM in case it is busy.
    ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGTERM, nullptr, 0);
    pollfd p{pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) == 0)
      ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    ::poll(&p, 1, 5000);
  }
  Reap();
  fuse_.reset();
  source_.reset();
  control_.reset();
  settings_.cgroups.Remove(cgroup_);
  ForgetChild();
}

}  // namespace freshfs::csi
