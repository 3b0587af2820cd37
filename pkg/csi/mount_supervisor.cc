#include "csi/mount_supervisor.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "csi/child_metrics.h"
#include "csi/fuse_connection.h"
#include "csi/mount_args.h"
#include "csi/spawn.h"
#include "csi/volume_credentials.h"
#include "util/duration.h"

namespace freshfs::csi {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kMaxBackoff = 30s;
constexpr auto kFirstBackoff = 500ms;
constexpr auto kHealthyAfter = 60s;

// The value of gauge `name` in a scrape, if it has one.
std::optional<double> GaugeValue(const ParsedExposition& scrape, const std::string& name) {
  for (const auto& family : scrape.families)
    if (family.name == name && !family.metric.empty()) return family.metric.front().gauge.value;
  return std::nullopt;
}

// A freshfs-mount that a freshfs-csi before 0.6 started (it mounted by
// itself; no start time was recorded): identified by its command line.
void StopLegacyChild(const VolumeState& state) {
  std::ifstream in("/proc/" + std::to_string(state.pid) + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(in)), {});
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  if (state.pid > 0 && cmdline.find("freshfs-mount") != std::string::npos &&
      cmdline.find(" " + state.spec.target_path) != std::string::npos) {
    ::kill(state.pid, SIGKILL);
  }
}

// The first directory on the way to `path` that `user` cannot search
// (S3 volumes' processes must reach their directories in the state dir),
// or "" when there is none.
std::string UnsearchableBy(const std::string& path, std::pair<uid_t, gid_t> user) {
  for (fs::path p = fs::absolute(path);; p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
      const bool ok = (st.st_mode & S_IXOTH) ||
                      (st.st_uid == user.first && (st.st_mode & S_IXUSR)) ||
                      (st.st_gid == user.second && (st.st_mode & S_IXGRP));
      if (!ok) return p.string();
    }
    if (!p.has_relative_path()) return "";
  }
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

// One published volume: its process, and the supervisor's bookkeeping.
struct MountSupervisor::Volume {
  explicit Volume(std::unique_ptr<VolumeProcess> p) : process(std::move(p)) {}
  const VolumeSpec& spec() const { return process->spec(); }

  std::unique_ptr<VolumeProcess> process;
  uint64_t restarts = 0;
  bool busy = false;       // Publish/Unpublish/restart in progress: the supervisor keeps off
  bool running = false;    // as last seen by the supervisor (for Stats and Children)
  int port = 0;            // the running child's metrics port
  std::string last_error;  // why the last start failed
  Clock::time_point started{};
  Clock::time_point next_try{};
  std::chrono::milliseconds backoff = kFirstBackoff;
};

