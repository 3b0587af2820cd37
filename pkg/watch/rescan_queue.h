// RescanQueue: the paths S3 events named, waiting for a rescan; each path
// at most once, in the order it was first named, and never more than
// `capacity` of them.
//
// An event for a path already waiting collapses into it (a rescan reads
// the path's state now, so one rescan answers every event before it). When
// a new path finds the queue full, the queue is emptied and Add() says so:
// past that many paths a full listing costs less than a rescan each, and
// memory stays bounded however many events arrive.
//
// Plain data, not thread-safe (S3EventSource guards it).
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

namespace freshfs::watch {

class RescanQueue {
 public:
  explicit RescanQueue(size_t capacity) : capacity_(capacity) {}

  enum class Added {
    kQueued,     // a new path
    kCollapsed,  // already waiting: `removed` is merged in
    kOverflow,   // the queue was full: it is now empty, and this path not in it
  };
  // `removed`: the event says the object is gone (its parent is rescanned too).
  Added Add(std::string path, bool removed);

  struct Item {
    std::string path;
    bool removed = false;
  };
  std::optional<Item> Pop();

  size_t size() const { return order_.size(); }
  bool empty() const { return order_.empty(); }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  std::deque<std::string> order_;
  std::unordered_map<std::string, bool> removed_;  // path -> removed, for each waiting path
};

}  // namespace freshfs::watch
