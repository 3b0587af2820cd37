// SyntheticStore: a read-only Store of generated entries, with no disk or
// network I/O, for scale tests and bench/scale. Nothing is materialized:
// each entry's name and attributes are computed from its number, so the
// store itself costs next to no memory and RSS growth is its caller's.
//
// Layouts (N = entries besides the root):
//   kFlat  N files in the root;
//   kDeep  directories ten to a level, as many levels L as leave at least half
//          of N for files (L = 5 at N = 1,000,000: 111,110 directories and
//          888,890 files, about 9 in each of the 100,000 leaf directories).
// Mutate(k) changes k files between syncs: a third get new content (size and
// mtime), a third are deleted, the rest are new files in leaf directories.
// ListTree() answers in one call, in key order, like S3's ListObjectsV2;
// with tree_listing = false it answers ENOSYS, so callers list directory by
// directory as they do a local directory.
//
// cpu_seconds() is the CPU time spent answering (the calling thread's clock),
// so a caller can tell its own cost from the store's.
//
// Thread-safe (one mutex). Writes answer EROFS.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "store/store.h"
#include "fakes/stub_store.h"

namespace freshfs::testing {

class SyntheticStore : public StubStore {
 public:
  enum class Layout { kFlat, kDeep };

  SyntheticStore(Layout layout, size_t entries, bool tree_listing = true)
      : tree_listing_(tree_listing) {
    if (layout == Layout::kDeep) {
      for (size_t l = 1, dirs = 10; dirs <= entries / 2; dirs += Pow10(++l)) {
        levels_ = int(l);
        dirs_ = dirs;
      }
    }
    leaves_ = Pow10(levels_);
    files_ = entries - dirs_;
    for (size_t n = files_; n >= 10'000'000; n /= 10) ++width_;
  }

  struct Mutation {
    size_t modified = 0, deleted = 0, created = 0;
  };
  // Changes k files (see above); each call picks files not picked before.
  Mutation Mutate(size_t k) {
    std::lock_guard lock(mu_);
    Mutation m;
    m.modified = k / 3;
    m.deleted = k / 3;
    m.created = k - m.modified - m.deleted;
    size_t stride = files_ / (m.modified + m.deleted + 1) + 1;
    auto pick = [&] {
      for (;;) {
        next_pick_ = (next_pick_ + stride) % files_;
        uint32_t j = uint32_t(next_pick_);
        if (!deleted_.count(j) && !picked_.count(j)) {
          picked_.insert(j);
          return j;
        }
        ++next_pick_;  // leaves this cycle once it comes round again
      }
    };
    for (size_t i = 0; i < m.modified; ++i) ++modified_[pick()];
    for (size_t i = 0; i < m.deleted; ++i) deleted_.insert(pick());
    for (size_t i = 0; i < m.created; ++i) {
      uint32_t id = next_created_++;
      created_[(uint64_t(id) * 7919) % leaves_].emplace(Name('n', id), id);
    }
    return m;
  }

  size_t entries() const {
    std::lock_guard lock(mu_);
    return dirs_ + files_ - deleted_.size() + next_created_;
  }
  size_t directories() const { return dirs_; }
  size_t list_tree_calls() const {
    std::lock_guard lock(mu_);
    return list_tree_calls_;
  }
  size_t list_calls() const {
    std::lock_guard lock(mu_);
    return list_calls_;
  }
  size_t stat_calls() const {
    std::lock_guard lock(mu_);
    return stat_calls_;
  }
  double cpu_seconds() const {
    std::lock_guard lock(mu_);
    return cpu_seconds_;
  }

  std::string Describe() const override { return "synthetic"; }

  Result<struct stat> Stat(std::string_view path) override {
    std::lock_guard lock(mu_);
    Timed timed(this);
    ++stat_calls_;
    Where w = Parse(path);
    if (w.kind == Where::kNone) return Error{ENOENT};
    return AttrOf(w);
  }

