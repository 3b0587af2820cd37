#include "watch/s3_events.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace freshfs::watch {
namespace {

using nlohmann::json;

json Record(const std::string& event_name, const std::string& bucket, const std::string& key) {
  return {
      {"eventVersion", "2.1"},
      {"eventSource", "aws:s3"},
      {"eventName", event_name},
      {"s3",
       {{"s3SchemaVersion", "1.0"},
        {"bucket", {{"name", bucket}, {"arn", "arn:aws:s3:::" + bucket}}},
        {"object", {{"key", key}, {"size", 1024}, {"eTag", "d41d8cd98f00b204e9800998ecf8427e"}}}}}};
}

std::string Records(const std::vector<json>& records) { return json{{"Records", records}}.dump(); }

std::string Error(std::string_view body) { return ParseS3EventBody(body).error; }

TEST(S3EventsTest, ParsesStandardRecords) {
  const auto parsed = ParseS3EventBody(Records({Record("ObjectCreated:Put", "photos", "a/b.jpg"),
                                                Record("ObjectRemoved:Delete", "photos", "c")}));
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.kind, S3BodyKind::kEvents);
  ASSERT_EQ(parsed.events.size(), 2u);
  EXPECT_EQ(parsed.events[0].event_name, "ObjectCreated:Put");
  EXPECT_EQ(parsed.events[0].bucket, "photos");
  EXPECT_EQ(parsed.events[0].key, "a/b.jpg");
  EXPECT_FALSE(parsed.events[0].removed);
  EXPECT_EQ(parsed.events[1].event_name, "ObjectRemoved:Delete");
  EXPECT_EQ(parsed.events[1].key, "c");
  EXPECT_TRUE(parsed.events[1].removed);
}

TEST(S3EventsTest, DropsTheOptionalS3PrefixOfEventNames) {
  const auto parsed =
      ParseS3EventBody(Records({Record("s3:ObjectCreated:Put", "b", "k"),
                                Record("s3:ObjectRemoved:DeleteMarkerCreated", "b", "k")}));
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.events[0].event_name, "ObjectCreated:Put");
  EXPECT_FALSE(parsed.events[0].removed);
  EXPECT_EQ(parsed.events[1].event_name, "ObjectRemoved:DeleteMarkerCreated");
  EXPECT_TRUE(parsed.events[1].removed);
}

TEST(S3EventsTest, EmptyRecordsIsValidAndCarriesNoEvents) {
  const auto parsed = ParseS3EventBody(R"({"Records":[]})");
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.kind, S3BodyKind::kEvents);
  EXPECT_TRUE(parsed.events.empty());
}

TEST(S3EventsTest, ReadsRecordsOfMinioWebhookWrapper) {
  json body = {{"EventName", "s3:ObjectCreated:Put"},
               {"Key", "bucket/dir/a%20b"},
               {"Records", {Record("s3:ObjectCreated:Put", "bucket", "dir/a+b")}}};
  const auto parsed = ParseS3EventBody(body.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].bucket, "bucket");
  EXPECT_EQ(parsed.events[0].key, "dir/a b");
}

TEST(S3EventsTest, UnwrapsSnsNotification) {
  json envelope = {{"Type", "Notification"},
                   {"MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"},
                   {"TopicArn", "arn:aws:sns:us-west-2:123456789012:MyTopic"},
                   {"Subject", "Amazon S3 Notification"},
                   {"Message", Records({Record("ObjectCreated:Copy", "b", "x%2Fy")})},
                   {"SignatureVersion", "1"}};
  const auto parsed = ParseS3EventBody(envelope.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.kind, S3BodyKind::kEvents);
  ASSERT_EQ(parsed.events.size(), 1u);
  EXPECT_EQ(parsed.events[0].key, "x/y");
}

TEST(S3EventsTest, SnsNotificationOfTestEvent) {
  json envelope = {{"Type", "Notification"},
                   {"Message", R"({"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"})"}};
  const auto parsed = ParseS3EventBody(envelope.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.kind, S3BodyKind::kTestEvent);
  EXPECT_TRUE(parsed.events.empty());
}

