#include "metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstring>
#include <mutex>

namespace freshfs::metrics {

const char* FuseOpName(FuseOp op) {
  static const char* const kNames[] = {
      "lookup",  "forget",  "getattr",     "setattr",    "readlink", "mknod",     "mkdir",
      "symlink", "link",    "unlink",      "rmdir",      "rename",   "open",      "create",
      "read",    "write",   "flush",       "release",    "fsync",    "fallocate", "lseek",
      "opendir", "readdir", "readdirplus", "releasedir", "statfs",   "xattr"};
  static_assert(std::size(kNames) == size_t(FuseOp::kCount));
  return kNames[size_t(op)];
}

const char* StoreOpName(StoreOp op) {
  static const char* const kNames[] = {
      "stat", "list",   "readlink", "statfs", "open",    "create", "mkdir", "mknod", "symlink",
      "link", "unlink", "rmdir",    "rename", "setattr", "xattr",  "read",  "write", "fsync"};
  static_assert(std::size(kNames) == size_t(StoreOp::kCount));
  return kNames[size_t(op)];
}

const char* ChangeKindName(ChangeKind kind) {
  static const char* const kNames[] = {"created", "modified",     "attributes",
                                       "deleted", "type_changed", "renamed"};
  static_assert(std::size(kNames) == size_t(ChangeKind::kCount));
  return kNames[size_t(kind)];
}

const char* InvalTypeName(InvalType type) {
  static const char* const kNames[] = {"entry",      "expire_entry", "delete", "inode_data",
                                       "inode_attr", "store",        "epoch"};
  static_assert(std::size(kNames) == size_t(InvalType::kCount));
  return kNames[size_t(type)];
}

const char* InvalResultName(InvalResult result) {
  static const char* const kNames[] = {"ok", "not_cached", "unsupported", "error"};
  static_assert(std::size(kNames) == size_t(InvalResult::kCount));
  return kNames[size_t(result)];
}

// Gauges whose value is derived when scraped (staleness grows by itself).
class LiveCollectable : public prometheus::Collectable {
 public:
  explicit LiveCollectable(std::string volume) : volume_(std::move(volume)) {}

  void Set(Metrics::Live live) {
    std::lock_guard lock(mu_);
    live_ = std::move(live);
  }
  void SetCredentialsExpiry(std::function<std::optional<double>()> fn) {
    std::lock_guard lock(mu_);
    credentials_expiry_ = std::move(fn);
  }
  double Staleness() const {
    std::lock_guard lock(mu_);
    return live_.staleness_seconds ? live_.staleness_seconds() : 0.0;
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(mu_);
    std::vector<prometheus::MetricFamily> families;
    auto add = [&](const char* name, const char* help, const std::function<double()>& fn) {
      if (!fn) return;
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = prometheus::MetricType::Gauge;
      prometheus::ClientMetric metric;
      metric.label.push_back({"volume", volume_});
      metric.gauge.value = fn();
      family.metric.push_back(std::move(metric));
      families.push_back(std::move(family));
    };
    add("freshfs_staleness_seconds",
        "Upper bound on the age of the oldest view the mount may still be serving",
        live_.staleness_seconds);
    add("freshfs_watched_entries", "Entries of the source the watcher tracks",
        live_.watched_entries);
    add("freshfs_kernel_inodes",
        "Inodes the kernel holds references to (looked up and not yet forgotten)",
        live_.kernel_inodes);
    // Only temporary credentials expire: keys that do not have no series.
    if (credentials_expiry_) {
      if (const std::optional<double> seconds = credentials_expiry_()) {
        add("freshfs_s3_credentials_expiry_seconds",
            "Seconds until the S3 credentials in use expire (temporary credentials only)",
            [v = *seconds] { return v; });
      }
    }
    return families;
  }

 private:
  std::string volume_;
  mutable std::mutex mu_;
  Metrics::Live live_;
  std::function<std::optional<double>()> credentials_expiry_;
};

namespace {

// Sub-millisecond FUSE operations up to multi-second store round trips.
prometheus::Histogram::BucketBoundaries RequestBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
}
// Change detection and sync: milliseconds (inotify) to minutes (slow polls).
prometheus::Histogram::BucketBoundaries FreshnessBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
          2.5,   5,      10,    20,   30,    60,   120, 300,  600};
}

}  // namespace

