#include "config/yaml_config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

namespace freshfs::config {
namespace {

std::string Where(const std::string& path, const YAML::Mark& mark) {
  std::string where = "config " + path;
  if (!mark.is_null()) where += " line " + std::to_string(mark.line + 1);
  return where;
}

// Where each document of a YAML stream starts, and its root node; nothing
// else is kept.
class DocumentStarts final : public YAML::EventHandler {
 public:
  struct Document {
    YAML::Mark start;
    YAML::Mark root = YAML::Mark::null_mark();
  };
  std::vector<Document> documents;

  void OnDocumentStart(const YAML::Mark& mark) override { documents.push_back({mark}); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark);
  }
  void OnMapEnd() override {}

 private:
  void Node(const YAML::Mark& mark) {
    if (!documents.empty() && documents.back().root.is_null()) documents.back().root = mark;
  }
};

// The single document of `text`, or an error. Not YAML::LoadAll(): on some
// malformed streams (a ',' where a document starts) yaml-cpp 0.7 returns
// empty documents forever without consuming anything, allocating until the
// process is killed (jbeder/yaml-cpp#1040, found by tests/fuzz/yaml_config).
// Two documents at most are parsed here. Throws YAML::Exception.
std::optional<std::string> LoadOneDocument(std::string_view text, const std::string& path,
                                           YAML::Node* root) {
  std::istringstream stream{std::string(text)};
  YAML::Parser parser(stream);
  DocumentStarts starts;
  if (parser.HandleNextDocument(starts) && parser.HandleNextDocument(starts)) {
    const YAML::Mark first = starts.documents.front().start;
    const YAML::Mark second = starts.documents.back().start;
    if (second.pos == first.pos && static_cast<size_t>(second.pos) < text.size()) {
      return Where(path, second) + ": invalid YAML: unexpected " +
             Quoted(text.substr(second.pos, 1));  // nothing was consumed
    }
    const YAML::Mark root = starts.documents.back().root;
    return Where(path, root.is_null() ? second : root) + ": more than one YAML document";
  }
  *root = YAML::Load(std::string(text));
  return std::nullopt;
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
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "something else";
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
  YAML::Node root;
  try {
    if (auto error = LoadOneDocument(text, path, &root)) return error;
  } catch (const YAML::Exception& e) {
    return Where(path, e.mark) + ": invalid YAML: " + Escaped(e.msg);
  }
  if (!root.IsDefined() || root.IsNull()) return std::nullopt;  // only comments

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
