#include "csi/mount_supervisor.h"

#include <fcntl.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "csi/child_metrics.h"
#include "csi/mount_args.h"
#include "util/duration.h"
#include "util/mountinfo.h"

namespace freshfs::csi {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kMaxBackoff = 30s;
constexpr auto kFirstBackoff = 500ms;
constexpr auto kHealthyAfter = 60s;

std::string Hex(size_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016zx", h);
  return buf;
}

// Whether a FUSE filesystem is mounted at `path` (by /proc/self/mountinfo:
// never touches the mount itself, which may be dead).
bool IsFuseMount(const std::string& path) { return IsMountedAt(path, "fuse"); }

void DetachMount(const std::string& path) {
  if (IsFuseMount(path) && ::umount2(path.c_str(), MNT_DETACH) != 0)
    spdlog::warn("detaching {}: {}", path, std::strerror(errno));
}

bool ProcessAlive(pid_t pid, bool own_child) {
  if (pid <= 0) return false;
  if (own_child) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    return r == 0;
  }
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), {});
  size_t close = content.rfind(')');
  return close != std::string::npos && close + 2 < content.size() && content[close + 2] != 'Z';
}

std::string CommandLine(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

// The last non-empty line of `path` written after `offset`.
std::string LastLine(const std::string& path, std::streamoff offset) {
  std::ifstream in(path);
  in.seekg(offset);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

int MetricsPortFromLog(const std::string& path, std::streamoff offset) {
  std::ifstream in(path);
  in.seekg(offset);
  std::string line;
  const std::string marker = "metrics at http://127.0.0.1:";
  while (std::getline(in, line)) {
    size_t at = line.find(marker);
    if (at != std::string::npos) return std::atoi(line.c_str() + at + marker.size());
  }
  return 0;
}

// The value of gauge `name` in a scrape, if it has one.
std::optional<double> GaugeValue(const ParsedExposition& scrape, const std::string& name) {
  for (const auto& family : scrape.families)
    if (family.name == name && !family.metric.empty()) return family.metric.front().gauge.value;
  return std::nullopt;
}

// In the child, before exec: what freshfs-mount may still do as root is
// cut down to what serving a volume needs (the bounding set limits what
// root gets at exec; no_new_privs stops it regaining anything). Kept:
//   CAP_SYS_ADMIN        mount and unmount the FUSE filesystem at the target;
// and for directory sources, which act on files owned by anyone:
//   CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH   read and write the source's files
//                        whatever their modes (the kernel already checked the
//                        caller's permissions on the FUSE side);
//   CAP_CHOWN, CAP_FOWNER, CAP_FSETID       create entries owned by the calling
//                        user and change modes/times of files it does not own;
//   CAP_MKNOD            mknod(2) through the mount.
// Everything else (network admin, ptrace, module loading, raw I/O, setuid,
// ...) is dropped. An S3 volume keeps CAP_SYS_ADMIN only.
void DropPrivileges(bool s3) {
  std::vector<int> keep = {CAP_SYS_ADMIN};
  if (!s3) {
    keep.insert(keep.end(), {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_CHOWN, CAP_FOWNER,
                             CAP_FSETID, CAP_MKNOD});
  }
  for (int cap = 0; cap <= 63; ++cap) {
    if (std::find(keep.begin(), keep.end(), cap) != keep.end()) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;  // past the last
  }
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

}  // namespace

std::string DefaultMountBinary() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path next = self.parent_path() / "freshfs-mount";
    if (::access(next.c_str(), X_OK) == 0) return next.string();
  }
  if (const char* path = std::getenv("PATH")) {
    std::istringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      std::string candidate = dir + "/freshfs-mount";
      if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "/usr/bin/freshfs-mount";
}

struct MountSupervisor::Volume {
  VolumeSpec spec;
  pid_t pid = -1;
  bool own_child = false;  // ours to waitpid (not re-adopted)
  int port = 0;
  uint64_t restarts = 0;
  bool busy = false;  // Publish/Unpublish/restart in progress: the supervisor keeps off
  Clock::time_point started{};
  Clock::time_point next_try{};
  std::chrono::milliseconds backoff = kFirstBackoff;
};

MountSupervisor::MountSupervisor(Settings settings, prometheus::Registry* registry)
    : settings_(std::move(settings)) {
  if (registry) {
    restarts_ = &prometheus::BuildCounter()
                     .Name("freshfs_csi_child_restarts_total")
                     .Help("freshfs-mount processes started again after they died, by volume")
                     .Register(*registry);
    published_ = &prometheus::BuildGauge()
                      .Name("freshfs_csi_published_volumes")
                      .Help("Volumes published on this node (one freshfs-mount each)")
                      .Register(*registry)
                      .Add({});
  }
}

Result<std::unique_ptr<MountSupervisor>> MountSupervisor::Start(Settings settings,
                                                                prometheus::Registry* registry) {
  std::error_code ec;
  fs::create_directories(fs::path(settings.state_dir) / "volumes", ec);
  if (ec) return Internal("state directory " + settings.state_dir + ": " + ec.message());
  ::chmod(settings.state_dir.c_str(), 0700);  // holds S3 secrets of published volumes
  ::chmod((settings.state_dir + "/volumes").c_str(), 0700);
  if (::access(settings.mount_binary.c_str(), X_OK) != 0)
    return Internal("freshfs-mount binary " + settings.mount_binary + ": " + std::strerror(errno));
  std::unique_ptr<MountSupervisor> s(new MountSupervisor(std::move(settings), registry));
  s->Restore();
  s->supervisor_ = std::thread([p = s.get()] { p->Supervise(); });
  return s;
}

MountSupervisor::~MountSupervisor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  // Children keep serving their volumes; the next freshfs-csi adopts them.
}

