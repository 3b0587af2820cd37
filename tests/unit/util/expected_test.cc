#include "util/expected.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace freshfs {
namespace {

struct TestError {
  int code;
  std::string message;
};
template <typename T>
using TestResult = Expected<T, TestError>;
using TestStatus = Expected<void, TestError>;

TEST(Expected, HoldsTheValueItWasMadeFrom) {
  TestResult<std::string> r = std::string("abc");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(*r, "abc");
  EXPECT_EQ(r->size(), 3u);
}

TEST(Expected, HoldsTheErrorItWasMadeFrom) {
  TestResult<std::string> r = TestError{5, "no such thing"};
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code, 5);
  EXPECT_EQ(r.error().message, "no such thing");
}

TEST(Expected, MovesOnlyValuesOut) {
  TestResult<std::unique_ptr<int>> r = std::make_unique<int>(7);
  std::unique_ptr<int> taken = *std::move(r);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 7);
}

TestResult<int> Parse(bool fail) {
  if (fail) return TestError{22, "bad input"};
  return 42;
}

TestResult<std::string> Describe(bool fail) {
  auto r = Parse(fail);
  if (!r) return r.error();  // the propagation idiom: across value types
  return std::to_string(*r);
}

TestStatus Check(bool fail) {
  auto r = Describe(fail);
  if (!r) return std::move(r).error();
  return {};
}

TEST(Expected, AnErrorPropagatesAcrossValueTypesWithItsMessage) {
  auto ok = Describe(false);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "42");
  auto failed = Describe(true);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, 22);
  EXPECT_EQ(failed.error().message, "bad input");
  TestStatus status = Check(true);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message, "bad input");
}

TEST(Expected, VoidIsSuccessUntilGivenAnError) {
  TestStatus defaulted;
  EXPECT_TRUE(defaulted.ok());
  EXPECT_TRUE(TestStatus::Ok().ok());
  EXPECT_TRUE(Check(false).ok());
  TestStatus failed = TestError{13, "denied"};
  EXPECT_FALSE(static_cast<bool>(failed));
  EXPECT_EQ(failed.error().code, 13);
}

}  // namespace
}  // namespace freshfs
