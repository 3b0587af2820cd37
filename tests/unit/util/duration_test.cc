#include "util/duration.h"

#include <gtest/gtest.h>

#include <limits>

namespace freshfs {
namespace {

using std::chrono::milliseconds;

milliseconds MustParse(std::string_view text) {
  std::string error;
  auto d = ParseDuration(text, &error);
  EXPECT_TRUE(d.has_value()) << text << ": " << error;
  return d.value_or(milliseconds{-1});
}

std::string ParseError(std::string_view text) {
  std::string error;
  auto d = ParseDuration(text, &error);
  EXPECT_FALSE(d.has_value()) << text << " parsed as " << (d ? d->count() : 0) << "ms";
  return error;
}

TEST(ParseDuration, SingleUnits) {
  EXPECT_EQ(MustParse("500ms"), milliseconds{500});
  EXPECT_EQ(MustParse("5s"), milliseconds{5'000});
  EXPECT_EQ(MustParse("2m"), milliseconds{120'000});
  EXPECT_EQ(MustParse("1h"), milliseconds{3'600'000});
  EXPECT_EQ(MustParse("0s"), milliseconds{0});
  EXPECT_EQ(MustParse("0ms"), milliseconds{0});
}

TEST(ParseDuration, Combinations) {
  EXPECT_EQ(MustParse("1m30s"), milliseconds{90'000});
  EXPECT_EQ(MustParse("1h2m3s4ms"), milliseconds{3'723'004});
  EXPECT_EQ(MustParse("1h30m"), milliseconds{5'400'000});
  EXPECT_EQ(MustParse("2s500ms"), milliseconds{2'500});
}

TEST(ParseDuration, Decimals) {
  EXPECT_EQ(MustParse("1.5s"), milliseconds{1'500});
  EXPECT_EQ(MustParse("0.25s"), milliseconds{250});
  EXPECT_EQ(MustParse("1.500s"), milliseconds{1'500});
  EXPECT_EQ(MustParse(".5s"), milliseconds{500});
  EXPECT_EQ(MustParse("1.5h"), milliseconds{5'400'000});
  EXPECT_EQ(MustParse("0.001s"), milliseconds{1});
}

TEST(ParseDuration, BareZero) {
  EXPECT_EQ(MustParse("0"), milliseconds{0});
  EXPECT_EQ(MustParse("0.0"), milliseconds{0});
}

TEST(ParseDuration, RejectsEmpty) { EXPECT_EQ(ParseError(""), "empty duration"); }

TEST(ParseDuration, RejectsNegative) {
  EXPECT_EQ(ParseError("-5s"), "must not be negative");
  EXPECT_EQ(ParseError("-0"), "must not be negative");
}

TEST(ParseDuration, RejectsBareNonZeroNumber) {
  EXPECT_EQ(ParseError("5"), "missing unit, e.g. 5s");
  EXPECT_EQ(ParseError("1.5"), "missing unit, e.g. 5s");
}

TEST(ParseDuration, RejectsTrailingNumberWithoutUnit) {
  EXPECT_EQ(ParseError("1m30"), "missing unit after \"30\", e.g. 5s");
}

TEST(ParseDuration, RejectsUnknownUnit) {
  EXPECT_EQ(ParseError("5x"), "unknown unit \"x\" (use ms, s, m or h)");
  EXPECT_EQ(ParseError("5sec"), "unknown unit \"sec\" (use ms, s, m or h)");
  EXPECT_EQ(ParseError("5S"), "unknown unit \"S\" (use ms, s, m or h)");
  EXPECT_EQ(ParseError("1d"), "unknown unit \"d\" (use ms, s, m or h)");
  EXPECT_EQ(ParseError("5us"), "unknown unit \"us\" (use ms, s, m or h)");
}

TEST(ParseDuration, RejectsUnitsOutOfOrderOrRepeated) {
  EXPECT_NE(ParseError("30s1m").find("unit \"m\" after \"s\""), std::string::npos);
  EXPECT_NE(ParseError("1s1s").find("unit \"s\" after \"s\""), std::string::npos);
}

TEST(ParseDuration, RejectsStrayCharacters) {
  EXPECT_EQ(ParseError("s"), "unexpected \"s\" at position 1 (expected a number)");
  EXPECT_EQ(ParseError(" 5s"), "unexpected \" \" at position 1 (expected a number)");
  EXPECT_EQ(ParseError("5s "), "unexpected \" \" at position 3 (expected a number)");
  EXPECT_EQ(ParseError("5 s"), "unexpected \" \" at position 2");
  EXPECT_EQ(ParseError("1.5.s"), "unexpected \".\" at position 4");
  EXPECT_EQ(ParseError("+5s"), "unexpected \"+\" at position 1 (expected a number)");
  EXPECT_EQ(ParseError("1.s"), "expected digits after \".\" in \"1.\"");
}

TEST(ParseDuration, RejectsPrecisionFinerThanMilliseconds) {
  EXPECT_NE(ParseError("1.5ms").find("finer than 1ms"), std::string::npos);
  EXPECT_NE(ParseError("0.0001s").find("finer than 1ms"), std::string::npos);
  EXPECT_NE(ParseError("1.0000000001h").find("finer than 1ms"), std::string::npos);
}

TEST(ParseDuration, RejectsOverflow) {
  EXPECT_EQ(ParseError("99999999999999999999ms"), "too large");
  EXPECT_EQ(ParseError("9223372036854775807s"), "too large");
  EXPECT_EQ(ParseError("2562047788016h"), "too large");
  EXPECT_EQ(ParseError("0.5ms"), "finer than 1ms: \"0.5ms\"");
  // Each component fits, the sum does not: INT64_MAX ms is 2562047788015h12m55.807s.
  EXPECT_EQ(MustParse("2562047788015h12m55.807s"),
            milliseconds{std::numeric_limits<int64_t>::max()});
  EXPECT_EQ(ParseError("2562047788015h13m"), "too large");
  EXPECT_EQ(ParseError("2562047788015h12m55.808s"), "too large");
  EXPECT_EQ(MustParse("9223372036854775807ms"), milliseconds{std::numeric_limits<int64_t>::max()});
}

TEST(ParseDuration, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(ParseDuration("5x", nullptr).has_value());
  EXPECT_EQ(ParseDuration("5s", nullptr), milliseconds{5'000});
}

TEST(FormatDuration, Examples) {
  EXPECT_EQ(FormatDuration(milliseconds{0}), "0s");
  EXPECT_EQ(FormatDuration(milliseconds{500}), "500ms");
  EXPECT_EQ(FormatDuration(milliseconds{1'500}), "1.5s");
  EXPECT_EQ(FormatDuration(milliseconds{1'050}), "1.05s");
  EXPECT_EQ(FormatDuration(milliseconds{1'001}), "1.001s");
  EXPECT_EQ(FormatDuration(milliseconds{5'000}), "5s");
  EXPECT_EQ(FormatDuration(milliseconds{120'000}), "2m");
  EXPECT_EQ(FormatDuration(milliseconds{90'000}), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds{3'600'000}), "1h");
  EXPECT_EQ(FormatDuration(milliseconds{86'400'000}), "24h");
  EXPECT_EQ(FormatDuration(milliseconds{3'600'250}), "1h0.25s");
  EXPECT_EQ(FormatDuration(milliseconds{-1'500}), "-1.5s");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (int64_t ms :
       {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1'000}, int64_t{1'001}, int64_t{59'999},
        int64_t{60'000}, int64_t{61'500}, int64_t{3'599'999}, int64_t{3'600'001},
        int64_t{86'400'000}, int64_t{123'456'789}, std::numeric_limits<int64_t>::max()}) {
    const std::string text = FormatDuration(milliseconds{ms});
    EXPECT_EQ(MustParse(text), milliseconds{ms}) << text;
  }
}

TEST(FormatDuration, MostNegativeValueDoesNotOverflow) {
  EXPECT_EQ(FormatDuration(milliseconds{std::numeric_limits<int64_t>::min()}).front(), '-');
}

}  // namespace
}  // namespace freshfs
