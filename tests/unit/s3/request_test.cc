// Error classification and endpoint parsing of the S3 client, without a server.
#include "s3/request.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace freshfs::s3 {
namespace {

HttpResponse Response(long status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(ErrorFromResponse, TakesCodeAndMessageFromTheBody) {
  const Error e = ErrorFromResponse(
      Response(403, "<Error><Code>AccessDenied</Code><Message>Access\nDenied</Message></Error>"));
  EXPECT_EQ(e.http_status, 403);
  EXPECT_EQ(e.code, "AccessDenied");
  EXPECT_EQ(e.message, "Access Denied");  // one line
}

TEST(ErrorFromResponse, NamesBodylessErrorsByStatus) {
  EXPECT_EQ(ErrorFromResponse(Response(404, "")).code, "NoSuchKey");
  EXPECT_EQ(ErrorFromResponse(Response(412, "")).code, "PreconditionFailed");
  EXPECT_EQ(ErrorFromResponse(Response(502, "<html>bad gateway</html>")).code, "HTTP502");
}

TEST(ErrorToErrno, MapsStatusesAndCodes) {
  EXPECT_EQ((Error{404, "NoSuchKey"}).ToErrno(), ENOENT);
  EXPECT_EQ((Error{404, "NoSuchBucket"}).ToErrno(), ENOENT);
  EXPECT_EQ((Error{403, "AccessDenied"}).ToErrno(), EACCES);
  EXPECT_EQ((Error{400, "ExpiredToken"}).ToErrno(), EACCES);
  EXPECT_EQ((Error{200, "AccessDenied"}).ToErrno(), EACCES);  // a DeleteObjects entry
  EXPECT_EQ((Error{412, "PreconditionFailed"}).ToErrno(), ESTALE);
  EXPECT_EQ((Error{409, "ConditionalRequestConflict"}).ToErrno(), EBUSY);
  EXPECT_EQ((Error{400, "KeyTooLongError"}).ToErrno(), ENAMETOOLONG);
  EXPECT_EQ((Error{400, "InvalidArgument"}).ToErrno(), EINVAL);
  EXPECT_EQ((Error{400, "RequestTimeout"}).ToErrno(), EIO);
  EXPECT_EQ((Error{501, "NotImplemented"}).ToErrno(), ENOTSUP);
  EXPECT_EQ((Error{503, "SlowDown"}).ToErrno(), EIO);
  EXPECT_EQ((Error{500, "InternalError"}).ToErrno(), EIO);
  EXPECT_EQ((Error{429, "TooManyRequests"}).ToErrno(), EIO);
  EXPECT_EQ((Error{0, "Timeout"}).ToErrno(), EIO);
  EXPECT_EQ((Error{0, "ConnectFailed"}).ToErrno(), EIO);
}

TEST(ErrorDescribe, OneLineWithWhatAndWhere) {
  Error e{404, "NoSuchBucket", "The specified bucket does not exist", "GET s3://nope/", 1};
  EXPECT_EQ(e.Describe(),
            "HTTP 404 NoSuchBucket: The specified bucket does not exist (GET s3://nope/)");
  Error net{0, "ConnectFailed", "Failed to connect to 127.0.0.1 port 9", "HEAD s3://b/k", 4};
  EXPECT_EQ(net.Describe(),
            "network error ConnectFailed: Failed to connect to 127.0.0.1 port 9 "
            "(HEAD s3://b/k) after 4 attempts");
}

TEST(IsRetryable, ServerTroubleAndNetworkButNotClientErrors) {
  EXPECT_TRUE(IsRetryable(Error{500, "InternalError"}));
  EXPECT_TRUE(IsRetryable(Error{503, "SlowDown"}));
  EXPECT_TRUE(IsRetryable(Error{502, "HTTP502"}));
  EXPECT_TRUE(IsRetryable(Error{429, "TooManyRequests"}));
  EXPECT_TRUE(IsRetryable(Error{400, "RequestTimeout"}));
  EXPECT_TRUE(IsRetryable(Error{200, "InternalError"}));  // error body in a 200
  EXPECT_TRUE(IsRetryable(Error{0, "ConnectFailed"}));
  EXPECT_TRUE(IsRetryable(Error{0, "Timeout"}));
  EXPECT_FALSE(IsRetryable(Error{0, "TLSError"}));
  EXPECT_FALSE(IsRetryable(Error{0, "BodyReadError"}));
  EXPECT_FALSE(IsRetryable(Error{404, "NoSuchKey"}));
  EXPECT_FALSE(IsRetryable(Error{403, "AccessDenied"}));
  EXPECT_FALSE(IsRetryable(Error{412, "PreconditionFailed"}));
  EXPECT_FALSE(IsRetryable(Error{400, "InvalidRequest"}));
}

TEST(EndpointParse, DefaultsToAwsForTheRegion) {
  const Endpoint e = Endpoint::Parse("", "eu-west-3");
  EXPECT_EQ(e.scheme, "https");
  EXPECT_EQ(e.authority, "s3.eu-west-3.amazonaws.com");
  EXPECT_EQ(e.base_path, "");
}

TEST(EndpointParse, SplitsSchemeAuthorityAndPath) {
  Endpoint e = Endpoint::Parse("http://127.0.0.1:4568", "us-east-1");
  EXPECT_EQ(e.scheme, "http");
  EXPECT_EQ(e.authority, "127.0.0.1:4568");
  EXPECT_EQ(e.base_path, "");
  e = Endpoint::Parse("HTTPS://minio.example:9000/s3/", "us-east-1");
  EXPECT_EQ(e.scheme, "https");
  EXPECT_EQ(e.authority, "minio.example:9000");
  EXPECT_EQ(e.base_path, "/s3");
  e = Endpoint::Parse("storage.example", "us-east-1");
  EXPECT_EQ(e.scheme, "https");
  EXPECT_EQ(e.authority, "storage.example");
}

}  // namespace
}  // namespace freshfs::s3
