// The HTTP/1.x request reader of the event webhook (watch/http_request.h):
// the first bytes anyone who reaches --events-address sends, read before
// the token is checked.
//
// Input: the first byte sets how the rest is cut into reads (1 to 256
// bytes each), the rest is what the client sends.
//
// Properties: the request reads the same however the bytes are cut into
// reads; the memory held stays within the head and body limits; a complete
// body has its declared length and fits the limit; a refusal has one of
// the documented statuses and a one-line reason.
#include <algorithm>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "watch/http_request.h"

using freshfs::watch::HttpRequestReader;
using State = HttpRequestReader::State;

namespace {

constexpr size_t kMaxHead = 1024;
constexpr size_t kMaxBody = 4096;

// Feeds `bytes` in reads of `step` bytes, moving on to the body as the
// webhook does once the head is complete.
void Read(HttpRequestReader& reader, std::string_view bytes, size_t step) {
  while (true) {
    if (reader.state() == State::kHeadDone) reader.ReadBody();
    FUZZ_CHECK(reader.buffered_bytes() <= kMaxHead + kMaxBody, "memory held is bounded");
    if (bytes.empty() || reader.state() == State::kDone || reader.state() == State::kError) return;
    const size_t n = std::min(step, bytes.size());
    reader.Feed(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = size_t{data[0]} + 1;
  const std::string_view bytes = freshfs::fuzz::AsText(data + 1, size - 1);

  HttpRequestReader whole(kMaxHead, kMaxBody);
  Read(whole, bytes, bytes.size() + 1);
  HttpRequestReader pieces(kMaxHead, kMaxBody);
  Read(pieces, bytes, step);

  FUZZ_CHECK(whole.state() == pieces.state() && whole.error_status() == pieces.error_status(),
             "the outcome does not depend on how the bytes arrive");
  if (whole.state() == State::kError) {
    const int status = whole.error_status();
    FUZZ_CHECK(status == 400 || status == 413 || status == 431 || status == 501,
               "refusals are 400, 413, 431 or 501");
    FUZZ_CHECK(!whole.error_reason().empty() && freshfs::fuzz::OneLine(whole.error_reason()),
               "reasons are one line");
    return 0;
  }
  if (whole.state() != State::kDone) return 0;
  FUZZ_CHECK(whole.head().method == pieces.head().method &&
                 whole.head().target == pieces.head().target &&
                 whole.head().headers == pieces.head().headers && whole.body() == pieces.body(),
             "the request does not depend on how the bytes arrive");
  FUZZ_CHECK(whole.body().size() <= kMaxBody, "bodies fit the limit");
  FUZZ_CHECK(!(whole.head().chunked && whole.head().content_length),
             "never both Content-Length and chunked");
  if (whole.head().content_length) {
    FUZZ_CHECK(whole.body().size() == *whole.head().content_length, "bodies have their length");
  }
  return 0;
}
