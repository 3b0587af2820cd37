#include "util/duration.h"

#include "util/quote.h"

#include <cstdint>
#include <limits>

namespace freshfs {
namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};

// Largest first: the order in which units must appear.
constexpr Unit kUnits[] = {{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};
constexpr size_t kNoUnit = std::size(kUnits);

// A fraction finer than this many digits cannot be a whole number of
// milliseconds for any unit above (3'600'000 has 7 decimal factors at most),
// and stopping here keeps the arithmetic inside int64.
constexpr size_t kMaxFractionDigits = 9;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::optional<std::chrono::milliseconds> Fail(std::string* error, std::string reason) {
  if (error != nullptr) *error = std::move(reason);
  return std::nullopt;
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text, std::string* error) {
  if (text.empty()) return Fail(error, "empty duration");
  if (text.front() == '-') return Fail(error, "must not be negative");

  int64_t total_ms = 0;
  size_t previous_unit = kNoUnit;  // index into kUnits of the last unit seen
  size_t pos = 0;
  bool any_component = false;
  while (pos < text.size()) {
    // Number: digits, optionally followed by '.' and more digits.
    const size_t number_start = pos;
    int64_t whole = 0;
    bool whole_overflow = false;
    while (pos < text.size() && IsDigit(text[pos])) {
      whole_overflow |= __builtin_mul_overflow(whole, 10, &whole) ||
                        __builtin_add_overflow(whole, text[pos] - '0', &whole);
      ++pos;
    }
    std::string_view fraction;
    if (pos < text.size() && text[pos] == '.') {
      const size_t fraction_start = ++pos;
      while (pos < text.size() && IsDigit(text[pos])) ++pos;
      fraction = text.substr(fraction_start, pos - fraction_start);
      if (fraction.empty()) {
        return Fail(error, "expected digits after \".\" in " +
                               Quoted(text.substr(number_start, pos - number_start)));
      }
    }
    const std::string_view number = text.substr(number_start, pos - number_start);
    if (number.empty() || number == ".") {
      return Fail(error, "unexpected " + Quoted(text.substr(pos, 1)) + " at position " +
                             std::to_string(pos + 1) + " (expected a number)");
    }

    // Unit: a run of letters.
    const size_t unit_start = pos;
    while (pos < text.size() && IsLetter(text[pos])) ++pos;
    const std::string_view unit_name = text.substr(unit_start, pos - unit_start);
    if (unit_name.empty()) {
      if (pos < text.size()) {
        return Fail(error, "unexpected " + Quoted(text.substr(pos, 1)) + " at position " +
                               std::to_string(pos + 1));
      }
      if (!any_component) {
        // A bare number: only zero needs no unit.
        const bool is_zero = number.find_first_not_of("0.") == std::string_view::npos;
        if (is_zero) return std::chrono::milliseconds{0};
        return Fail(error, "missing unit, e.g. 5s");
      }
      return Fail(error, "missing unit after " + Quoted(number) + ", e.g. 5s");
    }
    size_t unit = kNoUnit;
    for (size_t i = 0; i < std::size(kUnits); ++i) {
      if (kUnits[i].name == unit_name) unit = i;
    }
    if (unit == kNoUnit) {
      return Fail(error, "unknown unit " + Quoted(unit_name) + " (use ms, s, m or h)");
    }
    if (previous_unit != kNoUnit && unit <= previous_unit) {
      return Fail(error, "unit " + Quoted(unit_name) + " after " +
                             Quoted(kUnits[previous_unit].name) +
                             " (each unit at most once, largest first, e.g. 1h30m)");
    }
    previous_unit = unit;
    any_component = true;

    const int64_t unit_ms = kUnits[unit].ms;
    int64_t component_ms = 0;
    if (whole_overflow || __builtin_mul_overflow(whole, unit_ms, &component_ms)) {
      return Fail(error, "too large");
    }
    // Trailing zeros carry no precision: "1.500s" is "1.5s".
    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
    if (!fraction.empty()) {
      if (fraction.size() > kMaxFractionDigits) {
        return Fail(error,
                    "finer than 1ms: " + Quoted(std::string(number) + std::string(unit_name)));
      }
      int64_t numerator = 0;
      int64_t denominator = 1;
      for (char c : fraction) {
        numerator = numerator * 10 + (c - '0');
        denominator *= 10;
      }
      // numerator < 10^9 and unit_ms <= 3.6e6: the product fits in int64.
      const int64_t scaled = numerator * unit_ms;
      if (scaled % denominator != 0) {
        return Fail(error,
                    "finer than 1ms: " + Quoted(std::string(number) + std::string(unit_name)));
      }
      if (__builtin_add_overflow(component_ms, scaled / denominator, &component_ms)) {
        return Fail(error, "too large");
      }
    }
    if (__builtin_add_overflow(total_ms, component_ms, &total_ms)) {
      return Fail(error, "too large");
    }
  }
  return std::chrono::milliseconds{total_ms};
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  uint64_t rest = static_cast<uint64_t>(ms);
  if (ms < 0) {
    out = "-";
    rest = 0 - rest;  // well-defined even for INT64_MIN
  }
  if (rest < 1000) return out + std::to_string(rest) + "ms";

  const uint64_t hours = rest / 3'600'000;
  rest %= 3'600'000;
  const uint64_t minutes = rest / 60'000;
  rest %= 60'000;
  if (hours != 0) out += std::to_string(hours) + "h";
  if (minutes != 0) out += std::to_string(minutes) + "m";
  if (rest != 0) {
    out += std::to_string(rest / 1000);
    if (const uint64_t millis = rest % 1000; millis != 0) {
      std::string digits = std::to_string(millis);
      digits.insert(0, 3 - digits.size(), '0');
      while (digits.back() == '0') digits.pop_back();
      out += "." + digits;
    }
    out += "s";
  }
  return out;
}

}  // namespace freshfs
