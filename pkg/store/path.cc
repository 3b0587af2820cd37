#include "store/store.h"

#include <cerrno>

namespace freshfs::store {

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string path;
  path.reserve(dir.size() + 1 + name.size());
  path.append(dir);
  if (!dir.empty()) path.push_back('/');
  path.append(name);
  return path;
}

Result<std::vector<Store::DetailedEntry>> Store::ListDetailed(std::string_view dir) {
  auto names = List(dir);
  if (!names) return Errno{names.error()};
  std::vector<DetailedEntry> out;
  out.reserve(names->size());
  for (auto& e : *names) {
    auto st = Stat(JoinPath(dir, e.name));
    if (!st) continue;
    out.push_back(DetailedEntry{std::move(e.name), *st});
  }
  return out;
}

Result<std::vector<Store::DetailedEntry>> Store::ListTree(std::string_view) {
  return Errno{ENOSYS};
}

}  // namespace freshfs::store
