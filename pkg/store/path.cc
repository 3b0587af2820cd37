#include "store/store.h"

namespace freshfs::store {

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string path;
  path.reserve(dir.size() + 1 + name.size());
  path.append(dir);
  if (!dir.empty()) path.push_back('/');
  path.append(name);
  return path;
}

}  // namespace freshfs::store
