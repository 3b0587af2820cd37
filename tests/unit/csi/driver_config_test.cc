#include "csi/driver_config.h"

#include <gtest/gtest.h>

namespace freshfs::csi {
namespace {

TEST(DriverConfigTest, AllowedDirRoots) {
  auto config = ParseDriverConfig("allowedDirRoots: [/srv/data/, /mnt/./shared]\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->allowed_dir_roots, (std::vector<std::string>{"/srv/data", "/mnt/shared"}));
}

TEST(DriverConfigTest, BlockList) {
  auto config = ParseDriverConfig("allowedDirRoots:\n  - /srv/data\n  - /\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->allowed_dir_roots, (std::vector<std::string>{"/srv/data", "/"}));
}

TEST(DriverConfigTest, EmptyFileMeansNoRoots) {
  auto config = ParseDriverConfig("# nothing\n", "c.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->allowed_dir_roots.empty());
}

TEST(DriverConfigTest, UnknownKey) {
  auto config = ParseDriverConfig("allowedDirRoots: []\nallowedRoots: [/srv]\n", "c.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(config.error().message,
            "config c.yaml line 2: unknown key \"allowedRoots\" (known: allowedDirRoots)");
}

TEST(DriverConfigTest, RelativeRoot) {
  auto config = ParseDriverConfig("allowedDirRoots:\n  - /srv\n  - data\n", "c.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            "config c.yaml line 3: allowedDirRoots \"data\": not an absolute path");
}

TEST(DriverConfigTest, RootsMustBeAList) {
  auto config = ParseDriverConfig("allowedDirRoots: /srv\n", "c.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            "config c.yaml line 1: allowedDirRoots: expected a list of absolute paths");
}

TEST(DriverConfigTest, InvalidYaml) {
  auto config = ParseDriverConfig("allowedDirRoots: [/srv\n", "c.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(config.error().message.starts_with("config c.yaml line ")) << config.error().message;
}

TEST(DriverConfigTest, MissingFile) {
  auto config = LoadDriverConfig("/nonexistent/freshfs-csi.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            "config /nonexistent/freshfs-csi.yaml: cannot open: No such file or directory");
}

}  // namespace
}  // namespace freshfs::csi
