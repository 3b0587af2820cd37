// What the S3 client puts on the wire and how it reacts to failures a real
// server will not produce on demand, against FakeHttpServer.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <string>
#include <vector>

#include "fake_http_server.h"
#include "s3/client.h"

namespace freshfs::s3 {
namespace {

using namespace std::chrono_literals;
using testing::FakeHttpServer;
using testing::FakeReply;

ClientConfig ConfigFor(const FakeHttpServer& server) {
  ClientConfig config;
  config.endpoint = server.endpoint();
  config.path_style = true;
  config.credentials.access_key_id = "AKIDEXAMPLE";
  config.credentials.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  config.max_attempts = 4;
  config.retry_base_delay = 10ms;
  config.stall_timeout = 1s;
  return config;
}

FakeReply Ok(std::vector<std::pair<std::string, std::string>> headers = {}, std::string body = "") {
  return FakeReply{200, std::move(headers), std::move(body)};
}

FakeReply S3Error(int status, const std::string& code) {
  return FakeReply{status,
                   {{"Content-Type", "application/xml"}},
                   "<?xml version=\"1.0\"?><Error><Code>" + code + "</Code><Message>" + code +
                       " happened</Message></Error>"};
}

// Lower-case names in SignedHeaders=...; of an Authorization header.
std::string SignedHeaders(const std::string& authorization) {
  const auto start = authorization.find("SignedHeaders=");
  if (start == std::string::npos) return "";
  const auto end = authorization.find(',', start);
  return authorization.substr(start + 14, end - start - 14);
}

std::string Base64Md5(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, digest, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

// A temporary file holding `data`, open for reading.
class TempFile {
 public:
  explicit TempFile(const std::string& data) {
    char path[] = "/tmp/freshfs-s3-wire-XXXXXX";
    fd_ = mkstemp(path);
    unlink(path);
    EXPECT_EQ(pwrite(fd_, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  }
  ~TempFile() { close(fd_); }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

TEST(ClientWire, PutSignsAndSendsConditionHeaders) {
  FakeHttpServer server({Ok({{"ETag", "\"e1\""}}), Ok({{"ETag", "\"e2\""}})});
  auto client = Client::Create(ConfigFor(server), "bkt");

  auto put = client->Put("dir/a b+c.txt", "payload", Condition{.if_match = "\"old\""});
  ASSERT_TRUE(put) << put.error().Describe();
  EXPECT_EQ(*put, "\"e1\"");
  put = client->Put("new", "x", Condition{.if_none_match_any = true});
  ASSERT_TRUE(put) << put.error().Describe();
  EXPECT_EQ(*put, "\"e2\"");

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  const auto& first = requests[0];
  EXPECT_EQ(first.method, "PUT");
  EXPECT_EQ(first.target, "/bkt/dir/a%20b%2Bc.txt");
  EXPECT_EQ(first.Header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(first.Header("x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  EXPECT_FALSE(first.Header("x-amz-date").empty());
  EXPECT_EQ(first.Header("if-match"), "\"old\"");
  EXPECT_EQ(first.body, "payload");
  const std::string auth = first.Header("authorization");
  EXPECT_TRUE(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")) << auth;
  EXPECT_EQ(SignedHeaders(auth), "host;if-match;x-amz-content-sha256;x-amz-date");
  EXPECT_EQ(auth.find("wJalrXUtnFEMI"), std::string::npos);

  EXPECT_EQ(requests[1].Header("if-none-match"), "*");
  EXPECT_EQ(SignedHeaders(requests[1].Header("authorization")),
            "host;if-none-match;x-amz-content-sha256;x-amz-date");
}

TEST(ClientWire, ReusesItsConnection) {
  FakeHttpServer server({Ok({{"ETag", "\"e\""}})});
  auto client = Client::Create(ConfigFor(server), "bkt");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->Put("k" + std::to_string(i), "v"));
  EXPECT_EQ(server.requests().size(), 5u);
  EXPECT_EQ(server.connections(), 1);
}

TEST(ClientWire, AtMostMaxConnectionsRequestsAtOnce) {
  FakeHttpServer server({FakeReply{200, {{"ETag", "\"e\""}}, "", false, 100ms}});
  ClientConfig config = ConfigFor(server);
  config.max_connections = 2;
  auto client = Client::Create(config, "bkt");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      if (client->Put("k" + std::to_string(i), "v")) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 6);
  EXPECT_EQ(server.max_in_flight(), 2);
  EXPECT_LE(server.connections(), 2);
}

TEST(ClientWire, VirtualHostedStyleNamesTheBucketInTheHost) {
  FakeHttpServer server({Ok({{"ETag", "\"e\""}})});
  ClientConfig config = ConfigFor(server);
  // libcurl resolves *.localhost to the loopback address itself.
  config.endpoint = "http://localhost:" + std::to_string(server.port());
  config.path_style = false;
  auto client = Client::Create(config, "bkt");
  auto put = client->Put("k/ü", "x");
  ASSERT_TRUE(put) << put.error().Describe();
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].Header("host"), "bkt.localhost:" + std::to_string(server.port()));
  EXPECT_EQ(requests[0].target, "/k/%C3%BC");
}

TEST(ClientWire, RetriesServerErrorsWithTheWholeBodyEachTime) {
  FakeHttpServer server({S3Error(503, "SlowDown"), S3Error(500, "InternalError"),
                         FakeReply{502, {}, "<html>bad gateway</html>"},
                         Ok({{"ETag", "\"done\""}})});
  std::vector<std::string> outcomes;
  auto client = Client::Create(ConfigFor(server), "bkt");
  client->set_request_hook([&](std::string_view op, std::string_view outcome) {
    outcomes.push_back(std::string(op) + ":" + std::string(outcome));
  });
  const std::string data(300000, 'z');
  TempFile file(data);
  auto put = client->PutFile("big", file.fd(), data.size());
  ASSERT_TRUE(put) << put.error().Describe();
  EXPECT_EQ(*put, "\"done\"");
  EXPECT_EQ(outcomes, (std::vector<std::string>{"put:503", "put:500", "put:502", "put:ok"}));
  for (const auto& r : server.requests()) EXPECT_EQ(r.body, data);
  // pread: the descriptor's offset is untouched.
  EXPECT_EQ(lseek(file.fd(), 0, SEEK_CUR), 0);
}

TEST(ClientWire, GivesUpAfterMaxAttempts) {
  FakeHttpServer server({S3Error(503, "SlowDown")});
  ClientConfig config = ConfigFor(server);
  config.max_attempts = 3;
  auto client = Client::Create(config, "bkt");
  auto head = client->Put("k", "v");
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().http_status, 503);
  EXPECT_EQ(head.error().code, "SlowDown");
  EXPECT_EQ(head.error().attempts, 3);
  EXPECT_EQ(head.error().ToErrno(), EIO);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(ClientWire, ClientErrorsAreNotRetried) {
  FakeHttpServer server({S3Error(403, "AccessDenied")});
  auto client = Client::Create(ConfigFor(server), "bkt");
  char buf[4];
  auto get = client->GetRange("k", 0, sizeof buf, buf);
  ASSERT_FALSE(get);
  EXPECT_EQ(get.error().http_status, 403);
  EXPECT_EQ(get.error().code, "AccessDenied");
  EXPECT_EQ(get.error().ToErrno(), EACCES);
  EXPECT_EQ(get.error().Describe(),
            "HTTP 403 AccessDenied: AccessDenied happened (GET s3://bkt/k)");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(ClientWire, StalledServerTimesOutPerAttempt) {
  FakeHttpServer server({FakeReply{.hang = true}});
  ClientConfig config = ConfigFor(server);
  config.max_attempts = 2;
  auto client = Client::Create(config, "bkt");
  const auto start = std::chrono::steady_clock::now();
  auto head = client->Head("k");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().http_status, 0);
  EXPECT_EQ(head.error().code, "Timeout");
  EXPECT_EQ(head.error().ToErrno(), EIO);
  EXPECT_EQ(server.requests().size(), 2u);
  // Two one-second stall windows (libcurl counts whole seconds), not more.
  EXPECT_GE(elapsed, 1500ms);
  EXPECT_LT(elapsed, 8s);
}

TEST(ClientWire, GetRangeCopesWithAServerThatIgnoresRange) {
  FakeHttpServer server({Ok({{"ETag", "\"whole\""}}, "0123456789")});
  auto client = Client::Create(ConfigFor(server), "bkt");
  char buf[4] = {};
  ObjectInfo info;
  auto got = client->GetRange("k", 3, sizeof buf, buf, {}, &info);
  ASSERT_TRUE(got) << got.error().Describe();
  EXPECT_EQ(*got, 4u);
  EXPECT_EQ(std::string(buf, 4), "3456");
  EXPECT_EQ(info.size, 10u);
  EXPECT_EQ(info.etag, "\"whole\"");
  EXPECT_EQ(server.requests().at(0).Header("range"), "bytes=3-6");
}

// s3rver's answer to a Range GET of an empty object: a 206 announcing one
// byte that never comes.
TEST(ClientWire, RangePastTheEndIsNotWaitedFor) {
  FakeHttpServer server({FakeReply{
      206, {{"Content-Range", "bytes 0-0/0"}, {"Content-Length", "1"}, {"ETag", "\"e\""}}, ""}});
  auto client = Client::Create(ConfigFor(server), "bkt");
  char buf[8];
  ObjectInfo info;
  const auto start = std::chrono::steady_clock::now();
  auto got = client->GetRange("empty", 0, sizeof buf, buf, {}, &info);
  ASSERT_TRUE(got) << got.error().Describe();
  EXPECT_EQ(*got, 0u);
  EXPECT_EQ(info.size, 0u);
  EXPECT_EQ(info.etag, "\"e\"");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms);  // under one stall window
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(ClientWire, CopyRetriesAnErrorHiddenInA200) {
  FakeHttpServer server(
      {Ok({}, "<Error><Code>InternalError</Code><Message>try again</Message></Error>"),
       Ok({}, "<CopyObjectResult><ETag>&quot;c0ffee&quot;</ETag></CopyObjectResult>")});
  auto client = Client::Create(ConfigFor(server), "bkt");
  auto copy = client->Copy("src dir/ä+b", "dst", Condition{.if_match = "\"src-etag\""});
  ASSERT_TRUE(copy) << copy.error().Describe();
  EXPECT_EQ(*copy, "\"c0ffee\"");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].method, "PUT");
  EXPECT_EQ(requests[1].target, "/bkt/dst");
  EXPECT_EQ(requests[1].Header("x-amz-copy-source"), "/bkt/src%20dir/%C3%A4%2Bb");
  EXPECT_EQ(requests[1].Header("x-amz-copy-source-if-match"), "\"src-etag\"");
  EXPECT_NE(SignedHeaders(requests[1].Header("authorization")).find("x-amz-copy-source"),
            std::string::npos);
}

TEST(ClientWire, DeleteManyBatchesAThousandWithContentMd5) {
  FakeHttpServer server({Ok({}, "<DeleteResult></DeleteResult>")});
  auto client = Client::Create(ConfigFor(server), "bkt");
  std::vector<std::string> keys;
  for (int i = 0; i < 1001; ++i) keys.push_back("k&" + std::to_string(i));
  auto deleted = client->DeleteMany(keys);
  ASSERT_TRUE(deleted) << deleted.error().Describe();
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/bkt?delete");
    EXPECT_EQ(r.Header("content-md5"), Base64Md5(r.body));
    EXPECT_NE(r.body.find("<Quiet>true</Quiet>"), std::string::npos);
  }
  EXPECT_NE(requests[0].body.find("<Key>k&amp;999</Key>"), std::string::npos);
  EXPECT_EQ(requests[0].body.find("<Key>k&amp;1000</Key>"), std::string::npos);
  EXPECT_NE(requests[1].body.find("<Key>k&amp;1000</Key>"), std::string::npos);
}

TEST(ClientWire, DeleteManyFailsOnARefusedKey) {
  FakeHttpServer server({Ok({},
                            "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key>"
                            "<Code>AccessDenied</Code><Message>Access Denied</Message>"
                            "</Error></DeleteResult>")});
  auto client = Client::Create(ConfigFor(server), "bkt");
  auto deleted = client->DeleteMany({"a", "b"});
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, "AccessDenied");
  EXPECT_EQ(deleted.error().ToErrno(), EACCES);
  EXPECT_NE(deleted.error().Describe().find("s3://bkt/b"), std::string::npos);
}

TEST(ClientWire, MultipartUploadCompletesWithConditionAndPartETags) {
  FakeHttpServer server({
      Ok({},
         "<InitiateMultipartUploadResult><UploadId>U-1</UploadId>"
         "</InitiateMultipartUploadResult>"),
      Ok({{"ETag", "\"p1\""}}),
      Ok({{"ETag", "\"p2\""}}),
      Ok({{"ETag", "\"p3\""}}),
      Ok({},
         "<CompleteMultipartUploadResult><ETag>\"whole-3\"</ETag>"
         "</CompleteMultipartUploadResult>"),
  });
  ClientConfig config = ConfigFor(server);
  config.max_connections = 1;  // parts in order, so the script lines up
  config.multipart_threshold = 100;
  config.multipart_part_size = 100;
  auto client = Client::Create(config, "bkt");
  std::string data;
  for (int i = 0; i < 250; ++i) data.push_back(static_cast<char>('a' + i % 26));
  TempFile file(data);
  auto put = client->PutFile("mp", file.fd(), data.size(), Condition{.if_none_match_any = true});
  ASSERT_TRUE(put) << put.error().Describe();
  EXPECT_EQ(*put, "\"whole-3\"");

  const auto r = server.requests();
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].method + " " + r[0].target, "POST /bkt/mp?uploads");
  EXPECT_EQ(r[1].method + " " + r[1].target, "PUT /bkt/mp?partNumber=1&uploadId=U-1");
  EXPECT_EQ(r[1].body, data.substr(0, 100));
  EXPECT_EQ(r[3].target, "/bkt/mp?partNumber=3&uploadId=U-1");
  EXPECT_EQ(r[3].body, data.substr(200));
  EXPECT_EQ(r[4].method + " " + r[4].target, "POST /bkt/mp?uploadId=U-1");
  EXPECT_EQ(r[4].Header("if-none-match"), "*");
  EXPECT_NE(r[4].body.find("<Part><PartNumber>2</PartNumber><ETag>\"p2\"</ETag></Part>"),
            std::string::npos)
      << r[4].body;
}

