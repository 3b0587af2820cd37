// Quoted(): a piece of user input in double quotes for an error message,
// with control characters escaped so the message stays on one line.
#pragma once

#include <string>
#include <string_view>

namespace freshfs {

std::string Quoted(std::string_view value);

}  // namespace freshfs
