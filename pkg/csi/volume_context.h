// Checks of what a NodePublishVolume request says about the volume: its
// attributes (PV volumeAttributes, StorageClass parameters or the inline
// volume's attributes, see docs/csi.md, "Volumes", for the names) and, for S3 sources, the
// credentials in its secrets.
//
// Pure functions, thread-safe; nothing here touches the filesystem.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "csi/errors.h"

namespace freshfs::csi {

using StringMap = std::map<std::string, std::string>;

struct CheckedVolumeContext {
  // The freshfs attributes, values as given; kubelet's pod-info keys dropped.
  StringMap attributes;
  bool s3 = false;
  // Directory sources: the absolute path ("file://" decoded, "." dropped,
  // ".." kept), still to be checked against allowedDirRoots.
  std::string dir_path;
};

// Every attribute is known (or one of kubelet's csi.storage.k8s.io/ pod-info
// keys, ignored) and has a valid value; "source" is present and either an
// absolute directory path, file:///path or s3://bucket[/prefix]. Attributes
// that only make sense for S3 are refused for directory sources.
// Errors are kInvalid and name the attribute, e.g.
//   volume attribute pollInterval "5x": unknown unit "x" (use ms, s, m or h)
Result<CheckedVolumeContext> CheckVolumeContext(const StringMap& context);

// The S3 credentials in a publish request's secrets: accessKeyId and
// secretAccessKey required and non-empty, sessionToken optional; other keys
// are dropped. Errors are kInvalid and name the key, never a value; `which`
// names the secret in them.
Result<StringMap> CheckS3Secrets(const StringMap& secrets,
                                 std::string_view which = "the node publish secret");

}  // namespace freshfs::csi
