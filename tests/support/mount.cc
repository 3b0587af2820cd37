#include "support/mount.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <thread>
#include <unistd.h>

#ifndef FRESHFS_MOUNT_BIN
#error "FRESHFS_MOUNT_BIN must name the freshfs-mount binary under test"
#endif

namespace freshfs::testing {
namespace {

constexpr long kFuseSuperMagic = 0x65735546;
using Clock = std::chrono::steady_clock;

std::string& TestRootStorage() {
  static std::string root;
  return root;
}

// /proc/self/mounts escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountField(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      out.push_back(static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

struct MountEntry {
  std::string target;
  std::string fstype;
};

std::vector<MountEntry> ReadMountTable() {
  std::vector<MountEntry> entries;
  std::ifstream in("/proc/self/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string device, target, fstype;
    if (fields >> device >> target >> fstype) {
      entries.push_back({UnescapeMountField(target), fstype});
    }
  }
  return entries;
}

bool IsFuseType(const std::string& fstype) { return fstype.rfind("fuse", 0) == 0; }

bool IsAtOrBelow(const std::string& path, const std::string& prefix) {
  if (path == prefix) return true;
  std::string p = prefix;
  if (p.empty() || p.back() != '/') p.push_back('/');
  return path.rfind(p, 0) == 0;
}

bool AnyMountUnder(const std::string& prefix) {
  for (const auto& e : ReadMountTable()) {
    if (IsAtOrBelow(e.target, prefix)) return true;
  }
  return false;
}

}  // namespace

const std::string& NextMountBinary() {
  static const std::string path = FRESHFS_MOUNT_NEXT_BIN;
  return path;
}

const std::string& MountBinary() {
  static const std::string bin = [] {
    const char* env = std::getenv("FRESHFS_MOUNT_BIN");
    return std::string(env && *env ? env : FRESHFS_MOUNT_BIN);
  }();
  return bin;
}

const std::string& TestRoot() {
  std::string& root = TestRootStorage();
  if (root.empty()) {
    char tmpl[] = "/tmp/freshfs-itest-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::fprintf(stderr, "mkdtemp: %s\n", std::strerror(errno));
      std::abort();
    }
    root = tmpl;
  }
  return root;
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = TestRoot() + "/" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
    std::abort();
  }
  return tmpl;
}

void RemoveTree(const std::string& path) {
  if (path.empty()) return;
  if (AnyMountUnder(path)) {
    std::fprintf(stderr, "not removing %s: something is still mounted below it\n", path.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) std::fprintf(stderr, "removing %s: %s\n", path.c_str(), ec.message().c_str());
}

bool IsFuseMountpoint(const std::string& path) {
  for (const auto& e : ReadMountTable()) {
    if (e.target == path && IsFuseType(e.fstype)) return true;
  }
  return false;
}

std::vector<std::string> FuseMountsUnder(const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& e : ReadMountTable()) {
    if (IsFuseType(e.fstype) && IsAtOrBelow(e.target, prefix)) found.push_back(e.target);
  }
  return found;
}

bool StatfsSaysFuse(const std::string& path) {
  struct statfs st {};
  return statfs(path.c_str(), &st) == 0 && st.f_type == kFuseSuperMagic;
}

bool Unmount(const std::string& path) {
  if (!IsFuseMountpoint(path)) return true;
  RunToCompletion({"fusermount3", "-u", path}, 10s);
  if (IsFuseMountpoint(path)) RunToCompletion({"umount", "-l", path}, 10s);
  return !IsFuseMountpoint(path);
}

bool WaitForFuseMount(const std::string& path, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (IsFuseMountpoint(path) && StatfsSaysFuse(path)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

void DropKernelCaches() {
  sync();
  std::ofstream("/proc/sys/vm/drop_caches") << "2\n";
}

// ---------------------------------------------------------------- Mount

Mount::Mount()
    : dir_(MakeTempDir("mount")),
      source_(dir_ + "/source"),
      mnt_(dir_ + "/mnt"),
      plain_(dir_ + "/plain"),
      log_(dir_ + "/mount.log") {
  for (const auto* d : {&source_, &mnt_, &plain_}) mkdir(d->c_str(), 0755);
}

Mount::~Mount() {
  if (pid_ > 0 && !reaped_) {
    if (auto code = WaitForChild(pid_, 0ms)) {
      reaped_ = true;
      ADD_FAILURE() << "freshfs-mount (pid " << pid_ << ") died during the test, status " << *code
                    << "; its log ends:\n"
                    << LogTail();
    } else if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "--- freshfs-mount log (pid %d) ---\n%s\n", pid_, LogTail().c_str());
    }
  }
  Unmount(mnt_);
  if (pid_ > 0 && !reaped_) StopProcess(pid_);
  // A daemon the test started itself (background mode) on these paths.
  for (pid_t pid : ProcessesMentioning(dir_)) StopProcess(pid);
  RemoveTree(dir_);
}

