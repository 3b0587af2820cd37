#include "fs/inode_table.h"

#include <sys/stat.h>

#include <functional>
#include <random>
#include <vector>

namespace freshfs::fs {

size_t InodeTable::ChildKeyHash::operator()(const ChildKey& k) const noexcept {
  return std::hash<std::string_view>{}(k.name) ^
         (std::hash<fuse_ino_t>{}(k.parent) * 0x9e3779b97f4a7c15ULL);
}

InodeTable::InodeTable() {
  Node* root = pool_.New();
  root->ino = kRoot;
  root->type = S_IFDIR;
  root->nlookup = 1;
  nodes_.insert(root);
}

InodeTable::~InodeTable() {
  for (Node* node : nodes_) pool_.Delete(node);
}

InodeTable::Node* InodeTable::FindLocked(fuse_ino_t ino) const {
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? nullptr : *it;
}

InodeTable::Node* InodeTable::ChildLocked(fuse_ino_t parent, std::string_view name) const {
  if (auto it = children_.find(ChildKey{parent, name}); it != children_.end()) return *it;
  if (more_links_.empty()) return nullptr;
  auto it = more_links_.find(ChildKey{parent, name});
  return it == more_links_.end() ? nullptr : it->second;
}

void InodeTable::UnindexLocked(fuse_ino_t parent, std::string_view name) {
  if (auto it = children_.find(ChildKey{parent, name}); it != children_.end()) {
    children_.erase(it);
    return;
  }
  if (!more_links_.empty()) more_links_.erase(ChildKey{parent, name});
}

ino_t InodeTable::IdentityOf(const Node* node) const {
  if (!node->extra) return 0;
  auto it = extras_.find(node->ino);
  return it == extras_.end() ? 0 : it->second.identity;
}

std::list<InodeTable::Link>* InodeTable::MoreOf(const Node* node) const {
  if (!node->extra) return nullptr;
  auto it = extras_.find(node->ino);
  if (it == extras_.end() || it->second.more.empty()) return nullptr;
  return const_cast<std::list<Link>*>(&it->second.more);
}

InodeTable::Extra& InodeTable::ExtraOf(Node* node) {
  node->extra = true;
  return extras_[node->ino];
}

void InodeTable::DropExtraIfEmptyLocked(Node* node) {
  if (!node->extra) return;
  auto it = extras_.find(node->ino);
  if (it != extras_.end() && (it->second.identity != 0 || !it->second.more.empty())) return;
  if (it != extras_.end()) extras_.erase(it);
  node->extra = false;
}

void InodeTable::SetIdentityLocked(Node* node, ino_t identity) {
  ExtraOf(node).identity = identity;
  DropExtraIfEmptyLocked(node);
}

void InodeTable::DetachLocked(Node* node) {
  if (node->parent != 0) UnindexLocked(node->parent, node->name);
  node->parent = 0;
  if (std::list<Link>* more = MoreOf(node)) {
    for (const Link& l : *more) UnindexLocked(l.parent, l.name);
    more->clear();
  }
  ForgetIdentityLocked(node);
  DropExtraIfEmptyLocked(node);
}

void InodeTable::ForgetIdentityLocked(Node* node) {
  // A node without names can't be reached as "another name" any more (and
  // the source may hand its inode number to a new file).
  const ino_t identity = IdentityOf(node);
  if (identity == 0) return;
  auto it = identities_.find(identity);
  if (it != identities_.end() && it->second == node) identities_.erase(it);
  SetIdentityLocked(node, 0);
}

void InodeTable::AttachLocked(Node* node, fuse_ino_t parent, std::string_view name) {
  // The name may point into a link the caller is about to lose: copy first.
  std::string owned(name);
  UnindexLocked(parent, owned);  // as a map assignment: the name now means this node
  if (node->parent == 0) {
    retired_.erase(node->ino);
    node->parent = parent;
    node->name = std::move(owned);
    children_.insert(node);
    return;
  }
  std::list<Link>& more = ExtraOf(node).more;
  more.push_back(Link{parent, std::move(owned)});
  more_links_[ChildKey{parent, more.back().name}] = node;
}

void InodeTable::RemoveLinkLocked(Node* node, fuse_ino_t parent, std::string_view name) {
  if (node->parent == parent && node->name == name) {
    UnindexLocked(parent, node->name);
    node->parent = 0;
    if (std::list<Link>* more = MoreOf(node)) {
      // Promote the next link to be the path we reach the source by.
      UnindexLocked(more->front().parent, more->front().name);
      Link next = std::move(more->front());
      more->pop_front();
      DropExtraIfEmptyLocked(node);
      AttachLocked(node, next.parent, next.name);
    } else {
      ForgetIdentityLocked(node);
    }
    return;
  }
  std::list<Link>* more = MoreOf(node);
  if (!more) return;
  for (auto it = more->begin(); it != more->end(); ++it) {
    if (it->parent == parent && it->name == name) {
      UnindexLocked(parent, it->name);
      more->erase(it);
      DropExtraIfEmptyLocked(node);
      return;
    }
  }
}

fuse_ino_t InodeTable::Lookup(fuse_ino_t parent, std::string_view name, mode_t type, ino_t identity,
                              uint64_t version) {
  std::lock_guard lock(mu_);
  if (!FindLocked(parent)) return 0;
  type &= S_IFMT;
  JournalLocked(
      RecordWriter(StateOp::kLookup).U64(parent).Str(name).U32(type).U64(identity).U64(version));
  auto same_version = [version](const Node* node) {
    return version == 0 || node->version == 0 || node->version == version;
  };
  if (Node* node = ChildLocked(parent, name)) {
    if (node->type == type && same_version(node)) {
      if (node->version == 0) node->version = version;
      ++node->nlookup;
      return node->ino;
    }
    // Same name, different object (or another version of it): the kernel
    // must see a new inode.
    if (node->type == type) RetireLocked(node, parent, name);
    else RemoveLinkLocked(node, parent, name);
  }
  if (identity != 0 && type != S_IFDIR) {
    auto same = identities_.find(identity);
    if (same != identities_.end() && same->second->type == type && same_version(same->second)) {
      // Another name of a file the kernel already knows: share the inode.
      Node* node = same->second;
      AttachLocked(node, parent, name);
      ++node->nlookup;
      return node->ino;
    }
  }
  Node* raw = pool_.New();
  raw->ino = next_ino_++;
  raw->type = type;
  raw->nlookup = 1;
  raw->version = version;
  nodes_.insert(raw);
  AttachLocked(raw, parent, name);
  if (identity != 0 && type != S_IFDIR) {
    SetIdentityLocked(raw, identity);
    identities_[identity] = raw;
  }
  return raw->ino;
}

fuse_ino_t InodeTable::AddLink(fuse_ino_t ino, fuse_ino_t parent, std::string_view name,
                               ino_t identity) {
  std::lock_guard lock(mu_);
  Node* node = FindLocked(ino);
  if (!node || !FindLocked(parent)) return 0;
  JournalLocked(RecordWriter(StateOp::kAddLink).U64(ino).U64(parent).Str(name).U64(identity));
  if (Node* there = ChildLocked(parent, name)) RemoveLinkLocked(there, parent, name);
  AttachLocked(node, parent, name);
  ++node->nlookup;
  if (identity != 0 && IdentityOf(node) == 0 && node->type != S_IFDIR) {
    SetIdentityLocked(node, identity);
    identities_[identity] = node;
  }
  return node->ino;
}

void InodeTable::Forget(fuse_ino_t ino, uint64_t n) {
  std::lock_guard lock(mu_);
  Node* node = FindLocked(ino);
  if (!node || ino == kRoot) return;
  JournalLocked(RecordWriter(StateOp::kForget).U64(ino).U64(n));
  node->nlookup = n >= node->nlookup ? 0 : node->nlookup - n;
  if (node->nlookup > 0) return;
  DetachLocked(node);
  retired_.erase(ino);
  // Children keep their own counts (the kernel forgets children before their
  // parent); any still attached here become unreachable by path.
  nodes_.erase(ino);  // (DetachLocked dropped its extras)
  pool_.Delete(node);
}

bool InodeTable::PathOfLocked(const Node* node, std::string* out) const {
  std::vector<const Node*> chain;
  while (node->ino != kRoot) {
    if (node->parent == 0) return false;  // detached somewhere on the way up
    chain.push_back(node);
    node = FindLocked(node->parent);
    if (!node) return false;
  }
  out->clear();
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!out->empty()) out->push_back('/');
    out->append((*it)->name);
  }
  return true;
}

