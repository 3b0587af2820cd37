// The credential chain: where S3 credentials come from, in the order the
// AWS SDKs (botocore) look, with their variable and file names. The first
// link that is configured is used; an error in a configured link is final
// (as in the SDKs), naming the link, so a broken setup never silently
// falls through to another identity.
//
//   1. explicit      --s3-credentials-file (the CSI secret arrives this way):
//                    a shared credentials file, profile --s3-profile,
//                    $AWS_PROFILE or default.
//   2. environment   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//                    AWS_SESSION_TOKEN.
//   3. web identity  --s3-role-arn/--s3-web-identity-token-file, else
//                    AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
//                    (+ AWS_ROLE_SESSION_NAME), else the profile's role_arn
//                    + web_identity_token_file (+ role_session_name): STS
//                    AssumeRoleWithWebIdentity at --s3-sts-endpoint,
//                    AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, or
//                    https://sts.REGION.amazonaws.com.
//   4. shared files  the profile's aws_access_key_id/... in
//                    $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials.
//   5. process       the profile's credential_process.
//   6. config keys   the profile's keys in $AWS_CONFIG_FILE or ~/.aws/config.
//   7. container     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (joined to
//                    http://169.254.170.2, or --s3-container-endpoint) or
//                    _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
//                    _TOKEN (EKS Pod Identity, ECS).
//   8. IMDS          unless AWS_EC2_METADATA_DISABLED=true: IMDSv2 at
//                    --s3-imds-endpoint, AWS_EC2_METADATA_SERVICE_ENDPOINT,
//                    or http://169.254.169.254 ([fd00:ec2::254] with
//                    AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6).
//
// A profile named by --s3-profile or AWS_PROFILE must exist in one of the
// shared files. Blocking (network for links 3, 7, 8; a process for 5).
#pragma once

#include <memory>
#include <string>

#include "s3/credential_sources.h"
#include "s3/credentials.h"

namespace freshfs::s3 {

struct CredentialChainSettings {
  std::string credentials_file;  // --s3-credentials-file
  std::string profile;           // --s3-profile
  std::string region;            // for the regional STS endpoint
  std::string ca_file;           // --s3-ca-file, for https STS endpoints too
  // Options that win over their variables.
  std::string sts_endpoint;             // --s3-sts-endpoint
  std::string imds_endpoint;            // --s3-imds-endpoint
  std::string container_endpoint;       // --s3-container-endpoint (relative URIs)
  std::string role_arn;                 // --s3-role-arn
  std::string web_identity_token_file;  // --s3-web-identity-token-file
  GetEnv getenv_fn = nullptr;           // nullptr: ::getenv
};

struct ResolvedCredentials {
  Credentials credentials;  // the first set
  // Where to fetch them again (temporary credentials); nullptr for keys
  // that do not change.
  std::unique_ptr<CredentialSource> source;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

ResolvedCredentials ResolveCredentials(const CredentialChainSettings& settings);

// ResolveCredentials with only the file and profile set, for callers that
// need one set of credentials now.
CredentialsResult LoadCredentials(const std::string& file, const std::string& profile,
                                  GetEnv getenv_fn);

}  // namespace freshfs::s3