  Result<std::vector<DetailedEntry>> ListDetailed(std::string_view dir) override {
    std::lock_guard lock(mu_);
    Timed timed(this);
    ++list_calls_;
    Where w = Parse(dir);
    if (w.kind == Where::kNone) return Error{ENOENT};
    if (w.kind != Where::kDir) return Error{ENOTDIR};
    std::vector<DetailedEntry> out;
    Children(w, [&](std::string_view name, const Where& child) {
      out.push_back(DetailedEntry{std::string(name), AttrOf(child)});
    });
    return out;
  }

  Result<std::vector<store::DirEntry>> List(std::string_view dir) override {
    auto detailed = ListDetailed(dir);
    if (!detailed) return detailed.error();
    std::vector<store::DirEntry> out;
    for (auto& e : *detailed)
      out.push_back(
          store::DirEntry{std::move(e.name), mode_t(e.attr.st_mode & S_IFMT), e.attr.st_ino});
    return out;
  }

  Result<std::vector<DetailedEntry>> ListTree(std::string_view dir) override {
    if (!tree_listing_) return Error{ENOSYS};
    std::lock_guard lock(mu_);
    Timed timed(this);
    ++list_tree_calls_;
    Where w = Parse(dir);
    if (w.kind == Where::kNone) return Error{ENOENT};
    if (w.kind != Where::kDir) return Error{ENOTDIR};
    std::vector<DetailedEntry> out;
    std::string prefix;
    auto walk = [&](auto& self, const Where& d) -> void {
      Children(d, [&](std::string_view name, const Where& child) {
        size_t len = prefix.size();
        if (len) prefix.push_back('/');
        prefix.append(name);
        out.push_back(DetailedEntry{prefix, AttrOf(child)});
        if (child.kind == Where::kDir) self(self, child);
        prefix.resize(len);
      });
    };
    walk(walk, w);
    return out;
  }

  Result<std::string> ReadLink(std::string_view) override { return Error{EINVAL}; }
  Result<std::unique_ptr<store::FileHandle>> Open(std::string_view, int) override {
    return Error{ENOSYS};
  }
  Result<std::unique_ptr<store::FileHandle>> Create(std::string_view, int, mode_t,
                                                    const store::Caller&) override {
    return Error{EROFS};
  }
  Status MakeDir(std::string_view, mode_t, const store::Caller&) override { return Rofs(); }
  Status MakeNode(std::string_view, mode_t, dev_t, const store::Caller&) override { return Rofs(); }
  Status Symlink(std::string_view, std::string_view, const store::Caller&) override {
    return Rofs();
  }
  Status Link(std::string_view, std::string_view) override { return Rofs(); }
  Status Unlink(std::string_view) override { return Rofs(); }
  Status RemoveDir(std::string_view) override { return Rofs(); }
  Status Rename(std::string_view, std::string_view, unsigned, const store::Caller&) override {
    return Rofs();
  }
  Status SetAttr(std::string_view, const store::AttrChange&) override { return Rofs(); }

 private:
  static constexpr int64_t kBaseNs = 1'700'000'000'000'000'000;

  // A parsed path: a directory (level, number within the level), a base
  // file, or a created file.
  struct Where {
    enum Kind { kNone, kDir, kFile, kCreated } kind = kNone;
    int level = 0;
    uint64_t value = 0;
    uint32_t id = 0;  // kFile: file number; kCreated: creation number
  };

  static double ThreadCpu() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
  }
  // Adds the CPU time of one answer to cpu_seconds_ (mu_ held).
  struct Timed {
    explicit Timed(SyntheticStore* s) : store(s), start(ThreadCpu()) {}
    ~Timed() { store->cpu_seconds_ += ThreadCpu() - start; }
    SyntheticStore* store;
    double start;
  };

  static size_t Pow10(size_t n) {
    size_t p = 1;
    while (n--) p *= 10;
    return p;
  }
  static Status Rofs() { return Error(EROFS); }