MountSupervisor::MountSupervisor(Settings settings, ProcessSettings process, VolumeStateStore store,
                                 prometheus::Registry* registry)
    : settings_(std::move(settings)), process_(std::move(process)), store_(std::move(store)) {
  if (registry) {
    restarts_ = &prometheus::BuildCounter()
                     .Name("freshfs_csi_child_restarts_total")
                     .Help("freshfs-mount processes started again after they died, by volume")
                     .Register(*registry);
    resumes_ = &prometheus::BuildCounter()
                    .Name("freshfs_csi_resumes_total")
                    .Help(
                        "freshfs-mount processes succeeded by a new one on the same kernel "
                        "connection, by cause (crash: the old one died)")
                    .Register(*registry);
    upgrades_ = &prometheus::BuildCounter()
                     .Name("freshfs_csi_upgrades_total")
                     .Help(
                         "Adopted freshfs-mount processes of another binary moved in place to "
                         "this plugin's, by result (ok, failed: the old one serves on)")
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
  auto store = VolumeStateStore::Open(settings.state_dir);
  if (!store) return store.error();
  if (::access(settings.mount_binary.c_str(), X_OK) != 0)
    return Internal("freshfs-mount binary " + settings.mount_binary + ": " + std::strerror(errno));
  ProcessSettings process;
  process.mount_binary = settings.mount_binary;
  process.ready_timeout = settings.ready_timeout;
  process.allowed_dir_roots = settings.allowed_dir_roots;
  process.s3_user = settings.s3_user;
  if (!settings.child_cgroup.empty()) {
    auto cgroups = ChildCgroups::Open(settings.child_cgroup);
    if (!cgroups) return cgroups.error();
    process.cgroups = std::move(*cgroups);
  } else {
    spdlog::warn(
        "no --child-cgroup: volume processes stay in freshfs-csi's cgroup and die "
        "with its container");
  }
  if (std::string blocked = UnsearchableBy(settings.state_dir + "/volumes", settings.s3_user);
      !blocked.empty()) {
    spdlog::error(
        "{} is not searchable by the S3 volumes' user {}:{}: S3 volumes cannot start "
        "until it is (chmod o+x)",
        blocked, settings.s3_user.first, settings.s3_user.second);
  }
  std::unique_ptr<MountSupervisor> s(
      new MountSupervisor(std::move(settings), std::move(process), std::move(*store), registry));
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

std::shared_ptr<MountSupervisor::Volume> MountSupervisor::MakeVolume(const VolumeSpec& spec) const {
  const std::string& target = spec.target_path;
  return std::make_shared<Volume>(std::make_unique<VolumeProcess>(
      process_, spec, store_.VolumeDir(target), store_.Key(target)));
}

void MountSupervisor::Save(const Volume& v) const {
  VolumeState state;
  state.spec = v.spec();
  state.pid = v.process->pid();
  state.start_time = v.process->start_time();
  state.port = v.process->port();
  state.restarts = v.restarts;
  if (Status s = store_.Save(state); !s.ok()) spdlog::error("{}", s.error().message);
}

void MountSupervisor::UpdatePublished() {
  if (published_) published_->Set(double(volumes_.size()));
}

// A child running another freshfs-mount binary than --mount-binary (one a
// former plugin's image started, or the file was replaced since, then on
// SIGHUP) hands its volume to that binary in place.
void MountSupervisor::UpgradeToOurBinary(Volume& v) {
  if (!v.process->RunsAnotherBinary()) return;
  const pid_t old = v.process->pid();
  Status s = v.process->Upgrade();
  if (upgrades_) upgrades_->Add({{"result", s.ok() ? "ok" : "failed"}}).Increment();
  if (!s.ok()) {
    spdlog::warn("volume {}: not upgraded, freshfs-mount pid {} serves on: {}", v.spec().volume_id,
                 old, s.error().message);
    return;
  }
  v.port = v.process->port();
  Save(v);
}

void MountSupervisor::Restore() {
  for (VolumeState& state : store_.LoadAll()) {
    auto v = MakeVolume(state.spec);
    v->restarts = state.restarts;
    const std::string& target = state.spec.target_path;
    Status adopted = state.start_time == 0
                         ? NotFound("started by an older freshfs-csi")
                         : v->process->Adopt(state.pid, state.start_time, state.port);
    if (adopted.ok()) {
      spdlog::info("volume {} at {}: adopted running freshfs-mount (pid {})", state.spec.volume_id,
                   target, state.pid);
      v->running = true;
      v->port = state.port;
      v->started = Clock::now();
      UpgradeToOurBinary(*v);
    } else {
      spdlog::info("volume {} at {}: cannot adopt freshfs-mount (pid {}): {}; mounting it again",
                   state.spec.volume_id, target, state.pid, adopted.error().message);
      if (state.start_time == 0) {
        StopLegacyChild(state);
      } else if (ProcessStartTime(state.pid) == state.start_time) {
        ::kill(state.pid, SIGKILL);  // ours, but not to be kept
      }
      v->process->Clear();  // the supervisor starts it at once
    }
    volumes_[target] = v;
  }
  UpdatePublished();
}

Status MountSupervisor::Publish(const VolumeSpec& spec) {
  std::shared_ptr<Volume> v;
  {
    std::lock_guard lock(mu_);
    if (auto it = volumes_.find(spec.target_path); it != volumes_.end()) {
      if (it->second->spec() == spec) return Status::Ok();
      // kubelet publishes again (requiresRepublish) with the pod's next token.
      if (SameButPodToken(it->second->spec(), spec)) {
        if (it->second->busy) return Aborted("volume " + spec.volume_id + " is being restarted");
        if (Status s = it->second->process->RenewPodToken(spec.pod_token); !s.ok()) return s;
        Save(*it->second);
        return Status::Ok();
      }
      return AlreadyExists("target " + spec.target_path + " already has volume " +
                           it->second->spec().volume_id + " published with other parameters");
    }
    for (auto& [target, other] : volumes_) {
      if (other->spec().volume_id == spec.volume_id && other->spec().attributes != spec.attributes)
        return AlreadyExists("volume " + spec.volume_id + " is published at " + target +
                             " with other attributes");
    }
    v = MakeVolume(spec);
    v->busy = true;
    volumes_[spec.target_path] = v;
  }
  Status s = v->process->Start();
  std::lock_guard lock(mu_);
  if (!s.ok()) {
    volumes_.erase(spec.target_path);
    std::error_code ec;
    fs::remove_all(store_.VolumeDir(spec.target_path), ec);
    return s;
  }
  Save(*v);
  v->running = true;
  v->port = v->process->port();
  v->started = Clock::now();
  v->busy = false;
  UpdatePublished();
  return Status::Ok();
}

Status MountSupervisor::Unpublish(const std::string& volume_id, const std::string& target_path) {
  std::shared_ptr<Volume> v;
  {
    std::lock_guard lock(mu_);
    auto it = volumes_.find(target_path);
    if (it != volumes_.end() && it->second->spec().volume_id == volume_id) {
      v = it->second;
      v->busy = true;
    }
  }
  std::error_code ec;
  if (!v) {
    DetachFuse(target_path);  // whatever is left there
    fs::remove(target_path, ec);
    return Status::Ok();
  }
  v->process->Stop();
  fs::remove(target_path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    spdlog::warn("removing {}: {}", target_path, ec.message());
  store_.Remove(target_path);
  const std::string dir = store_.VolumeDir(target_path);
  if (fs::exists(dir + "/staging/failed", ec)) {
    spdlog::warn("volume {}: failed uploads are kept in {}/staging/failed", volume_id, dir);
  } else {
    fs::remove_all(dir, ec);
  }
  std::lock_guard lock(mu_);
  volumes_.erase(target_path);
  UpdatePublished();
  spdlog::info("volume {} unpublished from {}", volume_id, target_path);
  return Status::Ok();
}

Result<VolumeStats> MountSupervisor::Stats(const std::string& volume_id,
                                           const std::string& volume_path) {
  VolumeSpec spec;
  bool running;
  int port;
  uint64_t restarts;
  std::string last_error;
  {
    std::lock_guard lock(mu_);
    auto it = volumes_.find(volume_path);
    if (it == volumes_.end() || it->second->spec().volume_id != volume_id)
      return NotFound("volume " + volume_id + " is not published at " + volume_path);
    const Volume& v = *it->second;
    spec = v.spec();
    running = v.running;
    port = v.port;
    restarts = v.restarts;
    last_error = v.last_error;
  }
  VolumeStats stats;
  if (!running) {
    stats.abnormal = true;
    stats.condition_message = "freshfs-mount is not running; restarting it (" +
                              std::to_string(restarts) + " restarts so far)" +
                              (last_error.empty() ? "" : ": " + last_error);
    return stats;
  }
  {
    // S3 volumes: what their last complete listing held (S3Store::StatFs).
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
    if (v->running && v->port > 0) out.push_back(Child{VolumeLabel(v->spec().volume_id), v->port});
  return out;
}

std::shared_ptr<prometheus::Collectable> MountSupervisor::MetricsCollectable(
    const std::weak_ptr<prometheus::Collectable>& local) {
  ChildMetricsCollector::Options options;
  options.local.push_back(local);
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
    bool upgrade = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, settings_.check_interval,
                   [&] { return stopping_ || upgrades_requested_; });
      if (stopping_) return;
      upgrade = std::exchange(upgrades_requested_, false);
      for (auto& [target, v] : volumes_) targets.push_back(target);
    }
    for (const std::string& target : targets) CheckOne(target);
    if (upgrade)
      for (const std::string& target : targets) UpgradeOne(target);
  }
}

void MountSupervisor::RequestUpgrades() {
  spdlog::info("upgrade requested: volumes whose freshfs-mount is not {} move to it",
               settings_.mount_binary);
  std::lock_guard lock(mu_);
  upgrades_requested_ = true;
  cv_.notify_all();
}

// As CheckOne, the volume is ours alone meanwhile (busy).
void MountSupervisor::UpgradeOne(const std::string& target) {
  std::shared_ptr<Volume> v;
  {
    std::lock_guard lock(mu_);
    auto it = volumes_.find(target);
    if (it == volumes_.end() || it->second->busy || !it->second->running) return;
    v = it->second;
    v->busy = true;
  }
  if (v->process->Alive()) UpgradeToOurBinary(*v);
  std::lock_guard lock(mu_);
  v->busy = false;
}

// The restart loop for one volume: a child that died is succeeded by a new
// one on the same connection (docs/resume.md: applications see a pause),
// or where that cannot be, has its connection aborted and is started
// again, with backoff while starts keep failing.
void MountSupervisor::CheckOne(const std::string& target) {
  std::shared_ptr<Volume> v;
  {
    std::lock_guard lock(mu_);
    auto it = volumes_.find(target);
    if (it == volumes_.end() || it->second->busy) return;
    v = it->second;
    v->busy = true;
  }
  const auto now = Clock::now();
  const bool alive = v->process->Alive();
  bool start = false;
  if (alive) {
    if (now - v->started > kHealthyAfter) v->backoff = kFirstBackoff;
  } else if (v->running) {
    ++v->restarts;
    if (restarts_) restarts_->Add({{"volume", VolumeLabel(v->spec().volume_id)}}).Increment();
    Status resumed = Status(Internal("Linux before 6.9 cannot resend unanswered requests"));
    if (VolumeProcess::KernelResends()) {
      spdlog::warn("volume {}: freshfs-mount (pid {}) died; a successor resumes its connection",
                   v->spec().volume_id, v->process->pid());
      resumed = v->process->Resume();
    }
    if (resumed.ok()) {
      if (resumes_) resumes_->Add({{"cause", "crash"}}).Increment();
      std::lock_guard lock(mu_);
      v->port = v->process->port();
      v->started = Clock::now();
      Save(*v);
      v->busy = false;
      return;
    }
    spdlog::warn(
        "volume {}: freshfs-mount (pid {}) died and cannot be resumed ({}); mounting "
        "it again at {}",
        v->spec().volume_id, v->process->pid(), resumed.error().message, target);
    v->process->Clear();
    start = true;
  } else {
    start = now >= v->next_try;
  }
  Status s = start ? v->process->Start() : Status::Ok();
  std::lock_guard lock(mu_);
  if (start && s.ok()) {
    v->running = true;
    v->port = v->process->port();
    v->last_error.clear();
    v->started = Clock::now();
    Save(*v);
  } else if (start) {
    spdlog::error("volume {}: {}; next try in {}", v->spec().volume_id, s.error().message,
                  FormatDuration(v->backoff));
    v->running = false;
    v->last_error = s.error().message;
    v->next_try = Clock::now() + v->backoff;
    v->backoff = std::min<std::chrono::milliseconds>(v->backoff * 2, kMaxBackoff);
  }
  if (!alive && !start) v->running = false;
  if (!v->running) v->port = 0;
  v->busy = false;
}

}  // namespace freshfs::csi
