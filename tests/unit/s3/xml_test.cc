// The S3 XML documents: what real S3 and s3rver send, parsed; what the
// client sends, built.
#include "s3/xml.h"

#include <gtest/gtest.h>
#include <pugixml.hpp>

namespace freshfs::s3 {
namespace {

TEST(ParseListObjectsV2, ReadsObjectsPrefixesAndContinuation) {
  // As AWS sends it: namespaced, quoted ETags escaped, fractional dates.
  const auto page = ParseListObjectsV2(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>dir/</Prefix><KeyCount>3</KeyCount><MaxKeys>2</MaxKeys>
  <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>dir/a.txt</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>dir/b.bin</Key><LastModified>2024-02-29T23:59:59.123456789Z</LastModified>
    <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes>
</ListBucketResult>)");
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "dir/a.txt");
  EXPECT_EQ(page->objects[0].size, 434234u);
  EXPECT_EQ(page->objects[0].etag, "\"fba9dede5f27731c9771645a39863328\"");
  EXPECT_EQ(page->objects[0].mtime_ns, 1255369830LL * 1000000000);
  EXPECT_EQ(page->objects[1].key, "dir/b.bin");
  EXPECT_EQ(page->objects[1].size, 0u);
  EXPECT_EQ(page->objects[1].etag, "\"3858f62230ac3c915f300c664312c11f-9\"");
  EXPECT_EQ(page->objects[1].mtime_ns, 1709251199LL * 1000000000 + 123456789);
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"dir/sub/"});
}

TEST(ParseListObjectsV2, LastPageHasNoToken) {
  const auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount>"
      "</ListBucketResult>");
  ASSERT_TRUE(page);
  EXPECT_FALSE(page->truncated);
  EXPECT_TRUE(page->next_continuation_token.empty());
  EXPECT_TRUE(page->objects.empty());
}

TEST(ParseListObjectsV2, DecodesUrlEncodedKeysOnlyWhenTheServerSaysSo) {
  const char* encoded =
      "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
      "<Contents><Key>a+b%2Bc%25d/%C3%BC%01</Key><Size>1</Size></Contents>"
      "<CommonPrefixes><Prefix>sp+ace/</Prefix></CommonPrefixes></ListBucketResult>";
  auto page = ParseListObjectsV2(encoded);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "a b+c%d/\xc3\xbc\x01");
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"sp ace/"});

  // s3rver ignores encoding-type=url: keys come raw and must stay as they are.
  page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated>"
      "<Contents><Key>a+b%2B c</Key><Size>1</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->objects[0].key, "a+b%2B c");
}

TEST(ParseListObjectsV2, KeepsWhitespaceAndSpecialCharactersInKeys) {
  const auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated>"
      "<Contents><Key> </Key><Size>1</Size></Contents>"
      "<Contents><Key> lead &amp; &lt;trail&gt; </Key><Size>1</Size></Contents>"
      "<Contents><Key>cr&#13;lf&#10;</Key><Size>1</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->objects.size(), 3u);
  EXPECT_EQ(page->objects[0].key, " ");
  EXPECT_EQ(page->objects[1].key, " lead & <trail> ");
  EXPECT_EQ(page->objects[2].key, "cr\rlf\n");
}

TEST(ParseListObjectsV2, RejectsWhatIsNotAListing) {
  EXPECT_FALSE(ParseListObjectsV2(""));
  EXPECT_FALSE(ParseListObjectsV2("not xml"));
  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>NoSuchBucket</Code></Error>"));
  EXPECT_FALSE(ParseListObjectsV2(
      "<ListBucketResult><Contents><Key>k</Key><Size>12x</Size></Contents></ListBucketResult>"));
}

TEST(ParseErrorBody, ReadsCodeAndMessage) {
  const auto error = ParseErrorBody(R"(<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>
<BucketName>nope</BucketName><RequestId>4442587FB7D0A2F9</RequestId></Error>)");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, "NoSuchBucket");
  EXPECT_EQ(error->message, "The specified bucket does not exist");
}

TEST(ParseErrorBody, IsEmptyForResultsAndGarbage) {
  EXPECT_FALSE(ParseErrorBody("<CopyObjectResult><ETag>\"x\"</ETag></CopyObjectResult>"));
  EXPECT_FALSE(ParseErrorBody(""));
  EXPECT_FALSE(ParseErrorBody("<html>502 Bad Gateway</html>"));
}

TEST(ParseMultipart, UploadIdAndCompletedETag) {
  EXPECT_EQ(ParseUploadId("<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/"
                          "2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
                          "</UploadId></InitiateMultipartUploadResult>"),
            "VXBsb2FkIElE");
  EXPECT_FALSE(ParseUploadId("<InitiateMultipartUploadResult/>"));
  EXPECT_EQ(ParseCompleteMultipartUploadETag(
                "<CompleteMultipartUploadResult><Location>http://x/b/k</Location><Bucket>b"
                "</Bucket><Key>k</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;"
                "</ETag></CompleteMultipartUploadResult>"),
            "\"3858f62230ac3c915f300c664312c11f-9\"");
  // A 200 response to CompleteMultipartUpload can carry an error instead.
  EXPECT_FALSE(ParseCompleteMultipartUploadETag(
      "<Error><Code>InternalError</Code><Message>We encountered an internal error."
      "</Message></Error>"));
}

