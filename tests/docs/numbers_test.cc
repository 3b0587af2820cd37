// The numbers the docs quote against the code's defaults: block size and
// read-ahead of S3 reads, multipart sizes, the default intervals. Each test
// names the page and the sentence that no longer matches.
#include <gtest/gtest.h>

#include <string>

#include "config/options.h"
#include "doc_tables.h"
#include "s3/client.h"
#include "store/s3_store.h"

namespace freshfs::docs {
namespace {

std::string Doc(const std::string& name) {
  return ReadTextFile(std::string(FRESHFS_SOURCE_DIR) + "/docs/" + name);
}

// `text` with every run of whitespace (line breaks included) as one space.
std::string Flat(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  return out;
}

void ExpectSays(const std::string& page, const std::string& sentence) {
  EXPECT_NE(Flat(Doc(page)).find(sentence), std::string::npos)
      << "docs/" << page << " should say \"" << sentence << "\" (the code's value)";
}

std::string MiB(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

TEST(DocNumbers, S3ReadsBlockSizeAndReadAhead) {
  const store::S3StoreSettings s;
  ExpectSays("s3.md", "fetch " + MiB(s.block_size) + " blocks");
  ExpectSays("s3.md", "keep up to " + std::to_string(s.readahead_blocks) + " blocks in flight");
  ExpectSays("architecture.md", "fetches " + MiB(s.block_size) + " blocks");
  ExpectSays("architecture.md", "keeps up to " + std::to_string(s.readahead_blocks) + " in flight");
}

TEST(DocNumbers, S3UploadSizes) {
  const s3::ClientConfig c;
  ExpectSays("s3.md", "a single PUT up to " + MiB(c.multipart_threshold));
  ExpectSays("s3.md", "(" + MiB(c.multipart_part_size) + " parts, " +
                          std::to_string(s3::kParallelParts) + " in flight)");
}

TEST(DocNumbers, DefaultIntervals) {
  const config::Options o;
  ASSERT_EQ(o.poll_interval.count() % 1000, 0);
  const std::string poll = std::to_string(o.poll_interval.count() / 1000);
  ExpectSays("freshness.md", "`--poll-interval` (default " + poll + "s");
  ExpectSays("s3.md", "(`--poll-interval`, default " + poll + " s)");
  ASSERT_EQ(o.self_check_interval.count(), 60000) << "update the sentence below and this line";
  ExpectSays("freshness.md", "`--self-check-interval` (default 1 minute");
}

}  // namespace
}  // namespace freshfs::docs
