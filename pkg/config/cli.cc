#include "config/cli.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "config/yaml_config.h"
#include "util/duration.h"

namespace freshfs::config {
namespace {

constexpr std::string_view kProgram = "freshfs-mount";
constexpr std::string_view kUsage = "usage: freshfs-mount [options] SOURCE MOUNTPOINT";

// Standard mount(8) options that mount, fstab and mount.fuse3 pass along but
// that mean nothing to this filesystem (the kernel or mount(8) handles them).
constexpr std::string_view kIgnoredMountOptions[] = {
    "dev",      "nodev",      "suid",        "nosuid",   "exec",       "noexec",
    "auto",     "noauto",     "user",        "nouser",   "users",      "_netdev",
    "async",    "atime",      "noatime",     "relatime", "nofail",     "defaults",
    "diratime", "nodiratime", "strictatime", "lazytime", "nolazytime",
};

// One setting from the command line, in the order given.
struct CommandLineSetting {
  std::string origin;  // as the user spelled it, for errors: `--uid "x"` or `-o uid=x`
  std::string name;    // Setting::name
  std::string value;
};

ParseResult Exit(int code, std::string output) {
  ParseResult result;
  result.action = ParseResult::Action::kExit;
  result.exit_code = code;
  result.output = std::move(output);
  return result;
}

ParseResult UsageError(std::string_view message) {
  std::string line = std::string(kProgram) + ": " + std::string(message);
  std::replace(line.begin(), line.end(), '\n', ' ');  // one line, whatever the source
  return Exit(kUsageExitCode, std::move(line));
}

std::string_view ValueName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kBool:
      return "";
    case ValueKind::kString:
      return "PATH";
    case ValueKind::kId:
      return "N";
    case ValueKind::kMode:
      return "OCTAL";
    case ValueKind::kTimeout:
      return "DUR";
    case ValueKind::kThreads:
      return "N";
    case ValueKind::kLogFormat:
      return "FORMAT";
    case ValueKind::kPoll:
      return "DUR";
    case ValueKind::kEvents:
      return "MODE";
    case ValueKind::kAddress:
      return "HOST:PORT";
    case ValueKind::kName:
      return "NAME";
    case ValueKind::kUrl:
      return "URL";
    case ValueKind::kSize:
      return "SIZE";
    case ValueKind::kConflict:
      return "POLICY";
    case ValueKind::kFd:
      return "N";
    case ValueKind::kResume:
      return "CAUSE";
  }
  return "VALUE";
}

std::vector<std::string_view> FlagNames() {
  std::vector<std::string_view> names = {"config", "help", "version"};
  for (const Setting& s : Settings()) {
    if (!s.yaml_only) names.push_back(s.name);
  }
  return names;
}

std::string UnknownOption(std::string_view arg) {
  std::string message = "unknown option " + Quoted(arg);
  if (arg.starts_with("--")) {
    std::string_view name = arg.substr(2);
    name = name.substr(0, name.find('='));
    const std::vector<std::string_view> names = FlagNames();
    if (const std::string suggestion = ClosestName(name, names); !suggestion.empty()) {
      message += " (did you mean \"--" + suggestion + "\"?)";
    }
  }
  return message + " (see --help)";
}

