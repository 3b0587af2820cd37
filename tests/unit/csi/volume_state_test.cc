// VolumeStateStore on a real directory: round trip, stable SHA-256 names,
// modes that keep secrets to root, and state written by older versions.
#include "csi/volume_state.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

namespace freshfs::csi {
namespace {

namespace fs = std::filesystem;

class VolumeStateTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = tmp_.path(); }

  static VolumeState Sample() {
    VolumeState state;
    state.spec.volume_id = "pvc-1";
    state.spec.target_path = "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc-1/mount";
    state.spec.read_only = true;
    state.spec.mount_flags = {"noatime"};
    state.spec.attributes = {{"source", "s3://bucket/team"}};
    state.spec.secrets = {{"accessKeyId", "AK"}, {"secretAccessKey", "SK"}};
    state.pid = 4242;
    state.start_time = 987654;
    state.port = 9100;
    state.restarts = 3;
    return state;
  }

  testing::TempDir tmp_{"state"};
  fs::path dir_;
};

TEST_F(VolumeStateTest, RoundTripUnderAStableName) {
  auto store = VolumeStateStore::Open(dir_.string());
  ASSERT_TRUE(store) << store.error().message;
  const VolumeState state = Sample();
  ASSERT_TRUE(store->Save(state).ok());
  // SHA-256 of the target path: the same name on every build and platform.
  EXPECT_EQ(store->Key("/t"), "599c83a04aedc485a8e62fcd01981dde38ee48b08c0898cfe57544786e0ab488");
  EXPECT_EQ(store->Key(state.spec.target_path), store->Key(state.spec.target_path));
  EXPECT_NE(store->Key(state.spec.target_path), store->Key(state.spec.target_path + "x"));
  const fs::path file = dir_ / "volumes" / (store->Key(state.spec.target_path) + ".json");
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(store->VolumeDir(state.spec.target_path),
            (dir_ / "volumes" / (store->Key(state.spec.target_path) + ".d")).string());

  auto loaded = store->LoadAll();
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].spec, state.spec);
  EXPECT_EQ(loaded[0].pid, 4242);
  EXPECT_EQ(loaded[0].start_time, 987654u);
  EXPECT_EQ(loaded[0].port, 9100);
  EXPECT_EQ(loaded[0].restarts, 3u);

  store->Remove(state.spec.target_path);
  EXPECT_TRUE(store->LoadAll().empty());
}

TEST_F(VolumeStateTest, SecretsAreRootsAlone) {
  auto store = VolumeStateStore::Open(dir_.string());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Save(Sample()).ok());
  struct stat st {};
  ASSERT_EQ(
      ::stat((dir_ / "volumes" / (store->Key(Sample().spec.target_path) + ".json")).c_str(), &st),
      0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((dir_ / "volumes").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);  // reachable, not listable
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
}

TEST_F(VolumeStateTest, OlderStateIsReadAndRenamedToItsKey) {
  fs::create_directories(dir_ / "volumes" / "00000000deadbeef.d" / "staging");
  std::ofstream(dir_ / "volumes" / "00000000deadbeef.json")
      << R"({"volume_id":"old","target_path":"/t","read_only":false,"mount_flags":[],)"
      << R"("attributes":{"source":"/srv/data/v"},"secrets":{},"pid":77,"port":0,"restarts":1})";
  std::ofstream(dir_ / "volumes" / "broken.json") << "{not json";
  auto store = VolumeStateStore::Open(dir_.string());
  ASSERT_TRUE(store);
  auto loaded = store->LoadAll();
  ASSERT_EQ(loaded.size(), 1u);  // the broken one is skipped (and logged)
  EXPECT_EQ(loaded[0].spec.volume_id, "old");
  EXPECT_EQ(loaded[0].pid, 77);
  EXPECT_EQ(loaded[0].start_time, 0u);  // unknown: started by an older freshfs-csi
  EXPECT_TRUE(fs::exists(dir_ / "volumes" / (store->Key("/t") + ".json")));
  EXPECT_TRUE(fs::exists(fs::path(store->VolumeDir("/t")) / "staging"));
  EXPECT_FALSE(fs::exists(dir_ / "volumes" / "00000000deadbeef.json"));
}

}  // namespace
}  // namespace freshfs::csi
