// How S3 keys become paths: the tree of a listing (store/s3_tree.h) and the
// path an event's key stands for (watch/s3_event_source.h). Keys are chosen
// by whoever can write to the bucket, so they may hold "..", "//", NUL,
// overlong names or collide with each other.
//
// Input: the volume's source ("s3://bucket/prefix") on the first line, one
// key per further line.
//
// Properties: every path in the tree is a valid relative POSIX path whose
// parents are all directories in the tree; every key either lands in the
// tree or is skipped (or lies outside the prefix); and an event for a key
// names exactly the path the listing shows for it.
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "config/options.h"
#include "fuzz_check.h"
#include "store/s3_tree.h"
#include "watch/s3_event_source.h"

namespace s3tree = freshfs::store::s3tree;
using freshfs::watch::S3EventSource;

namespace {

bool ValidPath(std::string_view path) {
  if (path.empty() || path.find('\0') != std::string_view::npos) return false;
  for (size_t start = 0;;) {
    const size_t end = path.find('/', start);
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > NAME_MAX) return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = freshfs::fuzz::AsText(data, size);
  const size_t newline = text.find('\n');
  std::string reason;
  const auto source = freshfs::config::ParseS3Source(std::string(text.substr(0, newline)), &reason);
  const std::string prefix = source ? source->prefix : "";
  text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);

  std::vector<freshfs::s3::ObjectInfo> objects;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    objects.push_back({std::string(text.substr(0, end)), 1, "\"etag\"", 0});
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }

  const s3tree::Tree tree = s3tree::BuildTree(objects, prefix);
  for (const auto& [path, node] : tree.nodes) {
    FUZZ_CHECK(ValidPath(path) && !s3tree::InvalidReason(path), "tree paths are valid paths");
    if (const size_t slash = path.rfind('/'); slash != std::string::npos) {
      const auto parent = tree.nodes.find(path.substr(0, slash));
      FUZZ_CHECK(parent != tree.nodes.end() && parent->second.dir, "parents are directories");
    }
    const struct stat st = s3tree::StatOf(path, node, {});
    FUZZ_CHECK(S_ISDIR(st.st_mode) == node.dir, "directories stat as directories");
  }
  FUZZ_CHECK(tree.nodes.size() <= size, "the tree is no larger than its keys");

  for (const auto& object : objects) {
    const auto path = S3EventSource::PathOfKey(object.key, prefix);
    if (path) {
      FUZZ_CHECK(tree.nodes.contains(*path), "an event's path is in the listing's tree");
      continue;
    }
    const bool inside = object.key.size() > prefix.size() && object.key.starts_with(prefix);
    bool skipped = false;
    for (const auto& s : tree.skipped) skipped |= s.key == object.key;
    FUZZ_CHECK(!inside || skipped, "a key with no path is skipped by the listing too");
  }
  return 0;
}
