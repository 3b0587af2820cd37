#include "mount/run.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <mutex>

#include "mount/preflight.h"
#include "mount/signals.h"
#include "mount/volume.h"
#include "util/log.h"
#include "util/unique_fd.h"

namespace freshfs::mount {
namespace {

constexpr char kReady = 'R';
constexpr char kError = 'E';

void PrintError(const std::string& message) {
  std::cerr << "freshfs-mount: " << message << std::endl;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

// Reports the start-up outcome, once (later reports are dropped). In the
// process the user started: an error as one line on stderr, and with
// --ready-fd one line on that descriptor, "READY <metrics port>" or
// "ERROR <message>", which is then closed. In the daemon (background mode,
// after HandOver): through a pipe to that process, which reports on.
// Ready() runs on a FUSE thread, the rest on the main thread.
class StartupReporter {
 public:
  explicit StartupReporter(UniqueFd ready_fd) : ready_fd_(std::move(ready_fd)) {}

  // In the daemon: report to the parent through `pipe`; --ready-fd is the
  // parent's to write (the daemon's copy is closed here).
  void HandOver(UniqueFd pipe) {
    std::lock_guard lock(mu_);
    ready_fd_.reset();
    pipe_ = std::move(pipe);
  }

  void Ready(int metrics_port) {
    std::lock_guard lock(mu_);
    if (reported_) return;
    reported_ = true;
    if (pipe_.valid()) WriteAll(pipe_.get(), kReady + std::to_string(metrics_port));
    if (ready_fd_.valid())
      WriteAll(ready_fd_.get(), "READY " + std::to_string(metrics_port) + "\n");
    Close();
  }
  // Returns the exit code for a failed start, 1.
  int Error(const std::string& message) {
    std::lock_guard lock(mu_);
    if (reported_) return 1;
    reported_ = true;
    if (pipe_.valid()) {
      WriteAll(pipe_.get(), kError + message);
    } else {
      PrintError(message);
    }
    if (ready_fd_.valid()) {
      std::string line = message;
      std::replace(line.begin(), line.end(), '\n', ' ');
      WriteAll(ready_fd_.get(), "ERROR " + line + "\n");
    }
    Close();
    return 1;
  }
  bool reported() {
    std::lock_guard lock(mu_);
    return reported_;
  }

 private:
  void Close() {
    pipe_.reset();
    ready_fd_.reset();
  }
  std::mutex mu_;
  bool reported_ = false;
  UniqueFd ready_fd_, pipe_;
};

// Parent side of the background start: waits for the daemon's word and
// reports it (the daemon closes the pipe right after writing it).
int WaitForDaemon(pid_t child, UniqueFd pipe, StartupReporter& reporter) {
  std::string message;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(pipe.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buf, size_t(n));
  }
  if (!message.empty() && message[0] == kReady) {
    reporter.Ready(std::atoi(message.c_str() + 1));
    return 0;
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!message.empty() && message[0] == kError) return reporter.Error(message.substr(1));
  if (WIFSIGNALED(status)) {
    return reporter.Error(std::string("the daemon was killed by signal ") +
                          strsignal(WTERMSIG(status)) + " before the mount was ready");
  }
  return reporter.Error("the daemon exited before the mount was ready");
}

// --ready-fd N: open for writing, and none of the descriptors handed over
// for SOURCE or MOUNTPOINT (a report there would go to the wrong place).
std::string CheckReadyFd(const config::Options& options) {
  const int fd = *options.ready_fd;
  const std::string flag = "--ready-fd " + std::to_string(fd) + ": ";
  if (fd == DevFdNumber(options.mountpoint)) return flag + "that is MOUNTPOINT's descriptor";
  if (fd == DevFdNumber(config::DirSourcePath(options.source)))
    return flag + "that is SOURCE's descriptor";
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) {
    return flag + "descriptor " + std::to_string(fd) +
           " is not open (pass a pipe's write end, inherited)";
  }
  if ((flags & O_ACCMODE) == O_RDONLY)
    return flag + "descriptor " + std::to_string(fd) + " is not open for writing";
  return "";
}

void RedirectStdio(const std::string& log_file) {
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return;
  ::dup2(null, STDIN_FILENO);
  ::dup2(null, STDOUT_FILENO);
  int err = null;
  if (!log_file.empty()) {
    int fd = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd >= 0) err = fd;
  }
  ::dup2(err, STDERR_FILENO);
  if (err != null) ::close(err);
  ::close(null);
}

