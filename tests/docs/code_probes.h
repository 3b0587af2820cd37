// What the code accepts, asked of the code itself: the lists that are not
// exported as lists (volume attributes, StorageClass parameters, secret
// keys, driver config keys) are found by calling the real checks with a
// name and looking at the answer. Names the code does not export are found
// only among the candidates a test offers (CandidateNames()).
//
// Called from the test's thread; no I/O beyond what the checks do (none
// reaches the network or the filesystem: S3 checks stop at the missing
// provisioner secret, directory checks at the empty allowedDirRoots).
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <set>
#include <string>

namespace freshfs::docs {

using StringMap = std::map<std::string, std::string>;

// An S3 source used where a probe needs a valid one.
inline constexpr const char* kProbeS3Source = "s3://docs-probe-bucket/volumes";

// CheckVolumeContext() knows `name` as an attribute (its value may be bad).
bool VolumeAttributeKnown(const std::string& name);

// CheckVolumeContext() accepts `key` and drops it (kubelet's pod-info keys).
bool VolumeContextIgnores(const std::string& key);

// ControllerService::CreateVolume (no allowedDirRoots, no secrets) of a
// mount-capability volume "pvc-docs" with these StorageClass parameters.
grpc::Status CreateVolumeWith(const StringMap& parameters);

// CreateVolume does not refuse `name` as an unknown parameter.
bool StorageClassParameterKnown(const std::string& name);

// CreateVolume's answer passed every parameter check: OK, or an error about
// what comes after them (secrets, allowedDirRoots, the filesystem).
bool PassedParameterChecks(const grpc::Status& status);

// The secret keys CheckS3Secrets() insists on, found by adding each key it
// reports missing until it is satisfied.
std::set<std::string> RequiredSecretKeys();

// Of `candidates`, the keys CheckS3Secrets() keeps (the others it drops).
std::set<std::string> KeptSecretKeys(const std::set<std::string>& candidates);

// The keys the driver config parser knows, from its "unknown key" message;
// empty when that message lists none.
std::set<std::string> DriverConfigKeys();

// Names that could plausibly be attributes or parameters: the camelCase of
// every freshfs-mount setting ("poll-interval" -> "pollInterval") and a few
// more that Kubernetes users tend to try.
std::set<std::string> CandidateNames();

}  // namespace freshfs::docs
