// FakeStore: an in-memory Store for unit tests of the filesystem logic.
// A flat map from path to entry; directories are entries of type S_IFDIR.
// Thread-safe (one mutex) like every Store.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <string>

#include "store/store.h"
#include "fakes/stub_store.h"

namespace freshfs::testing {

class FakeStore : public StubStore {
 public:
  struct Node {
    mode_t mode = S_IFREG | 0644;
    std::string data;
    ino_t ino = 0;
  };

  FakeStore() { entries_[""] = Node{S_IFDIR | 0755, "", NextIno()}; }

  // Test set-up: add or replace an entry directly (as "another writer").
  void Put(const std::string& path, mode_t mode, std::string data = "") {
    std::lock_guard lock(mu_);
    entries_[path] = Node{mode, std::move(data), NextIno()};
  }
  void Erase(const std::string& path) {
    std::lock_guard lock(mu_);
    entries_.erase(path);
  }
  bool Has(const std::string& path) {
    std::lock_guard lock(mu_);
    return entries_.count(path) > 0;
  }
  int stat_calls() {
    std::lock_guard lock(mu_);
    return stat_calls_;
  }
  int list_calls() {
    std::lock_guard lock(mu_);
    return list_calls_;
  }
  // Makes listings "cost requests" of `n` entries each (0: local calls).
  void set_list_page_size(size_t n) { page_size_ = n; }
  size_t ListPageSize() const override { return page_size_; }

  std::string Describe() const override { return "fake"; }

  Result<struct stat> Stat(std::string_view path) override {
    std::lock_guard lock(mu_);
    ++stat_calls_;
    auto it = entries_.find(std::string(path));
    if (it == entries_.end()) return Error{ENOENT};
    struct stat st {};
    st.st_mode = it->second.mode;
    st.st_ino = it->second.ino;
    st.st_size = off_t(it->second.data.size());
    st.st_nlink = 1;
    return st;
  }

  Result<std::vector<store::DirEntry>> List(std::string_view dir) override {
    std::lock_guard lock(mu_);
    ++list_calls_;
    std::string d(dir);
    auto it = entries_.find(d);
    if (it == entries_.end()) return Error{ENOENT};
    if (!S_ISDIR(it->second.mode)) return Error{ENOTDIR};
    std::vector<store::DirEntry> out;
    std::string prefix = d.empty() ? "" : d + "/";
    for (auto& [path, node] : entries_) {
      if (path.empty() || path.compare(0, prefix.size(), prefix) != 0) continue;
      std::string rest = path.substr(prefix.size());
      if (rest.empty() || rest.find('/') != std::string::npos) continue;
      out.push_back(store::DirEntry{rest, mode_t(node.mode & S_IFMT), node.ino});
    }
    return out;
  }

  Result<std::string> ReadLink(std::string_view path) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(std::string(path));
    if (it == entries_.end()) return Error{ENOENT};
    if (!S_ISLNK(it->second.mode)) return Error{EINVAL};
    return it->second.data;
  }

  // A descriptor of the object the path names at open, read-only: it keeps
  // reading that version whatever happens to the path (as a local file's).
  class File final : public store::FileHandle {
   public:
    explicit File(Node node) : node_(std::move(node)) {}
    Result<size_t> Read(char* buf, size_t size, off_t offset) override {
      if (size_t(offset) >= node_.data.size()) return size_t(0);
      size_t n = std::min(size, node_.data.size() - size_t(offset));
      std::memcpy(buf, node_.data.data() + offset, n);
      return n;
    }
    Result<size_t> Write(const char*, size_t, off_t) override { return Error{EBADF}; }
    Result<struct stat> Stat() override {
      struct stat st {};
      st.st_mode = node_.mode;
      st.st_size = off_t(node_.data.size());
      st.st_ino = node_.ino;
      st.st_nlink = 1;
      return st;
    }
    Status SetAttr(const store::AttrChange&) override { return Error(EBADF); }
    Status Flush() override { return Status::Ok(); }
    Status Fsync(bool) override { return Status::Ok(); }
    Status Allocate(int, off_t, off_t) override { return Error(EOPNOTSUPP); }
    Result<off_t> Seek(off_t, int) override { return Error{ENXIO}; }

