// Quoted(): a piece of user input in double quotes for an error message,
// with control characters escaped so the message stays on one line.
#pragma once

#include <string>
#include <string_view>

namespace freshfs {

std::string Quoted(std::string_view value);

// As Quoted(), without the quotes: for text from a library (say a parser's
// message) that may carry a byte of the input.
std::string Escaped(std::string_view value);

}  // namespace freshfs
