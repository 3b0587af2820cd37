// Options of one freshfs-mount volume: what the user asked for on the command
// line and in the YAML file given with --config (flags override the file).
//
// Plain data; built once at start-up by ParseCommandLine() and read-only after.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "util/quote.h"

namespace freshfs::config {

enum class LogFormat { kText, kJson };

// Where the watcher hears about changes besides its periodic sync.
enum class Events {
  kAuto,     // inotify when the source filesystem delivers every change (local)
  kInotify,  // --events inotify
  kNone,     // --events none
};

// What an upload does when the object changed in S3 since the file was opened.
enum class Conflict {
  kKeepBoth,   // --conflict keep-both: theirs stays, ours is saved next to it, close() fails
  kOverwrite,  // --conflict overwrite: last writer wins
};

// s3://bucket[/prefix] split up; prefix "" or "dir/sub/" (trailing '/').
struct S3Source {
  std::string bucket;
  std::string prefix;
};

struct Options {
  // Positional arguments.
  std::string source;      // as given: "/path" or "file:///path"
  std::string mountpoint;  // as given

  std::optional<std::string> config_file;  // --config

  bool foreground = false;                  // -f/--foreground
  bool read_only = false;                   // --read-only
  bool allow_other = false;                 // --allow-other
  bool debug = false;                       // --debug: FUSE request log + debug-level logs
  LogFormat log_format = LogFormat::kText;  // --log-format text|json
  std::optional<std::string>
      log_file;  // --log-file; background mode default: syslog-less /dev/null

  // Ownership and permission bits reported for every entry; unset = as in the source.
  std::optional<uid_t> uid;         // --uid
  std::optional<gid_t> gid;         // --gid
  std::optional<mode_t> file_mode;  // --file-mode (octal, permission bits only)
  std::optional<mode_t> dir_mode;   // --dir-mode  (octal, permission bits only)

  // Freshness. With a change source (poll or events) the kernel caches for
  // long and is told what went stale; without one, caches expire quickly.
  std::chrono::milliseconds poll_interval{5000};  // --poll-interval; 0 disables
  // --full-sync-interval: polls in between list only the directories the
  // kernel holds; 0: every poll lists the whole source.
  std::chrono::milliseconds full_sync_interval{300000};
  // --self-check-interval: how often a few files' cached pages are compared
  // with the source (freshfs_stale_reads_detected_total); 0 disables.
  std::chrono::milliseconds self_check_interval{60000};
  Events events = Events::kAuto;    // --events inotify|none
  bool revalidate_on_open = false;  // --revalidate-on-open
  bool push_small_files = false;    // --push-small-files (notify_store)

  // Kernel caching; unset = chosen by whether a change source runs
  // (1h/1h/1h and on with one, 1s/1s/0 and off without).
  std::optional<std::chrono::milliseconds> entry_timeout;     // --entry-timeout
  std::optional<std::chrono::milliseconds> attr_timeout;      // --attr-timeout
  std::optional<std::chrono::milliseconds> negative_timeout;  // --negative-timeout
  std::optional<bool> kernel_cache;  // --kernel-cache: keep_cache on open + cached readdir

  // Metrics.
  std::optional<std::string> metrics_address;  // --metrics-address HOST:PORT
  std::optional<std::string> volume_name;      // --volume-name (label "volume")

  // --ready-fd: an inherited descriptor (a pipe's write end) that gets one
  // line, "READY <metrics-port>" or "ERROR <message>", then is closed.
  std::optional<int> ready_fd;

  // Resume (docs/resume.md). --state-fd: an inherited memfd the daemon keeps
  // its resume state in (default: one of its own). --resume CAUSE: the
  // state holds a predecessor's, whose connection MOUNTPOINT (/dev/fd/N)
  // is; serve it on.
  std::optional<int> state_fd;
  enum class ResumeCause { kCrash, kUpgrade };
  std::optional<ResumeCause> resume;
  // --take-over: MOUNTPOINT is served by a running freshfs-mount; take it
  // over through its control socket (docs/resume.md#upgrade).
  bool take_over = false;
  // --resumable=false: no state journal and no control socket; the mount
  // cannot be taken over or resumed, and saves what keeping that costs.
  bool resumable = true;
  // --control-fd: an inherited listening socket for successors (default: a
  // socket at a path derived from MOUNTPOINT, for standalone mounts).
  std::optional<int> control_fd;

  // Kernel-side I/O.
  unsigned max_threads = 16;  // --max-threads: FUSE worker threads

