// TempDir: a fresh directory under /tmp, removed with everything in it when
// the object goes (tests only; it refuses nothing, so unmount first).
#pragma once

#include <filesystem>
#include <string>

namespace freshfs::testing {

class TempDir {
 public:
  // /tmp/freshfs-<prefix>-XXXXXX, mode 0700.
  explicit TempDir(const std::string& prefix = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace freshfs::testing
