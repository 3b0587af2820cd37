// The in-memory bucket the S3 store tests run against answers as S3 does,
// and misbehaves only when told to.
#include "fakes/fake_object_client.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace freshfs::testing {
namespace {

std::vector<std::string> Entries(const s3::Listing& l) {
  std::vector<std::string> out;
  for (const auto& o : l.objects) out.push_back(o.key);
  for (const auto& p : l.common_prefixes) out.push_back(p);
  return out;
}

TEST(FakeObjectClientTest, ListsLikeListObjectsV2) {
  FakeObjectClient s3;
  for (const char* k : {"p/a", "p/b/c", "p/b/d", "p/d/e/f", "p/z", "q"}) s3.SetObject(k, "x");
  auto all = s3.List("p/", "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Entries(*all), (std::vector<std::string>{"p/a", "p/b/c", "p/b/d", "p/d/e/f", "p/z"}));
  auto folded = s3.List("p/", "/");
  ASSERT_TRUE(folded.ok());
  EXPECT_EQ(Entries(*folded), (std::vector<std::string>{"p/a", "p/z", "p/b/", "p/d/"}));
  auto first = s3.List("p/", "", 2);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Entries(*first), (std::vector<std::string>{"p/a", "p/b/c"}));

  FakeObjectClient::Quirks quirks;
  quirks.page_size = 2;
  quirks.hide_deep_prefixes = true;
  s3.set_quirks(quirks);
  const size_t before = s3.Requests(S3Op::kList);
  auto paged = s3.List("p/", "/");
  ASSERT_TRUE(paged.ok());
  EXPECT_EQ(Entries(*paged), (std::vector<std::string>{"p/a", "p/z", "p/b/"}));  // p/d/ hidden
  EXPECT_EQ(paged->requests, 2u);
  EXPECT_EQ(s3.Requests(S3Op::kList) - before, 2u);
}

TEST(FakeObjectClientTest, ConditionalWritesAndReads) {
  FakeObjectClient s3;
  const std::string etag = s3.SetObject("k", "one");
  EXPECT_EQ(etag, FakeObjectClient::ETagOf("one"));
  EXPECT_EQ(s3.Put("k", "two", {.if_none_match_any = true}).error().http_status, 412);
  EXPECT_EQ(s3.Put("k", "two", {.if_match = "\"other\""}).error().http_status, 412);
  EXPECT_EQ(s3.Put("gone", "two", {.if_match = etag}).error().http_status, 404);
  char buf[8];
  EXPECT_EQ(s3.GetRange("k", 0, 8, buf, {.if_match = "\"other\""}).error().http_status, 412);
  auto put = s3.Put("k", "two", {.if_match = etag});
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(s3.GetObject("k")->data, "two");
  s3::ObjectInfo info;
  auto got = s3.GetRange("k", 1, 8, buf, {.if_match = *put}, &info);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string(buf, *got), "wo");
  EXPECT_EQ(info.etag, *put);
  EXPECT_EQ(info.size, 3u);

  FakeObjectClient::Quirks quirks;
  quirks.if_none_match_on_put = FakeObjectClient::Conditional::kNotImplemented;
  quirks.if_match_on_put = FakeObjectClient::Conditional::kIgnored;
  s3.set_quirks(quirks);
  EXPECT_EQ(s3.Put("new", "x", {.if_none_match_any = true}).error().http_status, 501);
  EXPECT_TRUE(s3.Put("k", "three", {.if_match = "\"other\""}).ok());
}

TEST(FakeObjectClientTest, FaultsApplyToTheirOperationKeyAndCount) {
  FakeObjectClient s3;
  s3.SetObject("a", "x");
  s3.SetObject("b", "x");
  s3.Inject({.op = S3Op::kHead,
             .key = "a",
             .times = 2,
             .error = FakeObjectClient::HttpError(503, "SlowDown")});
  EXPECT_TRUE(s3.Head("b").ok());
  EXPECT_TRUE(s3.GetObject("a"));
  EXPECT_EQ(s3.Head("a").error().code, "SlowDown");
  EXPECT_EQ(s3.Head("a").error().code, "SlowDown");
  EXPECT_TRUE(s3.Head("a").ok());
  EXPECT_EQ(s3.Requests(S3Op::kHead, "a"), 3u);
  EXPECT_EQ(s3.Requests(S3Op::kHead), 4u);
  bool ran = false;
  s3.Inject({.op = S3Op::kDelete, .before = [&] { ran = true; }});
  EXPECT_TRUE(s3.Delete("a").ok());
  EXPECT_TRUE(ran);
  EXPECT_FALSE(s3.GetObject("a"));
}

}  // namespace
}  // namespace freshfs::testing