// Splits one -o argument ("ro,uid=1000,entry_timeout=5s") into settings.
// `config_file` receives config=FILE. Returns an error message on failure.
std::optional<std::string> ExpandMountOptions(std::string_view list,
                                              std::vector<CommandLineSetting>* settings,
                                              std::optional<std::string>* config_file) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item.empty()) continue;  // "ro,,nodev" and trailing commas: harmless

    const size_t equals = item.find('=');
    const std::string_view key = item.substr(0, equals);
    const bool has_value = equals != std::string_view::npos;
    const std::string_view value = has_value ? item.substr(equals + 1) : std::string_view();
    const std::string origin = "-o " + std::string(item);

    if (!has_value && std::find(std::begin(kIgnoredMountOptions), std::end(kIgnoredMountOptions),
                                key) != std::end(kIgnoredMountOptions)) {
      continue;
    }
    // Userspace-only options (x-systemd.*, comment=) that mount(8) hands on.
    if (key.starts_with("x-") || key == "comment") continue;
    if (key == "ro" || key == "rw") {
      if (has_value) return origin + ": takes no value";
      settings->push_back({origin, "read-only", key == "ro" ? "true" : "false"});
      continue;
    }

    std::string name(key);
    std::replace(name.begin(), name.end(), '_', '-');
    if (name == "config") {
      if (value.empty()) return origin + ": missing value (config=FILE)";
      *config_file = std::string(value);
      continue;
    }
    const Setting* setting = FindSetting(name);
    if (setting == nullptr || setting->yaml_only) {
      std::string message = "unknown -o option " + Quoted(key);
      std::vector<std::string> spelled;  // suggest in the user's own spelling
      const bool underscores = key.find('_') != std::string_view::npos;
      for (std::string_view n : FlagNames()) {
        if (n == "help" || n == "version") continue;
        std::string s(n);
        if (underscores) std::replace(s.begin(), s.end(), '-', '_');
        spelled.push_back(std::move(s));
      }
      spelled.insert(spelled.end(), {"ro", "rw"});
      const std::vector<std::string_view> candidates(spelled.begin(), spelled.end());
      if (const std::string suggestion = ClosestName(key, candidates); !suggestion.empty()) {
        message += " (did you mean " + Quoted(suggestion) + "?)";
      }
      return message;
    }
    if (setting->kind == ValueKind::kBool) {
      settings->push_back({origin, name, has_value ? std::string(value) : "true"});
    } else if (!has_value) {
      return origin + ": missing value (" + std::string(key) + "=" +
             std::string(ValueName(setting->kind)) + ")";
    } else {
      settings->push_back({origin, name, std::string(value)});
    }
  }
  return std::nullopt;
}

bool HasToken(int argc, const char* const* argv, std::string_view a, std::string_view b) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == a || arg == b) return true;
  }
  return false;
}

std::string VersionText(std::string_view version) {
  return std::string(kProgram) + " " + std::string(version) + "\n";
}

}  // namespace