std::string MountSupervisor::StateFile(const std::string& target) const {
  return settings_.state_dir + "/volumes/" + Hex(std::hash<std::string>{}(target)) + ".json";
}

std::string MountSupervisor::VolumeDir(const std::string& target) const {
  return settings_.state_dir + "/volumes/" + Hex(std::hash<std::string>{}(target)) + ".d";
}

void MountSupervisor::SaveState(const Volume& v) const {
  nlohmann::json j;
  j["volume_id"] = v.spec.volume_id;
  j["target_path"] = v.spec.target_path;
  j["read_only"] = v.spec.read_only;
  j["mount_flags"] = v.spec.mount_flags;
  j["attributes"] = v.spec.attributes;
  j["secrets"] = v.spec.secrets;
  j["pid"] = v.pid;
  j["port"] = v.port;
  j["restarts"] = v.restarts;
  const std::string path = StateFile(v.spec.target_path), tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    spdlog::error("saving state {}: {}", tmp, std::strerror(errno));
    return;
  }
  std::string text = j.dump();
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    spdlog::error("saving state {}: {}", path, std::strerror(errno));
}

void MountSupervisor::Restore() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(settings_.state_dir + "/volumes", ec)) {
    if (entry.path().extension() != ".json") continue;
    auto v = std::make_shared<Volume>();
    try {
      std::ifstream in(entry.path());
      nlohmann::json j = nlohmann::json::parse(in);
      v->spec.volume_id = j.at("volume_id");
      v->spec.target_path = j.at("target_path");
      v->spec.read_only = j.at("read_only");
      v->spec.mount_flags = j.at("mount_flags").get<std::vector<std::string>>();
      v->spec.attributes = j.at("attributes").get<std::map<std::string, std::string>>();
      v->spec.secrets = j.at("secrets").get<std::map<std::string, std::string>>();
      v->pid = j.at("pid");
      v->port = j.at("port");
      v->restarts = j.value("restarts", uint64_t(0));
    } catch (const std::exception& e) {
      spdlog::error("state file {} is unreadable ({}); ignoring it", entry.path().string(), e.what());
      continue;
    }
    const std::string& target = v->spec.target_path;
    bool alive = ProcessAlive(v->pid, false) &&
                 CommandLine(v->pid).find(" " + target) != std::string::npos && IsFuseMount(target);
    if (alive) {
      spdlog::info("volume {} at {}: adopted running freshfs-mount (pid {})", v->spec.volume_id,
                   target, v->pid);
      v->started = Clock::now();
    } else {
      spdlog::info("volume {} at {}: freshfs-mount is gone; restoring it", v->spec.volume_id, target);
      v->pid = -1;  // the supervisor starts it at once
    }
    volumes_[target] = v;
  }
  if (published_) published_->Set(double(volumes_.size()));
}