TEST(ParseCopyObjectETag, ResultOrNothing) {
  EXPECT_EQ(ParseCopyObjectETag("<CopyObjectResult><LastModified>2009-10-12T17:50:30.000Z"
                                "</LastModified><ETag>\"9b2cf535f27731c974343645a3985328\""
                                "</ETag></CopyObjectResult>"),
            "\"9b2cf535f27731c974343645a3985328\"");
  EXPECT_FALSE(ParseCopyObjectETag("<Error><Code>SlowDown</Code></Error>"));
}

TEST(ParseDeleteResult, ListsRefusedKeys) {
  const auto failures = ParseDeleteResult(
      "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Deleted><Key>ok.txt</Key></Deleted>"
      "<Error><Key>locked.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message>"
      "</Error></DeleteResult>");
  ASSERT_TRUE(failures);
  ASSERT_EQ(failures->size(), 1u);
  EXPECT_EQ((*failures)[0].key, "locked.txt");
  EXPECT_EQ((*failures)[0].code, "AccessDenied");
  EXPECT_EQ((*failures)[0].message, "Access Denied");

  const auto none =
      ParseDeleteResult("<DeleteResult><Deleted><Key>a</Key></Deleted></DeleteResult>");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(ParseDeleteResult("<Error><Code>MalformedXML</Code></Error>"));
}

TEST(BuildRequests, DeleteObjectsEscapesKeys) {
  const std::string xml = BuildDeleteObjects({"a&b", "<c>", "d\"e"}, /*quiet=*/true);
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml.c_str()));
  const pugi::xml_node root = doc.child("Delete");
  EXPECT_STREQ(root.attribute("xmlns").value(), "http://s3.amazonaws.com/doc/2006-03-01/");
  EXPECT_STREQ(root.child_value("Quiet"), "true");
  std::vector<std::string> keys;
  for (auto o = root.child("Object"); o; o = o.next_sibling("Object")) {
    keys.push_back(o.child_value("Key"));
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"a&b", "<c>", "d\"e"}));
}

TEST(BuildRequests, CompleteMultipartUploadNumbersPartsFromOne) {
  const std::string xml = BuildCompleteMultipartUpload({"\"e1\"", "\"e2\""});
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(xml.c_str()));
  const pugi::xml_node root = doc.child("CompleteMultipartUpload");
  ASSERT_TRUE(root);
  int expected = 1;
  for (auto p = root.child("Part"); p; p = p.next_sibling("Part"), ++expected) {
    EXPECT_EQ(std::string(p.child_value("PartNumber")), std::to_string(expected));
    EXPECT_EQ(std::string(p.child_value("ETag")), "\"e" + std::to_string(expected) + "\"");
  }
  EXPECT_EQ(expected, 3);
}

TEST(ParseIso8601, ParsesS3Dates) {
  EXPECT_EQ(ParseIso8601("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIso8601("1970-01-01T00:00:00.5Z"), 500000000);
  EXPECT_EQ(ParseIso8601("2026-11-22T02:29:33.000Z"), 1795314573LL * 1000000000);
  EXPECT_EQ(ParseIso8601("2026-11-22T02:29:33Z"), 1795314573LL * 1000000000);
  EXPECT_EQ(ParseIso8601("2026-11-22T03:29:33+01:00"), 1795314573LL * 1000000000);
  EXPECT_EQ(ParseIso8601("2026-11-22T01:29:33-01:00"), 1795314573LL * 1000000000);
  EXPECT_EQ(ParseIso8601("2000-02-29T12:00:00.000000001Z"), 951825600LL * 1000000000 + 1);
  EXPECT_EQ(ParseIso8601("1969-12-31T23:59:59Z"), -1000000000LL);
}

TEST(ParseIso8601, RejectsOtherText) {
  EXPECT_FALSE(ParseIso8601(""));
  EXPECT_FALSE(ParseIso8601("Sun, 22 Nov 2026 02:29:26 GMT"));
  EXPECT_FALSE(ParseIso8601("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(ParseIso8601("2026-11-22T02:29:33.Z"));
  EXPECT_FALSE(ParseIso8601("2026-11-22T02:29:33Zjunk"));
}

// Found by tests/fuzz/s3_list_xml_fuzz.cc: a LastModified in year 6660 was
// signed overflow (undefined behaviour) instead of an unreadable date.
TEST(ParseIso8601, RejectsDatesOutsideInt64Nanoseconds) {
  EXPECT_EQ(ParseIso8601("2262-04-11T23:47:16.854775807Z"), INT64_MAX);
  EXPECT_FALSE(ParseIso8601("2262-04-11T23:47:16.854775808Z"));
  EXPECT_FALSE(ParseIso8601("9999-12-31T23:59:59Z"));
  EXPECT_FALSE(ParseIso8601("0000-01-01T00:00:00Z"));
}

TEST(UrlDecode, PercentEscapesAndPlus) {
  EXPECT_EQ(UrlDecode("a%20b+c%2B%25"), "a b c+%");
  EXPECT_EQ(UrlDecode("%E6%97%A5"), "\xe6\x97\xa5");
  EXPECT_EQ(UrlDecode("bad%zz%4"), "bad%zz%4");  // not escapes: kept
}

}  // namespace
}  // namespace freshfs::s3
