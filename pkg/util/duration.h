// Human-readable durations for flags and config files: "500ms", "5s", "2m",
// "1h", combinations such as "1m30s", decimals such as "1.5s", and a bare "0".
//
// Pure functions, thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace freshfs {

// Parses `text` into whole milliseconds. Units: ms, s, m, h (lower case), each
// at most once and largest first ("1h30m", not "30m1h"). A number without a
// unit is accepted only when it is zero. Returns nullopt on failure and, when
// `error` is non-null, stores a short reason there, e.g.
// `unknown unit "x" (use ms, s, m or h)`.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text, std::string* error);

// The shortest text ParseDuration() maps back to `d`: "0s", "500ms", "1.5s",
// "2m", "1m30s", "1h0.25s". Negative values get a leading "-".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace freshfs
