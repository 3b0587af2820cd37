// Child-process helpers for the integration tests: run a program to completion
// with its output captured, stop a process by PID, find processes by a string
// in their command line.
//
// All functions are called from the test's main thread. Nothing here kills by
// name: callers find PIDs (their own children, or via /proc) and stop those.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace freshfs::testing {

using namespace std::chrono_literals;

struct ProcessResult {
  // Exit status as from `$?`: exit code, or 128 + signal number; -1 when the
  // process had to be killed for exceeding the timeout.
  int exit_code = -1;
  bool timed_out = false;
  std::string stdout_text;
  std::string stderr_text;

  // Non-empty lines of stderr_text.
  std::vector<std::string> StderrLines() const;
  // "exit=N stdout=... stderr=..." for assertion messages.
  std::string Describe() const;
};

// Runs argv[0] (looked up in PATH) with argv, stdin from /dev/null, stdout and
// stderr captured through files (so a daemonizing program that keeps the
// descriptors open does not block us). Kills it with SIGKILL after `timeout`.
ProcessResult RunToCompletion(const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout = 30s);

// RunToCompletion with a changed environment: this process's environment
// minus the names in `unset`, plus (replacing) the `set` pairs.
ProcessResult RunToCompletionWithEnv(const std::vector<std::string>& argv,
                                     const std::vector<std::pair<std::string, std::string>>& set,
                                     const std::vector<std::string>& unset,
                                     std::chrono::milliseconds timeout = 30s);

// Starts argv in the background with stdin from /dev/null and stdout+stderr
// appended to `log_path`. Returns the child's PID, or -1 (errno set).
pid_t SpawnWithLog(const std::vector<std::string>& argv, const std::string& log_path);

// Waits for our child `pid` to exit. Returns the status as in ProcessResult,
// or std::nullopt if it is still running after `timeout`.
std::optional<int> WaitForChild(pid_t pid, std::chrono::milliseconds timeout);

// True while `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid);

// Waits until `pid` (any process, child or not) has gone or is a zombie.
bool WaitForProcessGone(pid_t pid, std::chrono::milliseconds timeout);

// SIGTERM, wait up to `grace`, then SIGKILL; reaps the process if it is our
// child (or was re-parented to us, see BecomeSubreaper). Safe on dead PIDs.
void StopProcess(pid_t pid, std::chrono::milliseconds grace = 5s);

// PIDs (other than ours) of live processes whose command line contains `needle`.
std::vector<pid_t> ProcessesMentioning(const std::string& needle);

// Makes this process the reaper of orphaned descendants, so a daemonized
// freshfs-mount becomes our child and its exit status can be collected.
void BecomeSubreaper();

// Reaps every exited child without blocking.
void ReapExitedChildren();

// Contents of a file, or "" when it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

// Resident set size of `pid` in bytes (VmRSS), 0 if unknown.
size_t ResidentBytes(pid_t pid);

// Whether this build (and so the freshfs-mount built with it) runs under a
// sanitizer's allocator: ASan's quarantine and TSan's allocator hold on to
// freed memory, so RSS says nothing about the daemon's own use there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizedAllocator = true;
#else
inline constexpr bool kSanitizedAllocator = false;
#endif

}  // namespace freshfs::testing
