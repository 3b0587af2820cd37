// freshfs-mount: mounts one freshfs volume. Parses the command line and
// hands over to freshfs::mount::Run().
#include <sys/prctl.h>

#include <iostream>

#include "config/cli.h"
#include "mount/run.h"
#include "util/malloc_arenas.h"

int main(int argc, char** argv) {
  // It holds S3 credentials and file data: no core dumps, and only root
  // may read its memory or /proc files.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  freshfs::LimitMallocArenas();  // before any thread
  auto parsed = freshfs::config::ParseCommandLine(argc, argv, FRESHFS_VERSION);
  if (parsed.action == freshfs::config::ParseResult::Action::kExit) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.output;
    if (!parsed.output.empty() && parsed.output.back() != '\n')
      (parsed.exit_code == 0 ? std::cout : std::cerr) << '\n';
    return parsed.exit_code;
  }
  return freshfs::mount::Run(parsed.options, FRESHFS_VERSION);
}
