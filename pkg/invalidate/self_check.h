// SelfCheck: the staleness metric checks itself. Every interval it takes a
// few files the kernel holds at random, asks the kernel for the pages it
// caches of one of them (FUSE notify_retrieve) and compares those bytes
// with the source. A mismatch while the watcher has already seen the
// source's current state means a notification was missed or undone: it is
// counted (freshfs_stale_reads_detected_total), logged, and repaired by
// handing the path to the change path again (an invalidation). A name that
// still leads to an inode of a replaced object counts the same way.
//
// No false alarms: a sample gives a verdict only if the source did not
// change during the check (stat before and after), the watcher had seen
// that state and the mount was not writing the file; a mismatch is
// confirmed by a second retrieve after the notification queue drained.
//
// Cost per sample: two fresh stats and one read of at most `bytes` from the
// source (S3: two HEADs and one ranged GET), one retrieve.
//
// Threads: one thread of its own; OnRetrieved() from a FUSE worker thread
// (the retrieve_reply request). Retrieves go out on the Invalidator's
// thread, in order with the notifications.
#pragma once

#include <fuse_lowlevel.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fs/filesystem.h"
#include "invalidate/invalidator.h"
#include "metrics/metrics.h"
#include "watch/snapshot.h"
#include "watch/watcher.h"

namespace freshfs::invalidate {

class SelfCheck {
 public:
  struct Settings {
    std::chrono::milliseconds interval{30000};  // between rounds; 0: no thread
    size_t files_per_round = 2;
    size_t bytes = 16384;  // compared per sample (from a random page)
  };
  // Hands changes the kernel was not told about back to the change path
  // (the ChangeApplier).
  using Repair = std::function<void(const std::vector<watch::Change>&)>;

  SelfCheck(fs::FileSystem* fs, watch::Watcher* watcher, Invalidator* invalidator,
            metrics::Metrics* metrics, Settings settings, Repair repair);
  ~SelfCheck();

  void Start();
  void Stop();

  // One round now, on the calling thread; returns the verdict of each sample.
  std::vector<metrics::SelfCheckResult> RunRound();

  // The kernel's answer to a retrieve (from the retrieve_reply request).
  void OnRetrieved(void* cookie, std::string data);

 private:
  metrics::SelfCheckResult Check(fuse_ino_t ino, const std::string& path, uint64_t seed);
  // The bytes the kernel caches of `ino` at [offset, offset+size): nullopt
  // if it holds no such inode or did not answer in time.
  std::optional<std::string> Retrieve(fuse_ino_t ino, off_t offset, size_t size);
  std::optional<std::string> ReadSource(const std::string& path, off_t offset, size_t size);
  void Loop();

  fs::FileSystem* fs_;
  watch::Watcher* watcher_;
  Invalidator* invalidator_;
  metrics::Metrics* metrics_;
  const Settings settings_;
  Repair repair_;
  uint64_t rounds_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_cookie_ = 1;
  std::unordered_set<uint64_t> awaited_;  // cookies of retrieves under way
  // cookie -> the answer (nullopt: none will come)
  std::unordered_map<uint64_t, std::optional<std::string>> answers_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace freshfs::invalidate
