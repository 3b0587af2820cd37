// S3 volumes provisioned by the controller: the prefix <parent>/<name>/ of a
// bucket, where s3://bucket/<parent> is the StorageClass `source`. Creating
// one writes its record, <parent>/.freshfs-<name>.json, then a zero-byte
// marker object "<parent>/<name>/" so the volume shows as an empty directory
// in the parent; deleting removes every object under the prefix (kept with
// onDelete: retain) and then the record. As with directories, a prefix that
// holds objects but has no record is never adopted (ALREADY_EXISTS) and never
// deleted.
//
// DeleteVolume receives only the volume id and the provisioner secret, so
// the id carries where the bucket is:
//   "s3:" ENDPOINT ";" REGION ";" PATHSTYLE ";" BUCKET "/" KEYPREFIX
// e.g. "s3:http://minio.storage:9000;us-east-1;true;data/volumes/pvc-1f2e";
// empty fields mean the node's defaults (AWS, us-east-1, virtual-host
// style). Where that would pass CSI's 128 bytes (a long prefix or name), the
// id is
//   "s3#" ENDPOINT ";" REGION ";" PATHSTYLE ";" BUCKET ";" HASH
// with HASH the first 40 hex digits of the long id's SHA-256, and the
// object .freshfs-ids/HASH at the top of the bucket holds the key prefix
// and the name (written before the record, removed after it). Only an
// endpoint so long that even this passes 128 bytes is refused.
//
// The credentials are the provisioner secret's accessKeyId/secretAccessKey/
// sessionToken (csi.storage.k8s.io/provisioner-secret-name in the
// StorageClass); they are used for these requests only and never logged.
//
// Functions block on the network; callers hold the volume's lock.
#pragma once

#include <optional>
#include <string>

#include "csi/errors.h"
#include "csi/volume_context.h"
#include "csi/volume_record.h"

namespace freshfs::csi {

struct S3Volume {
  std::string endpoint;    // "http(s)://host[:port]", "" for AWS
  std::string region;      // "" for the default
  std::string path_style;  // "true", "false" or "" (default)
  std::string bucket;
  std::string parent;  // key prefix of the StorageClass source, no trailing '/'; may be empty
  std::string name;
  // A hashed id parsed but not looked up yet: parent and name are unknown.
  std::string unresolved_hash;

  std::string id() const;
  std::string index_key() const;   // ".freshfs-ids/HASH" for hashed ids, else ""
  std::string prefix() const;      // "<parent>/<name>/"
  std::string record_key() const;  // "<parent>/.freshfs-<name>.json"
  std::string source() const;      // "s3://<bucket>/<parent>/<name>"
};

bool IsS3VolumeId(const std::string& volume_id);

// The volume `name` under the checked StorageClass parameters (source
// "s3://bucket[/prefix]", s3Endpoint, s3Region, s3PathStyle); kInvalid when
// its id would be too long or a field cannot be carried in it.
Result<S3Volume> PlanS3Volume(const StringMap& parameters, const std::string& name);

// The volume an "s3:" or "s3#" id names, or nullopt when it is not one; a
// hashed id leaves parent and name to ResolveS3Volume.
std::optional<S3Volume> ParseS3VolumeId(const std::string& volume_id);

// `volume` with parent and name read from the bucket's index for a hashed
// id (nullopt when the index has no such entry); other ids as they are.
Result<std::optional<S3Volume>> ResolveS3Volume(const S3Volume& volume,
                                                const StringMap& credentials);

// `credentials` as CheckS3Secrets() returns them. S3 errors map to
// kPermissionDenied (401/403), kNotFound (no such bucket), kUnavailable
// (network, 5xx) or kInternal, with the request named.
Status CreateS3Volume(const S3Volume& volume, const VolumeRecord& wanted,
                      const StringMap& credentials);
Status DeleteS3Volume(const S3Volume& volume, const StringMap& credentials);
Result<bool> S3VolumeExists(const S3Volume& volume, const StringMap& credentials);

}  // namespace freshfs::csi
