#include "s3/credential_chain.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "util/quote.h"

namespace freshfs::s3 {
namespace {

constexpr const char* kContainerHost = "http://169.254.170.2";

class Env {
 public:
  explicit Env(GetEnv getenv_fn)
      : getenv_(getenv_fn ? getenv_fn
                          : [](const char* name) -> const char* { return std::getenv(name); }) {}
  std::string operator()(const char* name) const {
    const char* value = getenv_(name);
    return value ? std::string(value) : std::string();
  }
  bool True(const char* name) const {
    std::string v = (*this)(name);
    for (char& c : v) c = char(std::tolower(static_cast<unsigned char>(c)));
    return v == "true";
  }

 private:
  GetEnv getenv_;
};

ResolvedCredentials Fail(std::string message) {
  ResolvedCredentials r;
  r.error = std::move(message);
  return r;
}

ResolvedCredentials Static(CredentialsResult found) {
  ResolvedCredentials r;
  r.credentials = std::move(found.credentials);
  r.error = std::move(found.error);
  return r;
}

// The first set from `source`; its error is final and names it.
ResolvedCredentials Fetched(std::unique_ptr<CredentialSource> source) {
  CredentialsResult first = source->Fetch();
  if (!first.ok()) return Fail(first.error);
  ResolvedCredentials r;
  r.credentials = std::move(first.credentials);
  // Keys without an expiry are never fetched again (botocore does the same).
  if (r.credentials.expiration) r.source = std::move(source);
  return r;
}

// One shared file (credentials or config): absent is no error.
struct SharedFile {
  std::string path;
  bool exists = false;
  std::string text;
  IniFile ini;
  std::string error;
};

SharedFile LoadShared(const std::string& path, const char* what) {
  SharedFile file;
  file.path = path;
  if (path.empty()) return file;
  const FileText text = ReadSmallFile(path);
  if (text.error == ENOENT) return file;
  file.exists = true;
  if (text.error != 0) {
    file.error =
        "cannot read " + std::string(what) + " " + Quoted(path) + ": " + std::strerror(text.error);
    return file;
  }
  file.text = text.text;
  file.ini = ParseIni(file.text);
  if (!file.ini.error.empty())
    file.error = std::string(what) + " " + Quoted(path) + ", " + file.ini.error;
  return file;
}

using Keys = std::map<std::string, std::string>;

const Keys* Section(const SharedFile& file, const std::string& name) {
  const auto it = file.ini.sections.find(name);
  return it == file.ini.sections.end() ? nullptr : &it->second;
}

std::string Value(const Keys* keys, const char* key) {
  if (keys == nullptr) return {};
  const auto it = keys->find(key);
  return it == keys->end() ? std::string() : it->second;
}

std::string StsEndpoint(const CredentialChainSettings& s, const Env& env) {
  std::string endpoint = s.sts_endpoint;
  if (endpoint.empty() && !env.True("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
    endpoint = env("AWS_ENDPOINT_URL_STS");
    if (endpoint.empty()) endpoint = env("AWS_ENDPOINT_URL");
  }
  if (endpoint.empty()) {
    endpoint = "https://sts." + (s.region.empty() ? std::string("us-east-1") : s.region) +
               ".amazonaws.com";
  }
  while (endpoint.ends_with('/')) endpoint.pop_back();
  return endpoint;
}

ImdsSettings ImdsFromEnv(const CredentialChainSettings& s, const Env& env) {
  ImdsSettings imds;
  if (env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") == "IPv6")
    imds.endpoint = "http://[fd00:ec2::254]";
  if (std::string e = env("AWS_EC2_METADATA_SERVICE_ENDPOINT"); !e.empty()) imds.endpoint = e;
  if (!s.imds_endpoint.empty()) imds.endpoint = s.imds_endpoint;
  while (imds.endpoint.ends_with('/')) imds.endpoint.pop_back();
  if (std::string t = env("AWS_METADATA_SERVICE_TIMEOUT"); !t.empty()) {
    const double seconds = std::atof(t.c_str());
    if (seconds > 0) imds.timeout = std::chrono::milliseconds(int64_t(seconds * 1000));
  }
  if (std::string n = env("AWS_METADATA_SERVICE_NUM_ATTEMPTS"); !n.empty()) {
    imds.attempts = std::max(1, std::atoi(n.c_str()));
  }
  imds.v1_disabled = env.True("AWS_EC2_METADATA_V1_DISABLED");
  return imds;
}

}  // namespace

ResolvedCredentials ResolveCredentials(const CredentialChainSettings& s) {
  const Env env(s.getenv_fn);
  std::string profile = s.profile.empty() ? env("AWS_PROFILE") : s.profile;
  const bool profile_named = !profile.empty();
  if (profile.empty()) profile = "default";

  // 1. The explicit file: errors there are final.
  if (!s.credentials_file.empty()) {
    const SharedFile file = LoadShared(s.credentials_file, "S3 credentials file");
    if (!file.exists) {
      return Fail("cannot read S3 credentials file " + Quoted(s.credentials_file) + ": " +
                  std::strerror(ENOENT));
    }
    if (!file.error.empty()) return Fail(file.error);
    return Static(ParseCredentialsFile(file.text, profile, s.credentials_file));
  }

  // 2. The environment. Half a pair is a mistake to report, not a reason to
  // look elsewhere.
  const std::string key_id = env("AWS_ACCESS_KEY_ID");
  const std::string secret = env("AWS_SECRET_ACCESS_KEY");
  if (!key_id.empty() && !secret.empty()) {
    ResolvedCredentials r;
    r.credentials = {key_id, secret, env("AWS_SESSION_TOKEN"), "environment", std::nullopt};
    return r;
  }
  if (!key_id.empty()) return Fail("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  if (!secret.empty()) return Fail("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");

  // 3. Web identity from options, then variables.
  WebIdentitySettings web;
  web.sts_endpoint = StsEndpoint(s, env);
  web.ca_file = s.ca_file;
  web.session_name = env("AWS_ROLE_SESSION_NAME");
  if (!s.role_arn.empty() || !s.web_identity_token_file.empty()) {
    if (s.role_arn.empty() || s.web_identity_token_file.empty())
      return Fail("--s3-role-arn and --s3-web-identity-token-file go together: give both");
    web.role_arn = s.role_arn;
    web.token_file = s.web_identity_token_file;
    web.origin = "--s3-role-arn";
    return Fetched(MakeWebIdentitySource(web));
  }
  const std::string role_arn = env("AWS_ROLE_ARN");
  const std::string token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
  if (!role_arn.empty() && !token_file.empty()) {
    web.role_arn = role_arn;
    web.token_file = token_file;
    web.origin = "AWS_ROLE_ARN";
    return Fetched(MakeWebIdentitySource(web));
  }
  if (!role_arn.empty() || !token_file.empty()) {
    return Fail(std::string(role_arn.empty() ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN") +
                " is set but " +
                (role_arn.empty() ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE") +
                " is not (web identity needs both)");
  }

  // The shared files and the profile.
  const std::string home = env("HOME");
  std::string credentials_path = env("AWS_SHARED_CREDENTIALS_FILE");
  if (credentials_path.empty() && !home.empty()) credentials_path = home + "/.aws/credentials";
  std::string config_path = env("AWS_CONFIG_FILE");
  if (config_path.empty() && !home.empty()) config_path = home + "/.aws/config";
  const SharedFile credentials = LoadShared(credentials_path, "S3 credentials file");
  if (!credentials.error.empty()) return Fail(credentials.error);
  const SharedFile config = LoadShared(config_path, "AWS config file");
  if (!config.error.empty()) return Fail(config.error);
  const Keys* in_credentials = Section(credentials, profile);
  const Keys* in_config = Section(config, profile == "default" ? "default" : "profile " + profile);
  if (!in_config && profile == "default") in_config = Section(config, "profile default");
  const std::string profile_name = "[" + profile + "]";
  if (profile_named && !in_credentials && !in_config) {
    return Fail("profile " + profile_name + " (" +
                (s.profile.empty() ? "AWS_PROFILE" : "--s3-profile") + ") is in neither " +
                (credentials_path.empty() ? "credentials file" : Quoted(credentials_path)) +
                " (profiles: " + SectionNames(credentials.ini) + ") nor " +
                (config_path.empty() ? "config file" : Quoted(config_path)) +
                " (no --s3-credentials-file given; AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "not set)");
  }
  // The profile as botocore sees it: config keys, credentials file keys on top.
  Keys merged;
  if (in_config) merged = *in_config;
  if (in_credentials)
    for (const auto& [k, v] : *in_credentials) merged[k] = v;
  const std::string profile_origin = "profile " + profile_name;

  // 3 (continued). The profile's web identity.
  if (const std::string arn = Value(&merged, "role_arn"); !arn.empty()) {
    const std::string file = Value(&merged, "web_identity_token_file");
    if (file.empty()) {
      return Fail(profile_origin +
                  " sets role_arn without web_identity_token_file; freshfs "
                  "assumes roles only with a web identity token (source_profile and "
                  "credential_source are not supported)");
    }
    web.role_arn = arn;
    web.token_file = file;
    // AWS_ROLE_SESSION_NAME wins over the profile's, as in botocore.
    if (std::string name = Value(&merged, "role_session_name");
        !name.empty() && web.session_name.empty())
      web.session_name = name;
    web.origin = profile_origin;
    return Fetched(MakeWebIdentitySource(web));
  }

  // 4. Keys in the credentials file.
  if (in_credentials && (in_credentials->contains("aws_access_key_id") ||
                         in_credentials->contains("aws_secret_access_key"))) {
    return Static(ParseCredentialsFile(credentials.text, profile, credentials_path));
  }
  // 5. credential_process.
  if (const std::string command = Value(&merged, "credential_process"); !command.empty()) {
    return Fetched(MakeProcessSource(command, profile_origin));
  }
  // 6. Keys in the config file.
  if (in_config && in_config->contains("aws_access_key_id")) {
    Credentials c{Value(in_config, "aws_access_key_id"), Value(in_config, "aws_secret_access_key"),
                  Value(in_config, "aws_session_token"),
                  "config file " + config_path + " " + profile_name, std::nullopt};
    if (c.empty())
      return Fail("AWS config file " + Quoted(config_path) + " " + profile_origin +
                  " has aws_access_key_id without aws_secret_access_key");
    ResolvedCredentials r;
    r.credentials = std::move(c);
    return r;
  }

  // 7. Container credentials.
  const std::string relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const std::string full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (!relative.empty() || !full.empty()) {
    ContainerSettings container;
    if (!relative.empty()) {
      std::string host = s.container_endpoint.empty() ? kContainerHost : s.container_endpoint;
      while (host.ends_with('/')) host.pop_back();
      container.url = host + (relative.starts_with('/') ? "" : "/") + relative;
      container.origin = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
    } else {
      container.url = full;
      container.origin = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
      if (std::string why = CheckContainerUrl(full); !why.empty())
        return Fail("AWS_CONTAINER_CREDENTIALS_FULL_URI " + Quoted(full) + ": " + why);
    }
    container.authorization = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    container.authorization_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    return Fetched(MakeContainerSource(container));
  }

  // 8. IMDS: the last resort, so its failure says what else was tried.
  std::string tried =
      "no --s3-credentials-file given; AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set; "
      "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE not set; ";
  if (credentials_path.empty()) {
    tried += "AWS_SHARED_CREDENTIALS_FILE and HOME not set; ";
  } else {
    tried += credentials.exists ? Quoted(credentials_path) + " has no keys for " + profile_name
                                : "no file " + Quoted(credentials_path);
    tried += "; ";
  }
  tried += "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set; ";
  if (env.True("AWS_EC2_METADATA_DISABLED")) {
    return Fail("no S3 credentials found: " + tried + "AWS_EC2_METADATA_DISABLED=true");
  }
  ResolvedCredentials imds = Fetched(MakeImdsSource(ImdsFromEnv(s, env)));
  if (!imds.ok()) imds.error = "no S3 credentials found: " + tried + imds.error;
  return imds;
}

CredentialsResult LoadCredentials(const std::string& file, const std::string& profile,
                                  GetEnv getenv_fn) {
  CredentialChainSettings settings;
  settings.credentials_file = file;
  settings.profile = profile;
  settings.getenv_fn = getenv_fn;
  ResolvedCredentials resolved = ResolveCredentials(settings);
  CredentialsResult r;
  r.credentials = std::move(resolved.credentials);
  r.error = std::move(resolved.error);
  return r;
}

}  // namespace freshfs::s3
