#include "store/store.h"

#include <algorithm>
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
  if (!names) return names.error();
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
  return Error{ENOSYS};
}

Result<Store::Usage> Store::ScanUsage(const std::atomic<bool>& stop) {
  // Depth first: what is pending is one directory's subdirectories per level.
  Usage usage;
  std::vector<std::string> pending{""};
  while (!pending.empty()) {
    if (stop) return Error{ECANCELED};
    std::string dir = std::move(pending.back());
    pending.pop_back();
    auto entries = ListFresh(dir);
    if (!entries) {
      if (dir.empty()) return entries.error();
      continue;  // gone or unreadable meanwhile: counted as empty
    }
    for (auto& e : *entries) {
      ++usage.entries;
      if (S_ISDIR(e.attr.st_mode)) pending.push_back(JoinPath(dir, e.name));
      else usage.bytes += uint64_t(std::max<off_t>(e.attr.st_size, 0));
    }
  }
  return usage;
}

}  // namespace freshfs::store
