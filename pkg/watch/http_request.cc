#include "watch/http_request.h"

#include <algorithm>

namespace freshfs::watch {
namespace {

constexpr size_t kMaxHeaders = 100;
constexpr size_t kMaxChunkSizeLine = 1024;

// RFC 9110 token characters (method and header names).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string HeadTooLarge(const char* what, size_t limit) {
  return std::string(what) + " over " + std::to_string(limit) + " bytes";
}

}  // namespace

const std::string* HttpRequestHead::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

HttpRequestReader::HttpRequestReader(size_t max_head_bytes, size_t max_body_bytes)
    : max_head_bytes_(max_head_bytes), max_body_bytes_(max_body_bytes) {}

void HttpRequestReader::Feed(std::string_view bytes) {
  if (state_ == State::kDone || state_ == State::kError) return;
  in_.append(bytes);
  Parse();
}

void HttpRequestReader::ReadBody() {
  if (state_ != State::kHeadDone) return;
  if (head_.content_length && *head_.content_length > max_body_bytes_) {
    Fail(Error::kTooLarge, 413,
         "body too large (limit " + std::to_string(max_body_bytes_) + " bytes)");
    return;
  }
  state_ = State::kBody;
  Parse();
}

void HttpRequestReader::Parse() {
  if (state_ == State::kHead && !ParseHead()) {
    Compact();
    return;
  }
  if (state_ == State::kBody) {
    if (head_.chunked) {
      ParseChunks();
    } else {
      ParseBody();
    }
  }
  if (state_ == State::kDone) {  // one request per connection
    in_.clear();
    pos_ = 0;
  }
  Compact();
}

std::optional<std::string_view> HttpRequestReader::NextLine(size_t max, int status,
                                                            std::string_view too_long) {
  const size_t end = in_.find('\n', pos_);
  const size_t length = (end == std::string::npos ? in_.size() : end) - pos_;
  if (length > max) {
    Fail(status == 400 ? Error::kMalformed : Error::kTooLarge, status, std::string(too_long));
    return std::nullopt;
  }
  if (end == std::string::npos) return std::nullopt;
  std::string_view line(in_.data() + pos_, length);
  if (line.ends_with('\r')) line.remove_suffix(1);
  pos_ = end + 1;
  return line;
}

bool HttpRequestReader::ParseHead() {
  for (;;) {
    const size_t left = max_head_bytes_ - std::min(head_bytes_, max_head_bytes_);
    const size_t start = pos_;
    auto line = NextLine(left, 431, HeadTooLarge("request head", max_head_bytes_));
    if (!line) return false;
    head_bytes_ += pos_ - start;
    if (!request_line_seen_) {
      if (line->empty()) continue;  // RFC 9112 2.2: empty lines before a request
      const size_t sp1 = line->find(' ');
      const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line->find(' ', sp1 + 1);
      if (sp2 == std::string_view::npos || line->find(' ', sp2 + 1) != std::string_view::npos) {
        Fail(Error::kMalformed, 400, "malformed request line");
        return false;
      }
      const std::string_view method = line->substr(0, sp1);
      const std::string_view target = line->substr(sp1 + 1, sp2 - sp1 - 1);
      const std::string_view version = line->substr(sp2 + 1);
      if (!IsToken(method) || target.empty() || target.front() != '/') {
        Fail(Error::kMalformed, 400, "malformed request line");
        return false;
      }
      if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        Fail(Error::kMalformed, 400, "unsupported HTTP version");
        return false;
      }
      head_.method = std::string(method);
      head_.target = std::string(target);
      head_.path = std::string(target.substr(0, target.find('?')));
      request_line_seen_ = true;
      continue;
    }
    if (line->empty()) return FinishHead();
    if (!ParseHeader(*line)) return false;
  }
}

bool HttpRequestReader::ParseHeader(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    Fail(Error::kMalformed, 400, "folded header lines are not accepted");
    return false;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
    Fail(Error::kMalformed, 400, "malformed header line");
    return false;
  }
  if (head_.headers.size() >= kMaxHeaders) {
    Fail(Error::kTooLarge, 431, "more than " + std::to_string(kMaxHeaders) + " header lines");
    return false;
  }
  head_.headers.emplace_back(Lower(line.substr(0, colon)),
                             std::string(Trim(line.substr(colon + 1))));
  return true;
}

