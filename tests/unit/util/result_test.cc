#include "util/result.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace freshfs {
namespace {

Result<int> Failing() { return Error{EIO, "HTTP 503 SlowDown (GET s3://b/k)"}; }

Status Caller() {
  auto r = Failing();
  if (!r) return std::move(r).error().With("read of \"k\"");
  return {};
}

TEST(Error, KeepsItsErrnoAndMessageAcrossLayers) {
  Status s = Caller();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EIO);
  EXPECT_EQ(s.error().message, "read of \"k\": HTTP 503 SlowDown (GET s3://b/k)");
  EXPECT_EQ(s.error().Describe(),
            "Input/output error: read of \"k\": HTTP 503 SlowDown (GET s3://b/k)");
}

TEST(Error, WithoutAMessageTheContextIsTheMessage) {
  EXPECT_EQ(Error{ENOENT}.With("lookup").message, "lookup");
  EXPECT_EQ(Error{ENOENT}.Describe(), "No such file or directory");
}

TEST(Error, ExpectedOutcomesAreAnswersAndTheRestFailures) {
  for (int e : {ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, ENAMETOOLONG, EXDEV, EACCES})
    EXPECT_EQ(Error{e}.kind, Error::Kind::kAnswer) << e;
  for (int e : {EIO, ESTALE, ENOSPC, EDQUOT, EROFS, EBUSY})
    EXPECT_EQ(Error{e}.kind, Error::Kind::kFailure) << e;
  EXPECT_EQ(Error(EROFS, "read-only mount", Error::Kind::kAnswer).kind, Error::Kind::kAnswer);
}

}  // namespace
}  // namespace freshfs