Metrics::Metrics(const std::string& volume, const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()),
      live_(std::make_shared<LiveCollectable>(volume)) {
  const prometheus::Labels constant = {{"volume", volume}};
  prometheus::BuildGauge()
      .Name("freshfs_build_info")
      .Help("Build information; always 1")
      .Register(*registry_)
      .Add({{"version", version}})
      .Set(1);

  auto& requests = prometheus::BuildCounter()
                       .Name("freshfs_fuse_requests_total")
                       .Help("FUSE requests that reached the daemon, by operation")
                       .Labels(constant)
                       .Register(*registry_);
  auto& durations = prometheus::BuildHistogram()
                        .Name("freshfs_fuse_request_duration_seconds")
                        .Help("Time from receiving a FUSE request to replying, by operation")
                        .Labels(constant)
                        .Register(*registry_);
  fuse_errors_ = &prometheus::BuildCounter()
                      .Name("freshfs_fuse_request_errors_total")
                      .Help(
                          "FUSE requests answered with an error, by operation and errno "
                          "(a lookup's ENOENT is a name that does not exist)")
                      .Labels(constant)
                      .Register(*registry_);
  for (size_t i = 0; i < size_t(FuseOp::kCount); ++i) {
    const char* op = FuseOpName(FuseOp(i));
    fuse_requests_[i] = &requests.Add({{"op", op}});
    fuse_duration_[i] = &durations.Add({{"op", op}}, RequestBuckets());
  }

  auto& changes = prometheus::BuildCounter()
                      .Name("freshfs_remote_changes_total")
                      .Help("Changes made at the source by others, by kind")
                      .Labels(constant)
                      .Register(*registry_);
  for (size_t i = 0; i < size_t(ChangeKind::kCount); ++i)
    remote_changes_[i] = &changes.Add({{"kind", ChangeKindName(ChangeKind(i))}});

  auto& invals = prometheus::BuildCounter()
                     .Name("freshfs_invalidations_total")
                     .Help("Kernel cache notifications sent, by type and result")
                     .Labels(constant)
                     .Register(*registry_);
  for (size_t t = 0; t < size_t(InvalType::kCount); ++t)
    for (size_t r = 0; r < size_t(InvalResult::kCount); ++r)
      invalidations_[t][r] = &invals.Add(
          {{"type", InvalTypeName(InvalType(t))}, {"result", InvalResultName(InvalResult(r))}});

  auto& store_requests = prometheus::BuildCounter()
                             .Name("freshfs_store_requests_total")
                             .Help(
                                 "Requests to the source (syscalls for a directory source), "
                                 "by operation and result")
                             .Labels(constant)
                             .Register(*registry_);
  static const char* const kResults[] = {"ok", "not_found", "error"};
  for (size_t o = 0; o < size_t(StoreOp::kCount); ++o)
    for (size_t r = 0; r < size_t(StoreResult::kCount); ++r)
      store_requests_[o][r] =
          &store_requests.Add({{"op", StoreOpName(StoreOp(o))}, {"result", kResults[r]}});
  auto& store_durations = prometheus::BuildHistogram()
                              .Name("freshfs_store_request_duration_seconds")
                              .Help(
                                  "Time a request to the source took (S3: with its retries), "
                                  "by operation")
                              .Labels(constant)
                              .Register(*registry_);
  for (size_t o = 0; o < size_t(StoreOp::kCount); ++o)
    store_duration_[o] = &store_durations.Add({{"op", StoreOpName(StoreOp(o))}}, RequestBuckets());
  auto& store_bytes = prometheus::BuildCounter()
                          .Name("freshfs_store_bytes_total")
                          .Help("File data moved to and from the source, by direction")
                          .Labels(constant)
                          .Register(*registry_);
  store_bytes_down_ = &store_bytes.Add({{"direction", "read"}});
  store_bytes_up_ = &store_bytes.Add({{"direction", "write"}});

  s3_requests_ = &prometheus::BuildCounter()
                      .Name("freshfs_s3_requests_total")
                      .Help(
                          "HTTP requests sent to S3 (retries included), by operation and "
                          "outcome (ok, an HTTP status, or network)")
                      .Labels(constant)
                      .Register(*registry_);
  s3_skipped_keys_ = &prometheus::BuildGauge()
                          .Name("freshfs_s3_skipped_keys")
                          .Help(
                              "S3 keys under the volume's prefix that cannot be shown as "
                              "paths (invalid names, or both object and directory)")
                          .Labels(constant)
                          .Register(*registry_)
                          .Add({});
  s3_credential_refreshes_ = &prometheus::BuildCounter()
                                  .Name("freshfs_s3_credential_refreshes_total")
                                  .Help(
                                      "Fetches of temporary S3 credentials before they "
                                      "expire or after S3 refused them, by result (ok, error)")
                                  .Labels(constant)
                                  .Register(*registry_);
  events_ = &prometheus::BuildCounter()
                 .Name("freshfs_events_received_total")
                 .Help("Change events pushed by the store (--events-address), by result")
                 .Labels(constant)
                 .Register(*registry_);
  event_requests_rejected_ = &prometheus::BuildCounter()
                                  .Name("freshfs_event_requests_rejected_total")
                                  .Help("Requests to --events-address refused, by reason")
                                  .Labels(constant)
                                  .Register(*registry_);
  event_queue_overflows_ = &prometheus::BuildCounter()
                                .Name("freshfs_events_queue_overflows_total")
                                .Help(
                                    "Times more paths awaited a rescan than the queue holds: "
                                    "they were dropped for one full sync")
                                .Labels(constant)
                                .Register(*registry_);

  detection_ = &prometheus::BuildHistogram()
                    .Name("freshfs_change_detection_seconds")
                    .Help("From a change's modification time at the source to its detection")
                    .Labels(constant)
                    .Register(*registry_)
                    .Add({}, FreshnessBuckets());
  invalidation_latency_ = &prometheus::BuildHistogram()
                               .Name("freshfs_invalidation_latency_seconds")
                               .Help("From detecting a change to the kernel being notified")
                               .Labels(constant)
                               .Register(*registry_)
                               .Add({}, FreshnessBuckets());
  auto& sync_duration = prometheus::BuildHistogram()
                            .Name("freshfs_sync_duration_seconds")
                            .Help(
                                "Duration of syncs of the source (kind: full, or cached: "
                                "only the directories the kernel holds)")
                            .Labels(constant)
                            .Register(*registry_);
  auto& syncs = prometheus::BuildCounter()
                    .Name("freshfs_syncs_total")
                    .Help(
                        "Syncs of the source attempted (kind: full, or cached: only the "
                        "directories the kernel holds)")
                    .Labels(constant)
                    .Register(*registry_);
  for (SyncKind kind : {SyncKind::kFull, SyncKind::kCached}) {
    const std::string name = kind == SyncKind::kFull ? "full" : "cached";
    sync_duration_[size_t(kind)] = &sync_duration.Add({{"kind", name}}, FreshnessBuckets());
    syncs_[size_t(kind)] = &syncs.Add({{"kind", name}});
  }
  sync_errors_ = &prometheus::BuildCounter()
                      .Name("freshfs_sync_errors_total")
                      .Help("Syncs of the source that failed")
                      .Labels(constant)
                      .Register(*registry_)
                      .Add({});
  last_sync_success_ = &prometheus::BuildGauge()
                            .Name("freshfs_last_sync_success_timestamp_seconds")
                            .Help("Unix time the last successful sync started")
                            .Labels(constant)
                            .Register(*registry_)
                            .Add({});
  auto& source_scans = prometheus::BuildCounter()
                           .Name("freshfs_source_scans_total")
                           .Help(
                               "Background scans of the whole source (usage, entry count), by "
                               "result: ok or error")
                           .Labels(constant)
                           .Register(*registry_);
  source_scans_[0] = &source_scans.Add({{"result", "ok"}});
  source_scans_[1] = &source_scans.Add({{"result", "error"}});
  source_scan_duration_ = &prometheus::BuildHistogram()
                               .Name("freshfs_source_scan_duration_seconds")
                               .Help("Duration of background scans of the whole source")
                               .Labels(constant)
                               .Register(*registry_)
                               .Add({}, FreshnessBuckets());
  source_entries_ = &prometheus::BuildGauge()
                         .Name("freshfs_source_entries")
                         .Help("Files and directories the last background scan found")
                         .Labels(constant)
                         .Register(*registry_)
                         .Add({});
  source_bytes_ = &prometheus::BuildGauge()
                       .Name("freshfs_source_bytes")
                       .Help("Bytes in the files the last background scan found")
                       .Labels(constant)
                       .Register(*registry_)
                       .Add({});
  last_source_scan_success_ = &prometheus::BuildGauge()
                                   .Name("freshfs_last_source_scan_success_timestamp_seconds")
                                   .Help("Unix time the last successful background scan ended")
                                   .Labels(constant)
                                   .Register(*registry_)
                                   .Add({});
  auto& self_checks = prometheus::BuildCounter()
                          .Name("freshfs_self_checks_total")
                          .Help(
                              "Samples of the kernel's cached pages compared with the source "
                              "(result: match, stale, not_cached, inconclusive)")
                          .Labels(constant)
                          .Register(*registry_);
  const char* results[] = {"match", "stale", "not_cached", "inconclusive"};
  for (size_t i = 0; i < size_t(SelfCheckResult::kCount); ++i)
    self_checks_[i] = &self_checks.Add({{"result", results[i]}});
  stale_reads_ = &prometheus::BuildCounter()
                      .Name("freshfs_stale_reads_detected_total")
                      .Help(
                          "Cached views found stale by the self-check although the watcher "
                          "had seen the change (each was invalidated on the spot)")
                      .Labels(constant)
                      .Register(*registry_)
                      .Add({});
  invalidation_repeats_ = &prometheus::BuildCounter()
                               .Name("freshfs_invalidation_repeats_total")
                               .Help(
                                   "Reads and listings answered while their inode was "
                                   "invalidated, whose invalidation was sent again after "
                                   "the reply")
                               .Labels(constant)
                               .Register(*registry_)
                               .Add({});
  fuse_resent_ = &prometheus::BuildCounter()
                      .Name("freshfs_fuse_resent_requests_total")
                      .Help(
                          "Requests the kernel sent again after a resume "
                          "(FUSE_NOTIFY_RESEND): read by a dead predecessor, not answered")
                      .Labels(constant)
                      .Register(*registry_)
                      .Add({});
  resume_pause_ = &prometheus::BuildGauge()
                       .Name("freshfs_resume_pause_seconds")
                       .Help(
                           "Of the hand-over that started this daemon: the time no daemon "
                           "answered requests, from the predecessor's last answer to this "
                           "daemon's first")
                       .Labels(constant)
                       .Register(*registry_)
                       .Add({});
}

