// Integration tests run the real freshfs-mount binary against real FUSE
// mounts. The environment makes this process the reaper of daemonized mounts
// and, at the end, fails if any mount or daemon was left behind.
#include <gtest/gtest.h>

#include "support/mount.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new freshfs::testing::NoLeftoversEnvironment);
  return RUN_ALL_TESTS();
}