bool HttpRequestReader::FinishHead() {
  int transfer_encodings = 0;
  for (const auto& [name, value] : head_.headers) {
    if (name == "content-length") {
      const auto n = ParseDecimal(value);
      if (!n || (head_.content_length && *head_.content_length != *n)) {
        Fail(Error::kMalformed, 400, "invalid Content-Length");
        return false;
      }
      head_.content_length = n;
    } else if (name == "transfer-encoding") {
      if (++transfer_encodings > 1 || Lower(value) != "chunked") {
        Fail(Error::kMalformed, 501, "unsupported Transfer-Encoding (only chunked)");
        return false;
      }
      head_.chunked = true;
    } else if (name == "expect") {
      head_.expect_continue = Lower(value) == "100-continue";
    }
  }
  if (head_.chunked && head_.content_length) {
    // RFC 9112 6.3: a request smuggling vector; refuse rather than guess.
    Fail(Error::kMalformed, 400, "both Content-Length and Transfer-Encoding");
    return false;
  }
  state_ = State::kHeadDone;
  return true;
}

bool HttpRequestReader::ParseBody() {
  const uint64_t want = head_.content_length.value_or(0);
  const size_t take =
      static_cast<size_t>(std::min<uint64_t>(want - body_.size(), in_.size() - pos_));
  body_.append(in_, pos_, take);
  pos_ += take;
  if (body_.size() == want) state_ = State::kDone;
  return true;
}

bool HttpRequestReader::ParseChunks() {
  for (;;) {
    switch (chunk_) {
      case Chunk::kSize: {
        auto line = NextLine(kMaxChunkSizeLine, 400, "chunk size line too long");
        if (!line) return false;
        const std::string_view digits = Trim(line->substr(0, line->find(';')));
        uint64_t size = 0;
        if (digits.empty() || digits.size() > 15 ||
            !std::all_of(digits.begin(), digits.end(), [](char c) { return HexDigit(c) >= 0; })) {
          Fail(Error::kMalformed, 400, "malformed chunk size");
          return false;
        }
        for (char c : digits) size = size * 16 + static_cast<uint64_t>(HexDigit(c));
        if (size == 0) {
          chunk_ = Chunk::kTrailer;
        } else if (body_.size() + size > max_body_bytes_) {
          Fail(Error::kTooLarge, 413,
               "body too large (limit " + std::to_string(max_body_bytes_) + " bytes)");
          return false;
        } else {
          chunk_left_ = size;
          chunk_ = Chunk::kData;
        }
        break;
      }
      case Chunk::kData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(chunk_left_, in_.size() - pos_));
        body_.append(in_, pos_, take);
        pos_ += take;
        chunk_left_ -= take;
        if (chunk_left_ > 0) return false;
        chunk_ = Chunk::kDataEnd;
        break;
      }
      case Chunk::kDataEnd: {
        auto line = NextLine(1, 400, "chunk data not followed by a line end");
        if (!line) return false;
        if (!line->empty()) {
          Fail(Error::kMalformed, 400, "chunk data not followed by a line end");
          return false;
        }
        chunk_ = Chunk::kSize;
        break;
      }
      case Chunk::kTrailer: {
        const size_t left = max_head_bytes_ - std::min(head_bytes_, max_head_bytes_);
        const size_t start = pos_;
        auto line = NextLine(left, 431, HeadTooLarge("request trailers", max_head_bytes_));
        if (!line) return false;
        head_bytes_ += pos_ - start;
        if (line->empty()) {
          state_ = State::kDone;
          return true;
        }
        break;  // trailer fields are read and ignored
      }
    }
  }
}

void HttpRequestReader::Fail(Error error, int status, std::string reason) {
  state_ = State::kError;
  error_ = error;
  error_status_ = status;
  error_reason_ = std::move(reason);
  in_.clear();
  in_.shrink_to_fit();
  body_.clear();
  body_.shrink_to_fit();
  pos_ = 0;
}

void HttpRequestReader::Compact() {
  if (pos_ == 0) return;
  in_.erase(0, pos_);
  pos_ = 0;
}

}  // namespace freshfs::watch