TEST(ClientWire, FailedMultipartUploadIsAborted) {
  FakeHttpServer server({
      Ok({},
         "<InitiateMultipartUploadResult><UploadId>U-2</UploadId>"
         "</InitiateMultipartUploadResult>"),
      Ok({{"ETag", "\"p1\""}}),
      S3Error(403, "AccessDenied"),
      FakeReply{204, {}, ""},
  });
  ClientConfig config = ConfigFor(server);
  config.max_connections = 1;
  config.multipart_threshold = 10;
  config.multipart_part_size = 10;
  auto client = Client::Create(config, "bkt");
  TempFile file(std::string(30, 'q'));
  auto put = client->PutFile("mp", file.fd(), 30);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, "AccessDenied");
  const auto r = server.requests();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[3].method + " " + r[3].target, "DELETE /bkt/mp?uploadId=U-2");
}

TEST(ClientWire, UnreadableFileIsALocalErrorNotRetried) {
  FakeHttpServer server({Ok({{"ETag", "\"e\""}})});
  auto client = Client::Create(ConfigFor(server), "bkt");
  const int fd = open("/dev/null", O_WRONLY);  // pread fails with EBADF
  auto put = client->PutFile("k", fd, 10);
  close(fd);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().http_status, 0);
  EXPECT_EQ(put.error().code, "BodyReadError");
  EXPECT_EQ(put.error().attempts, 1);
}

}  // namespace
}  // namespace freshfs::s3