   private:
    Node node_;
  };
  Result<std::unique_ptr<store::FileHandle>> Open(std::string_view path, int flags) override {
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return Error{EROFS};
    std::lock_guard lock(mu_);
    auto it = entries_.find(std::string(path));
    if (it == entries_.end()) return Error{ENOENT};
    if (S_ISDIR(it->second.mode)) return Error{EISDIR};
    return std::unique_ptr<store::FileHandle>(new File(it->second));
  }
  // Only creates (EEXIST for a taken name, as every Store); the file is
  // read-only, like those Open() gives.
  Result<std::unique_ptr<store::FileHandle>> Create(std::string_view path, int, mode_t mode,
                                                    const store::Caller&) override {
    Status added = Add(path, S_IFREG | (mode & 07777), "");
    if (!added.ok()) return added.error();
    std::lock_guard lock(mu_);
    return std::unique_ptr<store::FileHandle>(new File(entries_.at(std::string(path))));
  }
  Status MakeDir(std::string_view path, mode_t mode, const store::Caller&) override {
    return Add(path, S_IFDIR | (mode & 07777), "");
  }
  Status MakeNode(std::string_view path, mode_t mode, dev_t, const store::Caller&) override {
    return Add(path, mode, "");
  }
  Status Symlink(std::string_view target, std::string_view path, const store::Caller&) override {
    return Add(path, S_IFLNK | 0777, std::string(target));
  }
  Status Link(std::string_view, std::string_view) override { return Error(EPERM); }
  Status Unlink(std::string_view path) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(std::string(path));
    if (it == entries_.end()) return Error(ENOENT);
    if (S_ISDIR(it->second.mode)) return Error(EISDIR);
    entries_.erase(it);
    return Status::Ok();
  }
  Status RemoveDir(std::string_view path) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(std::string(path));
    if (it == entries_.end()) return Error(ENOENT);
    entries_.erase(it);
    return Status::Ok();
  }
  Status Rename(std::string_view from, std::string_view to, unsigned flags,
                const store::Caller&) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(std::string(from));
    if (it == entries_.end()) return Error(ENOENT);
    auto target = entries_.find(std::string(to));
    if (flags != 0 && target != entries_.end() && flags == 1 /*NOREPLACE*/) return Error(EEXIST);
    if (flags == 2 /*EXCHANGE*/) {
      if (target == entries_.end()) return Error(ENOENT);
      std::swap(it->second, target->second);
      return Status::Ok();
    }
    Node moved = it->second;
    entries_.erase(it);
    entries_[std::string(to)] = moved;
    // WHITEOUT: a 0/0 character device takes the old name.
    if (flags == 4) entries_[std::string(from)] = Node{S_IFCHR, "", NextIno()};
    return Status::Ok();
  }
  Status SetAttr(std::string_view path, const store::AttrChange& change) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(std::string(path));
    if (it == entries_.end()) return Error(ENOENT);
    if (change.mode) it->second.mode = (it->second.mode & S_IFMT) | (*change.mode & 07777);
    if (change.size) it->second.data.resize(size_t(*change.size));
    return Status::Ok();
  }

 private:
  Status Add(std::string_view path, mode_t mode, std::string data) {
    std::lock_guard lock(mu_);
    auto [it, inserted] = entries_.try_emplace(std::string(path), Node{mode, data, NextIno()});
    return inserted ? Status::Ok() : Error(EEXIST);
  }
  ino_t NextIno() { return next_ino_++; }

  std::mutex mu_;
  std::map<std::string, Node> entries_;
  ino_t next_ino_ = 100;
  int stat_calls_ = 0;
  int list_calls_ = 0;
  std::atomic<size_t> page_size_{0};
};

}  // namespace freshfs::testing
