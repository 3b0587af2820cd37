#include "s3/credential_provider.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace freshfs::s3 {
namespace {

using Clock = std::chrono::system_clock;

bool SameCredentials(const Credentials& a, const Credentials& b) {
  return a.access_key_id == b.access_key_id && a.secret_access_key == b.secret_access_key &&
         a.session_token == b.session_token;
}

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

CredentialProvider::CredentialProvider(Credentials fixed) : current_(std::move(fixed)) {}

CredentialProvider::CredentialProvider(Credentials first, std::unique_ptr<CredentialSource> source,
                                       RefreshSettings settings)
    : source_(std::move(source)),
      settings_(settings),
      current_(std::move(first)),
      obtained_(Clock::now()) {
  if (source_ && current_.expiration) thread_ = std::thread([this] { Loop(); });
}

CredentialProvider::~CredentialProvider() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CredentialProvider::set_observer(Observer observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

Credentials CredentialProvider::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::optional<double> CredentialProvider::SecondsUntilExpiry() const {
  std::lock_guard lock(mu_);
  if (!current_.expiration) return std::nullopt;
  return SecondsBetween(Clock::now(), *current_.expiration);
}

Clock::time_point CredentialProvider::NextRefresh() const {
  if (!current_.expiration) return Clock::time_point::max();
  const auto lifetime = std::max<Clock::duration>(*current_.expiration - obtained_, {});
  const auto margin = std::min<Clock::duration>(settings_.margin, lifetime / 3);
  const auto max_jitter = std::min<Clock::duration>(settings_.max_jitter, lifetime / 10);
  // Many volumes (and nodes) that got credentials at the same moment must
  // not all ask at the same moment again.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> draw(0, std::max<int64_t>(0, max_jitter.count()));
  return *current_.expiration - margin - Clock::duration(draw(rng));
}

bool CredentialProvider::RefreshLocked(std::unique_lock<std::mutex>& lock) {
  fetching_ = true;
  lock.unlock();
  CredentialsResult fetched = source_->Fetch();
  lock.lock();
  fetching_ = false;
  const bool ok = fetched.ok();
  if (ok) {
    current_ = std::move(fetched.credentials);
    obtained_ = Clock::now();
    ++generation_;
    backoff_ = std::chrono::milliseconds(0);
    if (current_.expiration) {
      spdlog::info("s3 credentials refreshed {}, valid for {:.0f} s", current_.Describe(),
                   SecondsBetween(obtained_, *current_.expiration));
    }
  } else {
    backoff_ =
        backoff_.count() == 0 ? settings_.first_retry : std::min(backoff_ * 2, settings_.max_retry);
    spdlog::warn("refreshing s3 credentials failed, retrying in {} ms: {}", backoff_.count(),
                 fetched.error);
  }
  Observer observer = observer_;
  changed_.notify_all();
  lock.unlock();
  if (observer) observer(ok);
  lock.lock();
  return ok;
}

bool CredentialProvider::RefreshAfterRejection(const Credentials& used) {
  std::unique_lock lock(mu_);
  if (!source_) return false;
  if (!SameCredentials(current_, used)) return true;
  if (fetching_) {
    changed_.wait(lock, [this] { return !fetching_ || stopping_; });
  } else {
    spdlog::info("s3 refused expired credentials {}: refreshing now", used.Describe());
    RefreshLocked(lock);
  }
  return !SameCredentials(current_, used);
}

void CredentialProvider::Loop() {
  std::unique_lock lock(mu_);
  Clock::time_point due = NextRefresh();
  uint64_t generation = generation_;
  while (!stopping_) {
    if (due == Clock::time_point::max()) {
      changed_.wait(lock);  // credentials without an expiry: nothing to refresh
    } else {
      changed_.wait_until(lock, due);
    }
    if (stopping_) break;
    if (fetching_) {  // a rejected request is refreshing: wait for its outcome
      changed_.wait(lock, [this] { return !fetching_ || stopping_; });
      if (backoff_.count()) due = Clock::now() + backoff_;
      continue;
    }
    if (generation != generation_) {  // a rejected request refreshed meanwhile
      generation = generation_;
      due = NextRefresh();
      continue;
    }
    if (Clock::now() < due) continue;  // woken early
    const bool ok = RefreshLocked(lock);
    generation = generation_;
    due = ok ? NextRefresh() : Clock::now() + backoff_;
  }
}

}  // namespace freshfs::s3
