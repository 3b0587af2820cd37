// The command line of freshfs-mount:
//
//   freshfs-mount [options] SOURCE MOUNTPOINT
//
// Options come from, later overriding earlier: built-in defaults, the YAML
// file named by --config (see yaml_config.h), then flags and -o mount options
// in command-line order. Only syntax is checked here; whether SOURCE and
// MOUNTPOINT exist is for the mount itself to find out.
//
// Reads nothing but the --config file; SOURCE and MOUNTPOINT are kept as
// given. Thread-compatible, no global state.
#pragma once

#include <string>
#include <string_view>

#include "config/options.h"

namespace freshfs::config {

struct ParseResult {
  enum class Action { kRun, kExit };
  Action action = Action::kRun;
  // For kExit: 0 for --help/--version, 2 for usage and config errors.
  int exit_code = 0;
  // For kExit: --help/--version text (ends in a newline) for stdout, or an
  // error for stderr: one line, no trailing newline, starting with
  // "freshfs-mount: ".
  std::string output;
  Options options;  // for kRun
};

// Exit code of ParseResult::kExit for usage and config errors.
inline constexpr int kUsageExitCode = 2;

// `argv[0]` is the program name and is ignored. `version` is printed by
// --version.
ParseResult ParseCommandLine(int argc, const char* const* argv, std::string_view version);

// The --help text.
std::string HelpText();

}  // namespace freshfs::config
