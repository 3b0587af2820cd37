// Runs test code as another user: a forked child takes on the identity
// (supplementary groups, group, user, umask) and runs a function whose text
// result comes back through a pipe. For tests, run as root, that compare what
// the same system calls give a user on a plain directory and through a mount.
//
// The child must not use gtest: its function only returns what it saw.
// Call from the test's main thread (fork).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace freshfs::testing {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
  mode_t umask = 022;
};

// Runs `work` as `who` in a child process and returns what it returned, or
// "<child: ...>" when the child could not take on `who` or died.
std::string RunAs(const Identity& who, const std::function<std::string()>& work);

// A system call's outcome as text: "ok", or the errno's name ("EACCES").
// Call it in a statement of its own right after the call: it reads errno.
std::string Outcome(long rc);

// lstat(path) as text: "mode 0104755 4321:4321", "fifo", ... or the errno's
// name. Enough to tell two entries apart where a user would.
std::string Describe(const std::string& path);

}  // namespace freshfs::testing