TEST(S3EventsTest, ReportsSnsSubscriptionConfirmation) {
  json body = {
      {"Type", "SubscriptionConfirmation"},
      {"TopicArn", "arn:aws:sns:us-west-2:123456789012:MyTopic"},
      {"Token", "2336412f37"},
      {"Message", "You have chosen to subscribe to the topic ..."},
      {"SubscribeURL",
       "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37"}};
  const auto parsed = ParseS3EventBody(body.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.kind, S3BodyKind::kSubscriptionConfirmation);
  EXPECT_EQ(parsed.subscribe_url,
            "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37");
  EXPECT_EQ(parsed.topic_arn, "arn:aws:sns:us-west-2:123456789012:MyTopic");
  EXPECT_TRUE(parsed.events.empty());
}

TEST(S3EventsTest, ReportsSnsUnsubscribeConfirmation) {
  const auto parsed = ParseS3EventBody(R"({"Type":"UnsubscribeConfirmation","TopicArn":"t"})");
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.kind, S3BodyKind::kUnsubscribeConfirmation);
  EXPECT_EQ(parsed.topic_arn, "t");
}

TEST(S3EventsTest, AcceptsTestEvent) {
  const auto parsed = ParseS3EventBody(
      R"({"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z",)"
      R"("Bucket":"b","RequestId":"R","HostId":"H"})");
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.kind, S3BodyKind::kTestEvent);
  EXPECT_TRUE(parsed.events.empty());
}

TEST(S3EventsTest, DecodesKeysFormStyle) {
  EXPECT_EQ(DecodeS3Key("a+b"), "a b");
  EXPECT_EQ(DecodeS3Key("a%2Bb"), "a+b");
  EXPECT_EQ(DecodeS3Key("dir%2Ffile"), "dir/file");
  EXPECT_EQ(DecodeS3Key("dir%2ffile"), "dir/file");
  EXPECT_EQ(DecodeS3Key("caf%C3%A9"), "caf\xC3\xA9");                     // é
  EXPECT_EQ(DecodeS3Key("%E2%82%AC+%F0%9F%98%80"), "\u20AC \U0001F600");  // € 😀
  EXPECT_EQ(DecodeS3Key("\u65E5\u672C/x"), "\u65E5\u672C/x");  // raw UTF-8 passes through
  EXPECT_EQ(DecodeS3Key("100%25"), "100%");
  EXPECT_EQ(DecodeS3Key(""), "");
}

TEST(S3EventsTest, KeepsMalformedEscapesLiterally) {
  EXPECT_EQ(DecodeS3Key("50%"), "50%");
  EXPECT_EQ(DecodeS3Key("a%4"), "a%4");
  EXPECT_EQ(DecodeS3Key("%zz%2"), "%zz%2");
  EXPECT_EQ(DecodeS3Key("%%41"), "%A");
}

TEST(S3EventsTest, DecodesKeysOfRecords) {
  const auto parsed = ParseS3EventBody(
      Records({Record("ObjectCreated:Put", "b", "my+dir%2Fr%C3%A9sum%C3%A9+%282%29.pdf")}));
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.events[0].key, "my dir/r\xC3\xA9sum\xC3\xA9 (2).pdf");
}

TEST(S3EventsTest, ClassifiesEventNames) {
  auto event = [](std::string name) { return S3Event{std::move(name), "b", "k", false}; };
  EXPECT_TRUE(ChangesObject(event("ObjectCreated:CompleteMultipartUpload")));
  EXPECT_TRUE(ChangesObject(event("ObjectRemoved:Delete")));
  EXPECT_TRUE(ChangesObject(event("LifecycleExpiration:Delete")));
  EXPECT_TRUE(ChangesObject(event("ObjectLifecycle:Expiration:Current")));
  EXPECT_FALSE(ChangesObject(event("ObjectAccessed:Get")));
  EXPECT_FALSE(ChangesObject(event("ObjectTagging:Put")));
  EXPECT_FALSE(ChangesObject(event("ObjectRestore:Completed")));
  EXPECT_FALSE(ChangesObject(event("")));

  const auto parsed = ParseS3EventBody(Records({Record("s3:LifecycleExpiration:Delete", "b", "k"),
                                                Record("s3:ObjectAccessed:Get", "b", "k")}));
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_TRUE(parsed.events[0].removed);
  EXPECT_FALSE(parsed.events[1].removed);
}

