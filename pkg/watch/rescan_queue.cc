#include "watch/rescan_queue.h"

namespace freshfs::watch {

RescanQueue::Added RescanQueue::Add(std::string path, bool removed) {
  if (auto it = removed_.find(path); it != removed_.end()) {
    it->second = it->second || removed;
    return Added::kCollapsed;
  }
  if (order_.size() >= capacity_) {
    order_ = {};  // assigning a new deque hands its blocks back, unlike clear()
    removed_ = {};
    return Added::kOverflow;
  }
  removed_.emplace(path, removed);
  order_.push_back(std::move(path));
  return Added::kQueued;
}

std::optional<RescanQueue::Item> RescanQueue::Pop() {
  if (order_.empty()) return std::nullopt;
  Item item{std::move(order_.front()), false};
  order_.pop_front();
  const auto it = removed_.find(item.path);
  item.removed = it->second;
  removed_.erase(it);
  return item;
}

}  // namespace freshfs::watch
