#include "s3/credential_sources.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "s3/http.h"
#include "s3/sigv4.h"
#include "s3/xml.h"
#include "util/quote.h"

extern char** environ;

namespace freshfs::s3 {
namespace {

using namespace std::chrono_literals;

CredentialsResult Fail(const std::string& source, const std::string& message) {
  CredentialsResult r;
  r.error = source + ": " + message;
  return r;
}

std::string TrimToken(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  size_t begin = 0;
  while (begin < text.size() && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  return text.substr(begin);
}

// A token read from `path` for `what` ("token file", ...), or the error.
std::string ReadToken(const std::string& path, std::string_view what, std::string* error) {
  const FileText file = ReadSmallFile(path);
  if (file.error != 0) {
    *error =
        "cannot read " + std::string(what) + " " + Quoted(path) + ": " + std::strerror(file.error);
    return {};
  }
  std::string token = TrimToken(file.text);
  if (token.empty()) *error = std::string(what) + " " + Quoted(path) + " is empty";
  return token;
}

// One line of server text for a message, bounded.
std::string Snippet(std::string_view text) {
  std::string out(text.substr(0, 200));
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

std::string TransportError(const HttpResponse& response) {
  return response.curl_error.empty() ? "no answer" : response.curl_error;
}

// Transport errors and 5xx are worth another try.
bool Transient(const HttpResponse& response) {
  return !response.transport_ok() || response.status >= 500 || response.status == 429;
}

// Sends `request` up to `attempts` times while the failure is transient.
HttpResponse PerformWithRetries(HttpPool& pool, const HttpRequest& request, int attempts) {
  HttpResponse response;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    response = pool.Perform(request);
    if (!Transient(response) || attempt == attempts) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 << (attempt - 1)));
  }
  return response;
}

// What the sources that ask an HTTP endpoint share: their settings, their
// name (in every message) and one pooled connection.
template <typename Settings>
class HttpSource : public CredentialSource {
 public:
  const std::string& name() const override { return name_; }

 protected:
  HttpSource(Settings settings, std::string name, HttpPoolConfig pool)
      : settings_(std::move(settings)), name_(std::move(name)), pool_(std::move(pool)) {}

  Settings settings_;
  const std::string name_;
  HttpPool pool_;
};

class WebIdentitySource final : public HttpSource<WebIdentitySettings> {
 public:
  explicit WebIdentitySource(const WebIdentitySettings& settings)
      : HttpSource(settings,
                   "web identity (role " + settings.role_arn + ", token file " +
                       settings.token_file + ", " + settings.origin + ")",
                   HttpPoolConfig{1, 5000ms, 10000ms, settings.ca_file, true}) {
    if (settings_.session_name.empty())
      settings_.session_name = "freshfs-" + std::to_string(std::time(nullptr));
  }

  CredentialsResult Fetch() override {
    std::string error;
    const std::string token = ReadToken(settings_.token_file, "token file", &error);
    if (!error.empty()) return Fail(name_, error);
    const std::string body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" +
                             UriEncode(settings_.role_arn, false) +
                             "&RoleSessionName=" + UriEncode(settings_.session_name, false) +
                             "&WebIdentityToken=" + UriEncode(token, false);
    const HttpBody http_body = HttpBody::FromString(body);
    HttpRequest request;
    request.method = "POST";
    request.url = settings_.sts_endpoint + "/";
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    request.body = &http_body;
    const std::string where = "STS AssumeRoleWithWebIdentity at " + settings_.sts_endpoint;
    const HttpResponse response = PerformWithRetries(pool_, request, 3);
    if (!response.transport_ok()) return Fail(name_, where + ": " + TransportError(response));
    if (response.status != 200) {
      const auto sts_error = ParseStsError(response.body);
      if (!sts_error) {
        return Fail(name_, where + ": HTTP " + std::to_string(response.status) + " " +
                               Snippet(response.body));
      }
      return Fail(name_, where + " refused: HTTP " + std::to_string(response.status) + " " +
                             sts_error->code + ": " + Snippet(sts_error->message));
    }
    const auto sts = ParseAssumeRoleWithWebIdentity(response.body);
    if (!sts || sts->access_key_id.empty() || sts->secret_access_key.empty()) {
      return Fail(name_, where + ": the answer holds no credentials");
    }
    CredentialsResult r;
    r.credentials = {sts->access_key_id, sts->secret_access_key, sts->session_token, name_,
                     ParseExpiration(sts->expiration)};
    if (!r.credentials.expiration) return Fail(name_, where + ": the answer has no Expiration");
    return r;
  }
};

class ContainerSource final : public HttpSource<ContainerSettings> {
 public:
  explicit ContainerSource(const ContainerSettings& settings)
      : HttpSource(settings,
                   "container credentials (" + settings.url + ", " + settings.origin + ")",
                   HttpPoolConfig{1, 2000ms, 2000ms, "", true}) {}

