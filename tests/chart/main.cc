// The chart's tests run helm, and some start freshfs-csi with real FUSE
// volumes: the environment makes this process the reaper of their
// processes and, at the end, fails if a mount or a process was left behind.
#include <gtest/gtest.h>

#include "support/mount.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new freshfs::testing::NoLeftoversEnvironment);
  return RUN_ALL_TESTS();
}
