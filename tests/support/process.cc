#include "support/process.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace freshfs::testing {
namespace {

using Clock = std::chrono::steady_clock;

int StatusToExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// execv() needs a path; resolving PATH before fork() keeps the child to
// async-signal-safe calls only.
std::string ResolveInPath(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path_env = std::getenv("PATH");
  std::stringstream dirs(path_env ? path_env : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return program;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  off_t off = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

// Forks and execs argv with stdin=/dev/null, stdout=out_fd, stderr=err_fd;
// with `env`, as the whole environment (execve), else this process's.
pid_t SpawnWithEnvironment(const std::vector<std::string>& argv,
                           const std::vector<std::string>* env, int out_fd, int err_fd) {
  if (argv.empty()) {
    errno = EINVAL;
    return -1;
  }
  const std::string path = ResolveInPath(argv[0]);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  if (env) {
    for (const auto& e : *env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
  }

  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: async-signal-safe calls only.
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  dup2(err_fd, STDERR_FILENO);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (env) {
    execve(path.c_str(), cargv.data(), cenv.data());
  } else {
    execv(path.c_str(), cargv.data());
  }
  const char msg[] = "exec failed\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  _exit(127);
}

pid_t Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  return SpawnWithEnvironment(argv, nullptr, out_fd, err_fd);
}

char ProcessState(pid_t pid) {
  std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return '\0';
  return stat[close_paren + 2];
}

}  // namespace

std::vector<std::string> ProcessResult::StderrLines() const {
  std::vector<std::string> lines;
  std::stringstream in(stderr_text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string ProcessResult::Describe() const {
  std::ostringstream out;
  out << "exit=" << exit_code << (timed_out ? " (timed out)" : "") << "\n--- stdout ---\n"
      << stdout_text << "\n--- stderr ---\n"
      << stderr_text;
  return out.str();
}

namespace {

// Runs argv to completion, output captured; `env`: see SpawnWithEnvironment.
ProcessResult Run(const std::vector<std::string>& argv, const std::vector<std::string>* env,
                  std::chrono::milliseconds timeout) {
  ProcessResult result;
  int out_fd = memfd_create("stdout", MFD_CLOEXEC);
  int err_fd = memfd_create("stderr", MFD_CLOEXEC);
  if (out_fd < 0 || err_fd < 0) {
    result.stderr_text = std::string("memfd_create: ") + std::strerror(errno);
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0) close(err_fd);
    return result;
  }
  const pid_t pid = SpawnWithEnvironment(argv, env, out_fd, err_fd);
  if (pid < 0) {
    result.stderr_text = std::string("fork: ") + std::strerror(errno);
  } else if (auto code = WaitForChild(pid, timeout)) {
    result.exit_code = *code;
  } else {
    result.timed_out = true;
    kill(pid, SIGKILL);
    WaitForChild(pid, 5s);
  }
  result.stdout_text += ReadAll(out_fd);
  result.stderr_text += ReadAll(err_fd);
  close(out_fd);
  close(err_fd);
  return result;
}

}  // namespace

ProcessResult RunToCompletion(const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout) {
  return Run(argv, nullptr, timeout);
}

ProcessResult RunToCompletionWithEnv(const std::vector<std::string>& argv,
                                     const std::vector<std::pair<std::string, std::string>>& set,
                                     const std::vector<std::string>& unset,
                                     std::chrono::milliseconds timeout) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    const bool dropped =
        std::find(unset.begin(), unset.end(), name) != unset.end() ||
        std::any_of(set.begin(), set.end(), [&](const auto& kv) { return kv.first == name; });
    if (!dropped) env.push_back(entry);
  }
  for (const auto& [name, value] : set) env.push_back(name + "=" + value);

  return Run(argv, &env, timeout);
}

pid_t SpawnWithLog(const std::vector<std::string>& argv, const std::string& log_path) {
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  pid_t pid = Spawn(argv, fd, fd);
  int saved = errno;
  close(fd);
  errno = saved;
  return pid;
}

std::optional<int> WaitForChild(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return StatusToExitCode(status);
    if (r < 0 && errno != EINTR) return -1;  // not our child (or already reaped)
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  char state = ProcessState(pid);
  return state != '\0' && state != 'Z' && state != 'X';
}

bool WaitForProcessGone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (ProcessAlive(pid)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

void StopProcess(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  if (ProcessAlive(pid)) {
    kill(pid, SIGTERM);
    if (!WaitForProcessGone(pid, grace)) {
      kill(pid, SIGKILL);
      WaitForProcessGone(pid, 5s);
    }
  }
  int status;
  waitpid(pid, &status, WNOHANG);  // reap if it is (or became) our child
}

std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  const pid_t self = getpid();
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == self) continue;
    std::string cmdline = ReadFileOrEmpty("/proc/" + std::string(e->d_name) + "/cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find(needle) != std::string::npos && ProcessAlive(static_cast<pid_t>(pid))) {
      pids.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return pids;
}

void BecomeSubreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

void ReapExitedChildren() {
  int status;
  while (waitpid(-1, &status, WNOHANG) > 0) {
  }
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

size_t ResidentBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

}  // namespace freshfs::testing