  CredentialsResult Fetch() override {
    HttpRequest request;
    request.method = "GET";
    request.url = settings_.url;
    request.headers = {{"Accept", "application/json"}};
    std::string token = settings_.authorization;
    if (!settings_.authorization_file.empty()) {
      std::string error;
      token =
          ReadToken(settings_.authorization_file,
                    "authorization token file (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)", &error);
      if (!error.empty()) return Fail(name_, error);
    }
    if (token.find_first_of("\r\n") != std::string::npos)
      return Fail(name_, "the authorization token holds a line break");
    if (!token.empty()) request.headers.emplace_back("Authorization", token);
    const HttpResponse response = PerformWithRetries(pool_, request, 3);
    if (!response.transport_ok()) return Fail(name_, TransportError(response));
    if (response.status != 200) {
      return Fail(name_, "HTTP " + std::to_string(response.status) + " " + Snippet(response.body));
    }
    return ParseCredentialsJson(response.body, name_);
  }
};

class ImdsSource final : public HttpSource<ImdsSettings> {
 public:
  explicit ImdsSource(const ImdsSettings& settings)
      : HttpSource(settings, "instance metadata (IMDS at " + settings.endpoint + ")",
                   HttpPoolConfig{1, settings.timeout, settings.timeout, "", true}) {}

  CredentialsResult Fetch() override {
    // IMDSv2: a session token first. Its answer travels with the IP hop
    // limit the instance sets (HttpPutResponseHopLimit; 2 lets a container
    // behind a bridge reach it), not one the client chooses.
    HttpRequest put;
    put.method = "PUT";
    put.url = settings_.endpoint + "/latest/api/token";
    put.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
    const HttpResponse token = PerformWithRetries(pool_, put, settings_.attempts);
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.transport_ok()) return Fail(name_, "not reachable: " + TransportError(token));
    if (token.status == 200 && !token.body.empty()) {
      headers.emplace_back("X-aws-ec2-metadata-token", TrimToken(token.body));
    } else if ((token.status == 403 || token.status == 404 || token.status == 405) &&
               !settings_.v1_disabled) {
      // No IMDSv2 there: IMDSv1, as the SDKs fall back unless told not to.
    } else {
      return Fail(name_, "token request (PUT /latest/api/token) answered HTTP " +
                             std::to_string(token.status));
    }
    const std::string base = settings_.endpoint + "/latest/meta-data/iam/security-credentials/";
    HttpRequest get;
    get.method = "GET";
    get.url = base;
    get.headers = headers;
    HttpResponse role = PerformWithRetries(pool_, get, settings_.attempts);
    if (!role.transport_ok()) return Fail(name_, TransportError(role));
    if (role.status == 404) return Fail(name_, "no IAM role is attached to this instance");
    if (role.status != 200) return Fail(name_, "role name: HTTP " + std::to_string(role.status));
    const std::string role_name = TrimToken(role.body.substr(0, role.body.find('\n')));
    if (role_name.empty()) return Fail(name_, "no IAM role is attached to this instance");
    get.url = base + role_name;
    const HttpResponse creds = PerformWithRetries(pool_, get, settings_.attempts);
    if (!creds.transport_ok()) return Fail(name_, TransportError(creds));
    if (creds.status != 200) {
      return Fail(name_,
                  "credentials of role " + role_name + ": HTTP " + std::to_string(creds.status));
    }
    return ParseCredentialsJson(creds.body, name_ + " role " + role_name);
  }
};

class ProcessSource final : public CredentialSource {
 public:
  ProcessSource(std::string command, std::string origin)
      : command_(std::move(command)), name_("credential_process (" + std::move(origin) + ")") {}

  const std::string& name() const override { return name_; }

