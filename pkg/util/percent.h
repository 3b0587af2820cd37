// Percent-decoding of URL parts (%XX -> byte), shared by file:// sources,
// S3 listing keys and S3 event keys. A '%' not followed by two hex digits is
// kept as it is.
#pragma once

#include <string>
#include <string_view>

namespace freshfs {

// With `plus_is_space` (form encoding, as S3 uses for keys), '+' is ' '.
std::string PercentDecode(std::string_view text, bool plus_is_space);

}  // namespace freshfs
