#include "s3/request.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

#include "s3/sigv4.h"
#include "s3/xml.h"

namespace freshfs::s3 {
namespace {

// Full-jitter backoff never waits longer than this, whatever the attempt.
constexpr std::chrono::milliseconds kMaxRetryDelay{4000};

std::chrono::milliseconds BackoffDelay(std::chrono::milliseconds base, int retry) {
  // base * 2^(retry-1), capped, then a uniform draw below it ("full jitter").
  const auto cap = std::max(base, kMaxRetryDelay);
  auto ceiling = base;
  for (int i = 1; i < retry && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> draw(0, ceiling.count());
  return std::chrono::milliseconds(draw(rng));
}

std::string QueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::string out;
  for (const auto& [name, value] : query) {
    out += out.empty() ? "?" : "&";
    out += UriEncode(name, false);
    if (!value.empty()) out.append("=").append(UriEncode(value, false));
  }
  return out;
}

// Server text goes into one-line log messages.
std::string OneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return text;
}

std::string CodeForStatus(long status) {
  switch (status) {
    case 301:
      return "PermanentRedirect";
    case 304:
      return "NotModified";
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "AccessDenied";
    case 404:
      return "NoSuchKey";
    case 409:
      return "Conflict";
    case 412:
      return "PreconditionFailed";
    case 416:
      return "InvalidRange";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 501:
      return "NotImplemented";
    case 503:
      return "ServiceUnavailable";
    default:
      return "HTTP" + std::to_string(status);
  }
}

Error NetworkError(const HttpResponse& response) {
  Error error;
  if (response.body_read_errno != 0) {
    error.code = "BodyReadError";
    error.message =
        std::string("reading the data to upload: ") + std::strerror(response.body_read_errno);
    return error;
  }
  switch (response.curl_code) {
    case CURLE_COULDNT_CONNECT:
      error.code = "ConnectFailed";
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      error.code = "ResolveFailed";
      break;
    case CURLE_OPERATION_TIMEDOUT:
      error.code = "Timeout";
      break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      error.code = "TLSError";
      break;
    default:
      error.code = "NetworkError";
      break;
  }
  error.message = OneLine(response.curl_error);
  return error;
}

}  // namespace

Endpoint Endpoint::Parse(const std::string& endpoint, const std::string& region) {
  Endpoint out;
  std::string_view rest = endpoint;
  if (rest.empty()) {
    out.scheme = "https";
    out.authority = "s3." + region + ".amazonaws.com";
    return out;
  }
  const auto scheme_end = rest.find("://");
  if (scheme_end == std::string_view::npos) {
    out.scheme = "https";
  } else {
    out.scheme = std::string(rest.substr(0, scheme_end));
    std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    rest.remove_prefix(scheme_end + 3);
  }
  const auto slash = rest.find('/');
  out.authority = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    out.base_path = std::string(path);
  }
  return out;
}

Error ErrorFromResponse(const HttpResponse& response) {
  Error error;
  error.http_status = static_cast<int>(response.status);
  if (auto body = ParseErrorBody(response.body)) {
    error.code = body->code;
    error.message = OneLine(body->message);
  }
  if (error.code.empty()) error.code = CodeForStatus(response.status);
  return error;
}

bool IsRetryable(const Error& error) {
  if (error.http_status == 0) {
    // Local problems (an unreadable file, TLS verification, a bad URL) stay.
    return error.code == "ConnectFailed" || error.code == "ResolveFailed" ||
           error.code == "Timeout" || error.code == "NetworkError";
  }
  if (error.http_status >= 500 || error.http_status == 429) return true;
  return error.code == "SlowDown" || error.code == "InternalError" ||
         error.code == "RequestTimeout";
}

bool IsExpiredCredentials(const Error& error) {
  return error.code == "ExpiredToken" || error.code == "ExpiredTokenException" ||
         error.code == "TokenRefreshRequired";
}

