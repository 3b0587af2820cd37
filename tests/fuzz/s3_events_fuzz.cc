// Event notification bodies (watch/s3_events.h): whatever reaches
// --events-address with the token, or without one on loopback. All three
// shapes the webhook accepts: the standard {"Records":[...]} (AWS, MinIO,
// Ceph RGW), MinIO's wrapper {"EventName","Key","Records"}, and the SNS
// envelope {"Type":"Notification","Message":"<JSON>"} (plus test events and
// SNS confirmations).
//
// Properties: a body is either accepted with events or refused with a
// one-line error and no events; no exception escapes the JSON accessors
// (the catch-all in ParseS3EventBody would hide it); every key is non-empty
// and no longer than the body; and the accepted events, written back in
// each of the three shapes, parse to the same events.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "watch/s3_events.h"

namespace watch = freshfs::watch;
using nlohmann::json;

namespace {

// Every byte but unreserved ones as %XX: what DecodeS3Key() undoes.
std::string EncodeKey(std::string_view key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : key) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
        c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

json Records(const std::vector<watch::S3Event>& events) {
  json records = json::array();
  for (const watch::S3Event& e : events) {
    records.push_back({{"eventVersion", "2.1"},
                       {"eventSource", "aws:s3"},
                       {"eventName", e.event_name},
                       {"s3",
                        {{"bucket", {{"name", e.bucket}}},
                         {"object", {{"key", EncodeKey(e.key)}, {"size", 1}}}}}});
  }
  return records;
}

void ExpectSameEvents(const std::string& body, const std::vector<watch::S3Event>& events,
                      const char* shape) {
  const watch::S3EventBody again = watch::ParseS3EventBody(body);
  FUZZ_CHECK(again.ok() && again.kind == watch::S3BodyKind::kEvents, shape);
  FUZZ_CHECK(again.events.size() == events.size(), shape);
  for (size_t i = 0; i < events.size(); ++i) {
    const watch::S3Event& a = events[i];
    const watch::S3Event& b = again.events[i];
    FUZZ_CHECK(a.event_name == b.event_name && a.bucket == b.bucket && a.key == b.key &&
                   a.removed == b.removed,
               shape);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = freshfs::fuzz::AsText(data, size);
  FUZZ_CHECK(watch::DecodeS3Key(text).size() <= size, "DecodeS3Key() never grows");

  const watch::S3EventBody body = watch::ParseS3EventBody(text);
  if (!body.ok()) {
    FUZZ_CHECK(body.events.empty(), "a refused body delivers no events");
    FUZZ_CHECK(freshfs::fuzz::OneLine(body.error), "errors are one line");
    FUZZ_CHECK(!body.error.starts_with("cannot parse body"), "no exception from the parser");
    return 0;
  }
  if (body.kind != watch::S3BodyKind::kEvents) {
    FUZZ_CHECK(body.events.empty(), "only Records bodies have events");
    return 0;
  }
  for (const watch::S3Event& e : body.events) {
    FUZZ_CHECK(!e.key.empty() && e.key.size() <= size, "keys are non-empty and fit in the body");
    FUZZ_CHECK(!e.event_name.starts_with("s3:"), "the s3: prefix is cut");
    (void)watch::ChangesObject(e);
  }

  const json records = Records(body.events);
  const std::string standard = json{{"Records", records}}.dump();
  ExpectSameEvents(standard, body.events, "the standard shape parses to the same events");
  ExpectSameEvents(
      json{{"EventName", "s3:ObjectCreated:Put"}, {"Key", "bucket/key"}, {"Records", records}}
          .dump(),
      body.events, "MinIO's wrapper parses to the same events");
  ExpectSameEvents(json{{"Type", "Notification"},
                        {"MessageId", "0"},
                        {"TopicArn", "arn:aws:sns:us-east-1:1:t"},
                        {"Message", standard}}
                       .dump(),
                   body.events, "the SNS envelope parses to the same events");
  return 0;
}