void Metrics::SetLive(Live live) { live_->Set(std::move(live)); }

void Metrics::FuseRequestFailed(FuseOp op, int err) {
  // Errors are few next to requests: the family's lookup (a lock and a
  // hash of the labels) is affordable here.
  const char* name = strerrorname_np(err);
  fuse_errors_->Add({{"op", FuseOpName(op)}, {"errno", name ? name : std::to_string(err)}})
      .Increment();
}

void Metrics::SetS3CredentialsExpiry(std::function<std::optional<double>()> seconds) {
  live_->SetCredentialsExpiry(std::move(seconds));
}

void Metrics::S3CredentialRefresh(bool ok) {
  s3_credential_refreshes_->Add({{"result", ok ? "ok" : "error"}}).Increment();
}

double Metrics::StalenessSeconds() const { return live_->Staleness(); }

std::shared_ptr<prometheus::Collectable> Metrics::live_collectable() const { return live_; }

void Metrics::SourceScanDone(double seconds, bool ok, uint64_t entries, uint64_t bytes) {
  source_scans_[ok ? 0 : 1]->Increment();
  source_scan_duration_->Observe(seconds);
  if (!ok) return;
  source_entries_->Set(double(entries));
  source_bytes_->Set(double(bytes));
  last_source_scan_success_->Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

void Metrics::SyncDone(double seconds, bool ok, double started_unix, SyncKind kind) {
  syncs_[size_t(kind)]->Increment();
  sync_duration_[size_t(kind)]->Observe(seconds);
  if (ok) last_sync_success_->Set(started_unix);
  else sync_errors_->Increment();
}

}  // namespace freshfs::metrics
