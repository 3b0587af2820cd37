// Option values (config/options.h SetOption): the one parser behind flags,
// -o mount options, YAML keys and CSI volume attributes. The first byte
// picks the option, the rest is its value: sizes ("512M", "10G"), durations,
// ids, modes, addresses (HOST:PORT), URLs, names, booleans, descriptors.
//
// Properties: an error is one non-empty line; an accepted value lies within
// the documented bounds of its kind; an accepted size, written back in
// bytes, parses to the same size.
#include <charconv>
#include <climits>
#include <cstdint>
#include <string>

#include "config/options.h"
#include "fuzz_check.h"
#include "util/duration.h"

namespace config = freshfs::config;
using config::ValueKind;
using namespace std::chrono_literals;

namespace {

// The accepted value as a number (kinds that take decimal digits only).
uint64_t Number(std::string_view value) {
  uint64_t n = 0;
  std::from_chars(value.data(), value.data() + value.size(), n);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto settings = config::Settings();
  const config::Setting& setting = settings[data[0] % settings.size()];
  const std::string_view value = freshfs::fuzz::AsText(data + 1, size - 1);

  config::Options o;
  if (auto reason = config::SetOption(o, setting.name, value)) {
    FUZZ_CHECK(!reason->empty() && freshfs::fuzz::OneLine(*reason), "errors are one line");
    return 0;
  }
  switch (setting.kind) {
    case ValueKind::kSize: {
      FUZZ_CHECK(o.cache_size > 0 && o.cache_size <= (uint64_t{1} << 50), "sizes are 1..1P");
      config::Options bytes;
      FUZZ_CHECK(!config::SetOption(bytes, setting.name, std::to_string(o.cache_size)) &&
                     bytes.cache_size == o.cache_size,
                 "a size written in bytes parses to the same size");
      break;
    }
    case ValueKind::kTimeout:
    case ValueKind::kPoll: {
      const auto d = freshfs::ParseDuration(value, nullptr);
      FUZZ_CHECK(d && *d >= 0ms && *d <= 24h, "durations are 0..24h");
      break;
    }
    case ValueKind::kId:
      FUZZ_CHECK((setting.name == "uid" ? *o.uid : *o.gid) != static_cast<uid_t>(-1),
                 "(uid_t)-1 is nobody's id");
      break;
    case ValueKind::kMode:
      FUZZ_CHECK((setting.name == "file-mode" ? *o.file_mode : *o.dir_mode) <= 07777,
                 "modes are permission bits only");
      break;
    case ValueKind::kThreads:
      FUZZ_CHECK(o.max_threads >= 1 && o.max_threads <= 1024, "threads are 1..1024");
      break;
    case ValueKind::kFd:
      FUZZ_CHECK(Number(value) >= 3 && Number(value) <= INT_MAX,
                 "descriptors are not stdin, stdout or stderr");
      break;
    case ValueKind::kName:
      FUZZ_CHECK(value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789._-") == std::string_view::npos &&
                     !value.empty(),
                 "names are letters, digits, '.', '_' and '-'");
      break;
    case ValueKind::kString:
      FUZZ_CHECK(!value.empty(), "strings are non-empty");
      break;
    default:
      break;
  }
  return 0;
}