std::string HelpText() {
  const Options defaults;
  // {option, description lines}; descriptions start in one column.
  const std::vector<std::pair<std::string, std::vector<std::string>>> rows = {
      {"-f, --foreground", {"stay in the foreground (default: daemonize)"}},
      {"    --config FILE", {"read options from a YAML file; flags override it"}},
      {"    --read-only", {"mount read-only (-o ro)"}},
      {"    --allow-other",
       {"let other users access the mount (unless root,",
        "needs user_allow_other in /etc/fuse.conf)"}},
      {"    --uid N", {"report every entry as owned by user N", "(default: as in SOURCE)"}},
      {"    --gid N", {"report every entry as owned by group N", "(default: as in SOURCE)"}},
      {"    --file-mode OCTAL", {"permission bits of files, e.g. 0644", "(default: as in SOURCE)"}},
      {"    --dir-mode OCTAL",
       {"permission bits of directories, e.g. 0755", "(default: as in SOURCE)"}},
      {"    --poll-interval DUR",
       {"how often the source is compared with what the",
        "kernel may cache; 0 disables (default: " + FormatDuration(defaults.poll_interval) + ")"}},
      {"    --full-sync-interval DUR",
       {"how often a background scan pages through the",
        "whole source for its usage (df); syncs list only",
        "the directories the kernel holds; 0: no scan",
        "(default: " + FormatDuration(defaults.full_sync_interval) + ")"}},
      {"    --self-check-interval DUR",
       {"how often a few files' cached pages are compared",
        "with the source, to catch and repair stale views;",
        "0 disables (default: " + FormatDuration(defaults.self_check_interval) + ")"}},
      {"    --events MODE",
       {"inotify or none: see changes to a local SOURCE at",
        "once (default: inotify where the filesystem",
        "reports every change, i.e. not NFS/SMB/CephFS)"}},
      {"    --revalidate-on-open",
       {"check a file against SOURCE on every open", "(close-to-open consistency; default: off)"}},
      {"    --push-small-files",
       {"after a change, push the new content of small",
        "files (<= 64 KiB) read lately into the page", "cache (default: off)"}},
      {"    --entry-timeout DUR",
       {"how long the kernel caches names (default: 1h", "with a change source, else 1s)"}},
      {"    --attr-timeout DUR",
       {"how long the kernel caches attributes (default:", "1h with a change source, else 1s)"}},
      {"    --negative-timeout DUR",
       {"how long the kernel caches \"no such file\"",
        "(default: 1h with a change source, else 0s)"}},
      {"    --kernel-cache",
       {"keep file pages across opens and cache directory",
        "listings (default: on with a change source)"}},
      {"    --metrics-address HOST:PORT",
       {"serve Prometheus metrics at", "http://HOST:PORT/metrics (port 0: any free port,",
        "logged)"}},
      {"    --volume-name NAME",
       {"the volume label in metrics (default: the", "mountpoint's last component)"}},
      {"    --ready-fd N",
       {"report the start-up outcome on inherited", "descriptor N, then close it: one line,",
        "\"READY <metrics port or 0>\" or \"ERROR <reason>\""}},
      {"    --state-fd N",
       {"keep the resume state in inherited memfd N", "(default: a memfd of its own)"}},
      {"    --resume CAUSE",
       {"serve on the connection MOUNTPOINT (/dev/fd/N)",
        "of a predecessor whose state --state-fd holds;", "CAUSE: crash or upgrade"}},
      {"    --take-over",
       {"take MOUNTPOINT over from the freshfs-mount",
        "serving it, without unmounting (an upgrade);",
        "that daemon exits, or serves on if this fails"}},
      {"    --resumable",
       {"keep the state a successor needs (journal,", "control socket); =false: this mount can be",
        "neither taken over nor resumed (default: on)"}},
      {"    --control-fd N",
       {"accept successors (--take-over) on inherited",
        "listening socket N (default: a socket under",
        "/run/freshfs or $XDG_RUNTIME_DIR/freshfs)"}},
      {"    --s3-endpoint URL",
       {"S3 server, e.g. http://127.0.0.1:9000 (default:",
        "AWS, https://s3.REGION.amazonaws.com)"}},
      {"    --s3-region NAME", {"signing region (default: $AWS_REGION or", "us-east-1)"}},
      {"    --s3-path-style", {"address buckets as URL/bucket/key (MinIO, Ceph)"}},
      {"    --s3-ca-file PATH", {"extra CA certificates for TLS to the endpoint"}},
      {"    --s3-credentials-file PATH",
       {"AWS credentials file to use (default: the AWS",
        "credential chain: AWS_* variables, web identity,", "~/.aws files, container, IMDS)"}},
      {"    --s3-profile NAME", {"profile in the AWS files (default: $AWS_PROFILE", "or default)"}},
      {"    --s3-role-arn ARN",
       {"assume this role with the token in", "--s3-web-identity-token-file (STS",
        "AssumeRoleWithWebIdentity)"}},
      {"    --s3-web-identity-token-file PATH",
       {"the OIDC token for --s3-role-arn, read again at", "every refresh"}},
      {"    --s3-sts-endpoint URL",
       {"STS for web identity (default:", "$AWS_ENDPOINT_URL_STS, else",
        "https://sts.REGION.amazonaws.com)"}},
      {"    --s3-imds-endpoint URL",
       {"EC2 instance metadata (default:", "$AWS_EC2_METADATA_SERVICE_ENDPOINT, else",
        "http://169.254.169.254)"}},
      {"    --events-address HOST:PORT",
       {"accept S3 event notifications (webhook JSON) at",
        "http://HOST:PORT/ and apply them at once"}},
      {"    --events-token-file PATH",
       {"the secret every event request must carry", "(Authorization: Bearer or Basic password);",
        "required unless HOST is a loopback address"}},
      {"    --cache-dir PATH",
       {"keep S3 data read in PATH across remounts", "(default: page cache only)"}},
      {"    --cache-size SIZE", {"bound of --cache-dir, e.g. 10G (default: 1G)"}},
      {"    --staging-dir PATH",
       {"where S3 writes wait for upload; failed uploads",
        "stay in PATH/failed (default: /var/tmp/freshfs)"}},
      {"    --conflict POLICY",
       {"keep-both or overwrite: what an upload does when",
        "the object changed since open (default:", "keep-both: ours saved as NAME.conflict-TIME)"}},
      {"-d, --debug", {"log every FUSE request and debug messages"}},
      {"    --log-format FORMAT", {"text or json (default: text)"}},
      {"    --log-file PATH", {"write logs to PATH instead of stderr"}},
      {"    --max-threads N",
       {"FUSE worker threads, 1..1024 (default: " + std::to_string(defaults.max_threads) + ")"}},
      {"-o OPT[,OPT...]",
       {"mount options as in fstab: ro, rw, config=FILE", "and the long options above with - or _,",
        "e.g. -o ro,allow_other,uid=1000,entry_timeout=5s;",
        "dev, suid, exec, auto, user, _netdev, noatime,",
        "nofail, defaults and similar are ignored"}},
      {"-V, --version", {"print the version and exit"}},
      {"-h, --help", {"print this help and exit"}},
  };
  constexpr size_t kDescriptionColumn = 30;

  std::string text =
      "Usage: freshfs-mount [options] SOURCE MOUNTPOINT\n"
      "\n"
      "Mounts SOURCE, a directory (/path, relative/path or file:///path) or an\n"
      "S3 bucket (s3://bucket[/prefix]), at MOUNTPOINT through FUSE and keeps the\n"
      "kernel's caches fresh when SOURCE changes.\n"
      "\n"
      "MOUNTPOINT may be /dev/fd/N: a /dev/fuse descriptor the caller opened,\n"
      "mounted (mount(2) with fd=N) and lets freshfs-mount inherit; it then\n"
      "neither mounts nor unmounts, and needs no privilege to mount.\n"
      "SOURCE may be /dev/fd/N too: an open directory the caller hands over;\n"
      "exactly that directory is served, its path is never looked up.\n"
      "\n"
      "Options:\n";
  for (const auto& [option, description] : rows) {
    std::string line = "  " + option;
    if (line.size() + 2 > kDescriptionColumn) {  // too long to share a line
      text += line + "\n";
      line.clear();
    }
    for (const std::string& part : description) {
      line.resize(kDescriptionColumn, ' ');
      text += line + part + "\n";
      line.clear();
    }
  }
  text +=
      "\n"
      "DUR is a duration such as 500ms, 5s, 2m, 1h or 1m30s; timeouts range from\n"
      "0 to 24h. Boolean options accept =true or =false, e.g. --read-only=false\n"
      "overrides the config file. Every option except --config, --help and\n"
      "--version can also be set in the config file by its long name, e.g.\n"
      "\"entry-timeout: 5s\"; the file may also set \"source\".\n";
  return text;
}

