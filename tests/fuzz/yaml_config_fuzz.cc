// The YAML file of freshfs-mount --config (config/yaml_config.h).
//
// Properties: no exception escapes; an error is one line that names the
// file; a file that applies once applies again to fresh options.
#include <cstdint>
#include <string>

#include "config/yaml_config.h"
#include "fuzz_check.h"

namespace config = freshfs::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = freshfs::fuzz::AsText(data, size);
  config::Options options;
  const auto error = config::ApplyYamlText(text, "/etc/freshfs.yaml", options);
  if (error) {
    FUZZ_CHECK(error->starts_with("config /etc/freshfs.yaml") && freshfs::fuzz::OneLine(*error),
               "errors are one line and name the file");
    return 0;
  }
  config::Options again;
  FUZZ_CHECK(!config::ApplyYamlText(text, "/etc/freshfs.yaml", again), "applying is repeatable");
  FUZZ_CHECK(again.source == options.source && again.cache_size == options.cache_size &&
                 again.poll_interval == options.poll_interval,
             "applying is deterministic");
  return 0;
}