  // S3 sources. Credentials: the chain of s3/credential_chain.h
  // (--s3-credentials-file, the AWS_* variables, web identity, the shared
  // files, container credentials, IMDS); never on the command line.
  std::optional<std::string> s3_endpoint;          // --s3-endpoint URL (default: AWS)
  std::optional<std::string> s3_region;            // --s3-region (default: $AWS_REGION, us-east-1)
  bool s3_path_style = false;                      // --s3-path-style
  std::optional<std::string> s3_ca_file;           // --s3-ca-file
  std::optional<std::string> s3_credentials_file;  // --s3-credentials-file
  std::optional<std::string> s3_profile;           // --s3-profile (default: $AWS_PROFILE)
  std::optional<std::string> s3_sts_endpoint;  // --s3-sts-endpoint (default: $AWS_ENDPOINT_URL_STS)
  std::optional<std::string> s3_imds_endpoint;            // --s3-imds-endpoint
  std::optional<std::string> s3_role_arn;                 // --s3-role-arn (web identity)
  std::optional<std::string> s3_web_identity_token_file;  // --s3-web-identity-token-file
  std::optional<std::string> events_address;     // --events-address HOST:PORT (S3 webhooks)
  std::optional<std::string> events_token_file;  // --events-token-file: the webhook's secret
  std::optional<std::string> cache_dir;          // --cache-dir: on-disk cache of S3 data
  uint64_t cache_size = 1ull << 30;              // --cache-size
  std::string staging_dir = "/var/tmp/freshfs";  // --staging-dir: S3 writes before upload
  Conflict conflict = Conflict::kKeepBoth;       // --conflict keep-both|overwrite
};

// Options settable by name: as a long flag ("--entry-timeout 5s"), as a mount
// option ("-o entry_timeout=5s") and as a YAML key ("entry-timeout: 5s").
// One table so the three spellings cannot drift apart.
enum class ValueKind {
  kBool,       // true/false, yes/no, on/off, 1/0
  kString,     // non-empty text
  kId,         // uid/gid: decimal 0..4294967294
  kMode,       // octal permission bits, <= 07777
  kTimeout,    // duration 0..24h, see util/duration.h
  kThreads,    // 1..1024
  kLogFormat,  // text|json
  kPoll,       // duration 0..24h (poll intervals)
  kEvents,     // inotify|none
  kAddress,    // HOST:PORT (port 0: any free port)
  kName,       // a volume name: letters, digits, . _ - (label value)
  kUrl,        // http://host[:port] or https://...
  kSize,       // bytes, with an optional K, M, G or T suffix (powers of 1024)
  kConflict,   // keep-both|overwrite
  kFd,         // a descriptor number: decimal 3..2147483647 (not stdin/stdout/stderr)
  kResume,     // crash|upgrade
};

struct Setting {
  std::string_view name;  // long flag without dashes, also the YAML key
  ValueKind kind;
  std::string_view short_flag;  // e.g. "f" for -f, or empty
  bool yaml_only = false;       // "source": positional on the command line
};

// Every settable option, in --help order.
std::span<const Setting> Settings();

// The setting called `name` (dashes, as in Setting::name), or nullptr.
const Setting* FindSetting(std::string_view name);

// Sets the option `name` from its text form. Returns nullopt on success, else
// a short reason without the option name, e.g. `not a number` or
// `unknown unit "x" (use ms, s, m or h)`.
std::optional<std::string> SetOption(Options& options, std::string_view name,
                                     std::string_view value);

// The known name closest to `name` by edit distance when it is close enough
// to be a plausible typo, else empty.
std::string ClosestName(std::string_view name, std::span<const std::string_view> candidates);

// A boolean option value: true/yes/on/1 or false/no/off/0, any case.
std::optional<bool> ParseBool(std::string_view value);

// A listen address "HOST:PORT" or "[IPv6]:PORT": HOST an IPv4 address,
// an IPv6 address in brackets or a host name; PORT 0 to 65535. The reason
// it is not one, or nullopt.
std::optional<std::string> CheckAddress(std::string_view address);

// Checks the source syntax: "/path", "relative/path", "file:///path" or
// "s3://bucket[/prefix]". Returns nullopt when usable, else a reason.
// Does not touch the filesystem or the network.
std::optional<std::string> CheckSource(const std::string& source);

// The bucket and prefix of an "s3://bucket[/prefix]" source, or nullopt
// (with `*reason` set when it is an s3:// URL that is malformed).
std::optional<S3Source> ParseS3Source(const std::string& source, std::string* reason);

// The source resolved to an absolute directory path ("file://" stripped).
// Returns an empty string when `source` is not a directory source syntax.
std::string DirSourcePath(const std::string& source);

}  // namespace freshfs::config
