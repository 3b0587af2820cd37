#include "watch/snapshot.h"

#include <cerrno>
#include <deque>

namespace freshfs::watch {

EntryState EntryState::From(const struct stat& st) {
  EntryState e;
  e.mode = st.st_mode;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.nlink = st.st_nlink;
  e.size = st.st_size;
  e.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  e.ino = st.st_ino;
  return e;
}

bool IsWithin(std::string_view path, std::string_view dir) {
  if (dir.empty()) return true;
  if (path.size() < dir.size() || path.compare(0, dir.size(), dir) != 0) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

namespace {

// Everything strictly under `dir` is the contiguous key range ["dir/", "dir0")
// ('0' sorts right after '/'). "dir" itself stands apart: keys such as
// "dir.txt" sort between "dir" and "dir/".
template <typename Map>
auto DescendantRange(Map& snapshot, std::string_view dir) {
  if (dir.empty()) return std::make_pair(snapshot.begin(), snapshot.end());
  std::string lo(dir), hi(dir);
  lo.push_back('/');
  hi.push_back('0');
  return std::make_pair(snapshot.lower_bound(lo), snapshot.lower_bound(hi));
}

}  // namespace

Snapshot CopySubtree(const Snapshot& snapshot, std::string_view path) {
  Snapshot out;
  if (auto it = snapshot.find(path); it != snapshot.end()) out.insert(*it);
  auto [first, last] = DescendantRange(snapshot, path);
  out.insert(first, last);
  return out;
}

void EraseSubtree(Snapshot* snapshot, std::string_view path) {
  auto [first, last] = DescendantRange(*snapshot, path);
  snapshot->erase(first, last);
  if (auto it = snapshot->find(path); it != snapshot->end()) snapshot->erase(it);
}

void ReplaceSubtree(Snapshot* snapshot, std::string_view path, Snapshot replacement) {
  EraseSubtree(snapshot, path);
  snapshot->merge(replacement);
}

bool Classify(const EntryState& before, const EntryState& after, ChangeKind* kind) {
  if ((before.mode & S_IFMT) != (after.mode & S_IFMT)) {
    *kind = ChangeKind::kTypeChanged;
    return true;
  }
  bool dir = S_ISDIR(after.mode);
  if (!dir && (before.ino != after.ino || before.size != after.size ||
               before.mtime_ns != after.mtime_ns)) {
    *kind = ChangeKind::kModified;
    return true;
  }
  if (before.mode != after.mode || before.uid != after.uid || before.gid != after.gid ||
      (!dir && before.nlink != after.nlink)) {
    *kind = ChangeKind::kAttributes;
    return true;
  }
  return false;
}

std::vector<Change> Diff(const Snapshot& before, const Snapshot& after) {
  std::vector<Change> changes;
  auto b = before.begin();
  auto a = after.begin();
  auto emit = [&](ChangeKind kind, const std::string& path, const EntryState* old_state,
                  const EntryState* new_state) {
    Change c;
    c.kind = kind;
    c.path = path;
    c.was_dir = old_state && old_state->is_dir();
    c.is_dir = new_state && new_state->is_dir();
    c.remote_mtime_ns = new_state ? new_state->mtime_ns : 0;
    changes.push_back(std::move(c));
  };
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->first < a->first)) {
      emit(ChangeKind::kDeleted, b->first, &b->second, nullptr);
      ++b;
    } else if (b == before.end() || a->first < b->first) {
      emit(ChangeKind::kCreated, a->first, nullptr, &a->second);
      ++a;
    } else {
      ChangeKind kind;
      if (Classify(b->second, a->second, &kind)) emit(kind, a->first, &b->second, &a->second);
      ++a;
      ++b;
    }
  }
  return changes;
}

Status ScanTree(store::Store& store, const std::string& path, Snapshot* out,
                std::vector<std::string>* unreadable) {
  auto root = store.StatFresh(path);
  if (!root) return Status::FromErrno(root.error());
  (*out)[path] = EntryState::From(*root);
  if (!S_ISDIR(root->st_mode)) return Status::Ok();
  if (auto tree = store.ListTree(path); tree.error() != ENOSYS) {
    if (!tree) return Status::FromErrno(tree.error());
    for (auto& e : *tree) out->insert_or_assign(store::JoinPath(path, e.name), EntryState::From(e.attr));
    return Status::Ok();
  }
  std::deque<std::string> dirs{path};
  bool first = true;
  while (!dirs.empty()) {
    std::string dir = std::move(dirs.front());
    dirs.pop_front();
    auto entries = store.ListDetailed(dir);
    if (!entries) {
      if (first) return Status::FromErrno(entries.error());
      if (entries.error() != ENOENT && unreadable) unreadable->push_back(dir);
      continue;
    }
    first = false;
    for (auto& e : *entries) {
      std::string child = store::JoinPath(dir, e.name);
      if (S_ISDIR(e.attr.st_mode)) dirs.push_back(child);
      out->insert_or_assign(std::move(child), EntryState::From(e.attr));
    }
  }
  return Status::Ok();
}

}  // namespace freshfs::watch
