// The node plugin's own configuration, from the YAML file given to
// freshfs-csi with --config. Set by the cluster admin (Helm values), never by
// the users who create volumes:
//
//   allowedDirRoots: [/srv/data, /mnt/shared]
//
// Plain data, read once at start-up.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "csi/errors.h"

namespace freshfs::csi {

struct DriverConfig {
  // Directory sources must lie under one of these (absolute, lexically
  // normal, no trailing '/'). Empty: directory sources are refused.
  std::vector<std::string> allowed_dir_roots;
};

// Parses the YAML text of a driver config; `path` only names it in errors.
// Errors are kInvalid with one line naming the file, line and key, e.g.
//   config /etc/freshfs/csi.yaml line 2: unknown key "allowedRoots"
Result<DriverConfig> ParseDriverConfig(std::string_view text, const std::string& path);

// Reads and parses the file at `path`.
Result<DriverConfig> LoadDriverConfig(const std::string& path);

}  // namespace freshfs::csi
