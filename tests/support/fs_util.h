// Small POSIX helpers for integration tests: whole-file I/O, directory
// listings, errno assertions and "same outcome on the mount as on a plain
// directory" comparisons. Stateless; callable from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace freshfs::testing {

// Writes `data` to `path` (created 0644, truncated). Returns 0 or an errno.
int WriteFile(const std::string& path, const std::string& data);
// Whole contents of `path`, or nullopt (errno set).
std::optional<std::string> ReadFile(const std::string& path);

// Names in a directory via opendir/readdir, including "." and "..", in
// readdir order. nullopt (errno set) if the directory cannot be opened or read.
std::optional<std::vector<std::string>> ListDir(const std::string& path);
// A ListDir() result without "." and "..", sorted (empty for nullopt).
std::vector<std::string> SortedNames(const std::optional<std::vector<std::string>>& names);

// Deterministic pseudo-random bytes; different seeds give different data.
std::string Pattern(size_t size, unsigned seed);

// renameat2(2) via syscall (glibc may lack the wrapper on older systems).
int Renameat2(const std::string& from, const std::string& to, unsigned flags);

// What a supervisor handing a directory source to freshfs-mount as
// /dev/fd/N does: opens `rel` beneath `root` with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS), O_RDONLY | O_DIRECTORY, inheritable (no O_CLOEXEC).
// Returns the descriptor, or -1 (errno set).
int OpenDirBeneath(const std::string& root, const std::string& rel);

// stat() or lstat(); nullopt (errno set) on failure.
std::optional<struct stat> Stat(const std::string& path);
std::optional<struct stat> Lstat(const std::string& path);

// Asserts that `rc` (just returned by a syscall wrapper) is -1 with errno ==
// expected. Use as EXPECT_TRUE(FailsWith(unlink(p), ENOENT)).
::testing::AssertionResult FailsWith(long rc, int expected_errno);
// Asserts that `rc` is not -1; names errno otherwise.
::testing::AssertionResult Succeeds(long rc);

// Runs `op` with base = plain directory and base = mountpoint (after the same
// `setup` in each) and asserts both give the same result and errno.
// `op` returns a syscall-style value (-1 + errno on failure).
::testing::AssertionResult SameOutcome(const std::string& plain_base, const std::string& mnt_base,
                                       const std::function<long(const std::string&)>& op);

std::string ErrnoName(int err);

// A positive whole number of seconds from environment variable `name`
// (e.g. FRESHFS_STRESS_SECONDS), else `fallback`.
int SecondsFromEnv(const char* name, int fallback);

// Polls `condition` every 10 ms until it holds or `timeout` passes; returns
// whether it held. For changes made behind the mount's back (in the source),
// which the mount learns about asynchronously.
bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace freshfs::testing