  CredentialsResult Fetch() override {
    const std::vector<std::string> args = SplitCommand(command_);
    if (args.empty()) return Fail(name_, "the command is empty or its quotes do not close");
    std::string output;
    int status = 0;
    if (std::string error = Run(args, &output, &status); !error.empty()) return Fail(name_, error);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return Fail(name_,
                  Quoted(args[0]) + " failed (" +
                      (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                         : "killed by signal " + std::to_string(WTERMSIG(status))) +
                      ")");
    }
    return ParseCredentialsJson(output, name_);
  }

 private:
  // Runs args with stdout into *output; stderr stays ours (the log).
  static std::string Run(const std::vector<std::string>& args, std::string* output, int* status) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      return "cannot run " + Quoted(args[0]) + ": " + std::strerror(rc);
    }
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (output->size() < (1 << 20)) output->append(buf, size_t(n));
    }
    ::close(out[0]);
    while (::waitpid(pid, status, 0) < 0 && errno == EINTR) {
    }
    return {};
  }

  const std::string command_;
  const std::string name_;
};

bool IsAllowedContainerHost(std::string host) {
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host == "169.254.170.2" || host == "169.254.170.23" ||
      host == "fd00:ec2::23")
    return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace

std::string CheckContainerUrl(const std::string& url) {
  if (url.starts_with("https://")) return {};
  if (!url.starts_with("http://")) return "not an http:// or https:// URL";
  std::string authority = url.substr(
      7, url.find('/', 7) == std::string::npos ? std::string::npos : url.find('/', 7) - 7);
  std::string host = authority;
  if (authority.starts_with('[')) {
    host = authority.substr(0, authority.find(']') + 1);
  } else if (const size_t colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
  }
  if (IsAllowedContainerHost(host)) return {};
  return "plain http is allowed only to a loopback address, 169.254.170.2 (ECS) or "
         "169.254.170.23 (EKS Pod Identity), as in the AWS SDKs";
}

CredentialsResult ParseCredentialsJson(std::string_view json, const std::string& source) {
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Fail(source, "the answer is not a JSON object");
  auto text = [&doc](const char* key) {
    const auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (doc.contains("Code") && text("Code") != "Success") {
    return Fail(source,
                "the answer says Code " + Quoted(text("Code")) + ": " + Snippet(text("Message")));
  }
  if (doc.contains("Version") && !(doc["Version"].is_number() && doc["Version"] == 1)) {
    return Fail(source, "unsupported Version (only 1 exists)");
  }
  CredentialsResult r;
  Credentials& c = r.credentials;
  c.access_key_id = text("AccessKeyId");
  c.secret_access_key = text("SecretAccessKey");
  c.session_token = text("Token");
  if (c.session_token.empty()) c.session_token = text("SessionToken");
  c.source = source;
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    return Fail(source, "the answer has no AccessKeyId or SecretAccessKey");
  if (const std::string expiration = text("Expiration"); !expiration.empty()) {
    c.expiration = ParseExpiration(expiration);
    if (!c.expiration) return Fail(source, "Expiration " + Quoted(expiration) + " is not a time");
  }
  return r;
}

std::vector<std::string> SplitCommand(std::string_view command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (quote == '\'') {
      if (c == '\'') quote = 0;
      else word += c;
    } else if (quote == '"') {
      if (c == '"') {
        quote = 0;
      } else if (c == '\\' && i + 1 < command.size() &&
                 std::string_view("\\\"$`").find(command[i + 1]) != std::string_view::npos) {
        word += command[++i];
      } else {
        word += c;
      }
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      in_word = true;
      if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '\\' && i + 1 < command.size()) {
        word += command[++i];
      } else {
        word += c;
      }
    }
  }
  if (quote != 0) return {};
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::unique_ptr<CredentialSource> MakeWebIdentitySource(const WebIdentitySettings& settings) {
  return std::make_unique<WebIdentitySource>(settings);
}
std::unique_ptr<CredentialSource> MakeContainerSource(const ContainerSettings& settings) {
  return std::make_unique<ContainerSource>(settings);
}
std::unique_ptr<CredentialSource> MakeImdsSource(const ImdsSettings& settings) {
  return std::make_unique<ImdsSource>(settings);
}
std::unique_ptr<CredentialSource> MakeProcessSource(std::string command, std::string origin) {
  return std::make_unique<ProcessSource>(std::move(command), std::move(origin));
}

}  // namespace freshfs::s3
