// Durations (util/duration.h) as flags, YAML values, volume attributes and
// -o mount options give them: "1h30m", "1.5s", "0".
//
// Properties: a parsed duration is never negative and formats to text that
// parses back to it; an error is one line; and, taking the first 8 bytes as
// a number of milliseconds, FormatDuration() of any non-negative value
// parses back to the same value.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_check.h"
#include "util/duration.h"

using freshfs::FormatDuration;
using freshfs::ParseDuration;
using std::chrono::milliseconds;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = freshfs::fuzz::AsText(data, size);
  std::string error;
  if (auto parsed = ParseDuration(text, &error)) {
    FUZZ_CHECK(parsed->count() >= 0, "a parsed duration is not negative");
    const std::string formatted = FormatDuration(*parsed);
    auto again = ParseDuration(formatted, nullptr);
    FUZZ_CHECK(again && *again == *parsed, "FormatDuration(ParseDuration(x)) parses back");
  } else {
    FUZZ_CHECK(!error.empty() && freshfs::fuzz::OneLine(error), "errors are one line");
  }

  if (size >= sizeof(int64_t)) {
    int64_t ms = 0;
    std::memcpy(&ms, data, sizeof ms);
    if (ms >= 0) {
      auto back = ParseDuration(FormatDuration(milliseconds(ms)), nullptr);
      FUZZ_CHECK(back && back->count() == ms, "ParseDuration(FormatDuration(ms)) == ms");
    }
  }
  return 0;
}
