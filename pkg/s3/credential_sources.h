// The places temporary credentials are fetched from, each speaking its
// documented wire format:
//
//   web identity   STS AssumeRoleWithWebIdentity (query protocol: a form
//                  POST, an XML answer) with a token read from a file at
//                  every fetch (kubelet and EKS rotate the file);
//   container      GET of AWS_CONTAINER_CREDENTIALS_FULL_URI/_RELATIVE_URI
//                  (ECS, EKS Pod Identity) with an Authorization token,
//                  a JSON answer;
//   IMDS           EC2 instance metadata, v2: PUT /latest/api/token, then
//                  GET .../iam/security-credentials/[ROLE] with that token;
//   process        credential_process: a command printing JSON.
//
// A CredentialSource fetches (again) on demand; s3/credential_provider.h
// decides when. Fetch() blocks on the network or the process for at most
// its timeouts and may be called from any thread, one call at a time.
// Errors are one line, name the source and never quote a secret or token.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "s3/credentials.h"

namespace freshfs::s3 {

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // "web identity (role ARN, token file PATH)": for logs and errors.
  virtual const std::string& name() const = 0;
  virtual CredentialsResult Fetch() = 0;
};

struct WebIdentitySettings {
  std::string role_arn;
  std::string token_file;
  std::string session_name;  // empty: "freshfs-<unix time>"
  std::string sts_endpoint;  // "https://sts.REGION.amazonaws.com" or an override
  std::string ca_file;       // extra CA bundle for an https endpoint
  std::string origin;        // where the settings came from, for messages
};
std::unique_ptr<CredentialSource> MakeWebIdentitySource(const WebIdentitySettings& settings);

struct ContainerSettings {
  std::string url;                 // full URI (relative ones already joined)
  std::string authorization;       // AWS_CONTAINER_AUTHORIZATION_TOKEN
  std::string authorization_file;  // _TOKEN_FILE, read at every fetch; wins
  std::string origin;
};
std::unique_ptr<CredentialSource> MakeContainerSource(const ContainerSettings& settings);
// Whether the SDKs allow sending the container token to `url`: https, or
// http to a loopback address or the ECS/EKS link-local hosts. Empty: ok,
// else why not.
std::string CheckContainerUrl(const std::string& url);

struct ImdsSettings {
  std::string endpoint = "http://169.254.169.254";
  // The SDKs' defaults (AWS_METADATA_SERVICE_TIMEOUT, _NUM_ATTEMPTS).
  std::chrono::milliseconds timeout{1000};
  int attempts = 1;
  bool v1_disabled = false;  // AWS_EC2_METADATA_V1_DISABLED: no fallback without a token
};
std::unique_ptr<CredentialSource> MakeImdsSource(const ImdsSettings& settings);

std::unique_ptr<CredentialSource> MakeProcessSource(std::string command, std::string origin);

// The JSON of a container endpoint, IMDS or credential_process
// (AccessKeyId, SecretAccessKey, Token or SessionToken, Expiration;
// IMDS adds Code, which must be "Success"). `source` names it in errors
// and becomes Credentials::source.
CredentialsResult ParseCredentialsJson(std::string_view json, const std::string& source);

// Splits a credential_process command as botocore does (shlex, POSIX
// rules: quotes and backslashes, no shell); empty on unbalanced quotes.
std::vector<std::string> SplitCommand(std::string_view command);

}  // namespace freshfs::s3