Status MountSupervisor::Launch(Volume& v) {
  const std::string& target = v.spec.target_path;
  VolumeDirs dirs{VolumeDir(target) + "/staging", VolumeDir(target) + "/cache"};
  std::error_code ec;
  fs::create_directories(dirs.staging, ec);
  DetachMount(target);  // a dead mount of an earlier child
  fs::create_directories(target, ec);
  if (ec) return Internal("target " + target + ": " + ec.message());
  const std::string log = VolumeDir(target) + "/freshfs-mount.log";
  std::streamoff log_start = 0;
  {
    struct stat st {};
    if (::stat(log.c_str(), &st) == 0) log_start = st.st_size;
  }
  std::vector<std::string> args = MountArgs(settings_.mount_binary, v.spec, dirs);
  int pipe_fds[2] = {-1, -1};
  if (!v.spec.secrets.empty()) {
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
    std::string text = CredentialsFileText(v.spec.secrets);
    bool written = ::write(pipe_fds[1], text.data(), text.size()) == ssize_t(text.size());
    ::close(pipe_fds[1]);
    if (!written) {
      ::close(pipe_fds[0]);
      return Internal("cannot pass the credentials to freshfs-mount");
    }
  }
  const bool s3 = v.spec.attributes.count("source") &&
                  v.spec.attributes.at("source").rfind("s3://", 0) == 0;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  pid_t pid = ::fork();
  if (pid == 0) {
    // The child: its own session (signals to freshfs-csi do not reach it),
    // output to the volume's log, credentials on fd 3, nothing else.
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    if (pipe_fds[0] >= 0) ::dup2(pipe_fds[0], kCredentialsFd);  // clears O_CLOEXEC on the copy
    DropPrivileges(s3);
    ::syscall(SYS_close_range, pipe_fds[0] >= 0 ? kCredentialsFd + 1 : kCredentialsFd, ~0u, 0);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
  if (pid < 0) return Internal(std::string("fork: ") + std::strerror(errno));

  const auto deadline = Clock::now() + settings_.ready_timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      std::string why = LastLine(log, log_start);
      DetachMount(target);
      return Internal("freshfs-mount for volume " + v.spec.volume_id + " exited: " +
                      (why.empty() ? "no message" : why));
    }
    if (IsFuseMount(target)) break;
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      DetachMount(target);
      return Unavailable("freshfs-mount for volume " + v.spec.volume_id + " did not mount within " +
                         FormatDuration(settings_.ready_timeout) + ": " + LastLine(log, log_start));
    }
    std::this_thread::sleep_for(20ms);
  }
  v.pid = pid;
  v.own_child = true;
  v.started = Clock::now();
  for (int i = 0; i < 100 && v.port == 0; ++i) {  // logged before the mount: normally at once
    v.port = MetricsPortFromLog(log, log_start);
    if (v.port == 0) std::this_thread::sleep_for(10ms);
  }
  spdlog::info("volume {} mounted at {} (freshfs-mount pid {})", v.spec.volume_id, target, pid);
  return Status::Ok();
}

