#include "watch/snapshot.h"

#include <algorithm>
#include <iterator>

#include "util/small_string.h"

namespace freshfs::watch {

bool IsWithin(std::string_view path, std::string_view dir) {
  if (dir.empty()) return true;
  if (path.size() < dir.size() || path.compare(0, dir.size(), dir) != 0) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

bool Classify(const EntryState& before, const EntryState& after, ChangeKind* kind) {
  if ((before.mode & S_IFMT) != (after.mode & S_IFMT)) {
    *kind = ChangeKind::kTypeChanged;
    return true;
  }
  bool dir = S_ISDIR(after.mode);
  if (!dir &&
      (before.ino != after.ino || before.size != after.size || before.mtime_ns != after.mtime_ns)) {
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

void KeepSet::Add(std::string_view path) {
  kept_.emplace(path);
  while (!path.empty()) {
    size_t slash = path.rfind('/');
    path = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
    if (!above_.emplace(path).second) break;  // its ancestors are in already
  }
}

namespace {

void AppendName(std::string& path, std::string_view name) {
  if (!path.empty()) path.push_back('/');
  path.append(name);
}

}  // namespace

// One entry. A directory's children live in `children` (null when it has none).
struct Snapshot::Node {
  SmallString name;
  EntryState state;
  std::unique_ptr<Children> children;

  Node() = default;
  Node(const Node& other);
  Node& operator=(const Node& other);
  Node(Node&&) noexcept = default;
  Node& operator=(Node&&) noexcept = default;
  ~Node();
};

// A directory's entries sorted by name, in chunks: a lookup is two binary
// searches, an insert or erase moves at most one chunk.
class Snapshot::Children {
 public:
  static constexpr size_t kMaxChunk = 512;   // an insert splits a chunk above this
  static constexpr size_t kFillChunk = 256;  // a rebuild fills chunks to this

  std::vector<std::vector<Node>> chunks;  // never an empty chunk
  // Recorded from a whole listing of the directory, not name by name (a
  // lazily built snapshot, see Snapshot::Listed()).
  bool listed = false;

  size_t count() const {
    size_t n = 0;
    for (const auto& c : chunks) n += c.size();
    return n;
  }

  Node* Find(std::string_view name) {
    auto c = ChunkFor(name);
    if (c == chunks.end()) return nullptr;
    auto it = LowerBound(*c, name);
    return it != c->end() && it->name == name ? &*it : nullptr;
  }

  void Insert(Node node) {  // `node.name` is not present
    if (chunks.empty()) {
      chunks.emplace_back().push_back(std::move(node));
      return;
    }
    auto c = ChunkFor(node.name);
    if (c == chunks.end()) --c;
    auto at = LowerBound(*c, node.name);
    c->insert(at, std::move(node));
    if (c->size() > kMaxChunk) {
      auto half = c->begin() + std::ptrdiff_t(c->size() / 2);
      std::vector<Node> tail(std::make_move_iterator(half), std::make_move_iterator(c->end()));
      c->erase(half, c->end());
      chunks.insert(c + 1, std::move(tail));
    }
  }

  void Erase(std::string_view name) {
    auto c = ChunkFor(name);
    if (c == chunks.end()) return;
    auto it = LowerBound(*c, name);
    if (it == c->end() || it->name != name) return;
    c->erase(it);
    if (c->empty()) chunks.erase(c);
  }

 private:
  // The first chunk whose last name is not below `name`.
  std::vector<std::vector<Node>>::iterator ChunkFor(std::string_view name) {
    return std::partition_point(chunks.begin(), chunks.end(),
                                [&](const std::vector<Node>& c) { return c.back().name < name; });
  }
  static std::vector<Node>::iterator LowerBound(std::vector<Node>& chunk, std::string_view name) {
    return std::lower_bound(chunk.begin(), chunk.end(), name,
                            [](const Node& n, std::string_view v) { return n.name < v; });
  }
};

Snapshot::Node::Node(const Node& other)
    : name(other.name),
      state(other.state),
      children(other.children ? std::make_unique<Children>(*other.children) : nullptr) {}

Snapshot::Node& Snapshot::Node::operator=(const Node& other) {
  if (this != &other) *this = Node(other);
  return *this;
}

Snapshot::Node::~Node() = default;

// One Reconcile(): walks the snapshot and the listing side by side.
class Snapshot::Reconciler {
 public:
  // `one_level`: the listing holds the root's children only; directories
  // below keep what they had, new ones start empty.
  Reconciler(Snapshot* snapshot, std::string_view root, const Listing* listing, const KeepSet& keep,
             std::vector<Change>* changes, bool one_level = false)
      : snapshot_(snapshot),
        root_(root),
        listing_(listing),
        keep_(keep),
        changes_(changes),
        one_level_(one_level) {}

  // One level: where in the listing the directory's children are.
  void set_listing_base(std::string_view base) { listing_base_ = base; }
  // A baseline: names new to the snapshot are reported only if this says so.
  void set_report_new(const std::function<bool(const std::string&)>* report_new) {
    report_new_ = report_new;
  }

  // `node` (at `path`) exists and is still there, now as `fresh`.
  void Update(Node& node, const EntryState& fresh, std::string& path) {
    if (keep_.Keeps(path)) return;
    bool was_dir = node.state.is_dir();
    bool now_dir = fresh.is_dir();
    if (was_dir && !now_dir && keep_.Holds(path)) return;
    ChangeKind kind;
    if (Classify(node.state, fresh, &kind)) Emit(kind, path, &node.state, &fresh);
    if (was_dir && !now_dir) DropChildren(node, path);
    node.state = fresh;
    if (now_dir) ReadChildren(node, path);
  }

  // `node` (at `path`) is gone. False if it is kept (the caller keeps it).
  bool Remove(Node& node, std::string& path) {
    if (keep_.Keeps(path) || keep_.Holds(path)) return false;
    Emit(ChangeKind::kDeleted, path, &node.state, nullptr);
    --snapshot_->size_;
    DropChildren(node, path);
    return true;
  }

  // `path` appeared as `fresh`: fills `out`. False if it is kept (absent).
  bool Create(std::string_view name, const EntryState& fresh, std::string& path, Node* out) {
    if (keep_.Keeps(path)) return false;
    out->name.assign(name);
    out->state = fresh;
    ++snapshot_->size_;
    if (!report_new_ || (*report_new_)(path)) Emit(ChangeKind::kCreated, path, nullptr, &fresh);
    if (fresh.is_dir()) ReadChildren(*out, path);
    return true;
  }

  // Brings `dir`'s children (at `path`) in line with the listing.
  void ReadChildren(Node& dir, std::string& path) {
    if (!listing_) return;  // not read: the children stay as they were
    if (one_level_ && path.size() != root_.size()) return;
    // (One level: the listing may hold more, `listing_base_` is the directory's.)
    std::string_view rel = one_level_ ? listing_base_ : Rel(path);
    if (listing_->Unreadable(rel)) return;
    MergeChildren(dir, path, listing_->ChildrenOf(rel));
  }

 private:
  // The listing's relative path for `path` (which is at or below the root).
  std::string_view Rel(std::string_view path) const {
    if (path.size() == root_.size()) return {};
    return path.substr(root_.empty() ? 0 : root_.size() + 1);
  }

  // Both sequences are in name order: one pass decides, per name, whether it
  // stayed, went or came. Nodes are updated in place; only once a name comes
  // or goes is the directory rebuilt (moving its nodes, not copying them).
  void MergeChildren(Node& dir, std::string& path, std::span<const Listing::Item> items) {
    Children* old = dir.children.get();
    if (!old && items.empty()) return;
    size_t ci = 0, i = 0;  // cursor into old->chunks
    auto current = [&]() -> Node* {
      return old && ci < old->chunks.size() ? &old->chunks[ci][i] : nullptr;
    };
    auto advance = [&] {
      if (++i == old->chunks[ci].size()) {
        ++ci;
        i = 0;
      }
    };
    std::unique_ptr<Children> rebuilt;
    const size_t expected = std::max(old ? old->count() : 0, items.size());
    size_t pushed = 0;
    auto push = [&](Node&& node) {
      auto& chunks = rebuilt->chunks;
      if (chunks.empty() || chunks.back().size() >= Children::kFillChunk) {
        size_t left = expected > pushed ? expected - pushed : 1;
        chunks.emplace_back().reserve(std::min(Children::kFillChunk, left));
      }
      chunks.back().push_back(std::move(node));
      ++pushed;
    };
    auto start_rebuild = [&] {  // moves what precedes the cursor
      if (rebuilt) return;
      rebuilt = std::make_unique<Children>();
      if (!old) return;
      rebuilt->listed = old->listed;
      for (size_t c = 0; c < ci; ++c)
        for (Node& n : old->chunks[c]) push(std::move(n));
      if (ci < old->chunks.size())
        for (size_t k = 0; k < i; ++k) push(std::move(old->chunks[ci][k]));
    };

    const size_t len = path.size();
    size_t j = 0;
    for (;;) {
      Node* o = current();
      const Listing::Item* n = j < items.size() ? &items[j] : nullptr;
      if (!o && !n) break;
      int cmp = !o ? 1 : !n ? -1 : std::string_view(o->name).compare(n->name);
      AppendName(path, cmp <= 0 ? std::string_view(o->name) : n->name);
      if (cmp == 0) {
        Update(*o, n->state, path);
        if (rebuilt) push(std::move(*o));
        advance();
        ++j;
      } else if (cmp < 0) {
        if (Remove(*o, path)) start_rebuild();
        else if (rebuilt) push(std::move(*o));
        advance();
      } else {
        Node created;
        if (Create(n->name, n->state, path, &created)) {
          start_rebuild();
          push(std::move(created));
        }
        ++j;
      }
      path.resize(len);
    }
    if (!rebuilt) return;
    if (rebuilt->chunks.empty()) {
      // A listed directory stays listed when it empties (see Listed()).
      if (rebuilt->listed) dir.children = std::move(rebuilt);
      else dir.children.reset();
      return;
    }
    auto& last = rebuilt->chunks.back();
    if (last.capacity() > last.size() + last.size() / 4 + 4) last.shrink_to_fit();
    dir.children = std::move(rebuilt);
  }

  // Everything under `dir` is gone.
  void DropChildren(Node& dir, std::string& path) {
    if (!dir.children) return;
    const size_t len = path.size();
    for (auto& chunk : dir.children->chunks) {
      for (Node& child : chunk) {
        AppendName(path, child.name);
        Emit(ChangeKind::kDeleted, path, &child.state, nullptr);
        --snapshot_->size_;
        DropChildren(child, path);
        path.resize(len);
      }
    }
    dir.children.reset();
  }

  void Emit(ChangeKind kind, const std::string& path, const EntryState* before,
            const EntryState* after) {
    if (!changes_) return;
    Change c;
    c.kind = kind;
    c.path = path;
    c.was_dir = before && before->is_dir();
    c.is_dir = after && after->is_dir();
    c.remote_mtime_ns = after ? after->mtime_ns : 0;
    c.replaced = kind == ChangeKind::kModified && before && after && before->ino != after->ino;
    changes_->push_back(std::move(c));
  }

  Snapshot* snapshot_;
  std::string_view root_;
  const Listing* listing_;
  const KeepSet& keep_;
  std::vector<Change>* changes_;
  const bool one_level_;
  const std::function<bool(const std::string&)>* report_new_ = nullptr;
  std::string_view listing_base_;
};

Snapshot::Snapshot() = default;
Snapshot::~Snapshot() = default;
Snapshot::Snapshot(Snapshot&&) noexcept = default;
Snapshot& Snapshot::operator=(Snapshot&&) noexcept = default;

Snapshot::Snapshot(const Snapshot& other)
    : root_(other.root_ ? std::make_unique<Node>(*other.root_) : nullptr), size_(other.size_) {}

Snapshot& Snapshot::operator=(const Snapshot& other) {
  if (this != &other) *this = Snapshot(other);
  return *this;
}

const Snapshot::Node* Snapshot::FindNode(std::string_view path) const {
  Node* node = root_.get();
  while (node && !path.empty()) {
    size_t slash = path.find('/');
    std::string_view name = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    node = node->children ? node->children->Find(name) : nullptr;
  }
  return node;
}

size_t Snapshot::ChildCount(std::string_view path) const {
  const Node* node = FindNode(path);
  return node && node->children ? node->children->count() : 0;
}

const EntryState* Snapshot::Find(std::string_view path) const {
  const Node* node = FindNode(path);
  return node ? &node->state : nullptr;
}

void Snapshot::ForEach(
    const std::function<void(const std::string& path, const EntryState&)>& fn) const {
  if (!root_) return;
  std::string path;
  auto visit = [&](auto& self, const Node& node) -> void {
    fn(path, node.state);
    if (!node.children) return;
    const size_t len = path.size();
    for (const auto& chunk : node.children->chunks) {
      for (const Node& child : chunk) {
        AppendName(path, child.name);
        self(self, child);
        path.resize(len);
      }
    }
  };
  visit(visit, *root_);
}

bool Snapshot::Reconcile(std::string_view path, const EntryState* fresh, const Listing* listing,
                         const KeepSet& keep, std::vector<Change>* changes) {
  Reconciler r(this, path, listing, keep, changes);
  std::string p(path);
  if (path.empty()) {
    if (root_ && fresh) {
      r.Update(*root_, *fresh, p);
    } else if (root_) {
      if (r.Remove(*root_, p)) root_.reset();
    } else if (fresh) {
      auto node = std::make_unique<Node>();
      if (r.Create("", *fresh, p, node.get())) root_ = std::move(node);
    }
    return true;
  }
  size_t slash = path.rfind('/');
  std::string_view parent_path =
      slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  Node* parent = const_cast<Node*>(FindNode(parent_path));
  if (!parent || !parent->state.is_dir()) return false;
  Node* node = parent->children ? parent->children->Find(name) : nullptr;
  if (node && fresh) {
    r.Update(*node, *fresh, p);
  } else if (node) {
    if (r.Remove(*node, p)) {
      parent->children->Erase(name);
      // A listed directory stays listed when it empties (see Listed()).
      if (parent->children->chunks.empty() && !parent->children->listed) parent->children.reset();
    }
  } else if (fresh) {
    Node created;
    if (r.Create(name, *fresh, p, &created)) {
      if (!parent->children) parent->children = std::make_unique<Children>();
      parent->children->Insert(std::move(created));
    }
  }
  return true;
}

bool Snapshot::ReconcileDir(std::string_view dir, const Listing& listing, const KeepSet& keep,
                            std::vector<Change>* changes, std::string_view listing_dir) {
  return BaselineDir(dir, listing, keep, nullptr, changes, listing_dir);
}

bool Snapshot::Listed(std::string_view dir) const {
  const Node* node = FindNode(dir);
  return node && node->state.is_dir() && node->children && node->children->listed;
}

bool Snapshot::BaselineDir(std::string_view dir, const Listing& listing, const KeepSet& keep,
                           const std::function<bool(const std::string&)>* report_new,
                           std::vector<Change>* changes, std::string_view listing_dir) {
  Node* node = const_cast<Node*>(FindNode(dir));
  if (!node || !node->state.is_dir()) return false;
  if (keep.Keeps(dir)) return true;
  Reconciler r(this, dir, &listing, keep, changes, /*one_level=*/true);
  r.set_listing_base(listing_dir);
  if (report_new) r.set_report_new(report_new);
  std::string path(dir);
  r.ReadChildren(*node, path);
  if (!listing.Unreadable(listing_dir)) {
    if (!node->children) node->children = std::make_unique<Children>();
    node->children->listed = true;
  }
  return true;
}

namespace {

size_t CountBelow(const auto& node) {
  size_t n = 0;
  if (!node.children) return 0;
  for (const auto& chunk : node.children->chunks)
    for (const auto& child : chunk) n += 1 + CountBelow(child);
  return n;
}

}  // namespace

size_t Snapshot::DropListings(const std::function<bool(const std::string&)>& held) {
  if (!root_) return 0;
  size_t dropped = 0;
  std::string path;
  auto visit = [&](auto& self, Node& node) -> void {
    if (!node.children) return;
    if (!path.empty() && !held(path)) {
      dropped += CountBelow(node);
      node.children.reset();
      return;
    }
    const size_t len = path.size();
    for (auto& chunk : node.children->chunks) {
      for (Node& child : chunk) {
        if (!child.children) continue;
        AppendName(path, child.name);
        self(self, child);
        path.resize(len);
      }
    }
  };
  visit(visit, *root_);
  size_ -= dropped;
  return dropped;
}

}  // namespace freshfs::watch
