#include "watch/s3_events.h"

#include <exception>
#include <nlohmann/json.hpp>

#include "util/percent.h"
#include "util/quote.h"

namespace freshfs::watch {
namespace {

using nlohmann::json;

// Event names by prefix (after the optional "s3:"): AWS and MinIO use the
// first four, Ceph RGW also sends ObjectLifecycle:* and, in multisite
// setups, ObjectSynced:*. Anything else leaves the object's bytes alone.
struct EventClass {
  std::string_view prefix;
  bool removed;
};
constexpr EventClass kChangingEvents[] = {
    {"ObjectCreated:", false},
    {"ObjectRemoved:", true},
    {"LifecycleExpiration:", true},
    {"ObjectLifecycle:Expiration:Current", true},
    {"ObjectLifecycle:Expiration:", false},  // noncurrent versions, markers
    {"ObjectSynced:Create", false},
    {"ObjectSynced:", true},  // Delete, DeletionMarkerCreated
};

const EventClass* Classify(std::string_view event_name) {
  for (const auto& c : kChangingEvents) {
    if (event_name.starts_with(c.prefix)) return &c;
  }
  return nullptr;
}

// Deepest nesting of arrays/objects, counted outside string literals, or
// limit + 1 as soon as it is exceeded. nlohmann's parser itself is
// iterative, but deeply nested values are still expensive to build and
// destroy, and nothing legitimate nests more than a handful of levels.
int NestingDepth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return limit + 1;
      if (depth > deepest) deepest = depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// nlohmann's what() starts with "[json.exception.parse_error.101] "; the
// rest is the useful part. Kept to one reasonably short line.
std::string ParserMessage(const char* what) {
  std::string_view text = what;
  if (text.starts_with("[json.exception.")) {
    const size_t end = text.find("] ");
    if (end != std::string_view::npos) text.remove_prefix(end + 2);
  }
  constexpr size_t kMaxLength = 200;
  std::string out(text.substr(0, kMaxLength));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (text.size() > kMaxLength) out += "...";
  return out;
}

std::string Join(const std::string& path, const char* name) {
  return path.empty() ? std::string(name) : path + "." + name;
}

const char* Article(json::value_t type) {
  return type == json::value_t::object || type == json::value_t::array ? "an" : "a";
}

// parent[name] if present and of `type`; otherwise nullptr, with `*error`
// naming the field by its full path.
const json* Get(const json& parent, const char* name, json::value_t type, const std::string& path,
                std::string* error) {
  const auto it = parent.find(name);
  if (it == parent.end()) {
    *error = Join(path, name) + " missing";
    return nullptr;
  }
  if (it->type() != type) {
    const json expected(type);
    *error = Join(path, name) + " is not " + Article(type) + " " + expected.type_name() + " (got " +
             it->type_name() + ")";
    return nullptr;
  }
  return &*it;
}

std::string ParseRecord(const json& record, const std::string& path, S3Event* out) {
  std::string error;
  if (!record.is_object()) {
    return path + " is not an object (got " + record.type_name() + ")";
  }
  const json* name = Get(record, "eventName", json::value_t::string, path, &error);
  if (!name) return error;
  const std::string s3_path = path + ".s3";
  const json* s3 = Get(record, "s3", json::value_t::object, path, &error);
  if (!s3) return error;
  const json* bucket = Get(*s3, "bucket", json::value_t::object, s3_path, &error);
  if (!bucket) return error;
  const json* bucket_name =
      Get(*bucket, "name", json::value_t::string, s3_path + ".bucket", &error);
  if (!bucket_name) return error;
  const json* object = Get(*s3, "object", json::value_t::object, s3_path, &error);
  if (!object) return error;
  const json* key = Get(*object, "key", json::value_t::string, s3_path + ".object", &error);
  if (!key) return error;

  std::string_view event_name = name->get_ref<const std::string&>();
  if (event_name.starts_with("s3:")) event_name.remove_prefix(3);
  out->event_name = std::string(event_name);
  out->bucket = bucket_name->get<std::string>();
  out->key = DecodeS3Key(key->get_ref<const std::string&>());
  if (out->key.empty()) return s3_path + ".object.key is empty";
  const EventClass* event_class = Classify(out->event_name);
  out->removed = event_class && event_class->removed;
  return "";
}

void ParseRecords(const json& records, const std::string& prefix, S3EventBody* out) {
  if (!records.is_array()) {
    out->error = prefix + "Records is not an array (got " + records.type_name() + ")";
    return;
  }
  out->kind = S3BodyKind::kEvents;
  out->events.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    S3Event event;
    std::string error = ParseRecord(records[i], "Records[" + std::to_string(i) + "]", &event);
    if (!error.empty()) {
      out->error = prefix + error;
      out->events.clear();
      return;
    }
    out->events.push_back(std::move(event));
  }
}

S3EventBody ParseDocument(std::string_view text, bool in_sns);

// The SNS HTTP(S) envelope. Signatures are not verified (that would mean
// fetching the signing certificate); the worst a forged notification can do
// is trigger a rescan.
void ParseSnsEnvelope(const json& doc, const json& type, S3EventBody* out) {
  if (!type.is_string()) {
    out->error = std::string("Type is not a string (got ") + type.type_name() + ")";
    return;
  }
  const std::string& type_name = type.get_ref<const std::string&>();
  if (type_name == "Notification") {
    const json* message = Get(doc, "Message", json::value_t::string, "", &out->error);
    if (!message) return;
    *out = ParseDocument(message->get_ref<const std::string&>(), /*in_sns=*/true);
    return;
  }
  const bool subscribe = type_name == "SubscriptionConfirmation";
  if (!subscribe && type_name != "UnsubscribeConfirmation") {
    out->error = "unknown SNS message Type " + Quoted(type_name);
    return;
  }
  out->kind =
      subscribe ? S3BodyKind::kSubscriptionConfirmation : S3BodyKind::kUnsubscribeConfirmation;
  if (const auto it = doc.find("SubscribeURL"); it != doc.end() && it->is_string()) {
    out->subscribe_url = it->get<std::string>();
  } else if (subscribe) {
    Get(doc, "SubscribeURL", json::value_t::string, "", &out->error);
    return;
  }
  if (const auto it = doc.find("TopicArn"); it != doc.end() && it->is_string()) {
    out->topic_arn = it->get<std::string>();
  }
}

S3EventBody ParseDocument(std::string_view text, bool in_sns) {
  S3EventBody out;
  const std::string what = in_sns ? "SNS Message" : "body";
  const std::string prefix = in_sns ? "SNS Message: " : "";
  if (NestingDepth(text, kMaxS3JsonDepth) > kMaxS3JsonDepth) {
    out.error = what + " nests deeper than " + std::to_string(kMaxS3JsonDepth) + " levels";
    return out;
  }
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    out.error = what + " is not JSON: " + ParserMessage(e.what());
    return out;
  }
  if (!doc.is_object()) {
    out.error = what + " is not a JSON object (got " + doc.type_name() + ")";
    return out;
  }
  if (const auto records = doc.find("Records"); records != doc.end()) {
    ParseRecords(*records, prefix, &out);
    return out;
  }
  if (const auto type = doc.find("Type"); type != doc.end()) {
    if (in_sns) {
      out.error = prefix + "SNS envelope inside an SNS envelope";
    } else {
      ParseSnsEnvelope(doc, *type, &out);
    }
    return out;
  }
  if (const auto event = doc.find("Event"); event != doc.end() && *event == "s3:TestEvent") {
    out.kind = S3BodyKind::kTestEvent;
    return out;
  }
  out.error = prefix + "no Records array";
  return out;
}

}  // namespace

S3EventBody ParseS3EventBody(std::string_view body) {
  try {
    return ParseDocument(body, /*in_sns=*/false);
  } catch (const std::exception& e) {  // bad_alloc, or a json accessor misused
    S3EventBody out;
    out.error = std::string("cannot parse body: ") + e.what();
    return out;
  } catch (...) {
    S3EventBody out;
    out.error = "cannot parse body: unknown error";
    return out;
  }
}

std::string DecodeS3Key(std::string_view encoded) {
  return PercentDecode(encoded, /*plus_is_space=*/true);
}

bool ChangesObject(const S3Event& event) { return Classify(event.event_name) != nullptr; }

}  // namespace freshfs::watch
