// The webhook's HTTP request reader: heads and bodies however the bytes
// arrive, the head judged before any body byte is taken, and the limits
// and ambiguities that must end in an error rather than a guess.
#include "watch/http_request.h"

#include <gtest/gtest.h>

namespace freshfs::watch {
namespace {

using State = HttpRequestReader::State;

// Feeds `bytes` in pieces of `step` (0: at once), reading the body as soon
// as the head is in.
HttpRequestReader ReadAll(std::string_view bytes, size_t step = 0, size_t max_body = 1000) {
  HttpRequestReader reader(1024, max_body);
  if (step == 0) step = bytes.size();
  for (size_t i = 0; i < bytes.size(); i += step) {
    reader.Feed(bytes.substr(i, step));
    if (reader.state() == State::kHeadDone) reader.ReadBody();
  }
  return reader;
}

TEST(HttpRequestReaderTest, ContentLengthBodyInAnyPieces) {
  const std::string request =
      "POST /events?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
      "Authorization:  Bearer abc \r\nContent-Length: 5\r\n\r\nhello";
  for (size_t step : {0, 1, 7}) {
    const auto reader = ReadAll(request, step);
    ASSERT_EQ(reader.state(), State::kDone) << step << ": " << reader.error_reason();
    EXPECT_EQ(reader.head().method, "POST");
    EXPECT_EQ(reader.head().target, "/events?x=1");
    EXPECT_EQ(reader.head().path, "/events");
    ASSERT_NE(reader.head().Header("authorization"), nullptr);
    EXPECT_EQ(*reader.head().Header("authorization"), "Bearer abc");
    EXPECT_EQ(reader.head().Header("x-missing"), nullptr);
    EXPECT_EQ(reader.body(), "hello");
  }
}

TEST(HttpRequestReaderTest, TheHeadIsJudgedBeforeTheBodyIsTaken) {
  HttpRequestReader reader(1024, 1000);
  reader.Feed("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab");
  ASSERT_EQ(reader.state(), State::kHeadDone);
  EXPECT_EQ(reader.body(), "");
  reader.ReadBody();
  EXPECT_EQ(reader.state(), State::kBody);
  reader.Feed("cEXTRA");  // bytes after the request are ignored
  ASSERT_EQ(reader.state(), State::kDone);
  EXPECT_EQ(reader.body(), "abc");
}

TEST(HttpRequestReaderTest, ChunkedBodyWithExtensionsAndTrailers) {
  const std::string request =
      "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for (size_t step : {0, 1, 3}) {
    const auto reader = ReadAll(request, step);
    ASSERT_EQ(reader.state(), State::kDone) << step << ": " << reader.error_reason();
    EXPECT_TRUE(reader.head().chunked);
    EXPECT_EQ(reader.body(), "hello world");
  }
}

TEST(HttpRequestReaderTest, LenientWhereItCostsNothing) {
  // Empty lines before the request, bare LF line ends, no body at all.
  const auto reader = ReadAll("\r\n\nGET /healthz HTTP/1.0\nHost: h\n\n");
  ASSERT_EQ(reader.state(), State::kDone) << reader.error_reason();
  EXPECT_EQ(reader.head().path, "/healthz");
  EXPECT_EQ(reader.body(), "");
  EXPECT_TRUE(ReadAll("POST / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").head().expect_continue);
  // The same length twice is one length.
  EXPECT_EQ(ReadAll("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab").body(),
            "ab");
}

TEST(HttpRequestReaderTest, AmbiguousOrMalformedRequestsAreErrors) {
  const std::pair<const char*, int> cases[] = {
      {"POST /\r\n\r\n", 400},
      {"POST  / HTTP/1.1\r\n\r\n", 400},
      {"POST http://x/ HTTP/1.1\r\n\r\n", 400},
      {"PO(ST / HTTP/1.1\r\n\r\n", 400},
      {"POST / HTTP/2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nNo-Colon\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400},
  };
  for (const auto& [request, status] : cases) {
    const auto reader = ReadAll(request);
    EXPECT_EQ(reader.state(), State::kError) << request;
    EXPECT_EQ(reader.error_status(), status) << request << ": " << reader.error_reason();
    EXPECT_EQ(reader.error(), HttpRequestReader::Error::kMalformed) << request;
    EXPECT_EQ(reader.buffered_bytes(), 0u) << "nothing kept after an error";
  }
}

TEST(HttpRequestReaderTest, LimitsAreErrorsBeforeTheBytesAreHeld) {
  // A head over its limit, even without a line end in sight.
  const auto long_head = ReadAll("POST / HTTP/1.1\r\nX: " + std::string(2000, 'a'));
  EXPECT_EQ(long_head.error_status(), 431);
  EXPECT_EQ(long_head.error(), HttpRequestReader::Error::kTooLarge);
  std::string many = "POST / HTTP/1.1\r\n";
  for (int i = 0; i < 101; ++i) many += "A:\r\n";
  EXPECT_EQ(ReadAll(many + "\r\n").error_status(), 431);
  // A declared body over the limit fails at ReadBody(), before any of it.
  HttpRequestReader declared(1024, 10);
  declared.Feed("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
  ASSERT_EQ(declared.state(), State::kHeadDone);
  declared.ReadBody();
  EXPECT_EQ(declared.error_status(), 413);
  EXPECT_EQ(declared.error_reason(), "body too large (limit 10 bytes)");
  // A chunked body fails at the chunk that would pass the limit.
  const auto chunked =
      ReadAll("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n3\r\n", 0, 10);
  EXPECT_EQ(chunked.error_status(), 413);
  EXPECT_EQ(chunked.error(), HttpRequestReader::Error::kTooLarge);
  // Exactly at the limit is fine.
  EXPECT_EQ(ReadAll("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 0, 10).state(),
            State::kDone);
}

}  // namespace
}  // namespace freshfs::watch
