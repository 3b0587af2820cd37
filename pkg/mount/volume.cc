#include "mount/volume.h"

#include <prometheus/exposer.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>

#include "fs/filesystem.h"
#include "fs/fuse_ops.h"
#include "fs/session.h"
#include "invalidate/change_applier.h"
#include "invalidate/invalidator.h"
#include "metrics/metrics.h"
#include "metrics/process_collector.h"
#include "mount/signals.h"
#include "store/dir_store.h"
#include "store/instrumented_store.h"
#include "watch/inotify_source.h"
#include "watch/watcher.h"

namespace freshfs::mount {
namespace {

using namespace std::chrono_literals;

double Seconds(std::chrono::milliseconds d) { return double(d.count()) / 1000.0; }

// With a change source the kernel may cache for long: we tell it what went
// stale. Without one, caches must expire by themselves (close-to-open).
constexpr std::chrono::milliseconds kWatchedTimeout = 1h;
constexpr std::chrono::milliseconds kUnwatchedTimeout = 1s;

}  // namespace

std::string DefaultVolumeName(const std::string& mountpoint) {
  size_t slash = mountpoint.find_last_not_of('/');
  if (slash == std::string::npos) return "root";
  std::string trimmed = mountpoint.substr(0, slash + 1);
  std::string name = trimmed.substr(trimmed.rfind('/') + 1);
  return name.empty() ? "root" : name;
}

struct Volume::Parts {
  config::Options options;
  std::string source, mountpoint, version;
  bool watching = false;  // a change source runs: caches may be long-lived
  bool inotify = false;
  bool events_trusted = false;

  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<fs::FileSystem> filesystem;
  std::unique_ptr<watch::Watcher> watcher;
  std::unique_ptr<invalidate::Invalidator> invalidator;
  std::unique_ptr<invalidate::ChangeApplier> applier;
  std::unique_ptr<watch::InotifySource> inotify_source;
  std::shared_ptr<prometheus::Collectable> process_collector;
  std::unique_ptr<prometheus::Exposer> exposer;
  fs::FuseContext ctx;
  std::unique_ptr<fs::FuseSession> session;
  std::unique_ptr<invalidate::FuseNotifier> notifier;
  std::function<void()> on_ready;

