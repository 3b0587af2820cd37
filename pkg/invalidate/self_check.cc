#include "invalidate/self_check.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "util/quote.h"

namespace freshfs::invalidate {
namespace {

using metrics::SelfCheckResult;
using namespace std::chrono_literals;

constexpr size_t kPage = 4096;
// How long a retrieve may take: the kernel answers at once, but the
// notification queue may hold a burst of invalidations before it.
constexpr auto kRetrieveTimeout = 2s;

}  // namespace

SelfCheck::SelfCheck(fs::FileSystem* fs, watch::Watcher* watcher, Invalidator* invalidator,
                     metrics::Metrics* metrics, Settings settings, Repair repair)
    : fs_(fs),
      watcher_(watcher),
      invalidator_(invalidator),
      metrics_(metrics),
      settings_(settings),
      repair_(std::move(repair)) {}

SelfCheck::~SelfCheck() { Stop(); }

void SelfCheck::Start() {
  if (settings_.interval.count() <= 0 || thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void SelfCheck::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SelfCheck::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, settings_.interval, [&] { return stopping_; });
    if (stopping_) return;
    lock.unlock();
    RunRound();
    lock.lock();
  }
}

std::vector<SelfCheckResult> SelfCheck::RunRound() {
  const uint64_t seed = ++rounds_ * 0x9e3779b97f4a7c15ULL;
  std::vector<SelfCheckResult> verdicts;
  for (const auto& [ino, path] : fs_->inodes().SampleFiles(settings_.files_per_round, seed)) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    SelfCheckResult r = Check(ino, path, seed ^ ino);
    if (metrics_) metrics_->SelfCheck(r);
    verdicts.push_back(r);
  }
  return verdicts;
}

void SelfCheck::OnRetrieved(void* cookie, std::string data) {
  {
    std::lock_guard lock(mu_);
    const uint64_t id = reinterpret_cast<uintptr_t>(cookie);
    if (!awaited_.count(id)) return;  // given up on already
    answers_[id] = std::move(data);
  }
  cv_.notify_all();
}

std::optional<std::string> SelfCheck::Retrieve(fuse_ino_t ino, off_t offset, size_t size) {
  uint64_t id;
  {
    std::lock_guard lock(mu_);
    id = next_cookie_++;
    awaited_.insert(id);
  }
  invalidator_->Call([this, id, ino, offset, size](KernelNotifier& kernel) {
    int rc = kernel.Retrieve(ino, offset, size, reinterpret_cast<void*>(uintptr_t(id)));
    if (rc == 0) return;
    {
      std::lock_guard lock(mu_);
      if (awaited_.count(id)) answers_[id] = std::nullopt;  // no reply will come
    }
    cv_.notify_all();
  });
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, kRetrieveTimeout, [&] { return stopping_ || answers_.count(id) > 0; });
  awaited_.erase(id);  // a late answer is dropped
  auto it = answers_.find(id);
  if (it == answers_.end()) return std::nullopt;
  std::optional<std::string> data = std::move(it->second);
  answers_.erase(it);
  return data;
}

std::optional<std::string> SelfCheck::ReadSource(const std::string& path, off_t offset,
                                                 size_t size) {
  auto handle = fs_->store().Open(path, O_RDONLY);
  if (!handle) return std::nullopt;
  std::string data(size, '\0');
  auto n = (*handle)->Read(data.data(), size, offset);
  if (!n) return std::nullopt;
  data.resize(*n);
  return data;
}

SelfCheckResult SelfCheck::Check(fuse_ino_t ino, const std::string& path, uint64_t seed) {
  store::Store& store = fs_->store();
  // The mount's own writes are in the page cache before the source has them.
  if (fs_->OpenForWriting(ino)) return SelfCheckResult::kInconclusive;
  auto before = store.StatFresh(path);
  if (!before || !S_ISREG(before->st_mode)) return SelfCheckResult::kInconclusive;
  const watch::EntryState state = watch::EntryState::From(*before);
  // A change the watcher has not handed on yet is within the bound.
  if (!watcher_->Settled(path, state)) return SelfCheckResult::kInconclusive;
  auto same_source = [&] {
    auto now = store.StatFresh(path);
    return now && watch::EntryState::From(*now) == state && watcher_->Settled(path, state);
  };

  if (fs_->inodes().VersionOf(ino) != store::VersionOf(*before)) {
    // The inode stands for an object the name no longer leads to. Stale
    // only if the kernel may still reach it by the name, which the watcher
    // would have retired on seeing the new object.
    fs::InodeTable::Resolved r = fs_->inodes().Resolve(path);
    if (r.ino != ino || !same_source()) return SelfCheckResult::kInconclusive;
    spdlog::warn("self-check: {} still leads to a replaced object (inode {}); retiring it",
                 Quoted(path), ino);
    watch::Change c;
    c.kind = metrics::ChangeKind::kModified;
    c.path = path;
    c.replaced = true;
    c.remote_mtime_ns = state.mtime_ns;
    if (repair_) repair_({c});
    return SelfCheckResult::kStale;
  }

  const uint64_t size = uint64_t(before->st_size);
  if (size == 0) return SelfCheckResult::kInconclusive;
  // A random page; not the first of a bigger file, where an S3 read would
  // fetch a whole block instead of the range.
  const uint64_t pages = (size + kPage - 1) / kPage;
  const uint64_t page = pages > 1 ? 1 + seed % (pages - 1) : 0;
  const off_t offset = off_t(page * kPage);
  const size_t length = size_t(std::min<uint64_t>(settings_.bytes, size - uint64_t(offset)));

  auto cached = Retrieve(ino, offset, length);
  if (!cached || cached->empty()) return SelfCheckResult::kNotCached;
  auto source = ReadSource(path, offset, cached->size());
  if (!source || !same_source()) return SelfCheckResult::kInconclusive;
  if (*cached == *source) return SelfCheckResult::kMatch;

  // Confirm: everything queued by now has reached the kernel (a change the
  // watcher recorded a moment ago may have been on its way), and a page a
  // read was still filling is filled.
  invalidator_->Flush(std::chrono::duration_cast<std::chrono::milliseconds>(kRetrieveTimeout));
  std::this_thread::sleep_for(100ms);
  auto again = Retrieve(ino, offset, cached->size());
  if (!again || again->size() != cached->size() || !same_source())
    return SelfCheckResult::kInconclusive;
  if (*again == *source) return SelfCheckResult::kMatch;
  size_t at = 0;
  while (at < again->size() && (*again)[at] == (*source)[at]) ++at;
  spdlog::warn(
      "self-check: the kernel caches stale data for {} (inode {}): byte {} differs from the "
      "source; invalidating it",
      path, ino, uint64_t(offset) + at);
  watch::Change c;
  c.kind = metrics::ChangeKind::kModified;
  c.path = path;
  c.remote_mtime_ns = state.mtime_ns;
  if (repair_) repair_({c});
  return SelfCheckResult::kStale;
}

}  // namespace freshfs::invalidate
