#include "store/metadata_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace freshfs::store {
namespace {

using namespace std::chrono_literals;
using Clock = MetadataCache::Clock;
using Answer = MetadataCache::Answer;

s3tree::Node File(uint64_t size, std::string etag = "\"0123456789abcdef0123456789abcdef\"") {
  return s3tree::Node{.dir = false, .size = size, .mtime_ns = 7, .etag = std::move(etag)};
}
s3tree::Node Dir() { return s3tree::Node{.dir = true}; }

class MetadataCacheTest : public ::testing::Test {
 protected:
  // Names of `dir` from memory, or {"<ask>"} when memory does not answer.
  std::vector<std::string> Known(std::string_view dir, Clock::time_point now) {
    std::vector<std::string> names;
    bool answered = cache_.ListKnown(
        dir, now, [&](const std::string& path, std::string_view name, const s3tree::Node& node) {
          EXPECT_EQ(path,
                    dir.empty() ? std::string(name) : std::string(dir) + "/" + std::string(name));
          names.push_back(std::string(name) + (node.dir ? "/" : ""));
        });
    if (!answered) return {"<ask>"};
    return names;
  }

  Clock::time_point t0_ = Clock::now();
  MetadataCache cache_{10s, 0s};
};

TEST_F(MetadataCacheTest, ETagsComeBackAsTheyWent) {
  // A single-part MD5 is packed; upper case, multipart and odd ETags are not
  // MD5s in lower-case hex and must come back byte for byte all the same.
  for (const std::string etag :
       {"\"0123456789abcdef0123456789abcdef\"", "\"0123456789ABCDEF0123456789ABCDEF\"",
        "\"0123456789abcdef0123456789abcdef-12\"", "W/\"x\"", "",
        "\"0123456789abcdef0123456789abcdeg\""}) {
    cache_.Remember("f", File(3, etag), t0_);
    auto found = cache_.Find("f");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->node.etag, etag);
    EXPECT_EQ(found->node.size, 3u);
    EXPECT_EQ(found->node.mtime_ns, 7);
    EXPECT_FALSE(found->node.dir);
  }
}

TEST_F(MetadataCacheTest, AnOlderAnswerNeverReplacesANewerOne) {
  cache_.Remember("f", File(2), t0_ + 2s);
  cache_.Remember("f", File(1), t0_ + 1s);
  EXPECT_EQ(cache_.Find("f")->node.size, 2u);
  cache_.Remember("f", File(3), t0_ + 2s);
  EXPECT_EQ(cache_.Find("f")->node.size, 3u);
  cache_.ForgetUnlessNewer("f", t0_ + 1s);  // a request older than what is known
  EXPECT_TRUE(cache_.Contains("f"));
  cache_.ForgetUnlessNewer("f", t0_ + 3s);
  EXPECT_FALSE(cache_.Contains("f"));
}

TEST_F(MetadataCacheTest, AListedDirectoryAnswersForItsNamesUntilItsTtl) {
  cache_.Remember("d", Dir(), t0_);
  cache_.Remember("d/a", File(1), t0_);
  // What a request found answers for a TTL; a name nobody asked about does not.
  EXPECT_EQ(cache_.Lookup("d/a", t0_ + 9s).kind, Answer::kFound);
  EXPECT_EQ(cache_.Lookup("d/a", t0_ + 11s).kind, Answer::kAsk);
  EXPECT_EQ(cache_.Lookup("d/b", t0_ + 1s).kind, Answer::kAsk);
  // A listing of the directory vouches for its names, and for the absence
  // of any other, for a TTL from its start.
  cache_.Remember("d/a", File(2), t0_ + 20s);
  cache_.MarkListed("d", t0_ + 20s);
  Answer a = cache_.Lookup("d/a", t0_ + 29s);
  EXPECT_EQ(a.kind, Answer::kFound);
  EXPECT_EQ(a.node.size, 2u);
  EXPECT_EQ(cache_.Lookup("d/b", t0_ + 29s).kind, Answer::kMissing);
  EXPECT_EQ(cache_.Lookup("d/a", t0_ + 31s).kind, Answer::kAsk);
  EXPECT_EQ(cache_.Lookup("d/b", t0_ + 31s).kind, Answer::kAsk);
  EXPECT_EQ(cache_.Lookup("other/x", t0_ + 21s).kind, Answer::kAsk);
}