  // Stops everything that may talk to the kernel on its own. Safe to call
  // while the FUSE loop still runs (that is the point: see signals.h).
  void StopFreshness() {
    if (inotify_source) inotify_source->Stop();
    if (watcher) watcher->Stop();
    if (invalidator) invalidator->Stop();
  }
  void Stop() {
    StopFreshness();
    session.reset();  // unmounts
  }
};

Volume::Volume(const config::Options& options, std::string source, std::string mountpoint,
               std::string version)
    : parts_(std::make_unique<Parts>()) {
  parts_->options = options;
  parts_->source = std::move(source);
  parts_->mountpoint = std::move(mountpoint);
  parts_->version = std::move(version);
}

Volume::~Volume() { parts_->Stop(); }

bool Volume::Mount(std::function<void()> on_ready, std::string* error) {
  Parts& p = *parts_;
  const config::Options& o = p.options;
  p.on_ready = std::move(on_ready);

  auto store = store::DirStore::Open(p.source);
  if (!store) {
    *error = "source \"" + p.source + "\": " + std::strerror(store.error());
    return false;
  }
  std::string description = (*store)->Describe();

  p.metrics = std::make_unique<metrics::Metrics>(o.volume_name.value_or(DefaultVolumeName(p.mountpoint)),
                                                 p.version);
  if (o.metrics_address) {
    try {
      p.exposer = std::make_unique<prometheus::Exposer>(*o.metrics_address);
    } catch (const std::exception& e) {
      *error = "--metrics-address \"" + *o.metrics_address + "\": cannot listen: " + e.what();
      return false;
    }
    p.exposer->RegisterCollectable(p.metrics->registry());
    p.exposer->RegisterCollectable(p.metrics->live_collectable());
    p.process_collector = metrics::MakeProcessCollector();
    p.exposer->RegisterCollectable(p.process_collector);
    auto ports = p.exposer->GetListeningPorts();
    std::string host = o.metrics_address->substr(0, o.metrics_address->rfind(':'));
    spdlog::info("metrics at http://{}:{}/metrics", host, ports.empty() ? 0 : ports.front());
  }

  switch (o.events) {
    case config::Events::kAuto:
      p.inotify = watch::FilesystemDeliversAllEvents(p.source);
      break;
    case config::Events::kInotify:
      p.inotify = true;
      break;
    case config::Events::kNone:
      p.inotify = false;
      break;
  }
  p.events_trusted = p.inotify && watch::FilesystemDeliversAllEvents(p.source);
  p.watching = o.poll_interval.count() > 0 || p.inotify;

  fs::FsSettings fs_settings;
  fs_settings.read_only = o.read_only;
  fs_settings.uid = o.uid;
  fs_settings.gid = o.gid;
  fs_settings.file_mode = o.file_mode;
  fs_settings.dir_mode = o.dir_mode;
  fs_settings.revalidate_on_open = o.revalidate_on_open;
  p.filesystem = std::make_unique<fs::FileSystem>(
      store::Instrument(std::move(*store), p.metrics.get()), fs_settings);

  p.invalidator = std::make_unique<invalidate::Invalidator>(p.metrics.get());
  if (p.watching || o.revalidate_on_open) {
    watch::Watcher::Settings ws;
    ws.poll_interval = o.poll_interval;
    p.watcher = std::make_unique<watch::Watcher>(&p.filesystem->store(), ws, p.metrics.get());
    p.applier = std::make_unique<invalidate::ChangeApplier>(&p.filesystem->inodes(),
                                                            p.invalidator.get(), p.metrics.get());
    fs::FileSystem* filesystem = p.filesystem.get();
    p.applier->set_on_content_change([filesystem](fuse_ino_t ino) { filesystem->DropUnopened(ino); });
    invalidate::ChangeApplier* applier = p.applier.get();
    p.watcher->set_sink([applier](const std::vector<watch::Change>& changes,
                                  watch::Clock::time_point detected) {
      applier->Apply(changes, detected);
    });
    invalidate::Invalidator* invalidator = p.invalidator.get();
    // On-open revalidation waits for its notifications: they concern an
    // inode the opener holds no lock on (see DESIGN.md); bounded all the same.
    p.watcher->set_flush([invalidator] { invalidator->Flush(1s); });
    p.filesystem->set_observer(p.watcher.get());
    // The first snapshot is taken before the kernel can cache anything.
    if (!p.watcher->Start().ok()) {
      *error = "source \"" + p.source + "\": the initial scan failed";
      return false;
    }
    watch::Watcher* watcher = p.watcher.get();
    p.metrics->SetLive({[watcher] { return watcher->StalenessSeconds(); },
                        [watcher] { return double(watcher->WatchedEntries()); }});
  }

  fs::FuseContext& ctx = p.ctx;
  ctx.fs = p.filesystem.get();
  ctx.metrics = p.metrics.get();
  std::chrono::milliseconds fallback = p.watching ? kWatchedTimeout : kUnwatchedTimeout;
  ctx.cache.entry_timeout = Seconds(o.entry_timeout.value_or(fallback));
  ctx.cache.attr_timeout = Seconds(o.attr_timeout.value_or(fallback));
  ctx.cache.negative_timeout =
      Seconds(o.negative_timeout.value_or(p.watching ? kWatchedTimeout : 0ms));
  bool kernel_cache = o.kernel_cache.value_or(p.watching);
  ctx.cache.keep_cache = kernel_cache;
  ctx.cache.cache_readdir = kernel_cache;
  ctx.cache.explicit_inval_data = p.watching;
  ctx.cache.no_open = o.read_only && kernel_cache && !o.revalidate_on_open;
  p.invalidator->set_on_unsupported([&ctx] { ctx.notifications_unsupported = true; });

  ctx.on_init = [&p, description](fuse_conn_info* conn) {
    conn->want |= FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_CACHE_SYMLINKS;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // writes reach the source before write() returns
    if (p.ctx.cache.explicit_inval_data && (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA)) {
      // Our own writes change mtime; the kernel must not drop the writer's
      // pages for that. Remote changes are invalidated explicitly.
      conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
      conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    }
    if (p.ctx.cache.no_open && !(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT))
      p.ctx.cache.no_open = false;
    if (p.ctx.cache.no_open) conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
    if (conn->max_write < (1u << 20)) conn->max_write = 1u << 20;
    spdlog::info(
        "mounted {} at {} (pid {}; poll {}ms, events {}, entry/attr timeout {}s/{}s, "
        "kernel cache {})",
        description, p.mountpoint, ::getpid(), p.options.poll_interval.count(),
        p.inotify ? "inotify" : "none", p.ctx.cache.entry_timeout, p.ctx.cache.attr_timeout,
        p.ctx.cache.keep_cache ? "on" : "off");
    if (p.on_ready) p.on_ready();
  };

  fs::SessionSettings ss;
  ss.mountpoint = p.mountpoint;
  ss.fsname = p.source;
  ss.allow_other = o.allow_other;
  ss.read_only = o.read_only;
  ss.debug = o.debug;
  ss.max_threads = o.max_threads;
  p.session = fs::FuseSession::Mount(&ctx, ss, error);
  if (!p.session) return false;

  p.notifier = std::make_unique<invalidate::FuseNotifier>(p.session->raw());
  p.invalidator->Start(p.notifier.get());
  if (p.inotify && p.watcher) {
    p.inotify_source =
        std::make_unique<watch::InotifySource>(p.watcher.get(), p.source, p.events_trusted);
    Status s = p.inotify_source->Start(p.watcher->CopySnapshot());
    if (!s.ok()) {
      spdlog::warn("inotify unavailable ({}); relying on periodic sync", std::strerror(s.error));
      p.inotify_source.reset();
    }
    // Covers changes made between the initial scan and the watches.
    p.watcher->RequestSync();
  }
  return true;
}

int Volume::Serve() {
  Parts& p = *parts_;
  pthread_t loop_thread = pthread_self();
  std::atomic<bool> loop_done{false};
  SignalThread signals([&p, &loop_done, loop_thread](int signo) {
    spdlog::info("signal {}: unmounting {}", signo, p.mountpoint);
    p.StopFreshness();
    p.session->Exit();
    // The loop notices Exit() when its wait is interrupted; repeat in case
    // the first interrupt lands just before the wait begins.
    while (!loop_done.load()) {
      SignalThread::Interrupt(loop_thread);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  int rc = p.session->Run();
  loop_done = true;
  p.Stop();
  spdlog::info("unmounted {}", p.mountpoint);
  return rc == 0 ? 0 : 1;
}

}  // namespace freshfs::mount