std::optional<std::string> InodeTable::PathOf(fuse_ino_t ino) const {
  std::lock_guard lock(mu_);
  const Node* node = FindLocked(ino);
  std::string path;
  if (!node || !PathOfLocked(node, &path)) return std::nullopt;
  return path;
}

std::vector<std::string> InodeTable::DirectoryPaths() const {
  std::vector<std::string> paths{""};
  std::lock_guard lock(mu_);
  std::string path;
  for (const auto& node : nodes_) {
    if (node->ino == kRoot || !S_ISDIR(node->type)) continue;
    if (PathOfLocked(node, &path)) paths.push_back(path);
  }
  return paths;
}

std::vector<std::pair<std::string, mode_t>> InodeTable::Paths() const {
  std::vector<std::pair<std::string, mode_t>> paths;
  std::lock_guard lock(mu_);
  std::string path;
  for (const auto& node : nodes_) {
    if (node->ino != kRoot && PathOfLocked(node, &path)) paths.emplace_back(path, node->type);
  }
  return paths;
}

std::vector<InodeTable::Held> InodeTable::HeldNodes() const {
  std::vector<Held> held;
  std::lock_guard lock(mu_);
  held.reserve(nodes_.size());
  for (const auto& node : nodes_)
    if (node->ino != kRoot) held.push_back(Held{node->ino, node->parent, std::string(node->name)});
  return held;
}