TEST_F(MetadataCacheTest, ListKnownShowsOneLevelAndOnlyWhileListed) {
  cache_.Remember("d", Dir(), t0_);
  cache_.Remember("d/a", File(1), t0_);
  cache_.Remember("d/s", Dir(), t0_);
  cache_.Remember("d/s/deep", File(1), t0_);
  cache_.Remember("d.txt", File(1), t0_);  // sorts between "d" and "d/"
  cache_.Remember("d0", File(1), t0_);     // after "d/" and its subtree
  EXPECT_EQ(Known("d", t0_), std::vector<std::string>{"<ask>"});
  cache_.MarkListed("d", t0_);
  cache_.MarkListed("", t0_);
  EXPECT_EQ(Known("d", t0_ + 1s), (std::vector<std::string>{"a", "s/"}));
  EXPECT_EQ(Known("", t0_ + 1s), (std::vector<std::string>{"d/", "d.txt", "d0"}));
  EXPECT_EQ(Known("d", t0_ + 20s), std::vector<std::string>{"<ask>"});
  // A listed parent, a name not known as a directory: answered, empty.
  EXPECT_EQ(Known("nodir", t0_ + 1s), std::vector<std::string>{"<ask>"});
  cache_.MarkListed("nodir", t0_);
  EXPECT_EQ(Known("nodir", t0_ + 1s), std::vector<std::string>{});
}

TEST_F(MetadataCacheTest, MarkListedKeepsTheLatestStart) {
  cache_.Remember("d", Dir(), t0_);
  cache_.MarkListed("d", t0_ + 5s);
  cache_.MarkListed("d", t0_);  // an older listing finishing late
  EXPECT_TRUE(cache_.Listed("d", t0_ + 14s));
  EXPECT_FALSE(cache_.Listed("d", t0_ + 16s));
}

TEST_F(MetadataCacheTest, ForgetTakesTheSubtreeAndItsListings) {
  cache_.Remember("d", Dir(), t0_);
  cache_.Remember("d/s", Dir(), t0_);
  cache_.Remember("d/s/f", File(1), t0_);
  cache_.Remember("d.txt", File(1), t0_);
  cache_.Remember("d0", File(1), t0_);
  cache_.MarkListed("d/s", t0_);
  cache_.Forget("d");
  EXPECT_FALSE(cache_.Contains("d"));
  EXPECT_FALSE(cache_.Contains("d/s"));
  EXPECT_FALSE(cache_.Contains("d/s/f"));
  EXPECT_FALSE(cache_.Listed("d/s", t0_));
  EXPECT_TRUE(cache_.Contains("d.txt"));
  EXPECT_TRUE(cache_.Contains("d0"));
}

TEST_F(MetadataCacheTest, ForgetUnlistedDropsWhatTheListingLackedButNotNewerChanges) {
  cache_.Remember("d", Dir(), t0_);
  cache_.Remember("d/kept", File(1), t0_);
  cache_.Remember("d/gone", File(1), t0_);
  cache_.Remember("d/gonedir", Dir(), t0_);
  cache_.Remember("d/gonedir/f", File(1), t0_);
  cache_.Remember("d/sub", Dir(), t0_);
  cache_.Remember("d/sub/f", File(1), t0_);
  cache_.MarkListed("d/gonedir", t0_);
  cache_.MarkListed("d/sub", t0_);
  cache_.Remember("d/mine", File(1), t0_ + 2s);  // the mount wrote it during the listing
  const std::map<std::string, s3tree::Node> listed{{"kept", File(1)}, {"sub", Dir()}};
  cache_.ForgetUnlisted("d", listed, t0_ + 1s);
  EXPECT_TRUE(cache_.Contains("d/kept"));
  EXPECT_TRUE(cache_.Contains("d/sub/f"));
  EXPECT_TRUE(cache_.Contains("d/mine"));
  EXPECT_FALSE(cache_.Contains("d/gone"));
  EXPECT_FALSE(cache_.Contains("d/gonedir"));
  EXPECT_FALSE(cache_.Contains("d/gonedir/f"));
  EXPECT_FALSE(cache_.Listed("d/gonedir", t0_ + 1s));
  EXPECT_TRUE(cache_.Listed("d/sub", t0_ + 1s));
}