Sender::Sender(const ClientConfig& config, std::string bucket)
    : config_(config),
      credentials_(config.credential_provider
                       ? config.credential_provider
                       : std::make_shared<CredentialProvider>(config.credentials)),
      bucket_(std::move(bucket)),
      endpoint_(Endpoint::Parse(config.endpoint, config.region)),
      pool_(HttpPoolConfig{config.max_connections, config.connect_timeout, config.stall_timeout,
                           config.ca_file, config.verify_tls}) {}

void Sender::set_hook(Client::RequestHook hook) {
  std::lock_guard lock(hook_mu_);
  hook_ = std::move(hook);
}

void Sender::Report(std::string_view op, std::string_view outcome) {
  Client::RequestHook hook;
  {
    std::lock_guard lock(hook_mu_);
    hook = hook_;
  }
  if (hook) hook(op, outcome);
}

std::string Sender::Resource(const std::optional<std::string>& key) const {
  return "s3://" + bucket_ + "/" + key.value_or("");
}

Sender::Target Sender::TargetFor(const S3Request& request) const {
  Target target;
  std::string path = endpoint_.base_path;
  if (config_.path_style) {
    target.host = endpoint_.authority;
    path.append("/").append(bucket_);
    if (request.key) path.append("/").append(UriEncode(*request.key, true));
  } else {
    target.host = bucket_ + "." + endpoint_.authority;
    path += '/';
    if (request.key) path += UriEncode(*request.key, true);
  }
  target.encoded_path = path;
  target.url = endpoint_.scheme + "://" + target.host + path + QueryString(request.query);
  return target;
}

Outcome<HttpResponse> Sender::Send(const S3Request& request) {
  const Target target = TargetFor(request);
  const int max_attempts = std::max(1, config_.max_attempts);
  Error error;
  bool refreshed = false;  // after an expired-token refusal: once per request
  for (int attempt = 1;; ++attempt) {
    if (request.before_attempt) request.before_attempt();

    SigningRequest signing;
    signing.method = request.method;
    signing.host = target.host;
    signing.encoded_path = target.encoded_path;
    signing.query = request.query;
    signing.headers = request.headers;
    // Signed per attempt: a retry after a long backoff needs a fresh date,
    // and the credentials may have been refreshed meanwhile.
    const Credentials credentials = credentials_->Current();
    const SignedHeaders signature = Sign(signing, credentials, config_.region, std::time(nullptr));

    HttpRequest http;
    http.method = request.method;
    http.url = target.url;
    http.headers.emplace_back("Host", target.host);
    http.headers.insert(http.headers.end(), request.headers.begin(), request.headers.end());
    http.headers.insert(http.headers.end(), signature.headers.begin(), signature.headers.end());
    http.body = request.body;
    http.on_headers = request.on_headers;
    http.sink = request.sink;

    HttpResponse response = pool_.Perform(http);
    const bool answered = response.transport_ok();
    const bool status_ok = (response.status >= 200 && response.status < 300) ||
                           std::find(request.also_ok.begin(), request.also_ok.end(),
                                     response.status) != request.also_ok.end();
    if (!answered) {
      error = NetworkError(response);
    } else if (!status_ok || (request.error_in_200_body && ParseErrorBody(response.body))) {
      error = ErrorFromResponse(response);
    } else {
      Report(request.op, "ok");
      return response;
    }
    Report(request.op, answered ? std::to_string(response.status) : "network");

    error.attempts = attempt;
    if (!refreshed && IsExpiredCredentials(error) &&
        credentials_->RefreshAfterRejection(credentials)) {
      refreshed = true;
      --attempt;  // the refusal was not the server's fault: not a retry
      continue;
    }
    if (attempt >= max_attempts || !IsRetryable(error)) break;
    std::this_thread::sleep_for(BackoffDelay(config_.retry_base_delay, attempt));
  }
  error.resource = request.method + " " + Resource(request.key);
  return error;
}

}  // namespace freshfs::s3
