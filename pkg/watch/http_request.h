// HttpRequestReader: one HTTP/1.x request read incrementally from a
// non-blocking connection, for the S3 event webhook.
//
// The head (request line and headers) is read first and stops there
// (kHeadDone), so the caller can judge it (authorization, method, declared
// size) before a single body byte is taken: ReadBody() then reads the body,
// by Content-Length or chunked. One request per connection: bytes after it
// are ignored.
//
// Strict where leniency would help a smuggler (Content-Length and
// Transfer-Encoding together, conflicting lengths, folded headers: 400),
// lenient where it costs nothing (bare LF line ends, leading empty lines).
//
// Plain data, not thread-safe; the memory it holds is bounded by
// max_head_bytes plus max_body_bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace freshfs::watch {

struct HttpRequestHead {
  std::string method;
  std::string target;                                        // as sent
  std::string path;                                          // the target without its query
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool expect_continue = false;  // Expect: 100-continue

  // The first value of header `name` (lower-case), or nullptr.
  const std::string* Header(std::string_view name) const;
};

class HttpRequestReader {
 public:
  enum class State { kHead, kHeadDone, kBody, kDone, kError };
  enum class Error { kNone, kMalformed, kTooLarge };

  HttpRequestReader(size_t max_head_bytes, size_t max_body_bytes);

  // Bytes read from the connection; parses as far as the state allows.
  void Feed(std::string_view bytes);
  // From kHeadDone: reads the body (what is buffered already, and from then
  // on what Feed() brings). A declared length over the limit is an error at
  // once.
  void ReadBody();

  State state() const { return state_; }
  const HttpRequestHead& head() const { return head_; }
  const std::string& body() const { return body_; }
  // Set in kError: the status to answer (400, 413, 431, 501), a one-line
  // reason, and whether it was the size.
  int error_status() const { return error_status_; }
  const std::string& error_reason() const { return error_reason_; }
  Error error() const { return error_; }
  // Memory held for this request (buffered input and body).
  size_t buffered_bytes() const { return in_.size() + body_.size(); }

 private:
  void Parse();
  bool ParseHead();  // false: needs more bytes (or failed)
  bool ParseHeader(std::string_view line);
  bool FinishHead();
  bool ParseBody();  // Content-Length bodies
  bool ParseChunks();
  // The next line from the input without its line end; nullopt when none
  // is complete yet (and a line over `max` bytes fails with `status` and
  // `too_long`).
  std::optional<std::string_view> NextLine(size_t max, int status, std::string_view too_long);
  void Fail(Error error, int status, std::string reason);
  void Compact();

  const size_t max_head_bytes_;
  const size_t max_body_bytes_;
  State state_ = State::kHead;
  std::string in_;  // received and not yet parsed (from pos_)
  size_t pos_ = 0;
  size_t head_bytes_ = 0;
  bool request_line_seen_ = false;
  HttpRequestHead head_;
  std::string body_;
  // Chunked bodies: bytes left in the current chunk, and where we are.
  enum class Chunk { kSize, kData, kDataEnd, kTrailer };
  Chunk chunk_ = Chunk::kSize;
  uint64_t chunk_left_ = 0;
  int error_status_ = 0;
  std::string error_reason_;
  Error error_ = Error::kNone;
};

}  // namespace freshfs::watch