TEST_F(MetadataCacheTest, DirectoriesNotInNamesOnlyOlderSubdirectoriesTheListingLacks) {
  cache_.Remember("d/a", Dir(), t0_);
  cache_.Remember("d/a/x", File(1), t0_);
  cache_.Remember("d/b", Dir(), t0_);
  cache_.Remember("d/c", File(1), t0_);
  cache_.Remember("d/new", Dir(), t0_ + 5s);
  const std::map<std::string, s3tree::Node> listed{{"b", Dir()}};
  auto missing = cache_.DirectoriesNotIn("d", listed, t0_ + 1s);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].first, "a");
  EXPECT_TRUE(missing[0].second.dir);
}

TEST_F(MetadataCacheTest, ACompleteListingReplacesEverythingButTheMountsOwnNewerChanges) {
  cache_.Remember("old", File(1), t0_);
  cache_.Remember("mine", File(9), t0_ + 2s);  // written during the listing
  cache_.Remember("both", File(9), t0_ + 2s);
  MetadataCache::Complete fresh(t0_ + 1s);
  fresh.Add("both", File(1));
  fresh.Add("new", File(2));
  cache_.ReplaceAll(fresh, t0_ + 3s);
  EXPECT_FALSE(cache_.Contains("old"));
  EXPECT_EQ(cache_.Find("mine")->node.size, 9u);
  EXPECT_EQ(cache_.Find("both")->node.size, 9u);
  EXPECT_EQ(cache_.Find("new")->node.size, 2u);
  EXPECT_EQ(cache_.size(), 3u);
  // It answers for every directory, and for names no directory has.
  EXPECT_EQ(cache_.Lookup("new", t0_ + 10s).kind, Answer::kFound);
  EXPECT_EQ(cache_.Lookup("x/y", t0_ + 10s).kind, Answer::kMissing);
  EXPECT_EQ(cache_.Lookup("x/y", t0_ + 12s).kind, Answer::kAsk);
}

TEST_F(MetadataCacheTest, ACompleteListingWithItsOwnTtlAllowsForHowLongItTook) {
  MetadataCache cache(60s, 5s);
  const auto start = t0_;
  MetadataCache::Complete fresh(start);
  fresh.Add("f", File(1));
  cache.ReplaceAll(fresh, start + 2s);  // took 2 s: answers 5 + 2 * 2 + 1 = 10 s
  EXPECT_EQ(cache.CompleteTtl(), 10s);
  EXPECT_EQ(cache.Lookup("g", start + 9s).kind, Answer::kMissing);
  EXPECT_EQ(cache.Lookup("g", start + 11s).kind, Answer::kAsk);
  // What a request renewed answers for that long after it, listed or not.
  cache.Remember("f", File(2), start + 20s);
  EXPECT_EQ(cache.Lookup("f", start + 29s).kind, Answer::kFound);
  EXPECT_EQ(cache.Lookup("f", start + 31s).kind, Answer::kAsk);
}

TEST_F(MetadataCacheTest, TrimForgetsWhatNothingRenewedAtMostOncePerTtl) {
  cache_.Remember("old", File(1), t0_);
  cache_.Remember("mid", File(1), t0_ + 5s);
  cache_.Remember("d", Dir(), t0_);
  cache_.MarkListed("d", t0_);
  cache_.Trim(t0_ + 11s);  // forgets what is older than t0 + 1 s
  EXPECT_FALSE(cache_.Contains("old"));
  EXPECT_FALSE(cache_.Contains("d"));
  EXPECT_FALSE(cache_.Listed("d", t0_));
  EXPECT_TRUE(cache_.Contains("mid"));
  cache_.Remember("new", File(1), t0_ + 12s);
  cache_.Trim(t0_ + 18s);  // within a TTL of the last trim: nothing
  EXPECT_TRUE(cache_.Contains("mid"));
  cache_.Trim(t0_ + 22s);  // forgets what is older than t0 + 12 s
  EXPECT_FALSE(cache_.Contains("mid"));
  EXPECT_TRUE(cache_.Contains("new"));
}

}  // namespace
}  // namespace freshfs::store