  std::string Name(char kind, uint32_t number) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%c%0*u", kind, width_, number);
    return buf;
  }

  Where Parse(std::string_view path) const {
    Where w;
    w.kind = Where::kDir;
    while (!path.empty()) {
      size_t slash = path.find('/');
      std::string_view comp = path.substr(0, slash);
      path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
      if (w.kind != Where::kDir) return {};
      if (w.level < levels_ && comp.size() == 2 && comp[0] == 'd' && comp[1] >= '0' &&
          comp[1] <= '9') {
        ++w.level;
        w.value = w.value * 10 + uint64_t(comp[1] - '0');
        continue;
      }
      if (w.level != levels_ || comp.empty()) return {};
      if (comp[0] == 'f' && comp.size() == size_t(width_) + 1) {
        uint32_t j = 0;
        for (char c : comp.substr(1)) {
          if (c < '0' || c > '9') return {};
          j = j * 10 + uint32_t(c - '0');
        }
        if (j >= files_ || j % leaves_ != w.value || deleted_.count(j)) return {};
        w.kind = Where::kFile;
        w.id = j;
        continue;
      }
      auto leaf = created_.find(w.value);
      if (leaf == created_.end()) return {};
      auto it = leaf->second.find(std::string(comp));
      if (it == leaf->second.end()) return {};
      w.kind = Where::kCreated;
      w.id = it->second;
    }
    return w;
  }

  // Calls fn(name, child) for each child of directory `d`, in name order.
  template <typename Fn>
  void Children(const Where& d, Fn&& fn) const {
    if (d.level < levels_) {
      for (int digit = 0; digit < 10; ++digit) {
        char name[3] = {'d', char('0' + digit), 0};
        fn(name, Where{Where::kDir, d.level + 1, d.value * 10 + uint64_t(digit), 0});
      }
      return;
    }
    for (uint64_t j = d.value; j < files_; j += leaves_) {
      if (deleted_.count(uint32_t(j))) continue;
      fn(Name('f', uint32_t(j)), Where{Where::kFile, d.level, d.value, uint32_t(j)});
    }
    if (auto leaf = created_.find(d.value); leaf != created_.end())
      for (const auto& [name, id] : leaf->second)
        fn(name, Where{Where::kCreated, d.level, d.value, id});
  }

  struct stat AttrOf(const Where& w) const {
    struct stat st {};
    int64_t mtime = kBaseNs;
    if (w.kind == Where::kDir) {
      uint64_t first_of_level = 0;
      for (int l = 1; l < w.level; ++l) first_of_level += Pow10(size_t(l));
      st.st_mode = S_IFDIR | 0755;
      st.st_nlink = 2;
      st.st_ino = w.level == 0 ? 1 : 2 + first_of_level + w.value;
    } else if (w.kind == Where::kFile) {
      uint64_t generation = 0;
      if (auto it = modified_.find(w.id); it != modified_.end()) generation = it->second;
      st.st_mode = S_IFREG | 0644;
      st.st_nlink = 1;
      st.st_ino = 2 + dirs_ + w.id;
      st.st_size = off_t(100 + w.id % 1000 + generation);
      mtime += int64_t(w.id) * 1000 + int64_t(generation) * 1'000'000'000;
    } else {
      st.st_mode = S_IFREG | 0644;
      st.st_nlink = 1;
      st.st_ino = 2 + dirs_ + files_ + w.id;
      st.st_size = 10;
      mtime += 1'000'000'000'000 + int64_t(w.id);
    }
    st.st_mtim.tv_sec = mtime / 1'000'000'000;
    st.st_mtim.tv_nsec = mtime % 1'000'000'000;
    return st;
  }

  const bool tree_listing_;
  int levels_ = 0;     // directory levels below the root
  size_t leaves_ = 1;  // directories that hold the files (10^levels)
  size_t dirs_ = 0;    // directories besides the root
  size_t files_ = 0;   // base files
  int width_ = 7;      // digits in a file name

  mutable std::mutex mu_;
  std::unordered_map<uint32_t, uint64_t> modified_;  // file -> content generation
  std::unordered_set<uint32_t> deleted_;
  std::unordered_set<uint32_t> picked_;  // by Mutate(), never picked twice
  std::unordered_map<uint64_t, std::map<std::string, uint32_t>> created_;  // leaf -> name -> id
  uint32_t next_created_ = 0;
  size_t next_pick_ = 0;
  size_t list_tree_calls_ = 0, list_calls_ = 0, stat_calls_ = 0;
  double cpu_seconds_ = 0;
};

}  // namespace freshfs::testing
