#include "config/yaml_config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

namespace freshfs::config {
namespace {

std::string Where(const std::string& path, const YAML::Mark& mark) {
  std::string where = "config " + path;
  if (!mark.is_null()) where += " line " + std::to_string(mark.line + 1);
  return where;
}

std::optional<std::string> ReadFile(const std::string& path, std::string* text) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "re"), &std::fclose);
  if (!file) return "config " + path + ": cannot open: " + std::strerror(errno);
  char buffer[8192];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) text->append(buffer, n);
  if (std::ferror(file.get())) return "config " + path + ": cannot read: " + std::strerror(errno);
  return std::nullopt;
}

std::string_view Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "something else";
  }
}

std::optional<std::string> ApplyKey(const YAML::Node& key, const YAML::Node& value,
                                    const std::string& path, Options& options) {
  const std::string where = Where(path, key.Mark());
  const std::string& name = key.Scalar();
  if (name == "config" || name == "help" || name == "version") {
    return where + ": " + Quoted(name) + " cannot be set in a config file";
  }
  const Setting* setting = FindSetting(name);
  if (setting == nullptr) {
    std::vector<std::string_view> names;
    for (const Setting& s : Settings()) names.push_back(s.name);
    std::string message = where + ": unknown key " + Quoted(name);
    if (const std::string suggestion = ClosestName(name, names); !suggestion.empty()) {
      message += " (did you mean " + Quoted(suggestion) + "?)";
    }
    return message;
  }
  if (value.IsNull()) return where + ": " + name + ": missing value";
  if (!value.IsScalar()) {
    return where + ": " + name + ": expected a single value, got " + std::string(Describe(value));
  }
  if (auto reason = SetOption(options, name, value.Scalar())) {
    return where + ": " + name + " " + Quoted(value.Scalar()) + ": " + *reason;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ApplyYamlText(std::string_view text, const std::string& path,
                                         Options& options) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return Where(path, e.mark) + ": invalid YAML: " + e.msg;
  }
  if (documents.size() > 1) {
    return Where(path, documents[1].Mark()) + ": more than one YAML document";
  }
  if (documents.empty() || documents[0].IsNull()) return std::nullopt;  // only comments

  const YAML::Node& root = documents[0];
  if (!root.IsMap()) {
    return Where(path, root.Mark()) + ": expected a mapping of option names to values, got " +
           (root.IsScalar() ? "a single value" : std::string(Describe(root)));
  }
  std::map<std::string, int> first_line;
  for (auto it = root.begin(); it != root.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary pair, so references
    // into it dangle.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) return Where(path, key.Mark()) + ": keys must be option names";
    const int line = key.Mark().line + 1;
    if (auto [seen, inserted] = first_line.emplace(key.Scalar(), line); !inserted) {
      return Where(path, key.Mark()) + ": duplicate key " + Quoted(key.Scalar()) +
             " (first set on line " + std::to_string(seen->second) + ")";
    }
    if (auto error = ApplyKey(key, value, path, options)) return error;
  }
  return std::nullopt;
}

std::optional<std::string> ApplyYamlFile(const std::string& path, Options& options) {
  std::string text;
  if (auto error = ReadFile(path, &text)) return error;
  return ApplyYamlText(text, path, options);
}

}  // namespace freshfs::config
