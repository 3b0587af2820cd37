#include "store/s3_tree.h"

#include <climits>
#include <functional>

namespace freshfs::store::s3tree {

const char* InvalidReason(std::string_view relative) {
  if (relative.empty()) return "empty name";
  if (relative.find('\0') != std::string_view::npos) return "NUL byte";
  size_t start = 0;
  for (;;) {
    size_t end = relative.find('/', start);
    std::string_view part =
        relative.substr(start, end == std::string_view::npos ? end : end - start);
    if (part.empty()) return "empty path component (\"//\" or a leading '/')";
    if (part == "." || part == "..") return "\".\" or \"..\" component";
    if (part.size() > NAME_MAX) return "component longer than 255 bytes";
    if (end == std::string_view::npos) return nullptr;
    start = end + 1;
  }
}

int64_t WholeSeconds(int64_t ns) {
  return ns - ((ns % 1'000'000'000) + 1'000'000'000) % 1'000'000'000;
}

Tree BuildTree(const std::vector<s3::ObjectInfo>& objects, std::string_view prefix) {
  Tree tree;
  std::vector<std::pair<std::string, Node>> files;
  auto add_dirs = [&](std::string_view path, bool marker, int64_t mtime_ns) {
    // `path` and its ancestors are directories.
    for (;;) {
      auto [it, inserted] = tree.nodes.try_emplace(std::string(path));
      if (inserted || marker) {
        it->second.dir = true;
        if (marker) it->second.mtime_ns = mtime_ns;
      }
      marker = false;
      size_t slash = path.rfind('/');
      if (slash == std::string_view::npos || !inserted) return;
      path = path.substr(0, slash);
    }
  };
  for (const s3::ObjectInfo& o : objects) {
    if (o.key.size() < prefix.size() || o.key.compare(0, prefix.size(), prefix) != 0) continue;
    std::string_view rel = std::string_view(o.key).substr(prefix.size());
    if (rel.empty()) continue;  // the prefix's own marker: the root
    bool marker = rel.back() == '/';
    if (marker) rel.remove_suffix(1);
    if (const char* reason = InvalidReason(rel)) {
      tree.skipped.push_back({o.key, reason});
      continue;
    }
    if (marker) {
      add_dirs(rel, true, WholeSeconds(o.mtime_ns));
      continue;
    }
    Node file;
    file.size = o.size;
    file.mtime_ns = WholeSeconds(o.mtime_ns);
    file.etag = o.etag;
    if (size_t slash = rel.rfind('/'); slash != std::string_view::npos)
      add_dirs(rel.substr(0, slash), false, 0);
    files.emplace_back(std::string(rel), std::move(file));
  }
  for (auto& [path, node] : files) {
    auto it = tree.nodes.find(path);
    if (it != tree.nodes.end() && it->second.dir) {
      tree.skipped.push_back({std::string(prefix) + path, "both an object and a directory"});
      continue;
    }
    tree.nodes.insert_or_assign(std::move(path), std::move(node));
  }
  return tree;
}

struct stat StatOf(std::string_view path, const Node& node, const Attributes& attrs) {
  struct stat st {};
  st.st_uid = attrs.uid;
  st.st_gid = attrs.gid;
  st.st_blksize = 4096;
  // S3 has no inode numbers. A file's number names this path at this
  // version (ETag): an overwritten object is a new file, as it is in S3, and
  // the watcher sees that as a content change even when size and second
  // resolution mtime stay the same.
  std::size_t h = std::hash<std::string_view>{}(path);
  if (node.dir) {
    st.st_mode = S_IFDIR | (attrs.dir_mode & 07777);
    st.st_nlink = 2;
    int64_t ns = node.mtime_ns ? node.mtime_ns : attrs.dir_mtime_ns;
    st.st_mtim = {time_t(ns / 1'000'000'000), long(ns % 1'000'000'000)};
  } else {
    h ^= std::hash<std::string_view>{}(node.etag) * 0x9e3779b97f4a7c15ull;
    st.st_mode = S_IFREG | (attrs.file_mode & 07777);
    st.st_nlink = 1;
    st.st_size = off_t(node.size);
    st.st_blocks = blkcnt_t((node.size + 511) / 512);
    st.st_mtim = {time_t(node.mtime_ns / 1'000'000'000), long(node.mtime_ns % 1'000'000'000)};
  }
  st.st_ino = ino_t(h | 1);  // never 0: readdir(3) skips entries with inode 0
  st.st_atim = st.st_mtim;
  st.st_ctim = st.st_mtim;
  return st;
}

}  // namespace freshfs::store::s3tree
