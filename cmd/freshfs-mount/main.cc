// freshfs-mount: mounts one freshfs volume. Parses the command line and
// hands over to freshfs::mount::Run().
#include <iostream>

#include "config/cli.h"
#include "mount/run.h"

int main(int argc, char** argv) {
  auto parsed = freshfs::config::ParseCommandLine(argc, argv, FRESHFS_VERSION);
  if (parsed.action == freshfs::config::ParseResult::Action::kExit) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.output;
    if (!parsed.output.empty() && parsed.output.back() != '\n')
      (parsed.exit_code == 0 ? std::cout : std::cerr) << '\n';
    return parsed.exit_code;
  }
  return freshfs::mount::Run(parsed.options, FRESHFS_VERSION);
}