Status MountSupervisor::StopChild(Volume& v) {
  const std::string& target = v.spec.target_path;
  if (IsFuseMount(target) && ::umount2(target.c_str(), 0) != 0) {
    spdlog::warn("unmounting {}: {}; detaching it", target, std::strerror(errno));
    ::umount2(target.c_str(), MNT_DETACH);
  }
  if (v.pid > 0) {
    ::kill(v.pid, SIGTERM);
    const auto deadline = Clock::now() + 10s;
    while (ProcessAlive(v.pid, v.own_child) && Clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    if (ProcessAlive(v.pid, v.own_child)) {
      ::kill(v.pid, SIGKILL);
      if (v.own_child) ::waitpid(v.pid, nullptr, 0);
    }
  }
  v.pid = -1;
  return Status::Ok();
}

Status MountSupervisor::Publish(const VolumeSpec& spec) {
  std::shared_ptr<Volume> v;
  {
    std::lock_guard lock(mu_);
    if (auto it = volumes_.find(spec.target_path); it != volumes_.end()) {
      if (it->second->spec == spec) return Status::Ok();
      return AlreadyExists("target " + spec.target_path + " already has volume " +
                           it->second->spec.volume_id + " published with other parameters");
    }
    for (auto& [target, other] : volumes_) {
      if (other->spec.volume_id == spec.volume_id &&
          other->spec.attributes != spec.attributes)
        return AlreadyExists("volume " + spec.volume_id + " is published at " + target +
                             " with other attributes");
    }
    v = std::make_shared<Volume>();
    v->spec = spec;
    v->busy = true;
    volumes_[spec.target_path] = v;
  }
  Status s = Launch(*v);
  std::lock_guard lock(mu_);
  if (!s.ok()) {
    volumes_.erase(spec.target_path);
    std::error_code ec;
    fs::remove_all(VolumeDir(spec.target_path), ec);
    return s;
  }
  SaveState(*v);
  v->busy = false;
  if (published_) published_->Set(double(volumes_.size()));
  return Status::Ok();
}

Status MountSupervisor::Unpublish(const std::string& volume_id, const std::string& target_path) {
  std::shared_ptr<Volume> v;
  {
    std::lock_guard lock(mu_);
    auto it = volumes_.find(target_path);
    if (it != volumes_.end() && it->second->spec.volume_id == volume_id) {
      v = it->second;
      v->busy = true;
    }
  }
  std::error_code ec;
  if (!v) {
    DetachMount(target_path);  // whatever is left there
    fs::remove(target_path, ec);
    return Status::Ok();
  }
  (void)StopChild(*v);
  fs::remove(target_path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    spdlog::warn("removing {}: {}", target_path, ec.message());
  fs::remove(StateFile(target_path), ec);
  const std::string dir = VolumeDir(target_path);
  if (fs::exists(dir + "/staging/failed", ec)) {
    spdlog::warn("volume {}: failed uploads are kept in {}/staging/failed", volume_id, dir);
  } else {
    fs::remove_all(dir, ec);
  }
  std::lock_guard lock(mu_);
  volumes_.erase(target_path);
  if (published_) published_->Set(double(volumes_.size()));
  spdlog::info("volume {} unpublished from {}", volume_id, target_path);
  return Status::Ok();
}

Result<VolumeStats> MountSupervisor::Stats(const std::string& volume_id,
                                           const std::string& volume_path) {
  VolumeSpec spec;
  pid_t pid;
  bool own;
  int port;
  uint64_t restarts;
  {
    std::lock_guard lock(mu_);
    auto it = volumes_.find(volume_path);
    if (it == volumes_.end() || it->second->spec.volume_id != volume_id)
      return NotFound("volume " + volume_id + " is not published at " + volume_path);
    spec = it->second->spec;
    pid = it->second->pid;
    own = it->second->own_child;
    port = it->second->port;
    restarts = it->second->restarts;
  }
  VolumeStats stats;
  bool running = pid > 0 && (own ? ::kill(pid, 0) == 0 : ProcessAlive(pid, false));
  if (!running) {
    stats.abnormal = true;
    stats.condition_message = "freshfs-mount is not running; restarting it (" +
                              std::to_string(restarts) + " restarts so far)";
    return stats;
  }
  const std::string source = spec.attributes.count("source") ? spec.attributes.at("source") : "";
  if (source.rfind("s3://", 0) != 0) {
    struct statvfs st {};
    if (::statvfs(volume_path.c_str(), &st) == 0) {
      VolumeUsage bytes, inodes;
      bytes.total = int64_t(st.f_blocks * st.f_frsize);
      bytes.available = int64_t(st.f_bavail * st.f_frsize);
      bytes.used = int64_t((st.f_blocks - st.f_bfree) * st.f_frsize);
      inodes.total = int64_t(st.f_files);
      inodes.available = int64_t(st.f_favail);
      inodes.used = int64_t(st.f_files - st.f_ffree);
      stats.bytes = bytes;
      stats.inodes = inodes;
    }
  }
  std::chrono::milliseconds poll = 5s;
  if (auto it = spec.attributes.find("pollInterval"); it != spec.attributes.end()) {
    std::string error;
    if (auto d = ParseDuration(it->second, &error)) poll = *d;
  }
  ParsedExposition scrape = ScrapeLocalMetrics(port, 2s);
  if (!scrape.error.empty()) {
    stats.abnormal = true;
    stats.condition_message = "freshfs-mount does not answer on its metrics endpoint";
    return stats;
  }
  auto staleness = GaugeValue(scrape, "freshfs_staleness_seconds");
  const double bound = 2.0 * double(poll.count()) / 1000.0 + 10.0;
  if (poll.count() > 0 && staleness && *staleness > bound) {
    stats.abnormal = true;
    char msg[200];
    std::snprintf(msg, sizeof msg,
                  "data may be stale: the last complete sync of the source was %.0f s ago "
                  "(poll interval %s); is the source reachable?",
                  *staleness, FormatDuration(poll).c_str());
    stats.condition_message = msg;
    return stats;
  }
  stats.condition_message = "ok";
  return stats;
}

std::vector<MountSupervisor::Child> MountSupervisor::Children() const {
  std::lock_guard lock(mu_);
  std::vector<Child> out;
  for (auto& [target, v] : volumes_)
    if (v->pid > 0 && v->port > 0) out.push_back(Child{VolumeLabel(v->spec.volume_id), v->port});
  return out;
}

std::shared_ptr<prometheus::Collectable> MountSupervisor::MetricsCollectable(
    std::weak_ptr<prometheus::Collectable> local) {
  ChildMetricsCollector::Options options;
  options.local.push_back(std::move(local));
  return std::make_shared<ChildMetricsCollector>(
      [this] {
        std::vector<ChildMetricsCollector::Child> out;
        for (const Child& c : Children()) out.push_back({c.volume, c.port});
        return out;
      },
      std::move(options));
}

void MountSupervisor::Supervise() {
  for (;;) {
    std::vector<std::string> targets;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, settings_.check_interval, [&] { return stopping_; });
      if (stopping_) return;
      for (auto& [target, v] : volumes_) targets.push_back(target);
    }
    for (const std::string& target : targets) CheckOne(target);
  }
}

