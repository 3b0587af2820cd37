#include "mount/run.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

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

// Reports start-up success or failure to the process the user started: in
// background mode through a pipe to the waiting parent, else on stderr.
class StartupReporter {
 public:
  explicit StartupReporter(UniqueFd pipe) : pipe_(std::move(pipe)) {}

  void Ready() {
    if (!pipe_.valid()) return;
    WriteAll(std::string(1, kReady));
    pipe_.reset();
  }
  void Error(const std::string& message) {
    if (!pipe_.valid()) return PrintError(message);
    WriteAll(kError + message);
    pipe_.reset();
  }

 private:
  void WriteAll(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(pipe_.get(), data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += size_t(n);
    }
  }
  UniqueFd pipe_;
};

// Parent side of the background start: waits for the daemon's word.
int WaitForDaemon(pid_t child, UniqueFd pipe) {
  std::string message;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(pipe.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buf, size_t(n));
    if (message[0] == kReady) return 0;
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!message.empty() && message[0] == kError) {
    PrintError(message.substr(1));
  } else if (WIFSIGNALED(status)) {
    PrintError(std::string("the daemon was killed by signal ") + strsignal(WTERMSIG(status)) +
               " before the mount was ready");
  } else {
    PrintError("the daemon exited before the mount was ready");
  }
  return 1;
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

// Open files through the mount each hold a descriptor here.
void RaiseFileLimit() {
  rlimit lim;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

int Serve(const config::Options& options, const std::string& source,
          const std::string& mountpoint, StartupReporter& reporter, std::string_view version) {
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
  if (std::string err = InitLogging(log); !err.empty()) {
    reporter.Error(err);
    return 1;
  }

  Volume volume(options, source, mountpoint, std::string(version));
  bool background = !options.foreground;
  std::string log_file = options.log_file.value_or("");
  std::string error;
  bool mounted = volume.Mount(
      [&] {
        reporter.Ready();
        if (background) RedirectStdio(log_file);
      },
      &error);
  if (!mounted) {
    reporter.Error(error);
    return 1;
  }
  return volume.Serve();
}

}  // namespace

// Paths in options made absolute: the daemon changes to "/".
config::Options WithAbsolutePaths(config::Options options) {
  for (std::optional<std::string>* path : {&options.s3_ca_file, &options.s3_credentials_file,
                                           &options.cache_dir, &options.log_file}) {
    if (*path && !path->value().empty()) **path = std::filesystem::absolute(**path).string();
  }
  options.staging_dir = std::filesystem::absolute(options.staging_dir).string();
  return options;
}

int Run(const config::Options& given, std::string_view version) {
  const config::Options options = WithAbsolutePaths(given);
  std::string reason;
  const bool s3 = config::ParseS3Source(options.source, &reason).has_value();
  if (!s3 && options.events_address) {
    PrintError("--events-address takes S3 event notifications: it needs an s3:// source "
               "(directories use --events inotify)");
    return 1;
  }
  Checked source;
  if (s3) {
    source.path = options.source;  // checked when the store opens (needs the network)
  } else {
    source = CheckSourceDir(config::DirSourcePath(options.source));
    if (!source.error.empty()) {
      PrintError(source.error);
      return 1;
    }
  }
  Checked mountpoint = CheckMountpoint(options.mountpoint);
  if (!mountpoint.error.empty()) {
    PrintError(mountpoint.error);
    return 1;
  }
  if (!s3 && !FuseFdOf(mountpoint.path) && IsStrictlyInside(mountpoint.path, source.path)) {
    PrintError("mountpoint \"" + options.mountpoint + "\" is inside the source \"" +
               source.path + "\"; the mount would contain itself");
    return 1;
  }
  RaiseFileLimit();

  if (options.foreground) {
    StartupReporter reporter{UniqueFd()};
    return Serve(options, source.path, mountpoint.path, reporter, version);
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    PrintError(std::string("pipe: ") + std::strerror(errno));
    return 1;
  }
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t child = ::fork();
  if (child < 0) {
    PrintError(std::string("fork: ") + std::strerror(errno));
    return 1;
  }
  if (child > 0) {
    write_end.reset();
    return WaitForDaemon(child, std::move(read_end));
  }
  read_end.reset();
  ::setsid();
  if (::chdir("/") != 0) {
    // Paths are absolute by now; the working directory only matters for
    // not pinning a filesystem.
  }
  StartupReporter reporter(std::move(write_end));
  return Serve(options, source.path, mountpoint.path, reporter, version);
}

}  // namespace freshfs::mount
