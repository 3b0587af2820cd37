#include "support/fs_util.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <random>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace freshfs::testing {

int WriteFile(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      int err = errno;
      close(fd);
      return err;
    }
    done += static_cast<size_t>(n);
  }
  return close(fd) == 0 ? 0 : errno;
}

std::optional<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      int err = errno;
      close(fd);
      errno = err;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::optional<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return std::nullopt;
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    dirent* e = readdir(d);
    if (e == nullptr) break;
    names.emplace_back(e->d_name);
  }
  int err = errno;
  closedir(d);
  if (err != 0) {
    errno = err;
    return std::nullopt;
  }
  return names;
}

std::string Pattern(size_t size, unsigned seed) {
  std::mt19937 gen(seed * 2654435761u + 1);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(gen());
  return out;
}

int Renameat2(const std::string& from, const std::string& to, unsigned flags) {
  return static_cast<int>(
      syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags));
}

int OpenDirBeneath(const std::string& root, const std::string& rel) {
  const int dir = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  struct open_how how = {};
  how.flags = O_RDONLY | O_DIRECTORY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  const int fd = int(syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how));
  const int saved = errno;
  close(dir);
  errno = saved;
  return fd;
}

std::optional<struct stat> Stat(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

std::optional<struct stat> Lstat(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

std::string ErrnoName(int err) {
  if (err == 0) return "success";
  const char* name = strerrorname_np(err);
  return std::string(name ? name : "?") + " (" + std::strerror(err) + ")";
}

::testing::AssertionResult FailsWith(long rc, int expected_errno) {
  const int err = errno;
  if (rc != -1) {
    return ::testing::AssertionFailure()
           << "succeeded (returned " << rc << "), expected " << ErrnoName(expected_errno);
  }
  if (err != expected_errno) {
    return ::testing::AssertionFailure()
           << "failed with " << ErrnoName(err) << ", expected " << ErrnoName(expected_errno);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Succeeds(long rc) {
  const int err = errno;
  if (rc == -1) return ::testing::AssertionFailure() << "failed with " << ErrnoName(err);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult SameOutcome(const std::string& plain_base, const std::string& mnt_base,
                                       const std::function<long(const std::string&)>& op) {
  errno = 0;
  const long plain_rc = op(plain_base);
  const int plain_err = plain_rc == -1 ? errno : 0;
  errno = 0;
  const long mnt_rc = op(mnt_base);
  const int mnt_err = mnt_rc == -1 ? errno : 0;
  if ((plain_rc == -1) != (mnt_rc == -1) || plain_err != mnt_err) {
    return ::testing::AssertionFailure()
           << "plain directory: rc=" << plain_rc << " " << ErrnoName(plain_err)
           << "; through the mount: rc=" << mnt_rc << " " << ErrnoName(mnt_err);
  }
  return ::testing::AssertionSuccess();
}

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<std::string> SortedNames(const std::optional<std::vector<std::string>>& names) {
  std::vector<std::string> out;
  if (!names) return out;
  for (const auto& n : *names)
    if (n != "." && n != "..") out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

int SecondsFromEnv(const char* name, int fallback) {
  const char* env = std::getenv(name);
  int s = env && *env ? std::atoi(env) : fallback;
  return s > 0 ? s : fallback;
}

}  // namespace freshfs::testing
