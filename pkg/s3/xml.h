// The XML documents of the S3 REST API that the client reads and writes,
// parsed with pugixml. Pure functions, thread-safe. Parsers ignore XML
// namespaces and unknown elements, and return std::nullopt when the document
// is not XML or lacks the element that makes it what it should be.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3/client.h"

namespace freshfs::s3 {

// One page of a ListObjectsV2 (<ListBucketResult>). With
// <EncodingType>url</EncodingType> in the document, keys and prefixes are
// URL-decoded here.
struct ListPage {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_continuation_token;
};
std::optional<ListPage> ParseListObjectsV2(std::string_view xml);

// <Error><Code>…</Code><Message>…</Message></Error>; nullopt when the root
// element is not <Error> (so a 200 response whose body is an error can be
// told apart from a result).
struct ErrorBody {
  std::string code;
  std::string message;
};
std::optional<ErrorBody> ParseErrorBody(std::string_view xml);

// STS AssumeRoleWithWebIdentity (query protocol): the <Credentials> of an
// <AssumeRoleWithWebIdentityResponse>, or nullopt. Expiration as sent.
struct StsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string expiration;
};
std::optional<StsCredentials> ParseAssumeRoleWithWebIdentity(std::string_view xml);
// STS errors: <ErrorResponse><Error><Code>…<Message>…; nullopt otherwise.
std::optional<ErrorBody> ParseStsError(std::string_view xml);

// <InitiateMultipartUploadResult><UploadId>.
std::optional<std::string> ParseUploadId(std::string_view xml);
// <CompleteMultipartUploadResult><ETag> / <CopyObjectResult><ETag> (quotes kept).
std::optional<std::string> ParseCompleteMultipartUploadETag(std::string_view xml);
std::optional<std::string> ParseCopyObjectETag(std::string_view xml);

// <DeleteResult>: the keys S3 refused (<Error> entries); empty when all went.
struct DeleteFailure {
  std::string key;
  std::string code;
  std::string message;
};
std::optional<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view xml);

// Request bodies. Part i of the upload (1-based) has ETag etags[i-1].
std::string BuildCompleteMultipartUpload(const std::vector<std::string>& etags);
std::string BuildDeleteObjects(const std::vector<std::string>& keys, bool quiet);

// "2026-11-22T02:29:33.123Z" (fraction optional, "Z" or "+hh:mm") → ns since
// the epoch; nullopt outside what int64 nanoseconds hold (1677 to 2262).
std::optional<int64_t> ParseIso8601(std::string_view text);

// Reverses S3's encoding-type=url (percent-escapes, '+' for space).
std::string UrlDecode(std::string_view text);

}  // namespace freshfs::s3
