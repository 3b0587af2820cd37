// FakeNotifier: records the kernel notifications an Invalidator sends and
// answers with a configurable result; can block to model a kernel that
// waits for an inode lock.
#pragma once

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "invalidate/notifier.h"

namespace freshfs::testing {

class FakeNotifier : public invalidate::KernelNotifier {
 public:
  int result = 0;  // what every call returns (0, -ENOENT, -ENOSYS...)

  int InvalEntry(fuse_ino_t parent, std::string_view name) override {
    return Record("entry " + std::to_string(parent) + " " + std::string(name));
  }
  int ExpireEntry(fuse_ino_t parent, std::string_view name) override {
    return Record("expire " + std::to_string(parent) + " " + std::string(name));
  }
  int Delete(fuse_ino_t parent, fuse_ino_t child, std::string_view name) override {
    return Record("delete " + std::to_string(parent) + " " + std::to_string(child) + " " +
                  std::string(name));
  }
  int InvalInode(fuse_ino_t ino, off_t off, off_t) override {
    return Record((off < 0 ? "attr " : "data ") + std::to_string(ino));
  }
  int epoch_result = -ENOSYS;  // what IncrementEpoch returns
  int IncrementEpoch() override {
    int r = epoch_result;
    Record("epoch");
    return r;
  }
  int Store(fuse_ino_t ino, std::string_view data) override {
    return Record("store " + std::to_string(ino) + " " + std::string(data));
  }

  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  void Block() {
    std::lock_guard lock(mu_);
    blocked_ = true;
  }
  void Unblock() {
    {
      std::lock_guard lock(mu_);
      blocked_ = false;
    }
    cv_.notify_all();
  }

 private:
  int Record(std::string call) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !blocked_; });
    calls_.push_back(std::move(call));
    return result;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
  std::vector<std::string> calls_;
};

}  // namespace freshfs::testing