ParseResult ParseCommandLine(int argc, const char* const* argv, std::string_view version) {
  CLI::App app{"", std::string(kProgram)};
  app.set_help_flag();  // our own --help text, below
  app.allow_extras();   // unknown options are reported by us, in one line

  // Values are kept as text and converted by SetOption(), so that every
  // error message is ours and the order of the command line is preserved.
  std::map<const CLI::Option*, const Setting*> setting_of;
  for (const Setting& setting : Settings()) {
    if (setting.yaml_only) continue;
    std::string names = "--" + std::string(setting.name);
    if (!setting.short_flag.empty()) names = "-" + std::string(setting.short_flag) + "," + names;
    CLI::Option* option =
        setting.kind == ValueKind::kBool
            ? app.add_flag(names)
            : app.add_option(names)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    setting_of[option] = &setting;
  }
  CLI::Option* config_option =
      app.add_option("--config")->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  CLI::Option* mount_options =
      app.add_option("-o")->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  CLI::Option* help = app.add_flag("-h,--help");
  CLI::Option* version_flag = app.add_flag("-V,--version");
  std::vector<std::string> positionals;
  app.add_option("args", positionals);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Asking for help still gets help, even next to a broken option.
    if (HasToken(argc, argv, "-h", "--help")) return Exit(0, HelpText());
    if (HasToken(argc, argv, "-V", "--version")) return Exit(0, VersionText(version));
    const std::string what = e.what();
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
      // CLI11 says "--uid: 1 required  missing"; the option name comes first.
      const std::string option = what.substr(0, what.find(':'));
      std::string value_name = "VALUE";
      if (option == "--config") value_name = "FILE";
      if (option == "-o") value_name = "OPT[,OPT...]";
      for (const auto& [cli_option, setting] : setting_of) {
        if (cli_option->check_name(option)) value_name = ValueName(setting->kind);
      }
      return UsageError(option + ": missing value (" + option + " " + value_name + ")");
    }
    return UsageError(what);
  }

  if (help->count() > 0) return Exit(0, HelpText());
  if (version_flag->count() > 0) return Exit(0, VersionText(version));
  for (const std::string& extra : app.remaining()) {
    // With allow_extras() CLI11 also hands back the "--" that ended the options.
    if (extra.starts_with("-") && extra != "--") return UsageError(UnknownOption(extra));
  }

  // Collect the command line in order; a flag given twice yields two entries.
  std::vector<CommandLineSetting> settings;
  std::optional<std::string> config_file;
  std::map<const CLI::Option*, size_t> seen;
  for (const CLI::Option* option : app.parse_order()) {
    const size_t index = seen[option]++;
    if (index >= option->results().size()) continue;
    const std::string& value = option->results()[index];
    if (option == config_option) {
      if (value.empty()) return UsageError("--config: missing value (--config FILE)");
      config_file = value;
    } else if (option == mount_options) {
      if (auto error = ExpandMountOptions(value, &settings, &config_file)) {
        return UsageError(*error);
      }
    } else if (auto it = setting_of.find(option); it != setting_of.end()) {
      const std::string flag = "--" + std::string(it->second->name);
      settings.push_back({flag + " " + Quoted(value), std::string(it->second->name), value});
    }
  }

  ParseResult result;
  Options& options = result.options;
  if (config_file) {
    options.config_file = config_file;
    if (auto error = ApplyYamlFile(*config_file, options)) return UsageError(*error);
  }
  for (const CommandLineSetting& s : settings) {
    if (auto reason = SetOption(options, s.name, s.value)) {
      return UsageError(s.origin + ": " + *reason);
    }
  }

  // SOURCE may come from the config file; then a lone argument is MOUNTPOINT.
  const bool source_from_config = !options.source.empty();
  if (positionals.size() > 2) {
    return UsageError("unexpected argument " + Quoted(positionals[2]) + " (" + std::string(kUsage) +
                      ")");
  }
  if (positionals.empty()) {
    return UsageError(source_from_config
                          ? "missing MOUNTPOINT (" + std::string(kUsage) + ")"
                          : "missing SOURCE and MOUNTPOINT (" + std::string(kUsage) + ")");
  }
  if (positionals.size() == 1 && !source_from_config) {
    return UsageError("missing MOUNTPOINT after SOURCE " + Quoted(positionals[0]) + " (" +
                      std::string(kUsage) + ")");
  }
  if (positionals.size() == 2) {
    if (auto reason = SetOption(options, "source", positionals[0])) {
      return UsageError("SOURCE " + Quoted(positionals[0]) + ": " + *reason);
    }
  }
  options.mountpoint = positionals.back();
  if (options.mountpoint.empty()) return UsageError("MOUNTPOINT: must not be empty");
  return result;
}

}  // namespace freshfs::config
