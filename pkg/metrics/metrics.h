// Metrics: every freshfs_* series of one volume, in one prometheus-cpp
// registry with the constant label volume=NAME. The freshness engine and the
// FUSE layer update them (atomic counters, cheap enough for hot paths); an
// Exposer (see exposer.h) serves them, and tests read them with Collect().
//
// Thread-safe. Owned by the volume's Run(); outlives the session.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace freshfs::metrics {

// FUSE operations we count, one series each.
enum class FuseOp {
  kLookup,
  kForget,
  kGetattr,
  kSetattr,
  kReadlink,
  kMknod,
  kMkdir,
  kSymlink,
  kLink,
  kUnlink,
  kRmdir,
  kRename,
  kOpen,
  kCreate,
  kRead,
  kWrite,
  kFlush,
  kRelease,
  kFsync,
  kFallocate,
  kLseek,
  kOpendir,
  kReaddir,
  kReaddirplus,
  kReleasedir,
  kStatfs,
  kXattr,
  kCount
};
const char* FuseOpName(FuseOp op);

// What a remote change was (label kind of freshfs_remote_changes_total).
enum class ChangeKind {
  kCreated,
  kModified,
  kAttributes,
  kDeleted,
  kTypeChanged,
  kRenamed,
  kCount
};
const char* ChangeKindName(ChangeKind kind);

// Kernel notifications (label type) and their outcome (label result).
enum class InvalType {
  kEntry,
  kExpireEntry,
  kDelete,
  kInodeData,
  kInodeAttr,
  kStore,
  kEpoch,
  kCount
};
enum class InvalResult { kOk, kNotCached, kUnsupported, kError, kCount };
const char* InvalTypeName(InvalType type);
const char* InvalResultName(InvalResult result);

// Store operations (label op of freshfs_store_requests_total).
enum class StoreOp {
  kStat,
  kList,
  kReadlink,
  kStatfs,
  kOpen,
  kCreate,
  kMkdir,
  kMknod,
  kSymlink,
  kLink,
  kUnlink,
  kRmdir,
  kRename,
  kSetattr,
  kXattr,
  kRead,
  kWrite,
  kFsync,
  kCount
};
const char* StoreOpName(StoreOp op);
// How it went (label result): ok, not_found (ENOENT/ENODATA: often expected), error.
enum class StoreResult { kOk, kNotFound, kError, kCount };
// A full sync lists the whole source; a cached one only the directories the
// kernel holds (see watch::Watcher).
enum class SyncKind { kFull, kCached };
// What one sample of the kernel's cache against the source found
// (invalidate::SelfCheck): the same bytes, stale bytes (or a name still
// leading to a replaced object), nothing cached there, or no verdict (the
// source changed during the check, or a change is still on its way).
enum class SelfCheckResult { kMatch, kStale, kNotCached, kInconclusive, kCount };

class Metrics {
 public:
  explicit Metrics(const std::string& volume, const std::string& version);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The derived gauges; register it with an Exposer next to registry().
  std::shared_ptr<prometheus::Collectable> live_collectable() const;

  // Functions read at every scrape for the gauges that are derived, not set.
  struct Live {
    std::function<double()> staleness_seconds;
    std::function<double()> watched_entries;
    std::function<double()> kernel_inodes;
  };
  void SetLive(Live live);
  double StalenessSeconds() const;

  // A request is counted when it arrives (so a scrape taken after its reply
  // reached the application always includes it), its duration when answered.
  void FuseRequestArrived(FuseOp op) { fuse_requests_[size_t(op)]->Increment(); }
  void FuseRequestAnswered(FuseOp op, std::chrono::nanoseconds duration) {
    fuse_duration_[size_t(op)]->Observe(std::chrono::duration<double>(duration).count());
  }
  uint64_t FuseRequestCount(FuseOp op) const {
    return uint64_t(fuse_requests_[size_t(op)]->Value());
  }

  void RemoteChange(ChangeKind kind) { remote_changes_[size_t(kind)]->Increment(); }
  uint64_t RemoteChangeCount(ChangeKind kind) const {
    return uint64_t(remote_changes_[size_t(kind)]->Value());
  }
  void Invalidation(InvalType type, InvalResult result) {
    invalidations_[size_t(type)][size_t(result)]->Increment();
  }
  uint64_t InvalidationCount(InvalType type, InvalResult result) const {
    return uint64_t(invalidations_[size_t(type)][size_t(result)]->Value());
  }
  void ChangeDetected(double seconds_since_remote_mtime) {
    detection_->Observe(seconds_since_remote_mtime < 0 ? 0 : seconds_since_remote_mtime);
  }
  void Notified(double seconds_since_detection) {
    invalidation_latency_->Observe(seconds_since_detection);
  }

  void StoreRequest(StoreOp op, int error, std::chrono::nanoseconds duration) {
    StoreResult r = error == 0                              ? StoreResult::kOk
                    : (error == ENOENT || error == ENODATA) ? StoreResult::kNotFound
                                                            : StoreResult::kError;
    store_requests_[size_t(op)][size_t(r)]->Increment();
    store_duration_[size_t(op)]->Observe(std::chrono::duration<double>(duration).count());
  }
  uint64_t StoreRequestCount(StoreOp op, StoreResult r) const {
    return uint64_t(store_requests_[size_t(op)][size_t(r)]->Value());
  }
  void StoreBytesRead(size_t n) { store_bytes_down_->Increment(double(n)); }
  void StoreBytesWritten(size_t n) { store_bytes_up_->Increment(double(n)); }