void MountSupervisor::CheckOne(const std::string& target) {
  std::shared_ptr<Volume> v;
  {
    std::lock_guard lock(mu_);
    auto it = volumes_.find(target);
    if (it == volumes_.end() || it->second->busy) return;
    v = it->second;
    const auto now = Clock::now();
    if (ProcessAlive(v->pid, v->own_child)) {
      if (now - v->started > kHealthyAfter) v->backoff = kFirstBackoff;
      return;
    }
    if (now < v->next_try) return;
    v->busy = true;
  }
  if (v->pid > 0) {
    spdlog::warn("volume {}: freshfs-mount (pid {}) died; mounting it again at {}",
                 v->spec.volume_id, v->pid, target);
    ++v->restarts;
    if (restarts_) restarts_->Add({{"volume", VolumeLabel(v->spec.volume_id)}}).Increment();
  }
  v->pid = -1;
  v->port = 0;
  Status s = Launch(*v);
  std::lock_guard lock(mu_);
  if (s.ok()) {
    SaveState(*v);
  } else {
    spdlog::error("volume {}: {}; next try in {}", v->spec.volume_id, s.message(),
                  FormatDuration(v->backoff));
    v->next_try = Clock::now() + v->backoff;
    v->backoff = std::min<std::chrono::milliseconds>(v->backoff * 2, kMaxBackoff);
  }
  v->busy = false;
}

}  // namespace freshfs::csi