TEST(S3EventsTest, RejectsNonJson) {
  EXPECT_TRUE(Error("{not json").starts_with("body is not JSON: ")) << Error("{not json");
  EXPECT_TRUE(Error("").starts_with("body is not JSON: ")) << Error("");
  EXPECT_TRUE(Error(R"({"Records":[]} trailing)").starts_with("body is not JSON: "));
  // Invalid UTF-8 inside a string.
  EXPECT_TRUE(Error("{\"Records\":[],\"x\":\"\xff\xfe\"}").starts_with("body is not JSON: "));
  // The parser's message stays on one line.
  EXPECT_EQ(Error("{\n\n\"a\":\n").find('\n'), std::string::npos);
}

TEST(S3EventsTest, RejectsNonObjectJson) {
  EXPECT_EQ(Error("[]"), "body is not a JSON object (got array)");
  EXPECT_EQ(Error("\"Records\""), "body is not a JSON object (got string)");
  EXPECT_EQ(Error("42"), "body is not a JSON object (got number)");
  EXPECT_EQ(Error("null"), "body is not a JSON object (got null)");
  EXPECT_EQ(Error("true"), "body is not a JSON object (got boolean)");
}

TEST(S3EventsTest, NamesTheMissingOrMistypedField) {
  EXPECT_EQ(Error("{}"), "no Records array");
  EXPECT_EQ(Error(R"({"Event":"s3:SomethingElse"})"), "no Records array");
  EXPECT_EQ(Error(R"({"Records":{}})"), "Records is not an array (got object)");
  EXPECT_EQ(Error(R"({"Records":null})"), "Records is not an array (got null)");

  json record = Record("ObjectCreated:Put", "b", "k");
  auto with = [&](auto mutate) {
    json r = record;
    mutate(r);
    return Error(json{{"Records", {record, record, record, r}}}.dump());
  };
  EXPECT_EQ(with([](json& r) { r = 7; }), "Records[3] is not an object (got number)");
  EXPECT_EQ(with([](json& r) { r.erase("eventName"); }), "Records[3].eventName missing");
  EXPECT_EQ(with([](json& r) { r["eventName"] = 1; }),
            "Records[3].eventName is not a string (got number)");
  EXPECT_EQ(with([](json& r) { r.erase("s3"); }), "Records[3].s3 missing");
  EXPECT_EQ(with([](json& r) { r["s3"] = "x"; }), "Records[3].s3 is not an object (got string)");
  EXPECT_EQ(with([](json& r) { r["s3"].erase("bucket"); }), "Records[3].s3.bucket missing");
  EXPECT_EQ(with([](json& r) { r["s3"]["bucket"].erase("name"); }),
            "Records[3].s3.bucket.name missing");
  EXPECT_EQ(with([](json& r) { r["s3"]["bucket"]["name"] = json::array(); }),
            "Records[3].s3.bucket.name is not a string (got array)");
  EXPECT_EQ(with([](json& r) { r["s3"].erase("object"); }), "Records[3].s3.object missing");
  EXPECT_EQ(with([](json& r) { r["s3"]["object"].erase("key"); }),
            "Records[3].s3.object.key missing");
  EXPECT_EQ(with([](json& r) { r["s3"]["object"]["key"] = nullptr; }),
            "Records[3].s3.object.key is not a string (got null)");
  EXPECT_EQ(with([](json& r) { r["s3"]["object"]["key"] = ""; }),
            "Records[3].s3.object.key is empty");
}

TEST(S3EventsTest, OneBadRecordRejectsTheWholeBody) {
  json bad = Record("ObjectCreated:Put", "b", "k");
  bad["s3"].erase("object");
  const auto parsed =
      ParseS3EventBody(json{{"Records", {Record("ObjectCreated:Put", "b", "good"), bad}}}.dump());
  EXPECT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.events.empty());
}

