// How S3 keys become a directory tree (pure functions, no I/O).
//
// The rules (docs/s3.md explains them to users):
//   - A volume shows the keys under its prefix ("" or "dir/sub/"), prefix cut.
//   - Directories are key prefixes up to a '/'; an object "a/" (a marker)
//     makes an empty directory "a".
//   - A key that cannot be a POSIX path is skipped: an empty component
//     ("a//b", a leading '/'), a "." or ".." component, a component longer
//     than 255 bytes, or a NUL byte. Skipped keys are never reachable.
//   - When a key is both an object and a prefix ("a" and "a/b"), the
//     directory wins: "a" is a directory and the object "a" is hidden
//     (counted with the skipped keys).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "s3/object_client.h"

namespace freshfs::store::s3tree {

// Why `relative` (a key with the volume prefix cut, marker '/' removed)
// cannot be a path, or nullptr when it can.
const char* InvalidReason(std::string_view relative);

// One entry of the tree.
struct Node {
  bool dir = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // whole seconds: S3 reports seconds in HEAD
  std::string etag;      // files only
};

struct Skipped {
  std::string key;
  std::string reason;
};

// The tree that `objects` (keys with `prefix`) describe: every file, every
// directory (also those implied by deeper keys), paths relative to the prefix.
// The volume root itself ("") is not included.
struct Tree {
  std::map<std::string, Node, std::less<>> nodes;
  std::vector<Skipped> skipped;
};
Tree BuildTree(const std::vector<s3::ObjectInfo>& objects, std::string_view prefix);

// Attributes of a node as the store reports them.
struct Attributes {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t file_mode = 0644;
  mode_t dir_mode = 0755;
  int64_t dir_mtime_ns = 0;  // for directories without a marker of their own
};
struct stat StatOf(std::string_view path, const Node& node, const Attributes& attrs);

// S3 LastModified rounded down to whole seconds (listings have milliseconds,
// HEAD only seconds; the two must agree or every sync would see a change).
int64_t WholeSeconds(int64_t ns);

}  // namespace freshfs::store::s3tree
