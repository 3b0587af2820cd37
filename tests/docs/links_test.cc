// README.md and the user docs: the README keeps its two commands first and
// indexes every page of docs/ and examples/; relative links (and their
// #anchors) in the README and the reference pages resolve.
#include <gtest/gtest.h>

#include <filesystem>

#include "doc_tables.h"

namespace freshfs::docs {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot = FRESHFS_SOURCE_DIR;

TEST(ReadmeTest, StartsWithTheTwoCommands) {
  const std::string readme = ReadTextFile((kRoot / "README.md").string());
  const size_t block = readme.find("```sh\n");
  ASSERT_NE(block, std::string::npos);
  const std::string first = readme.substr(block, readme.find("```\n", block + 6) - block);
  EXPECT_NE(first.find("\nscripts/demo.sh"), std::string::npos) << first;
  EXPECT_NE(first.find("\nscripts/test.sh"), std::string::npos) << first;
}

TEST(ReadmeTest, IndexesEveryDocAndTheExamples) {
  const std::string readme = ReadTextFile((kRoot / "README.md").string());
  std::set<std::string> linked;
  for (const std::string& link : RelativeLinks(readme))
    linked.insert(link.substr(0, link.find('#')));
  for (const auto& entry : fs::directory_iterator(kRoot / "docs")) {
    if (entry.path().extension() != ".md") continue;
    const std::string page = "docs/" + entry.path().filename().string();
    EXPECT_TRUE(linked.contains(page)) << "README.md does not link " << page;
  }
  EXPECT_TRUE(linked.contains("examples/")) << "README.md does not link examples/";
}

TEST(LinksTest, RelativeLinksResolve) {
  for (const char* page : {"README.md", "docs/configuration.md", "docs/architecture.md",
                           "docs/troubleshooting.md", "docs/security.md", "docs/resume.md"}) {
    const fs::path path = kRoot / page;
    const std::string text = ReadTextFile(path.string());
    ASSERT_FALSE(text.empty()) << page << " is missing";
    for (const std::string& link : RelativeLinks(text)) {
      const size_t hash = link.find('#');
      const std::string file = link.substr(0, hash);
      const fs::path target = file.empty() ? path : path.parent_path() / file;
      EXPECT_TRUE(fs::exists(target)) << page << ": link " << link << " leads nowhere";
      if (hash == std::string::npos || !fs::exists(target) || fs::is_directory(target)) continue;
      const std::string anchor = link.substr(hash + 1);
      EXPECT_TRUE(HeadingAnchors(ReadTextFile(target.string())).contains(anchor))
          << page << ": link " << link << ": no heading makes #" << anchor;
    }
  }
}

}  // namespace
}  // namespace freshfs::docs
