// Where an S3 volume's credentials come from, chosen by the volume attribute
// `credentials`:
//
//   secret  (the default) the nodePublishSecretRef keys accessKeyId,
//           secretAccessKey, sessionToken, handed to the child as a sealed
//           memfd (--s3-credentials-file /dev/fd/3).
//   driver  the node plugin's own identity: the child inherits freshfs-csi's
//           environment and runs the AWS credential chain (IRSA variables,
//           EKS Pod Identity, the instance role). Refused for inline
//           (ephemeral) volumes, whose attributes the pod's author writes.
//   pod     the pod's service-account token, which kubelet requests for the
//           chart's CSIDriver (tokenRequests) and passes at every publish
//           (requiresRepublish): the child assumes `roleArn` with it (STS
//           AssumeRoleWithWebIdentity at `stsEndpoint`, default AWS's
//           regional one). The token is written to <volume dir>/token, owned
//           by the volume's user, replaced at each republish; the child reads
//           it again at every refresh, so a republish reaches the running
//           volume without a remount.
//
// Pure functions except WritePodToken; thread-safe.
#pragma once

#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "csi/errors.h"
#include "csi/volume_context.h"
#include "csi/volume_manager.h"

namespace freshfs::csi {

// kubelet's key for the pod's tokens: in the volume context, and in the
// secrets for drivers with serviceAccountTokenInSecrets (Kubernetes 1.35).
inline constexpr const char* kServiceAccountTokensKey = "csi.storage.k8s.io/serviceAccount.tokens";

struct S3Credentials {
  StringMap secrets;      // VolumeSpec::secrets (secret mode)
  std::string pod_token;  // VolumeSpec::pod_token (pod mode)
};

// Checks the credential attributes of an S3 volume (credentials, roleArn,
// stsEndpoint, tokenAudience) against the request's secrets and volume
// context, refusing combinations that make no sense (keys in the secret of a
// pod-identity volume, a roleArn without pod identity, a pod volume
// without a token). Errors are kInvalid and name the attribute or key,
// never a value of a secret.
Result<S3Credentials> CheckS3Credentials(const StringMap& attributes, const StringMap& context,
                                         const StringMap& secrets);

// The token for `audience` (empty: the only one) in kubelet's tokens JSON
// {"AUDIENCE": {"token": "...", "expirationTimestamp": "..."}}.
Result<std::string> PodTokenFor(const std::string& tokens_json, const std::string& audience);

// The freshfs-mount flags of the volume's credential mode (pod: role,
// token file, STS endpoint).
std::vector<std::string> CredentialArgs(const VolumeSpec& spec, const std::string& token_file);

// <volume dir>/token
std::string PodTokenFile(const std::string& volume_dir);
// Writes the spec's pod token to PodTokenFile(volume_dir) (a new file,
// mode 0400, owned by `owner`, renamed over the old one); nothing for other
// modes.
Status WritePodToken(const VolumeSpec& spec, const std::string& volume_dir,
                     std::pair<uid_t, gid_t> owner);

// Whether `a` and `b` differ in nothing but the pod's token: a republish.
bool SameButPodToken(const VolumeSpec& a, const VolumeSpec& b);

}  // namespace freshfs::csi
