#include "csi/volume_capability.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "util/quote.h"

namespace freshfs::csi {

namespace pb = ::csi::v1;
using Mode = pb::VolumeCapability::AccessMode;

namespace {

// What a PV's mountOptions may say: generic mount options (freshfs-mount
// ignores those that mean nothing to it) and the freshfs options that only
// shape how this volume behaves. Everything that names a file, a socket or
// a descriptor, or that freshfs-csi sets itself (log-file, metrics-address,
// events-address, cache-dir, staging-dir, config, ready-fd, s3-*, ...), is
// refused: a PV author must not make a root process write or listen where
// they choose.
constexpr std::string_view kAllowedMountFlags[] = {
    "ro", "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "auto", "noauto", "user",
    "nouser", "users", "_netdev", "async", "atime", "noatime", "relatime", "nofail", "defaults",
    "diratime", "nodiratime", "strictatime", "lazytime", "nolazytime",
    // freshfs-mount -o options, '-' or '_' between words
    "read-only", "uid", "gid", "file-mode", "dir-mode", "entry-timeout", "attr-timeout",
    "negative-timeout", "kernel-cache", "poll-interval", "full-sync-interval",
    "self-check-interval", "events", "revalidate-on-open", "push-small-files", "conflict", "debug"};

Status CheckMountFlags(const google::protobuf::RepeatedPtrField<std::string>& flags,
                       const std::string& field) {
  for (int i = 0; i < flags.size(); ++i) {
    std::string_view list = flags[i];
    while (!list.empty()) {
      const size_t comma = list.find(',');
      const std::string_view item = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      if (item.empty() || item.starts_with("x-")) continue;
      std::string key(item.substr(0, item.find('=')));
      if (key != "_netdev") std::replace(key.begin(), key.end(), '_', '-');
      if (std::find(std::begin(kAllowedMountFlags), std::end(kAllowedMountFlags), key) ==
          std::end(kAllowedMountFlags)) {
        return InvalidArgument(field + ".mount.mount_flags: " + Quoted(std::string(item)) +
                               " is not accepted from a volume (use a volume attribute, or "
                               "ask the cluster admin)");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckVolumeCapability(const pb::VolumeCapability& capability, std::string_view field) {
  const std::string name(field);
  switch (capability.access_type_case()) {
    case pb::VolumeCapability::kBlock:
      return InvalidArgument(name +
                             ": block access is not supported (freshfs volumes are "
                             "filesystems: use a mount access type)");
    case pb::VolumeCapability::ACCESS_TYPE_NOT_SET:
      return InvalidArgument(name + ": access type is required (mount)");
    case pb::VolumeCapability::kMount:
      break;
  }
  const std::string& fs_type = capability.mount().fs_type();
  if (!fs_type.empty() && fs_type != "freshfs") {
    return InvalidArgument(name + ".mount.fs_type " + Quoted(fs_type) +
                           " is not supported (leave it empty or use \"freshfs\")");
  }
  if (Status s = CheckMountFlags(capability.mount().mount_flags(), name); !s.ok()) return s;
  if (!capability.has_access_mode() || capability.access_mode().mode() == Mode::UNKNOWN) {
    return InvalidArgument(name + ".access_mode is required");
  }
  switch (capability.access_mode().mode()) {
    case Mode::SINGLE_NODE_WRITER:
    case Mode::SINGLE_NODE_READER_ONLY:
    case Mode::MULTI_NODE_READER_ONLY:
    case Mode::MULTI_NODE_MULTI_WRITER:
    case Mode::SINGLE_NODE_SINGLE_WRITER:
    case Mode::SINGLE_NODE_MULTI_WRITER:
      return Status::Ok();
    default: {
      const int mode = capability.access_mode().mode();
      std::string mode_name = Mode::Mode_Name(capability.access_mode().mode());
      if (mode_name.empty()) mode_name = std::to_string(mode);  // newer than our csi.proto
      return InvalidArgument(name + ".access_mode " + mode_name + " is not supported");
    }
  }
}

bool IsReaderOnly(Mode::Mode mode) {
  return mode == Mode::SINGLE_NODE_READER_ONLY || mode == Mode::MULTI_NODE_READER_ONLY;
}

}  // namespace freshfs::csi
