// S3 credentials and where they come from.
//
// Secrets never reach logs: Credentials has no operator<< and Describe()
// names only the source and the access key id.
#pragma once

#include <string>

#include "util/result.h"

namespace freshfs::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty when none
  std::string source;         // "environment", "file /path [profile]", ...

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

// Where to look, in order:
//   1. `file` when given (the user's --s3-credentials-file): an AWS shared
//      credentials file (INI: [profile] aws_access_key_id=...,
//      aws_secret_access_key=..., aws_session_token=...), profile from
//      `profile` or AWS_PROFILE or "default". Errors are final (no fallback).
//   2. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
//   3. The shared credentials file: AWS_SHARED_CREDENTIALS_FILE or
//      ~/.aws/credentials, profile AWS_PROFILE or "default".
// `env` is looked up through `getenv_fn` so tests can inject an environment.
using GetEnv = const char* (*)(const char*);
CredentialsResult LoadCredentials(const std::string& file, const std::string& profile,
                                  GetEnv getenv_fn);

// Parses the INI text of a shared credentials file for `profile`.
CredentialsResult ParseCredentialsFile(const std::string& text, const std::string& profile,
                                       const std::string& origin);

}  // namespace freshfs::s3
