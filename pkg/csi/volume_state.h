// What freshfs-csi keeps on disk for each published volume, so that a new
// freshfs-csi (a replaced container, a crash, an upgrade) takes over the
// volumes the last one published: <state>/volumes/<key>.json, where <key> is
// the SHA-256 of the target path (stable across versions and platforms),
// and <state>/volumes/<key>.d/ for the volume's staging and cache
// directories and its freshfs-mount log.
//
// Secrets: an S3 volume's credentials are in its state file, because a
// freshfs-mount that died must be started again with them and kubelet
// sends them only at publish. The file is 0600 and owned by root, the
// directories above it are not listable by anyone else (0711: the
// unprivileged children only need to reach their own <key>.d), and the file
// goes at unpublish. They are never logged, never in argv or environment.
//
// Thread-compatible: the supervisor serialises calls per volume.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "csi/errors.h"
#include "csi/volume_manager.h"

namespace freshfs::csi {

struct VolumeState {
  VolumeSpec spec;
  pid_t pid = -1;           // the volume's freshfs-mount
  uint64_t start_time = 0;  // its start time (csi/spawn.h): pid and start time name it
  int port = 0;             // its metrics endpoint on 127.0.0.1
  uint64_t restarts = 0;
};

class VolumeStateStore {
 public:
  // Creates <dir>/volumes if needed; `dir` is made 0711.
  static Result<VolumeStateStore> Open(const std::string& dir);

  // The SHA-256 of `target`, in hex: names its files (and its cgroup).
  std::string Key(const std::string& target) const;
  // "<dir>/volumes/<key>.d"
  std::string VolumeDir(const std::string& target) const;

  // Written to a temporary file, synced and renamed: all or nothing.
  Status Save(const VolumeState& state) const;
  // Every readable state; unreadable files are logged and skipped. Files
  // named by an older scheme are renamed to their key (with their .d).
  std::vector<VolumeState> LoadAll() const;
  // Removes the state file (not the .d directory).
  void Remove(const std::string& target) const;

 private:
  explicit VolumeStateStore(std::string volumes) : volumes_(std::move(volumes)) {}
  std::string StateFile(const std::string& target) const;

  std::string volumes_;  // <dir>/volumes
};

}  // namespace freshfs::csi