::testing::AssertionResult Mount::Start(const std::vector<std::string>& extra_args,
                                        const std::string& source_arg) {
  std::vector<std::string> argv{MountBinary(), "-f"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  argv.push_back(source_arg.empty() ? source_ : source_arg);
  argv.push_back(mnt_);
  pid_ = SpawnWithLog(argv, log_);
  if (pid_ < 0) {
    return ::testing::AssertionFailure()
           << "cannot start " << MountBinary() << ": " << std::strerror(errno);
  }
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    if (IsFuseMountpoint(mnt_) && StatfsSaysFuse(mnt_)) return ::testing::AssertionSuccess();
    if (auto code = WaitForChild(pid_, 0ms)) {
      reaped_ = true;
      return ::testing::AssertionFailure()
             << "freshfs-mount exited with status " << *code << " before the mount was ready\n"
             << Log();
    }
    std::this_thread::sleep_for(10ms);
  }
  return ::testing::AssertionFailure() << "no FUSE mount at " << mnt_ << " after 10 s\n" << Log();
}

::testing::AssertionResult Mount::TakeOver(const std::string& binary,
                                           const std::vector<std::string>& extra_args,
                                           const std::string& source_arg) {
  if (pid_ <= 0 || reaped_) return ::testing::AssertionFailure() << "no daemon to take over from";
  std::vector<std::string> argv{binary, "-f", "--take-over"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  argv.push_back(source_arg.empty() ? source_ : source_arg);
  argv.push_back(mnt_);
  const pid_t successor = SpawnWithLog(argv, log_);
  if (successor < 0)
    return ::testing::AssertionFailure()
           << "cannot start " << binary << ": " << std::strerror(errno);
  const auto deadline = Clock::now() + 20s;
  while (Clock::now() < deadline) {
    if (auto code = WaitForChild(pid_, 0ms)) {
      reaped_ = true;
      if (*code != 0) {
        StopProcess(successor);
        return ::testing::AssertionFailure()
               << "the predecessor exited with status " << *code << "\n"
               << Log();
      }
      pid_ = successor;
      reaped_ = false;
      return ::testing::AssertionSuccess();
    }
    if (auto code = WaitForChild(successor, 0ms)) {
      return ::testing::AssertionFailure()
             << "the successor exited with status " << *code << " before taking over\n"
             << Log();
    }
    std::this_thread::sleep_for(10ms);
  }
  StopProcess(successor);
  return ::testing::AssertionFailure() << "no take-over after 20 s\n" << Log();
}

std::optional<int> Mount::UnmountAndWait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0 || reaped_) return std::nullopt;
  RunToCompletion({"fusermount3", "-u", mnt_}, 10s);
  auto code = WaitForChild(pid_, timeout);
  if (code) reaped_ = true;
  return code;
}

std::optional<int> Mount::SignalAndWait(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0 || reaped_) return std::nullopt;
  if (kill(pid_, sig) != 0) return std::nullopt;
  auto code = WaitForChild(pid_, timeout);
  if (code) reaped_ = true;
  return code;
}

bool Mount::DaemonAlive() const { return pid_ > 0 && !reaped_ && ProcessAlive(pid_); }

std::string Mount::Log() const { return ReadFileOrEmpty(log_); }

std::string Mount::LogTail() const {
  constexpr size_t kMax = 16 * 1024;
  std::string log = Log();
  return log.size() <= kMax ? log : "...\n" + log.substr(log.size() - kMax);
}

// ---------------------------------------------------------------- environment

void NoLeftoversEnvironment::SetUp() { BecomeSubreaper(); }

void NoLeftoversEnvironment::TearDown() {
  const std::string& root = TestRootStorage();
  if (root.empty()) return;  // no test made a directory
  for (const auto& target : FuseMountsUnder(root)) {
    ADD_FAILURE() << "FUSE mount left behind: " << target;
    Unmount(target);
  }
  for (pid_t pid : ProcessesMentioning(root)) {
    ADD_FAILURE() << "process left behind: pid " << pid << " "
                  << ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline");
    StopProcess(pid);
  }
  ReapExitedChildren();
  RemoveTree(root);
}

std::optional<int> Mount::MetricsPort() const { return PortAfter("metrics at http://"); }

std::optional<int> Mount::EventsPort() const {
  return PortAfter("accepting S3 event notifications at http://");
}

std::optional<int> Mount::PortAfter(const std::string& marker) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = Log();
    size_t at = log.rfind(marker);  // the latest mount's, after a restart
    if (at != std::string::npos) {
      size_t colon = log.find(':', at + marker.size());
      if (colon != std::string::npos) {
        int p = std::atoi(log.c_str() + colon + 1);
        if (p > 0) return p;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

}  // namespace freshfs::testing
