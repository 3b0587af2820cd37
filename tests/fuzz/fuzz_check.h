// What the fuzz targets share: FUZZ_CHECK(condition, what) aborts with a
// message when a property of a parser does not hold, so libFuzzer saves the
// input as a crash, like one of the sanitizers' findings.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition, what)                                                       \
  do {                                                                                    \
    if (!(condition)) {                                                                   \
      std::fprintf(stderr, "%s:%d: property failed: %s (%s)\n", __FILE__, __LINE__, what, \
                   #condition);                                                           \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace freshfs::fuzz {

inline std::string_view AsText(const unsigned char* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Error messages are one line: Quoted() escapes what came from the input.
inline bool OneLine(std::string_view message) {
  return message.find('\n') == std::string_view::npos &&
         message.find('\r') == std::string_view::npos;
}

}  // namespace freshfs::fuzz
