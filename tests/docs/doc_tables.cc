#include "doc_tables.h"

#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>

namespace freshfs::docs {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool IsHeading(const std::string& line) { return line.starts_with("#"); }

// "| a | b\|c |" -> {"a", "b\|c"}; the escape stays for CodeSpans().
Row SplitRow(const std::string& line) {
  Row cells;
  std::string cell;
  for (size_t i = 1; i < line.size(); ++i) {  // skip the leading '|'
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cell += "\\|";
      ++i;
    } else if (line[i] == '|') {
      cells.push_back(Trim(cell));
      cell.clear();
    } else {
      cell += line[i];
    }
  }
  if (!Trim(cell).empty()) cells.push_back(Trim(cell));
  return cells;
}

bool IsSeparator(const Row& row) {
  for (const std::string& cell : row) {
    if (cell.find_first_not_of("-: ") != std::string::npos) return false;
  }
  return !row.empty();
}

}  // namespace

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<Row> TableUnder(std::string_view markdown, std::string_view heading) {
  const std::vector<std::string> lines = Lines(markdown);
  size_t i = 0;
  while (i < lines.size() && Trim(lines[i]) != heading) ++i;
  if (i == lines.size()) return {};
  bool in_code = false;  // "# comment" lines in code blocks are no headings
  for (++i; i < lines.size() && (in_code || !lines[i].starts_with("|")); ++i) {
    if (lines[i].starts_with("```")) in_code = !in_code;
    if (!in_code && IsHeading(lines[i])) return {};
  }
  std::vector<Row> rows;
  bool header_seen = false;
  for (; i < lines.size() && lines[i].starts_with("|"); ++i) {
    Row row = SplitRow(lines[i]);
    if (!header_seen) {
      header_seen = true;
      continue;
    }
    if (IsSeparator(row)) continue;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> CodeSpans(std::string_view cell) {
  std::vector<std::string> spans;
  size_t pos = 0;
  while (true) {
    size_t open = cell.find('`', pos);
    if (open == std::string_view::npos) break;
    size_t close = cell.find('`', open + 1);
    if (close == std::string_view::npos) break;
    std::string span(cell.substr(open + 1, close - open - 1));
    for (size_t at; (at = span.find("\\|")) != std::string::npos;) span.replace(at, 2, "|");
    spans.push_back(span);
    pos = close + 1;
  }
  return spans;
}

std::set<std::string> ColumnSpans(const std::vector<Row>& rows, size_t column) {
  std::set<std::string> spans;
  for (const Row& row : rows) {
    if (column >= row.size()) continue;
    for (std::string& span : CodeSpans(row[column])) spans.insert(std::move(span));
  }
  return spans;
}

const Row* RowNamed(const std::vector<Row>& rows, std::string_view name) {
  for (const Row& row : rows) {
    if (row.empty()) continue;
    for (const std::string& span : CodeSpans(row[0])) {
      if (span == name) return &row;
    }
  }
  return nullptr;
}

std::string CamelCase(std::string_view dashed) {
  std::string out;
  bool upper = false;
  for (char c : dashed) {
    if (c == '-') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

std::vector<std::string> RelativeLinks(std::string_view markdown) {
  static const std::regex kLink(R"(\]\(([^)\s]+)\))");
  std::vector<std::string> links;
  const std::string text(markdown);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kLink);
       it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[1];
    if (target.find("://") != std::string::npos || target.starts_with("mailto:")) continue;
    links.push_back(target);
  }
  return links;
}

std::set<std::string> HeadingAnchors(std::string_view markdown) {
  std::set<std::string> anchors;
  bool in_code = false;
  for (const std::string& line : Lines(markdown)) {
    if (line.starts_with("```")) in_code = !in_code;
    if (in_code || !IsHeading(line)) continue;
    std::string text = Trim(std::string_view(line).substr(line.find_first_not_of('#')));
    std::string anchor;
    for (char c : text) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (std::isalnum(u) || c == '-' || c == '_') {
        anchor += static_cast<char>(std::tolower(u));
      } else if (c == ' ') {
        anchor += '-';
      }
    }
    anchors.insert(anchor);
  }
  return anchors;
}

std::string Missing(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::string out;
  for (const std::string& x : a) {
    if (b.contains(x)) continue;
    out += (out.empty() ? "" : ", ") + x;
  }
  return out;
}

}  // namespace freshfs::docs