  // S3: one HTTP request (see s3::Client::RequestHook), keys not shown,
  // and pushed events: each event received by result (applied, collapsed,
  // dropped, ignored), each request refused by reason, and each overflow of
  // the queue of paths waiting for a rescan.
  void S3Request(std::string_view op, std::string_view outcome) {
    s3_requests_->Add({{"op", std::string(op)}, {"outcome", std::string(outcome)}}).Increment();
  }
  void SetS3SkippedKeys(size_t n) { s3_skipped_keys_->Set(double(n)); }
  // Temporary S3 credentials: each refresh by outcome, and the seconds until
  // the current ones expire (read at every scrape; nullopt: they do not).
  void S3CredentialRefresh(bool ok);
  void SetS3CredentialsExpiry(std::function<std::optional<double>()> seconds);
  void EventsReceived(std::string_view result, uint64_t n) {
    events_->Add({{"result", std::string(result)}}).Increment(double(n));
  }
  void EventRequestRejected(std::string_view reason) {
    event_requests_rejected_->Add({{"reason", std::string(reason)}}).Increment();
  }
  void EventQueueOverflowed() { event_queue_overflows_->Add({}).Increment(); }

  void SelfCheck(SelfCheckResult result) {
    self_checks_[size_t(result)]->Increment();
    if (result == SelfCheckResult::kStale) stale_reads_->Increment();
  }
  uint64_t SelfChecks(SelfCheckResult result) const {
    return uint64_t(self_checks_[size_t(result)]->Value());
  }
  uint64_t StaleReadsDetected() const { return uint64_t(stale_reads_->Value()); }
  // A read or listing raced an invalidation and the invalidation was sent
  // again after its reply (fs::InvalidationLog).
  void InvalidationRepeated() { invalidation_repeats_->Increment(); }
  void ResumePaused(double seconds) { resume_pause_->Set(seconds); }
  void FuseRequestResent() { fuse_resent_->Increment(); }
  // A FUSE request answered with error `err` (an errno, not 0).
  void FuseRequestFailed(FuseOp op, int err);
  uint64_t InvalidationRepeats() const { return uint64_t(invalidation_repeats_->Value()); }

  // A sync that started at `started_unix` took `seconds`.
  void SyncDone(double seconds, bool ok, double started_unix, SyncKind kind = SyncKind::kFull);
  uint64_t SyncErrors() const { return uint64_t(sync_errors_->Value()); }
  uint64_t Syncs(SyncKind kind) const { return uint64_t(syncs_[size_t(kind)]->Value()); }
  // A background scan of the whole source (lazy mounts: usage, entries)
  // took `seconds`; `entries`/`bytes` what it found (when `ok`).
  void SourceScanDone(double seconds, bool ok, uint64_t entries, uint64_t bytes);
  uint64_t SourceScans(bool ok) const { return uint64_t(source_scans_[ok ? 0 : 1]->Value()); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::array<prometheus::Counter*, size_t(FuseOp::kCount)> fuse_requests_{};
  std::array<prometheus::Histogram*, size_t(FuseOp::kCount)> fuse_duration_{};
  std::array<prometheus::Counter*, size_t(ChangeKind::kCount)> remote_changes_{};
  std::array<std::array<prometheus::Counter*, size_t(InvalResult::kCount)>,
             size_t(InvalType::kCount)>
      invalidations_{};
  std::array<std::array<prometheus::Counter*, size_t(StoreResult::kCount)>, size_t(StoreOp::kCount)>
      store_requests_{};
  std::array<prometheus::Histogram*, size_t(StoreOp::kCount)> store_duration_{};
  prometheus::Counter* store_bytes_down_ = nullptr;
  prometheus::Counter* store_bytes_up_ = nullptr;
  prometheus::Histogram* detection_ = nullptr;
  prometheus::Histogram* invalidation_latency_ = nullptr;
  std::array<prometheus::Histogram*, 2> sync_duration_{};  // by SyncKind
  prometheus::Counter* sync_errors_ = nullptr;
  std::array<prometheus::Counter*, 2> syncs_{};  // by SyncKind
  prometheus::Gauge* last_sync_success_ = nullptr;
  std::array<prometheus::Counter*, 2> source_scans_{};  // ok, error
  prometheus::Histogram* source_scan_duration_ = nullptr;
  prometheus::Gauge* source_entries_ = nullptr;
  prometheus::Gauge* source_bytes_ = nullptr;
  prometheus::Gauge* last_source_scan_success_ = nullptr;
  prometheus::Family<prometheus::Counter>* s3_requests_ = nullptr;
  prometheus::Gauge* s3_skipped_keys_ = nullptr;
  prometheus::Family<prometheus::Counter>* s3_credential_refreshes_ = nullptr;
  prometheus::Family<prometheus::Counter>* events_ = nullptr;
  prometheus::Family<prometheus::Counter>* event_requests_rejected_ = nullptr;
  prometheus::Family<prometheus::Counter>* event_queue_overflows_ = nullptr;
  std::array<prometheus::Counter*, size_t(SelfCheckResult::kCount)> self_checks_{};
  prometheus::Counter* stale_reads_ = nullptr;
  prometheus::Counter* invalidation_repeats_ = nullptr;
  prometheus::Gauge* resume_pause_ = nullptr;
  prometheus::Counter* fuse_resent_ = nullptr;
  prometheus::Family<prometheus::Counter>* fuse_errors_ = nullptr;
  std::shared_ptr<class LiveCollectable> live_;
};

}  // namespace freshfs::metrics
