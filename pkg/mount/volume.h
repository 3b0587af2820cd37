// Volume: one mounted freshfs volume and everything serving it: the store,
// the filesystem logic, the freshness engine (watcher, event source,
// applier, invalidator), metrics and the FUSE session. Knows the order in
// which these start and stop (Mount(), Parts::Stop()):
//   start: metrics endpoint -> store (one request) -> filesystem and
//          invalidator -> saved state (--state-fd: restored, journaling) ->
//          watcher (the root only: nothing is listed before the mount) ->
//          event listener bound -> mount -> after a crash, the resend and
//          invalidations -> event sources;
//   stop:  self-check -> event sources -> watcher -> invalidator -> state
//          journal -> unmount.
//
// Used from the main thread only; the parts run their own threads.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "config/options.h"
#include "mount/preflight.h"

namespace freshfs::mount {

class Volume {
 public:
  // `source`: an s3:// URL, or a checked directory (its path and name; the
  // caller keeps what it holds open). `mountpoint`: a checked, canonical path.
  Volume(const config::Options& options, const Checked& source, std::string mountpoint,
         std::string version);
  ~Volume();

  // Prepares everything up to and including the mount. On failure returns
  // false with one line in *error; nothing is left mounted.
  // `on_ready` runs once the kernel connection is up (on a FUSE thread).
  bool Mount(std::function<void()> on_ready, std::string* error);
  // Serves until unmounted or signalled, then shuts down. Returns the exit code.
  int Serve();

  // The port the metrics endpoint listens on (the one chosen for
  // --metrics-address HOST:0), or 0 without one. Valid once Mount() got
  // as far as the endpoint; any thread.
  int MetricsPort() const;

 private:
  bool MountParts(std::function<void()> on_ready, std::string* error);

  struct Parts;
  std::unique_ptr<Parts> parts_;
};

// The volume name used in metrics when --volume-name is not given: the
// mountpoint's last component, or "root".
std::string DefaultVolumeName(const std::string& mountpoint);

}  // namespace freshfs::mount
