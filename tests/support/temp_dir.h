// TempDir: a fresh directory under /tmp, removed with everything in it when
// the object goes (tests only; it refuses nothing, so unmount first).
// Header only (target freshfs_test_temp_dir): unit tests use it too.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace freshfs::testing {

class TempDir {
 public:
  // /tmp/freshfs-<prefix>-XXXXXX, mode 0700. (Short: unix socket paths in
  // it are limited to 107 bytes.)
  explicit TempDir(const std::string& prefix = "test") {
    std::string pattern = "/tmp/freshfs-" + prefix + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp " + pattern + " failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() as a string, for the many calls that take one.
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace freshfs::testing