// Open files through the mount each hold a descriptor here. Raises the soft
// limit to the hard one only, which needs no privilege (CAP_SYS_RESOURCE);
// where even that fails, the limit stays as it was.
void RaiseFileLimit() {
  rlimit lim;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

int Serve(const config::Options& options, const Checked& source, const std::string& mountpoint,
          StartupReporter& reporter, std::string_view version) {
  BlockTerminationSignals();  // before any thread exists; handled in Volume::Serve
  LogSettings log;
  log.json = options.log_format == config::LogFormat::kJson;
  log.debug = options.debug;
  if (options.log_file) {
    log.sink = LogSink::kFile;
    log.file = *options.log_file;
  } else {
    log.sink = options.foreground ? LogSink::kStderr : LogSink::kSyslog;
  }
  if (std::string err = InitLogging(log); !err.empty()) return reporter.Error(err);

  Volume volume(options, source, mountpoint, std::string(version));
  bool background = !options.foreground;
  std::string log_file = options.log_file.value_or("");
  std::string error;
  bool mounted = volume.Mount(
      [&] {
        reporter.Ready(volume.MetricsPort());
        if (background) RedirectStdio(log_file);
      },
      &error);
  if (!mounted) return reporter.Error(error);
  int code = volume.Serve();
  // Ended (unmounted, signalled) before the kernel's first word.
  if (!reporter.reported()) return reporter.Error("the mount ended before it was ready");
  return code;
}

}  // namespace

// Paths in options made absolute: the daemon changes to "/".
config::Options WithAbsolutePaths(config::Options options) {
  for (std::optional<std::string>* path :
       {&options.s3_ca_file, &options.s3_credentials_file, &options.s3_web_identity_token_file,
        &options.cache_dir, &options.log_file, &options.events_token_file}) {
    if (*path && !path->value().empty()) **path = std::filesystem::absolute(**path).string();
  }
  options.staging_dir = std::filesystem::absolute(options.staging_dir).string();
  return options;
}

int Run(const config::Options& given, std::string_view version) {
  // A supervisor that stopped reading --ready-fd must not end us.
  ::signal(SIGPIPE, SIG_IGN);
  const config::Options options = WithAbsolutePaths(given);
  UniqueFd ready_fd;
  if (options.ready_fd) {
    if (std::string error = CheckReadyFd(options); !error.empty()) {
      PrintError(error);
      return 1;
    }
    ready_fd.reset(*options.ready_fd);
  }
  StartupReporter reporter(std::move(ready_fd));

  std::string reason;
  const bool s3 = config::ParseS3Source(options.source, &reason).has_value();
  if (options.events_token_file && !options.events_address) {
    return reporter.Error(
        "--events-token-file is the secret of --events-address: give both, or "
        "neither");
  }
  if (!s3 && options.events_address) {
    return reporter.Error(
        "--events-address takes S3 event notifications: it needs an s3:// "
        "source (directories use --events inotify)");
  }
  Checked source;
  if (s3) {
    source.path = source.name = options.source;  // checked when the store opens (needs the network)
  } else {
    source = CheckSourceDir(config::DirSourcePath(options.source));
    if (!source.error.empty()) return reporter.Error(source.error);
  }
  // A standalone take-over finds the daemon by MOUNTPOINT; a supervisor's
  // (MOUNTPOINT /dev/fd/N) by the control socket it passes to both.
  const bool supervised = FuseFdOf(options.mountpoint).has_value();
  if (options.take_over && (options.resume || (supervised != options.control_fd.has_value()))) {
    return reporter.Error(
        "--take-over gets the connection and state from the daemon serving "
        "MOUNTPOINT: a directory, or /dev/fd/N with that daemon's --control-fd; "
        "leave out --resume");
  }
  if (!options.resumable && (options.resume || options.state_fd || options.control_fd)) {
    return reporter.Error(
        "--resumable=false keeps no resume state: leave out --resume, "
        "--state-fd and --control-fd");
  }
  Checked mountpoint = CheckMountpoint(options.mountpoint, options.take_over);
  if (!mountpoint.error.empty()) return reporter.Error(mountpoint.error);
  if (!s3 && !FuseFdOf(mountpoint.path) &&
      IsStrictlyInside(mountpoint.path, CurrentPath(source.path))) {
    return reporter.Error("mountpoint \"" + options.mountpoint + "\" is inside the source \"" +
                          source.name + "\"; the mount would contain itself");
  }
  RaiseFileLimit();

  if (options.foreground) return Serve(options, source, mountpoint.path, reporter, version);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return reporter.Error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t child = ::fork();
  if (child < 0) return reporter.Error(std::string("fork: ") + std::strerror(errno));
  if (child > 0) {
    write_end.reset();
    return WaitForDaemon(child, std::move(read_end), reporter);
  }
  read_end.reset();
  reporter.HandOver(std::move(write_end));
  ::setsid();
  if (::chdir("/") != 0) {
    // Paths are absolute by now; the working directory only matters for
    // not pinning a filesystem.
  }
  return Serve(options, source, mountpoint.path, reporter, version);
}

}  // namespace freshfs::mount