std::vector<std::pair<fuse_ino_t, std::string>> InodeTable::SampleFiles(size_t n,
                                                                        uint64_t seed) const {
  std::vector<std::pair<fuse_ino_t, std::string>> picked;
  std::mt19937_64 rng(seed);
  std::lock_guard lock(mu_);
  std::vector<const Node*> chosen;  // reservoir sampling over the files
  size_t seen = 0;
  for (const auto& node : nodes_) {
    if (!S_ISREG(node->type) || node->parent == 0) continue;
    ++seen;
    if (chosen.size() < n) chosen.push_back(node);
    else if (size_t j = rng() % seen; j < n) chosen[j] = node;
  }
  std::string path;
  for (const Node* node : chosen)
    if (PathOfLocked(node, &path)) picked.emplace_back(node->ino, path);
  return picked;
}

std::optional<std::string> InodeTable::ChildPath(fuse_ino_t parent, std::string_view name) const {
  std::lock_guard lock(mu_);
  const Node* node = FindLocked(parent);
  std::string path;
  if (!node || !PathOfLocked(node, &path)) return std::nullopt;
  if (!path.empty()) path.push_back('/');
  path.append(name);
  return path;
}

InodeTable::Resolved InodeTable::Resolve(std::string_view path) const {
  std::lock_guard lock(mu_);
  Resolved r;
  r.ino = kRoot;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view name = path.substr(0, slash);
    r.parent = r.ino;
    const Node* child = ChildLocked(r.parent, name);
    r.ino = child ? child->ino : 0;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
    if (r.ino == 0) return Resolved{};  // an ancestor is unknown: so is everything below
  }
  return r;
}

fuse_ino_t InodeTable::Find(fuse_ino_t parent, std::string_view name) const {
  std::lock_guard lock(mu_);
  const Node* child = ChildLocked(parent, name);
  return child ? child->ino : 0;
}

void InodeTable::Detach(fuse_ino_t parent, std::string_view name) {
  std::lock_guard lock(mu_);
  Node* node = ChildLocked(parent, name);
  if (!node) return;
  JournalLocked(RecordWriter(StateOp::kDetach).U64(parent).Str(name));
  RemoveLinkLocked(node, parent, name);
}

void InodeTable::RetireLocked(Node* node, fuse_ino_t parent, std::string_view name) {
  std::string former(name);  // `name` may point into the link removed next
  RemoveLinkLocked(node, parent, former);
  if (node->parent == 0) retired_[node->ino] = Link{parent, std::move(former)};
}

void InodeTable::Retire(fuse_ino_t parent, std::string_view name) {
  std::lock_guard lock(mu_);
  Node* node = ChildLocked(parent, name);
  if (!node) return;
  JournalLocked(RecordWriter(StateOp::kRetire).U64(parent).Str(name));
  RetireLocked(node, parent, name);
}

