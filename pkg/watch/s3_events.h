// S3 event notifications: parses the JSON bodies that object stores push to
// an HTTP endpoint when objects change, into the keys that changed.
//
// Accepted bodies (format facts from the AWS S3/SNS and MinIO docs):
//   - the standard notification {"Records":[{"eventName":..,"s3":{"bucket":
//     {"name":..},"object":{"key":..}}}]} (AWS, MinIO, Ceph RGW);
//   - MinIO's webhook wrapper {"EventName":..,"Key":"bucket/key","Records":
//     [...]}: only Records is read;
//   - the SNS envelope {"Type":"Notification","Message":"<the above as a
//     JSON string>"}, and SNS Subscription/UnsubscribeConfirmation;
//   - the s3:TestEvent AWS sends when a notification is configured.
//
// Pure functions, no state: callable from any thread. Never throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace freshfs::watch {

struct S3Event {
  // As sent, without the optional "s3:" prefix (stores disagree on it):
  // "ObjectCreated:Put", "ObjectRemoved:Delete", ...
  std::string event_name;
  std::string bucket;
  // URL-decoded (the JSON carries keys form-encoded: '+' is a space, %XX a
  // byte). Raw bytes from the network: may hold "..", "//", NUL or invalid
  // UTF-8, so whoever maps keys to paths must validate them.
  std::string key;
  // The object is gone: ObjectRemoved:*, LifecycleExpiration:* and Ceph
  // RGW's ObjectLifecycle:Expiration:Current and ObjectSynced:Delete*.
  bool removed = false;
};

// What a body turned out to be.
enum class S3BodyKind {
  kEvents,                    // Records (possibly empty)
  kTestEvent,                 // s3:TestEvent: valid, no events
  kSubscriptionConfirmation,  // SNS: confirm by visiting subscribe_url
  kUnsubscribeConfirmation,   // SNS: the subscription was removed
};

struct S3EventBody {
  std::string error;  // empty on success; one line, e.g. "Records[3].s3.object.key missing"
  S3BodyKind kind = S3BodyKind::kEvents;
  std::vector<S3Event> events;
  std::string subscribe_url;  // SNS confirmations
  std::string topic_arn;      // SNS confirmations, if given

  bool ok() const { return error.empty(); }
};

// Parses one request body. Nesting deeper than kMaxS3JsonDepth is rejected
// before parsing, so hostile input costs bounded stack and time.
S3EventBody ParseS3EventBody(std::string_view body);
inline constexpr int kMaxS3JsonDepth = 64;

// Decodes form-style URL encoding: '+' -> ' ', %XX -> byte. A '%' not
// followed by two hex digits is kept as is (some stores send keys raw).
std::string DecodeS3Key(std::string_view encoded);

// Whether the event may have changed the object's content or existence
// (ObjectCreated, ObjectRemoved, LifecycleExpiration, and RGW's
// ObjectLifecycle:Expiration and ObjectSynced); false for reads
// (ObjectAccessed), tagging, ACL, restore, transition and replication events.
bool ChangesObject(const S3Event& event);

}  // namespace freshfs::watch
