// One S3 REST request with its retries: URL building (virtual-hosted or
// path style), SigV4 signing of every attempt, classification of the
// response into success or an Error, jittered exponential backoff, and the
// per-request hook. Client operations (client.cc) are written on top of it.
//
// Thread safety: Sender::Send may be called from many threads at once.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3/client.h"
#include "s3/http.h"

namespace freshfs::s3 {

struct S3Request {
  std::string_view op;  // hook name: "list", "get", "multipart", ...
  std::string method;
  // The object key; bucket-level requests (list, delete-many) leave it unset.
  std::optional<std::string> key;
  std::vector<std::pair<std::string, std::string>> query;    // not encoded
  std::vector<std::pair<std::string, std::string>> headers;  // all signed
  const HttpBody* body = nullptr;
  // See HttpRequest::on_headers and ::sink; state they keep is reset before
  // each attempt by `before_attempt`.
  std::function<bool(long status, const std::map<std::string, std::string>& headers)> on_headers;
  std::function<bool(long status, std::string_view chunk)> sink;
  std::function<void()> before_attempt;
  // Statuses besides 2xx that are an answer, not an error (404 for DELETE).
  std::vector<long> also_ok;
  // The body of a 200 may still be an <Error> (copy, complete multipart).
  bool error_in_200_body = false;
};

// Parsed "scheme://authority/base-path" of the endpoint.
struct Endpoint {
  std::string scheme;     // "http" or "https"
  std::string authority;  // host[:port], as the Host header
  std::string base_path;  // "" or "/prefix", no trailing '/'

  static Endpoint Parse(const std::string& endpoint, const std::string& region);
};

class Sender {
 public:
  Sender(const ClientConfig& config, std::string bucket);

  Outcome<HttpResponse> Send(const S3Request& request);

  void set_hook(Client::RequestHook hook);

  // "s3://bucket/key" for messages.
  std::string Resource(const std::optional<std::string>& key) const;

 private:
  struct Target {
    std::string host;
    std::string encoded_path;
    std::string url;
  };
  Target TargetFor(const S3Request& request) const;
  void Report(std::string_view op, std::string_view outcome);

  const ClientConfig& config_;
  const std::shared_ptr<CredentialProvider> credentials_;
  const std::string bucket_;
  const Endpoint endpoint_;
  HttpPool pool_;
  std::mutex hook_mu_;
  Client::RequestHook hook_;
};

// The error for a non-2xx response (or a 200 carrying <Error>); exposed for
// tests.
Error ErrorFromResponse(const HttpResponse& response);
// Whether another attempt may succeed.
bool IsRetryable(const Error& error);
// Whether S3 refused the request because its temporary credentials expired
// (worth one refresh and one more attempt).
bool IsExpiredCredentials(const Error& error);

}  // namespace freshfs::s3