TEST(S3EventsTest, RejectsMalformedSnsEnvelopes) {
  EXPECT_EQ(Error(R"({"Type":"Notification"})"), "Message missing");
  EXPECT_EQ(Error(R"({"Type":"Notification","Message":{"Records":[]}})"),
            "Message is not a string (got object)");
  EXPECT_TRUE(Error(R"({"Type":"Notification","Message":"not json"})")
                  .starts_with("SNS Message is not JSON: "));
  EXPECT_EQ(Error(R"({"Type":"Notification","Message":"[1]"})"),
            "SNS Message is not a JSON object (got array)");
  EXPECT_EQ(Error(R"({"Type":"Notification","Message":"{}"})"), "SNS Message: no Records array");
  json inner_bad = {{"Records", {Record("ObjectCreated:Put", "b", "k")}}};
  inner_bad["Records"][0]["s3"]["object"].erase("key");
  EXPECT_EQ(Error(json{{"Type", "Notification"}, {"Message", inner_bad.dump()}}.dump()),
            "SNS Message: Records[0].s3.object.key missing");
  EXPECT_EQ(
      Error(json{{"Type", "Notification"}, {"Message", R"({"Type":"Notification","Message":"{}"})"}}
                .dump()),
      "SNS Message: SNS envelope inside an SNS envelope");
  EXPECT_EQ(Error(R"({"Type":"SubscriptionConfirmation","TopicArn":"t"})"), "SubscribeURL missing");
  EXPECT_EQ(Error(R"({"Type":"Gossip"})"), "unknown SNS message Type \"Gossip\"");
  EXPECT_EQ(Error(R"({"Type":3})"), "Type is not a string (got number)");
}

TEST(S3EventsTest, DeepNestingIsRejectedWithoutCrashing) {
  const std::string deep_array = std::string(200000, '[') + std::string(200000, ']');
  EXPECT_EQ(Error(deep_array), "body nests deeper than 64 levels");
  const std::string deep_object = R"({"Records":[],"x":)" + std::string(100000, '[');
  EXPECT_EQ(Error(deep_object), "body nests deeper than 64 levels");
  // Brackets inside strings are text, not nesting.
  const auto parsed =
      ParseS3EventBody(Records({Record("ObjectCreated:Put", "b", std::string(1000, '['))}));
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(parsed.events[0].key, std::string(1000, '['));
  // Within the limit is fine.
  const std::string nested =
      R"({"Records":[],"x":)" + std::string(60, '[') + std::string(60, ']') + "}";
  EXPECT_TRUE(ParseS3EventBody(nested).ok()) << Error(nested);
}

TEST(S3EventsTest, HugeNumbersDoNotCrash) {
  std::string body = Records({Record("ObjectCreated:Put", "b", "k")});
  const std::string size = "\"size\":1024";
  const size_t at = body.find(size);
  ASSERT_NE(at, std::string::npos);

  std::string big_integer = body;
  big_integer.replace(at, size.size(), "\"size\":123456789012345678901234567890123456789");
  EXPECT_TRUE(ParseS3EventBody(big_integer).ok()) << Error(big_integer);

  std::string overflow = body;
  overflow.replace(at, size.size(), "\"size\":1e999999");
  EXPECT_TRUE(Error(overflow).starts_with("body is not JSON: ")) << Error(overflow);

  std::string long_digits = body;
  long_digits.replace(at, size.size(), "\"size\":" + std::string(100000, '9'));
  const auto parsed = ParseS3EventBody(long_digits);  // either way, no crash
  EXPECT_TRUE(parsed.ok() || parsed.error.starts_with("body is not JSON: "));
}

TEST(S3EventsTest, EveryTruncationOfABodyIsAnErrorNotAThrow) {
  const std::string body = json{{"Type", "Notification"},
                                {"Message", Records({Record("ObjectCreated:Put", "b", "a%2Fb+c")})}}
                               .dump();
  for (size_t len = 0; len < body.size(); ++len) {
    S3EventBody parsed;
    EXPECT_NO_THROW(parsed = ParseS3EventBody(std::string_view(body).substr(0, len)));
    EXPECT_FALSE(parsed.ok()) << "prefix of length " << len;
  }
  EXPECT_TRUE(ParseS3EventBody(body).ok());
}

}  // namespace
}  // namespace freshfs::watch
