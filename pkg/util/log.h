// Process-wide logging set-up on top of spdlog. Call InitLogging() once at
// start-up (before any worker thread exists); afterwards use spdlog::info()
// etc. from any thread.
#pragma once

#include <string>

namespace freshfs {

enum class LogSink {
  kStderr,  // foreground
  kFile,    // --log-file
  kSyslog,  // background daemon without --log-file
};

struct LogSettings {
  bool json = false;   // one JSON object per line instead of text
  bool debug = false;  // debug level
  LogSink sink = LogSink::kStderr;
  std::string file;  // for kFile
  std::string ident = "freshfs-mount";
};

// Returns an error message, empty on success (e.g. the log file can't be opened).
std::string InitLogging(const LogSettings& settings);

// Escapes `text` for use inside a JSON string literal (no surrounding quotes).
std::string JsonEscape(std::string_view text);

}  // namespace freshfs
