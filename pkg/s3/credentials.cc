#include "s3/credentials.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include "s3/xml.h"
#include "util/quote.h"

namespace freshfs::s3 {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n\v\f";

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kWhitespace);
  return s.substr(begin, end - begin + 1);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  }
  return out;
}

CredentialsResult Fail(std::string message) {
  CredentialsResult r;
  r.error = std::move(message);
  return r;
}

}  // namespace

FileText ReadSmallFile(const std::string& path) {
  FileText out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    out.error = errno;
    return out;
  }
  char buf[4096];
  size_t n;
  errno = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.text.append(buf, n);
  if (std::ferror(f)) out.error = errno ? errno : EIO;
  std::fclose(f);
  return out;
}

IniFile ParseIni(std::string_view text) {
  IniFile ini;
  std::map<std::string, std::string>* section = nullptr;
  size_t line_no = 0;
  bool nested = false;  // the last key had no value: indented lines below belong to it
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view raw = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++line_no;

    const std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    // An indented line below a key without a value is a nested setting
    // (the config file's "s3 =" block): not a key of the profile.
    if ((raw[0] == ' ' || raw[0] == '\t') && nested) continue;
    nested = false;
    if (line[0] == '[') {
      if (line.back() != ']') {
        ini.error = "line " + std::to_string(line_no) + ": section header without ']'";
        return ini;
      }
      section = &ini.sections[std::string(Trim(line.substr(1, line.size() - 2)))];
      continue;
    }
    const size_t eq = line.find('=');
    // The error names the line, never its content: it may hold a secret.
    if (eq == std::string_view::npos) {
      ini.error = "line " + std::to_string(line_no) + ": expected key = value";
      return ini;
    }
    if (!section) {
      ini.error = "line " + std::to_string(line_no) + ": key before any [profile] section";
      return ini;
    }
    const std::string_view value = Trim(line.substr(eq + 1));
    (*section)[Lower(Trim(line.substr(0, eq)))] = std::string(value);
    nested = value.empty();
  }
  return ini;
}

std::string SectionNames(const IniFile& ini) {
  if (ini.sections.empty()) return "none";
  std::string out;
  for (const auto& [name, keys] : ini.sections) {
    if (!out.empty()) out += ", ";
    out += Quoted(name);
  }
  return out;
}

std::optional<std::chrono::system_clock::time_point> ParseExpiration(std::string_view text) {
  const std::optional<int64_t> ns = ParseIso8601(Trim(text));
  if (!ns) return std::nullopt;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(*ns)));
}

std::string Credentials::Describe() const {
  if (access_key_id.empty()) return "no credentials";
  return "from " + (source.empty() ? std::string("an unknown source") : source);
}

CredentialsResult ParseCredentialsFile(const std::string& text, const std::string& profile,
                                       const std::string& origin) {
  const IniFile ini = ParseIni(text);
  const std::string where = "S3 credentials file " + Quoted(origin);
  if (!ini.error.empty()) return Fail(where + ", " + ini.error);

  const auto section = ini.sections.find(profile);
  if (section == ini.sections.end()) {
    return Fail(where + " has no profile [" + profile + "] (profiles: " + SectionNames(ini) + ")");
  }
  auto value = [&keys = section->second](const char* key) {
    const auto it = keys.find(key);
    return it == keys.end() ? std::string() : it->second;
  };
  CredentialsResult r;
  Credentials& c = r.credentials;
  c.access_key_id = value("aws_access_key_id");
  c.secret_access_key = value("aws_secret_access_key");
  c.session_token = value("aws_session_token");
  if (c.session_token.empty()) c.session_token = value("aws_security_token");  // older name
  c.source = "file " + origin + " [" + profile + "]";

  std::string missing;
  if (c.access_key_id.empty()) missing = "aws_access_key_id";
  if (c.secret_access_key.empty()) {
    missing += missing.empty() ? "aws_secret_access_key" : " and aws_secret_access_key";
  }
  if (!missing.empty()) {
    return Fail(where + " profile [" + profile + "] has no " + missing);
  }
  return r;
}

}  // namespace freshfs::s3
