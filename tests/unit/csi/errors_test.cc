#include "csi/errors.h"

#include <grpcpp/support/status.h>
#include <gtest/gtest.h>

namespace freshfs::csi {
namespace {

TEST(ErrorsTest, EachCodeMapsToItsGrpcCode) {
  const std::pair<Error, grpc::StatusCode> cases[] = {
      {InvalidArgument("a"), grpc::StatusCode::INVALID_ARGUMENT},
      {NotFound("b"), grpc::StatusCode::NOT_FOUND},
      {AlreadyExists("c"), grpc::StatusCode::ALREADY_EXISTS},
      {PermissionDenied("d"), grpc::StatusCode::PERMISSION_DENIED},
      {Aborted("e"), grpc::StatusCode::ABORTED},
      {Unavailable("f"), grpc::StatusCode::UNAVAILABLE},
      {Internal("g"), grpc::StatusCode::INTERNAL},
  };
  for (const auto& [error, code] : cases) {
    const grpc::Status status = ToGrpcStatus(error);
    EXPECT_EQ(status.error_code(), code) << error.message;
    EXPECT_EQ(status.error_message(), error.message);
  }
}

TEST(ErrorsTest, CodeNamesAreTheGrpcNames) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kInvalid), "INVALID_ARGUMENT");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kAborted), "ABORTED");
}

TEST(ErrorsTest, OkIsOk) { EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok()); }

TEST(ErrorsTest, ResultCarriesValueOrError) {
  Result<int> value(7);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, 7);
  Result<int> error(NotFound("x"));
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace freshfs::csi
