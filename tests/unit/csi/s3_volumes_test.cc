// S3 volume ids and plans: what CreateVolume makes of a StorageClass, and
// that DeleteVolume reads back exactly that from the id alone. Creating and
// deleting on a real S3 server is tested in tests/csi.
#include "csi/s3_volumes.h"

#include <gtest/gtest.h>

namespace freshfs::csi {
namespace {

StringMap Parameters(const std::string& source) {
  return {{"source", source},
          {"s3Endpoint", "http://minio.storage:9000/"},
          {"s3Region", "eu-west-1"},
          {"s3PathStyle", "yes"},
          {"onDelete", "delete"}};
}

TEST(S3VolumesTest, PlanNamesThePrefixTheRecordAndTheNodeSource) {
  auto volume = PlanS3Volume(Parameters("s3://data/teams/a/"), "pvc-1");
  ASSERT_TRUE(volume) << volume.error().message;
  EXPECT_EQ(volume->bucket, "data");
  EXPECT_EQ(volume->prefix(), "teams/a/pvc-1/");
  EXPECT_EQ(volume->record_key(), "teams/a/.freshfs-pvc-1.json");
  EXPECT_EQ(volume->source(), "s3://data/teams/a/pvc-1");
  // The endpoint's trailing '/' dropped, the path style normalised.
  EXPECT_EQ(volume->id(), "s3:http://minio.storage:9000;eu-west-1;true;data/teams/a/pvc-1");
}

TEST(S3VolumesTest, BucketWithoutPrefix) {
  StringMap parameters{{"source", "s3://data"}};
  auto volume = PlanS3Volume(parameters, "pvc-2");
  ASSERT_TRUE(volume) << volume.error().message;
  EXPECT_EQ(volume->prefix(), "pvc-2/");
  EXPECT_EQ(volume->record_key(), ".freshfs-pvc-2.json");
  EXPECT_EQ(volume->source(), "s3://data/pvc-2");
  EXPECT_EQ(volume->id(), "s3:;;;data/pvc-2");
}

TEST(S3VolumesTest, IdsParseBackToTheSameVolume) {
  for (const char* source : {"s3://data", "s3://data/x", "s3://data/teams/a/b"}) {
    for (const StringMap& extra : {StringMap{}, Parameters(source)}) {
      StringMap parameters = extra;
      parameters["source"] = source;
      auto planned = PlanS3Volume(parameters, "pvc-9");
      ASSERT_TRUE(planned) << planned.error().message;
      auto parsed = ParseS3VolumeId(planned->id());
      ASSERT_TRUE(parsed) << planned->id();
      EXPECT_EQ(parsed->endpoint, planned->endpoint);
      EXPECT_EQ(parsed->region, planned->region);
      EXPECT_EQ(parsed->path_style, planned->path_style);
      EXPECT_EQ(parsed->bucket, planned->bucket);
      EXPECT_EQ(parsed->parent, planned->parent);
      EXPECT_EQ(parsed->name, planned->name);
    }
  }
}

// Any name CSI allows (128 bytes) under any prefix: the id stays within
// 128 bytes, hashed, and names the index object that resolves it.
TEST(S3VolumesTest, LongPrefixesAndNamesGetHashedIds) {
  StringMap parameters = Parameters("s3://data/" + std::string(100, 'p'));
  const std::string name(128, 'n');
  auto planned = PlanS3Volume(parameters, name);
  ASSERT_TRUE(planned) << planned.error().message;
  const std::string id = planned->id();
  EXPECT_LE(id.size(), 128u) << id;
  EXPECT_TRUE(id.starts_with("s3#")) << id;
  EXPECT_EQ(planned->id(), id);  // stable
  EXPECT_EQ(planned->index_key(), ".freshfs-ids/" + id.substr(id.size() - 40));
  auto other = PlanS3Volume(parameters, std::string(127, 'n') + "m");
  ASSERT_TRUE(other);
  EXPECT_NE(other->id(), id);

  auto parsed = ParseS3VolumeId(id);
  ASSERT_TRUE(parsed) << id;
  EXPECT_EQ(parsed->bucket, "data");
  EXPECT_EQ(parsed->endpoint, planned->endpoint);
  EXPECT_TRUE(parsed->name.empty());  // left to the index
  EXPECT_EQ(parsed->id(), id);
  EXPECT_EQ(parsed->index_key(), planned->index_key());
  // Short ids stay what they were.
  auto short_one = PlanS3Volume(Parameters("s3://data/x"), "pvc-1");
  ASSERT_TRUE(short_one);
  EXPECT_TRUE(short_one->id().starts_with("s3:")) << short_one->id();
  EXPECT_EQ(short_one->index_key(), "");
  for (const char* bad : {"s3#;;;data;", "s3#;;;data;0123",
                          "s3#;;;data;XYZ4567890123456789012345678901234567890", "s3#;;;data"}) {
    EXPECT_FALSE(ParseS3VolumeId(bad)) << bad;
  }
}

TEST(S3VolumesTest, ForeignOrMalformedIdsAreNotS3Volumes) {
  for (const char* id : {"dir:/srv/data/pvc-1", "s3:", "s3:;;;", "s3:;;;data", "s3:;;;data/",
                         "s3:;;maybe;data/pvc-1", "s3:;;;data/a//pvc-1", "s3:;;;data/../pvc-1",
                         "s3:;;;x/pvc-1", "s3:;;;data/a/..", "s3:a;b;c"}) {
    EXPECT_FALSE(ParseS3VolumeId(id)) << id;
  }
  EXPECT_TRUE(ParseS3VolumeId("s3:;;;data/pvc-1"));
}

TEST(S3VolumesTest, RefusesWhatAnIdCannotCarry) {
  StringMap parameters = Parameters("s3://data/x");
  parameters["s3Endpoint"] = "http://a;b";
  auto planned = PlanS3Volume(parameters, "pvc-1");
  ASSERT_FALSE(planned);
  EXPECT_EQ(planned.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(planned.error().message,
            "parameter s3Endpoint \"http://a;b\": must not contain ';' (volume ids carry it)");

  // Only an endpoint too long for even a hashed id.
  parameters = Parameters("s3://data/x");
  parameters["s3Endpoint"] = "https://" + std::string(100, 'e') + ".example";
  planned = PlanS3Volume(parameters, "pvc-1");
  ASSERT_FALSE(planned);
  EXPECT_EQ(planned.error().code, ErrorCode::kInvalid);
  EXPECT_NE(planned.error().message.find("volume id too long"), std::string::npos);

  parameters = Parameters("s3://da");
  planned = PlanS3Volume(parameters, "pvc-1");
  ASSERT_FALSE(planned);
  EXPECT_NE(planned.error().message.find("parameter source: bucket name"), std::string::npos)
      << planned.error().message;
}

}  // namespace
}  // namespace freshfs::csi
