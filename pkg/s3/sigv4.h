// AWS Signature Version 4 for S3 requests, computed here (OpenSSL HMAC and
// SHA-256) so it can be checked against botocore for fixed inputs.
//
// Pure functions: no I/O, no clock (the caller passes the time), thread-safe.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3/credentials.h"

namespace freshfs::s3 {

// Payload hash for requests whose body is not hashed (S3 accepts it over
// HTTPS and plain HTTP alike).
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct SigningRequest {
  std::string method;  // "GET", "PUT", ...
  std::string host;    // Host header value, with ":port" when not the default
  // Path exactly as sent on the wire: already URI-encoded per S3 rules
  // (each key segment encoded, '/' kept), e.g. "/bucket/a%20b.txt".
  std::string encoded_path;
  // Query parameters, *not* encoded; the signer encodes and sorts them.
  // A parameter without a value ("uploads") has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign besides host, x-amz-date, x-amz-content-sha256 and
  // x-amz-security-token (which the signer adds itself; those names and
  // Authorization are ignored here). Names any case; a repeated name is
  // signed as one header with the values joined by ',' in order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_hash = std::string(kUnsignedPayload);  // hex SHA-256 or UNSIGNED-PAYLOAD
};

struct SignedHeaders {
  // Every header the request must carry for the signature to hold, in order:
  // Authorization, x-amz-date, x-amz-content-sha256, and
  // x-amz-security-token when the credentials have a session token. (Host and
  // the caller's own headers are not repeated here.)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string canonical_request;  // for tests and debug logs (holds no secret)
  std::string string_to_sign;
  std::string signature;  // hex
};

// Signs `request` for `region` and service "s3" at time `now` (UTC).
SignedHeaders Sign(const SigningRequest& request, const Credentials& credentials,
                   std::string_view region, std::time_t now);

// S3's URI encoding (RFC 3986 unreserved characters kept, everything else
// %XX uppercase); with `keep_slash`, '/' is kept (object key paths).
std::string UriEncode(std::string_view in, bool keep_slash);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace freshfs::s3