std::optional<std::string> InodeTable::FormerPath(fuse_ino_t ino) const {
  std::lock_guard lock(mu_);
  auto it = retired_.find(ino);
  if (it == retired_.end()) return std::nullopt;
  const Node* parent = FindLocked(it->second.parent);
  std::string path;
  if (!parent || !PathOfLocked(parent, &path)) return std::nullopt;
  if (!path.empty()) path.push_back('/');
  path.append(it->second.name);
  return path;
}

void InodeTable::Rename(fuse_ino_t from_parent, std::string_view from_name, fuse_ino_t to_parent,
                        std::string_view to_name, bool exchange) {
  std::lock_guard lock(mu_);
  Node* from = ChildLocked(from_parent, from_name);
  Node* to = ChildLocked(to_parent, to_name);
  if (from && from == to && !exchange) return;  // two names of one file: rename(2) does nothing
  if (!from && !to) return;
  JournalLocked(RecordWriter(StateOp::kRename)
                    .U64(from_parent)
                    .Str(from_name)
                    .U64(to_parent)
                    .Str(to_name)
                    .U8(exchange));
  // Copy the names first: they may point into the links we are about to move.
  std::string from_copy(from_name), to_copy(to_name);
  if (to) RemoveLinkLocked(to, to_parent, to_copy);
  if (from) RemoveLinkLocked(from, from_parent, from_copy);
  if (from) AttachLocked(from, to_parent, to_copy);
  if (exchange && to) AttachLocked(to, from_parent, from_copy);
}

uint64_t InodeTable::VersionOf(fuse_ino_t ino) const {
  std::lock_guard lock(mu_);
  const Node* node = FindLocked(ino);
  return node ? node->version : 0;
}

void InodeTable::SetVersion(fuse_ino_t ino, uint64_t version) {
  std::lock_guard lock(mu_);
  if (Node* node = FindLocked(ino); node && node->version != version) {
    JournalLocked(RecordWriter(StateOp::kSetVersion).U64(ino).U64(version));
    node->version = version;
    node->confirmed = false;
  }
}

bool InodeTable::Confirmed(fuse_ino_t ino) const {
  std::lock_guard lock(mu_);
  const Node* node = FindLocked(ino);
  return node && node->confirmed;
}

void InodeTable::Confirm(fuse_ino_t ino) {
  std::lock_guard lock(mu_);
  Node* node = FindLocked(ino);
  if (!node || node->confirmed) return;
  JournalLocked(RecordWriter(StateOp::kConfirm).U64(ino));
  node->confirmed = true;
}

mode_t InodeTable::TypeOf(fuse_ino_t ino) const {
  std::lock_guard lock(mu_);
  const Node* node = FindLocked(ino);
  return node ? node->type : 0;
}

bool InodeTable::Known(fuse_ino_t ino) const {
  std::lock_guard lock(mu_);
  return FindLocked(ino) != nullptr;
}

uint64_t InodeTable::LookupCount(fuse_ino_t ino) const {
  std::lock_guard lock(mu_);
  const Node* node = FindLocked(ino);
  return node ? node->nlookup : 0;
}

size_t InodeTable::Size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

void InodeTable::WithLock(const std::function<void()>& f) const {
  std::lock_guard lock(mu_);
  f();
}

void InodeTable::WriteSnapshotLocked(const StateJournal::Sink& sink) const {
  sink(RecordWriter(StateOp::kNextIno).U64(next_ino_).data());
  for (const auto& node : nodes_) {
    const fuse_ino_t ino = node->ino;
    if (ino == kRoot) continue;
    RecordWriter w(StateOp::kNode);
    // The identity map may point at a newer node of the same identity.
    const ino_t identity = IdentityOf(node);
    auto same = identities_.find(identity);
    const bool mapped = same != identities_.end() && same->second == node;
    w.U64(ino)
        .U64(node->parent)
        .U32(node->type)
        .U64(node->nlookup)
        .U64(identity)
        .U8(mapped)
        .U64(node->version)
        .U8(node->confirmed)
        .Str(node->name);
    const std::list<Link>* more = MoreOf(node);
    w.U32(more ? uint32_t(more->size()) : 0);
    if (more)
      for (const Link& l : *more) w.U64(l.parent).Str(l.name);
    auto retired = retired_.find(ino);
    w.U8(retired != retired_.end());
    if (retired != retired_.end()) w.U64(retired->second.parent).Str(retired->second.name);
    sink(w.data());
  }
}

