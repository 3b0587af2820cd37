#include "csi/mount_args.h"

#include "csi/volume_credentials.h"

namespace freshfs::csi {

std::string VolumeLabel(const std::string& volume_id) {
  std::string label;
  for (char c : volume_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    label.push_back(ok ? c : '_');
  }
  return label.empty() ? "volume" : label;
}

std::string CredentialsFileText(const std::map<std::string, std::string>& secrets) {
  auto get = [&](const char* key) {
    auto it = secrets.find(key);
    return it == secrets.end() ? std::string() : it->second;
  };
  std::string text = "[default]\naws_access_key_id = " + get("accessKeyId") +
                     "\naws_secret_access_key = " + get("secretAccessKey") + "\n";
  if (std::string token = get("sessionToken"); !token.empty())
    text += "aws_session_token = " + token + "\n";
  return text;
}

bool IsS3Spec(const VolumeSpec& spec) {
  auto it = spec.attributes.find("source");
  return it != spec.attributes.end() && it->second.starts_with("s3://");
}

bool IsReadOnlySpec(const VolumeSpec& spec) {
  if (spec.read_only) return true;
  for (const std::string& flags : spec.mount_flags) {
    size_t start = 0;
    while (start <= flags.size()) {
      size_t comma = flags.find(',', start);
      if (comma == std::string::npos) comma = flags.size();
      if (flags.compare(start, comma - start, "ro") == 0) return true;
      start = comma + 1;
    }
  }
  return false;
}

std::vector<std::string> MountArgs(const std::string& binary, const VolumeSpec& spec,
                                   const VolumeDirs& dirs) {
  // --allow-other: the pod's containers run as any user; the mount
  // (csi/fuse_connection.h) has allow_other and default_permissions, so the
  // kernel checks each access against the mode, uid and gid the volume shows
  // (uid/gid/fileMode/dirMode attributes), as on any filesystem.
  std::vector<std::string> argv{binary,
                                "-f",
                                "--volume-name",
                                VolumeLabel(spec.volume_id),
                                "--metrics-address",
                                "127.0.0.1:0",
                                "--staging-dir",
                                dirs.staging,
                                "--allow-other",
                                "--ready-fd",
                                std::to_string(kReadyFd)};
  auto attr = [&](const char* name) -> const std::string* {
    auto it = spec.attributes.find(name);
    return it == spec.attributes.end() ? nullptr : &it->second;
  };
  auto flag_value = [&](const char* attribute, const char* flag) {
    if (const std::string* v = attr(attribute)) {
      argv.push_back(flag);
      argv.push_back(*v);
    }
  };
  auto flag_bool = [&](const char* attribute, const char* flag) {
    if (const std::string* v = attr(attribute)) {
      argv.push_back(std::string(flag) + "=" + *v);  // CLI11 takes --flag=false too
    }
  };
  flag_value("pollInterval", "--poll-interval");
  flag_value("fullSyncInterval", "--full-sync-interval");
  flag_value("s3Endpoint", "--s3-endpoint");
  flag_value("s3Region", "--s3-region");
  flag_bool("s3PathStyle", "--s3-path-style");
  flag_value("uid", "--uid");
  flag_value("gid", "--gid");
  flag_value("fileMode", "--file-mode");
  flag_value("dirMode", "--dir-mode");
  flag_bool("revalidateOnOpen", "--revalidate-on-open");
  if (const std::string* size = attr("cacheSize")) {
    argv.insert(argv.end(), {"--cache-dir", dirs.cache, "--cache-size", *size});
  }
  for (const std::string& flag : spec.mount_flags) {
    argv.push_back("-o");
    argv.push_back(flag);
  }
  // After the flags: options apply in order, and an "rw" among them must
  // not make the child of a read-only volume writable.
  if (IsReadOnlySpec(spec)) argv.push_back("--read-only");
  for (std::string& arg : CredentialArgs(spec, dirs.token)) argv.push_back(std::move(arg));
  if (!spec.secrets.empty()) {
    argv.push_back("--s3-credentials-file");
    argv.push_back("/dev/fd/" + std::to_string(kCredentialsFd));
  }
  const std::string* source = attr("source");
  const std::string fd_path = "/dev/fd/";
  argv.push_back(IsS3Spec(spec) ? *source : fd_path + std::to_string(kSourceFd));
  argv.push_back(fd_path + std::to_string(kFuseFd));
  return argv;
}

}  // namespace freshfs::csi
