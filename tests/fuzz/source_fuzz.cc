// SOURCE of freshfs-mount and the "source" volume attribute
// (config/options.h): "/path", "relative/path", "file:///path" or
// "s3://bucket[/prefix]".
//
// Properties: a source is S3, a directory or refused with a one-line reason,
// never two of these; an S3 bucket and prefix follow the documented rules
// and round-trip through "s3://bucket/prefix"; a directory path is absolute,
// canonical (no empty or "." components, no NUL) and its own canonical form.
#include <cstdint>
#include <string>

#include "config/options.h"
#include "fuzz_check.h"

namespace config = freshfs::config;

namespace {

bool ValidBucket(const std::string& bucket) {
  return bucket.size() >= 3 && bucket.size() <= 255 &&
         bucket.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
             "0123456789.-_") == std::string::npos;
}

// "" or "a/b/": no empty, "." or ".." component.
bool ValidPrefix(std::string_view prefix) {
  if (prefix.empty()) return true;
  if (prefix.back() != '/') return false;
  prefix.remove_suffix(1);
  for (size_t start = 0;;) {
    const size_t end = prefix.find('/', start);
    const std::string_view part = prefix.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(freshfs::fuzz::AsText(data, size));
  const auto refused = config::CheckSource(source);
  std::string reason;
  const auto s3 = config::ParseS3Source(source, &reason);
  const std::string dir = config::DirSourcePath(source);

  if (s3) {
    FUZZ_CHECK(!refused && dir.empty(), "an S3 source is not a directory");
    FUZZ_CHECK(ValidBucket(s3->bucket) && ValidPrefix(s3->prefix), "bucket and prefix rules");
    std::string again_reason;
    const auto again =
        config::ParseS3Source("s3://" + s3->bucket + "/" + s3->prefix, &again_reason);
    FUZZ_CHECK(again && again->bucket == s3->bucket && again->prefix == s3->prefix,
               "s3://bucket/prefix round-trips");
    return 0;
  }
  if (refused) {
    FUZZ_CHECK(dir.empty(), "a refused source has no directory");
    FUZZ_CHECK(!refused->empty() && freshfs::fuzz::OneLine(*refused), "reasons are one line");
    return 0;
  }
  FUZZ_CHECK(!dir.empty() && dir.front() == '/', "a directory source is absolute");
  FUZZ_CHECK(dir.find('\0') == std::string::npos, "no NUL in a path");
  FUZZ_CHECK(dir == "/" || (dir.find("//") == std::string::npos && dir.back() != '/' &&
                            dir.find("/./") == std::string::npos && !dir.ends_with("/.")),
             "a directory path is canonical");
  FUZZ_CHECK(config::DirSourcePath(dir) == dir && !config::CheckSource(dir),
             "a canonical path is its own canonical form");
  return 0;
}
