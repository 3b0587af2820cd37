// CredentialProvider: the credentials every S3 request is signed with,
// kept fresh. Keys that do not expire are handed out as they are. Temporary
// ones (web identity, container, IMDS, credential_process with an
// Expiration) are fetched again by a thread of the provider's own before
// they expire: at expiry - margin - jitter, where the margin is at most a
// third and the jitter at most a tenth of the credentials' lifetime (so
// short-lived ones work too). A failed refresh is retried with doubling
// backoff; requests keep using the current credentials meanwhile, so none
// fails for a refresh (until the credentials really expire).
//
// A request refused because its token expired calls RefreshAfterRejection
// with the credentials it was signed with: the first such call refreshes at
// once, concurrent and later callers that signed with the same (now
// replaced) credentials just take the new ones.
//
// Thread-safe. Current() never blocks on the network; RefreshAfterRejection
// does (one fetch). The destructor stops the refresh thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "s3/credential_sources.h"
#include "s3/credentials.h"

namespace freshfs::s3 {

struct RefreshSettings {
  std::chrono::seconds margin{300};     // refresh this long before expiry (at most lifetime/3)
  std::chrono::seconds max_jitter{60};  // minus up to this much more (at most lifetime/10)
  std::chrono::milliseconds first_retry{1000};  // backoff after a failed refresh, doubling
  std::chrono::milliseconds max_retry{60000};
};

class CredentialProvider {
 public:
  // Credentials that are never refreshed.
  explicit CredentialProvider(Credentials fixed);
  // `first` from `source`, refreshed from it before each expiry.
  CredentialProvider(Credentials first, std::unique_ptr<CredentialSource> source,
                     RefreshSettings settings = {});
  ~CredentialProvider();
  CredentialProvider(const CredentialProvider&) = delete;
  CredentialProvider& operator=(const CredentialProvider&) = delete;

  Credentials Current() const;
  bool refreshing() const { return source_ != nullptr; }

  // A request signed with `used` was refused as expired. Returns true when
  // other credentials than `used` are now current (fetched here or by
  // someone else meanwhile): the request may be retried once with them.
  bool RefreshAfterRejection(const Credentials& used);

  // Seconds until the current credentials expire; nullopt when they do not.
  std::optional<double> SecondsUntilExpiry() const;

  // Called after every refresh attempt (from the refreshing thread) with
  // its outcome; for metrics. Set before requests start.
  using Observer = std::function<void(bool ok)>;
  void set_observer(Observer observer);

 private:
  bool RefreshLocked(std::unique_lock<std::mutex>& lock);  // fetch with mu_ released
  std::chrono::system_clock::time_point NextRefresh() const;
  void Loop();

  std::unique_ptr<CredentialSource> source_;
  const RefreshSettings settings_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  Credentials current_;
  std::chrono::system_clock::time_point obtained_;  // when current_ was fetched
  uint64_t generation_ = 0;                         // counts successful refreshes
  bool fetching_ = false;
  bool stopping_ = false;
  std::chrono::milliseconds backoff_{0};  // after failures: wait this long
  Observer observer_;
  std::thread thread_;
};

}  // namespace freshfs::s3
