#include "s3/credentials.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

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

std::string Env(GetEnv getenv_fn, const char* name) {
  const char* value = getenv_fn(name);
  return value ? std::string(value) : std::string();
}

struct FileText {
  std::string text;
  int error = 0;  // errno of the failed open or read, 0 on success
};

FileText ReadFile(const std::string& path) {
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

// Profile name -> (lowercase key -> value). Only section headers and
// `key = value` lines exist; a value runs to the end of its line (no inline
// comments, like Python's configparser that the AWS tools use).
struct IniFile {
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string error;  // "line N: ...", never quoting a value
};

IniFile ParseIni(std::string_view text) {
  IniFile ini;
  std::map<std::string, std::string>* section = nullptr;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view raw = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++line_no;

    const std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
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
    (*section)[Lower(Trim(line.substr(0, eq)))] = std::string(Trim(line.substr(eq + 1)));
  }
  return ini;
}

std::string ProfileNames(const IniFile& ini) {
  if (ini.sections.empty()) return "none";
  std::string out;
  for (const auto& [name, keys] : ini.sections) {
    if (!out.empty()) out += ", ";
    out += Quoted(name);
  }
  return out;
}

// `context` ends every error message: what else was tried before this file.
CredentialsResult FromFile(const std::string& path, const FileText& file,
                           const std::string& profile, const std::string& context) {
  if (file.error != 0) {
    return Fail("cannot read S3 credentials file " + Quoted(path) + ": " +
                std::strerror(file.error) + context);
  }
  CredentialsResult r = ParseCredentialsFile(file.text, profile, path);
  if (!r.ok()) r.error += context;
  return r;
}

}  // namespace

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
    return Fail(where + " has no profile [" + profile + "] (profiles: " + ProfileNames(ini) +
                ")");
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

CredentialsResult LoadCredentials(const std::string& file, const std::string& profile,
                                  GetEnv getenv_fn) {
  std::string profile_name = profile;
  if (profile_name.empty()) profile_name = Env(getenv_fn, "AWS_PROFILE");
  if (profile_name.empty()) profile_name = "default";

  if (!file.empty()) return FromFile(file, ReadFile(file), profile_name, "");

  const std::string key_id = Env(getenv_fn, "AWS_ACCESS_KEY_ID");
  const std::string secret = Env(getenv_fn, "AWS_SECRET_ACCESS_KEY");
  if (!key_id.empty() && !secret.empty()) {
    CredentialsResult r;
    r.credentials = {key_id, secret, Env(getenv_fn, "AWS_SESSION_TOKEN"), "environment"};
    return r;
  }
  // Half a pair is a mistake to report, not a reason to look elsewhere.
  if (!key_id.empty()) {
    return Fail("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  }
  if (!secret.empty()) {
    return Fail("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  }

  const std::string tried =
      " (no --s3-credentials-file given; AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set)";
  std::string path = Env(getenv_fn, "AWS_SHARED_CREDENTIALS_FILE");
  if (!path.empty()) return FromFile(path, ReadFile(path), profile_name, tried);

  const std::string home = Env(getenv_fn, "HOME");
  if (home.empty()) {
    return Fail("no S3 credentials found: no --s3-credentials-file given, "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set, "
                "AWS_SHARED_CREDENTIALS_FILE and HOME not set");
  }
  path = home + "/.aws/credentials";
  const FileText shared = ReadFile(path);
  if (shared.error == ENOENT) {
    return Fail("no S3 credentials found: no --s3-credentials-file given, "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set, no file " + Quoted(path));
  }
  return FromFile(path, shared, profile_name, tried);
}

}  // namespace freshfs::s3
