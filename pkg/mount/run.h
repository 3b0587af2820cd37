// Run(): everything freshfs-mount does after its command line is parsed:
// checks the source and mountpoint, daemonizes (unless --foreground), mounts
// and serves until unmounted or signalled.
#pragma once

#include <string_view>

#include "config/options.h"

namespace freshfs::mount {

// Returns the process exit code. Errors are reported as one line on stderr
// ("freshfs-mount: ...") in the process the user started; with --ready-fd
// the outcome also goes there, as "READY <metrics port>" or "ERROR <message>"
// (docs/configuration.md, "For supervisors").
int Run(const config::Options& options, std::string_view version);

}  // namespace freshfs::mount
