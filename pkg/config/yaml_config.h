// The YAML config file given with --config: a mapping of option names (the
// long flags without dashes) to values, e.g.
//
//   source: /srv/data
//   entry-timeout: 5s
//   read-only: true
//
// Errors are one line, name the file, the line and the key, and come without
// the "freshfs-mount: " prefix, e.g.
//   config /x.yaml line 3: unknown key "entry-timout" (did you mean "entry-timeout"?)
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/options.h"

namespace freshfs::config {

// Reads the file at `path` and applies every key to `options`. Returns nullopt
// on success, else the error; `options` may then be partly updated.
std::optional<std::string> ApplyYamlFile(const std::string& path, Options& options);

// As ApplyYamlFile(), for YAML already in memory; `path` only names it in errors.
std::optional<std::string> ApplyYamlText(std::string_view text, const std::string& path,
                                         Options& options);

}  // namespace freshfs::config
