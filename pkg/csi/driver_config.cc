#include "csi/driver_config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/quote.h"

namespace freshfs::csi {
namespace {

constexpr std::string_view kAllowedDirRoots = "allowedDirRoots";

std::string Where(const std::string& path, const YAML::Mark& mark) {
  std::string where = "config " + path;
  if (!mark.is_null()) where += " line " + std::to_string(mark.line + 1);
  return where;
}

// "/srv/data/" -> "/srv/data", "/srv/./data" -> "/srv/data"; "/" stays.
std::string NormalRoot(const std::string& root) {
  std::string normal = std::filesystem::path(root).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

Result<std::vector<std::string>> ParseRoots(const YAML::Node& key, const YAML::Node& value,
                                            const std::string& path) {
  std::vector<std::string> roots;
  if (value.IsNull()) return roots;
  if (!value.IsSequence()) {
    return InvalidArgument(Where(path, key.Mark()) + ": " + std::string(kAllowedDirRoots) +
                           ": expected a list of absolute paths");
  }
  for (const YAML::Node& item : value) {
    const std::string item_where = Where(path, item.Mark());
    if (!item.IsScalar() || item.Scalar().empty()) {
      return InvalidArgument(item_where + ": " + std::string(kAllowedDirRoots) +
                             ": expected an absolute path");
    }
    const std::string& root = item.Scalar();
    if (root.front() != '/') {
      return InvalidArgument(item_where + ": " + std::string(kAllowedDirRoots) + " " +
                             Quoted(root) + ": not an absolute path");
    }
    roots.push_back(NormalRoot(root));
  }
  return roots;
}

}  // namespace

Result<DriverConfig> ParseDriverConfig(std::string_view text, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(Where(path, e.mark) + ": invalid YAML: " + Escaped(e.msg));
  }
  DriverConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) return InvalidArgument(Where(path, root.Mark()) + ": expected a mapping");
  for (auto it = root.begin(); it != root.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary pair.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const std::string where = Where(path, key.Mark());
    if (!key.IsScalar() || key.Scalar() != kAllowedDirRoots) {
      const std::string name = key.IsScalar() ? key.Scalar() : "?";
      return InvalidArgument(where + ": unknown key " + Quoted(name) +
                             " (known: " + std::string(kAllowedDirRoots) + ")");
    }
    auto roots = ParseRoots(key, value, path);
    if (!roots) return roots.error();
    config.allowed_dir_roots = std::move(*roots);
  }
  return config;
}

Result<DriverConfig> LoadDriverConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument("config " + path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseDriverConfig(text.str(), path);
}

}  // namespace freshfs::csi
