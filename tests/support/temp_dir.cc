#include "support/temp_dir.h"

#include <stdlib.h>

#include <stdexcept>

namespace freshfs::testing {

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = "/tmp/freshfs-" + prefix + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern + " failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace freshfs::testing
