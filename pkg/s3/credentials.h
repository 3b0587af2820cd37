// S3 credentials, and the shared AWS files they may come from.
//
// Secrets never reach logs: Credentials has no operator<< and Describe()
// names only the source. The chain that finds credentials is in
// s3/credential_chain.h; refreshing them in s3/credential_provider.h.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace freshfs::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty when none
  std::string source;         // "environment", "file /path [profile]", ...
  // Temporary credentials end then; unset: they do not expire.
  std::optional<std::chrono::system_clock::time_point> expiration;

  bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
  // "from environment": where they came from, safe to log (not even the
  // access key id, which identifies an account's user to whoever reads logs).
  std::string Describe() const;
};

// Outcome of looking credentials up: either credentials or a one-line message
// saying what was tried and what is wrong.
struct CredentialsResult {
  Credentials credentials;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

// The environment, looked up through a function so tests can inject one.
using GetEnv = const char* (*)(const char*);

// Parses the INI text of a shared credentials file for `profile`.
CredentialsResult ParseCredentialsFile(const std::string& text, const std::string& profile,
                                       const std::string& origin);

// An AWS shared file (credentials or config) as botocore reads it: section
// name -> (lower-case key -> value). A value runs to the end of its line (no
// inline comments, like Python's configparser that the AWS tools use);
// indented lines that continue a value (nested s3 = ... settings) are kept
// out of the profile's keys.
struct IniFile {
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string error;  // "line N: ...", never quoting a value
};
IniFile ParseIni(std::string_view text);

// "\"a\", \"b\"" or "none", for messages.
std::string SectionNames(const IniFile& ini);

// A whole small file (credentials, token); errno on failure.
struct FileText {
  std::string text;
  int error = 0;  // errno of the failed open or read, 0 on success
};
FileText ReadSmallFile(const std::string& path);

// "2026-11-22T02:29:33Z" (fraction optional, "Z" or "+hh:mm"), as STS, IMDS,
// container endpoints and credential_process print Expiration.
std::optional<std::chrono::system_clock::time_point> ParseExpiration(std::string_view text);

}  // namespace freshfs::s3