InodeTable::Replayed InodeTable::RestoreNode(RecordReader& r) {
  Node parsed;
  Node* node = &parsed;  // into the pool under the lock
  node->ino = r.U64();
  const fuse_ino_t parent = r.U64();
  node->type = r.U32();
  node->nlookup = r.U64();
  const ino_t identity = r.U64();
  const bool mapped = r.U8() != 0;
  node->version = r.U64();
  node->confirmed = r.U8() != 0;
  const std::string_view name = r.Str();
  std::vector<std::pair<fuse_ino_t, std::string_view>> more;
  for (uint32_t n = r.U32(); r.ok() && n > 0; --n) {
    fuse_ino_t p = r.U64();
    more.emplace_back(p, r.Str());
  }
  std::optional<Link> retired;
  if (r.U8() != 0) {
    fuse_ino_t p = r.U64();
    retired = Link{p, std::string(r.Str())};
  }
  if (!r.ok() || node->ino <= kRoot) return Replayed::kMalformed;
  std::lock_guard lock(mu_);
  if (nodes_.contains(node->ino)) return Replayed::kMalformed;
  Node* raw = pool_.New(std::move(parsed));
  nodes_.insert(raw);
  if (parent != 0) {
    AttachLocked(raw, parent, name);
    for (const auto& [p, n] : more) AttachLocked(raw, p, n);
  } else {
    raw->name.assign(name);  // detached: the name it had, as the predecessor kept it
  }
  SetIdentityLocked(raw, identity);
  if (identity != 0 && mapped) identities_[identity] = raw;
  if (retired) retired_[raw->ino] = std::move(*retired);
  return Replayed::kApplied;
}

InodeTable::Replayed InodeTable::Replay(std::string_view record) {
  RecordReader r(record);
  switch (r.Op()) {
    case StateOp::kLookup: {
      fuse_ino_t parent = r.U64();
      std::string_view name = r.Str();
      mode_t type = r.U32();
      ino_t identity = r.U64();
      uint64_t version = r.U64();
      if (!r.ok()) return Replayed::kMalformed;
      Lookup(parent, name, type, identity, version);
      return Replayed::kApplied;
    }
    case StateOp::kAddLink: {
      fuse_ino_t ino = r.U64(), parent = r.U64();
      std::string_view name = r.Str();
      ino_t identity = r.U64();
      if (!r.ok()) return Replayed::kMalformed;
      AddLink(ino, parent, name, identity);
      return Replayed::kApplied;
    }
    case StateOp::kForget: {
      fuse_ino_t ino = r.U64();
      uint64_t n = r.U64();
      if (!r.ok()) return Replayed::kMalformed;
      Forget(ino, n);
      return Replayed::kApplied;
    }
    case StateOp::kDetach:
    case StateOp::kRetire: {
      const bool retire = StateOp(record[0]) == StateOp::kRetire;
      fuse_ino_t parent = r.U64();
      std::string_view name = r.Str();
      if (!r.ok()) return Replayed::kMalformed;
      retire ? Retire(parent, name) : Detach(parent, name);
      return Replayed::kApplied;
    }
    case StateOp::kRename: {
      fuse_ino_t from_parent = r.U64();
      std::string_view from_name = r.Str();
      fuse_ino_t to_parent = r.U64();
      std::string_view to_name = r.Str();
      bool exchange = r.U8() != 0;
      if (!r.ok()) return Replayed::kMalformed;
      Rename(from_parent, from_name, to_parent, to_name, exchange);
      return Replayed::kApplied;
    }
    case StateOp::kSetVersion: {
      fuse_ino_t ino = r.U64();
      uint64_t version = r.U64();
      if (!r.ok()) return Replayed::kMalformed;
      SetVersion(ino, version);
      return Replayed::kApplied;
    }
    case StateOp::kConfirm: {
      fuse_ino_t ino = r.U64();
      if (!r.ok()) return Replayed::kMalformed;
      Confirm(ino);
      return Replayed::kApplied;
    }
    case StateOp::kNextIno: {
      uint64_t next = r.U64();
      if (!r.ok() || next <= kRoot) return Replayed::kMalformed;
      std::lock_guard lock(mu_);
      next_ino_ = next;
      return Replayed::kApplied;
    }
    case StateOp::kNode:
      return RestoreNode(r);
    default:
      return Replayed::kNotMine;
  }
}

}  // namespace freshfs::fs
