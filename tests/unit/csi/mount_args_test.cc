// A checked volume spec as a freshfs-mount command line: every attribute
// becomes its flag, secrets never appear in argv.
#include "csi/mount_args.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace freshfs::csi {
namespace {

bool Has(const std::vector<std::string>& argv, const std::vector<std::string>& seq) {
  return std::search(argv.begin(), argv.end(), seq.begin(), seq.end()) != argv.end();
}

TEST(MountArgsTest, AttributesBecomeFlags) {
  VolumeSpec spec;
  spec.volume_id = "pvc-1234/abc";
  spec.target_path = "/var/lib/kubelet/pods/x/volumes/y/mount";
  spec.read_only = true;
  spec.mount_flags = {"noatime"};
  spec.attributes = {{"source", "s3://bucket/team"},
                     {"pollInterval", "10s"},
                     {"s3Endpoint", "http://minio:9000"},
                     {"s3Region", "eu-west-1"},
                     {"s3PathStyle", "true"},
                     {"uid", "1000"},
                     {"gid", "2000"},
                     {"fileMode", "0640"},
                     {"dirMode", "0750"},
                     {"revalidateOnOpen", "false"},
                     {"cacheSize", "10G"}};
  spec.secrets = {{"accessKeyId", "AKIDEXAMPLE"}, {"secretAccessKey", "very-secret"}};
  auto argv = MountArgs("/usr/bin/freshfs-mount", spec, {"/state/v/staging", "/state/v/cache"});
  EXPECT_EQ(argv.front(), "/usr/bin/freshfs-mount");
  EXPECT_TRUE(Has(argv, {"-f"}));
  EXPECT_TRUE(Has(argv, {"--allow-other"}));  // pods run as any user
  EXPECT_TRUE(Has(argv, {"--volume-name", "pvc-1234_abc"}));
  EXPECT_TRUE(Has(argv, {"--metrics-address", "127.0.0.1:0"}));
  EXPECT_TRUE(Has(argv, {"--staging-dir", "/state/v/staging"}));
  EXPECT_TRUE(Has(argv, {"--poll-interval", "10s"}));
  EXPECT_TRUE(Has(argv, {"--s3-endpoint", "http://minio:9000"}));
  EXPECT_TRUE(Has(argv, {"--s3-region", "eu-west-1"}));
  EXPECT_TRUE(Has(argv, {"--s3-path-style=true"}));
  EXPECT_TRUE(Has(argv, {"--uid", "1000"}));
  EXPECT_TRUE(Has(argv, {"--gid", "2000"}));
  EXPECT_TRUE(Has(argv, {"--file-mode", "0640"}));
  EXPECT_TRUE(Has(argv, {"--dir-mode", "0750"}));
  EXPECT_TRUE(Has(argv, {"--revalidate-on-open=false"}));
  EXPECT_TRUE(Has(argv, {"--cache-dir", "/state/v/cache", "--cache-size", "10G"}));
  EXPECT_TRUE(Has(argv, {"--read-only"}));
  EXPECT_TRUE(Has(argv, {"-o", "noatime"}));
  EXPECT_TRUE(Has(argv, {"--s3-credentials-file", "/dev/fd/3"}));
  EXPECT_TRUE(Has(argv, {"--ready-fd", "6"}));
  EXPECT_EQ(argv[argv.size() - 2], "s3://bucket/team");
  EXPECT_EQ(argv.back(), "/dev/fd/4");  // the connection freshfs-csi mounted
  for (const std::string& a : argv) {
    EXPECT_EQ(a.find("very-secret"), std::string::npos) << a;
    EXPECT_EQ(a.find("AKIDEXAMPLE"), std::string::npos) << a;
  }
}

TEST(MountArgsTest, DirectoryVolumeHasNoS3Flags) {
  VolumeSpec spec;
  spec.volume_id = "v";
  spec.target_path = "/t";
  spec.attributes = {{"source", "/srv/data/v"}};
  auto argv = MountArgs("fm", spec, {"/s", "/c"});
  EXPECT_FALSE(Has(argv, {"--s3-credentials-file"}));
  EXPECT_FALSE(Has(argv, {"--cache-dir"}));
  EXPECT_FALSE(Has(argv, {"--read-only"}));
  // The directory freshfs-csi opened beneath its root: never a path to resolve again.
  EXPECT_EQ(argv[argv.size() - 2], "/dev/fd/5");
  EXPECT_EQ(argv.back(), "/dev/fd/4");
}

TEST(MountArgsTest, ReadOnlyFromTheRequestOrTheMountFlags) {
  VolumeSpec spec;
  EXPECT_FALSE(IsReadOnlySpec(spec));
  spec.mount_flags = {"noatime,ro"};
  EXPECT_TRUE(IsReadOnlySpec(spec));
  spec.mount_flags = {"rofs", "nosuid"};
  EXPECT_FALSE(IsReadOnlySpec(spec));
  spec.read_only = true;
  EXPECT_TRUE(IsReadOnlySpec(spec));
}

// Found by tests/fuzz/volume_fuzz.cc: "--read-only" came before the mount
// flags, so a PV's "rw" made the child of a read-only volume writable.
TEST(MountArgsTest, ReadOnlyComesAfterTheMountFlags) {
  VolumeSpec spec;
  spec.attributes = {{"source", "/srv/data/v"}};
  spec.read_only = true;
  spec.mount_flags = {"noatime,rw"};
  const auto argv = MountArgs("fm", spec, {"/s", "/c"});
  const auto flags = std::find(argv.begin(), argv.end(), "noatime,rw");
  const auto read_only = std::find(argv.begin(), argv.end(), "--read-only");
  ASSERT_NE(flags, argv.end());
  EXPECT_GT(read_only, flags);
  EXPECT_NE(read_only, argv.end());
}

TEST(MountArgsTest, CredentialsFileTextIsAnAwsProfile) {
  EXPECT_EQ(CredentialsFileText({{"accessKeyId", "A"}, {"secretAccessKey", "S"}}),
            "[default]\naws_access_key_id = A\naws_secret_access_key = S\n");
  EXPECT_EQ(
      CredentialsFileText({{"accessKeyId", "A"}, {"secretAccessKey", "S"}, {"sessionToken", "T"}}),
      "[default]\naws_access_key_id = A\naws_secret_access_key = S\naws_session_token = T\n");
}

}  // namespace
}  // namespace freshfs::csi
