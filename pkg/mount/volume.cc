#include "mount/volume.h"

#include <prometheus/exposer.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <cstring>
#include <filesystem>

#include "fs/filesystem.h"
#include "fs/fuse_ops.h"
#include "fs/session.h"
#include "mount/control_socket.h"
#include "mount/resume.h"
#include "invalidate/change_applier.h"
#include "invalidate/invalidator.h"
#include "invalidate/self_check.h"
#include "metrics/metrics.h"
#include "metrics/process_collector.h"
#include "mount/signals.h"
#include "cache/disk_cache.h"
#include "s3/client.h"
#include "s3/credential_chain.h"
#include "store/dir_store.h"
#include "store/instrumented_store.h"
#include "store/s3_store.h"
#include "watch/inotify_source.h"
#include "watch/s3_event_source.h"
#include "watch/watcher.h"

namespace freshfs::mount {
namespace {

using namespace std::chrono_literals;

double Seconds(std::chrono::milliseconds d) { return double(d.count()) / 1000.0; }

// With a change source the kernel may cache for long: we tell it what went
// stale. Without one, caches must expire by themselves (close-to-open).
constexpr std::chrono::milliseconds kWatchedTimeout = 1h;
constexpr std::chrono::milliseconds kUnwatchedTimeout = 1s;
// --push-small-files: files up to this size are pushed after a change.
constexpr size_t kPushLimit = 64 * 1024;

}  // namespace

namespace {
template <typename T>
void IgnoreLeak(T* object) {
#if defined(__SANITIZE_ADDRESS__)
  __lsan_ignore_object(object);
#else
  (void)object;
#endif
}
}  // namespace

// Why `address` ("host:port") cannot be listened on, in the system's words
// (civetweb only says that binding failed).
std::string BindError(const std::string& address, const std::string& fallback) {
  size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return ::gai_strerror(rc);
  std::string reason = fallback;
  for (addrinfo* a = found; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0) reason = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return reason;
}

std::string DefaultVolumeName(const std::string& mountpoint) {
  size_t slash = mountpoint.find_last_not_of('/');
  if (slash == std::string::npos) return "root";
  std::string trimmed = mountpoint.substr(0, slash + 1);
  std::string name = trimmed.substr(trimmed.rfind('/') + 1);
  return name.empty() ? "root" : name;
}

struct Volume::Parts {
  // First, so destroyed last: a successor that fails closes the connection
  // to its predecessor (which then serves again) only once it has stopped.
  std::unique_ptr<Predecessor> predecessor;
  config::Options options;
  std::string source;       // s3:// URL or the directory's path (see Checked)
  std::string source_name;  // the same for messages
  std::string mountpoint, version;
  bool watching = false;  // a change source runs: caches may be long-lived
  bool inotify = false;
  bool events_trusted = false;

  std::optional<config::S3Source> s3;  // an s3:// source
  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<cache::DiskCache> disk_cache;
  std::unique_ptr<fs::FileSystem> filesystem;
  std::unique_ptr<watch::Watcher> watcher;
  std::unique_ptr<invalidate::Invalidator> invalidator;
  std::unique_ptr<invalidate::ChangeApplier> applier;
  std::unique_ptr<invalidate::SelfCheck> self_check;
  std::unique_ptr<watch::InotifySource> inotify_source;
  std::unique_ptr<watch::S3EventSource> s3_events;
  std::shared_ptr<prometheus::Collectable> process_collector;
  std::unique_ptr<prometheus::Exposer> exposer;
  fs::FuseContext ctx;
  std::unique_ptr<fs::FuseSession> session;
  std::unique_ptr<invalidate::FuseNotifier> notifier;
  std::unique_ptr<VolumeResume> resume;
  std::function<void()> on_ready;
  std::mutex stop_mu;  // StopFreshness() and the session's end, from two threads

  // A hand-over to a successor (control thread) against the main thread's
  // loop and the signal thread.
  std::unique_ptr<ControlServer> control;
  enum class HandOver { kNone, kQuiescing, kTaken, kFailed };
  std::mutex hand_over_mu;
  std::condition_variable hand_over_cv;
  HandOver hand_over = HandOver::kNone;
  bool stopping = false;  // a signal: no hand-over, no serving again
  pid_t successor = 0;

  // --metrics-address: the endpoint comes up before the mount, so a bad
  // address fails the mount instead of leaving a half-working one.
  bool StartMetrics(std::string* error) {
    metrics = std::make_unique<metrics::Metrics>(
        options.volume_name.value_or(DefaultVolumeName(mountpoint)), version);
    if (!options.metrics_address) return true;
    const std::string& address = *options.metrics_address;
    try {
      exposer = std::make_unique<prometheus::Exposer>(address);
    } catch (const std::exception& e) {
      *error =
          "--metrics-address \"" + address + "\": cannot listen: " + BindError(address, e.what());
      return false;
    }
    exposer->RegisterCollectable(metrics->registry());
    exposer->RegisterCollectable(metrics->live_collectable());
    process_collector = metrics::MakeProcessCollector();
    exposer->RegisterCollectable(process_collector);
    spdlog::info("metrics at http://{}:{}/metrics", address.substr(0, address.rfind(':')),
                 MetricsPort());
    return true;
  }
  int MetricsPort() const {
    if (!exposer) return 0;
    std::vector<int> ports = exposer->GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
  }

  bool OpenStore(std::unique_ptr<store::Store>* out, std::string* error) {
    if (s3) return OpenS3Store(out, error);
    auto dir = store::DirStore::Open(source, source_name);
    if (!dir) {
      *error = "source \"" + source_name + "\": " + std::strerror(dir.error().code);
      return false;
    }
    *out = std::move(*dir);
    return true;
  }

  bool OpenS3Store(std::unique_ptr<store::Store>* out, std::string* error) {
    s3::ClientConfig cc;
    cc.endpoint = options.s3_endpoint.value_or("");
    while (!cc.endpoint.empty() && cc.endpoint.back() == '/') cc.endpoint.pop_back();
    const char* env_region = std::getenv("AWS_REGION");
    if (!env_region || !*env_region) env_region = std::getenv("AWS_DEFAULT_REGION");
    cc.region = options.s3_region.value_or(env_region && *env_region ? env_region : "us-east-1");
    cc.path_style = options.s3_path_style;
    cc.ca_file = options.s3_ca_file.value_or("");
    s3::CredentialChainSettings chain;
    chain.credentials_file = options.s3_credentials_file.value_or("");
    chain.profile = options.s3_profile.value_or("");
    chain.region = cc.region;
    chain.ca_file = cc.ca_file;
    chain.sts_endpoint = options.s3_sts_endpoint.value_or("");
    chain.imds_endpoint = options.s3_imds_endpoint.value_or("");
    chain.role_arn = options.s3_role_arn.value_or("");
    chain.web_identity_token_file = options.s3_web_identity_token_file.value_or("");
    s3::ResolvedCredentials creds = s3::ResolveCredentials(chain);
    if (!creds.ok()) {
      *error = "source \"" + source_name + "\": " + creds.error;
      return false;
    }
    cc.credentials = creds.credentials;
    spdlog::info("s3 credentials: {}{}", cc.credentials.Describe(),
                 creds.source ? " (temporary, refreshed before they expire)" : "");
    metrics::Metrics* m = metrics.get();
    cc.credential_provider = std::make_shared<s3::CredentialProvider>(std::move(creds.credentials),
                                                                      std::move(creds.source));
    cc.credential_provider->set_observer([m](bool ok) { m->S3CredentialRefresh(ok); });
    m->SetS3CredentialsExpiry([provider = std::weak_ptr<s3::CredentialProvider>(
                                   cc.credential_provider)]() -> std::optional<double> {
      auto p = provider.lock();
      return p ? p->SecondsUntilExpiry() : std::nullopt;
    });
    auto client = s3::Client::Create(cc, s3->bucket);
    client->set_request_hook(
        [m](std::string_view op, std::string_view outcome) { m->S3Request(op, outcome); });
    if (options.cache_dir) {
      auto opened = cache::DiskCache::Open(*options.cache_dir, options.cache_size);
      if (!opened) {
        *error =
            "--cache-dir \"" + *options.cache_dir + "\": " + std::strerror(opened.error().code);
        return false;
      }
      disk_cache = std::move(*opened);
    }
    std::error_code ec;
    std::filesystem::create_directories(options.staging_dir, ec);
    if (ec || ::access(options.staging_dir.c_str(), W_OK) != 0) {
      *error = "--staging-dir \"" + options.staging_dir +
               "\": " + (ec ? ec.message() : std::string(std::strerror(errno))) +
               " (S3 writes are staged there before upload)";
      return false;
    }
    store::S3StoreSettings ss;
    ss.prefix = s3->prefix;
    ss.attributes.uid = options.uid.value_or(::getuid());
    ss.attributes.gid = options.gid.value_or(::getgid());
    ss.attributes.file_mode = options.file_mode.value_or(0644);
    ss.attributes.dir_mode = options.dir_mode.value_or(0755);
    ss.attributes.dir_mtime_ns = int64_t(std::time(nullptr)) * 1'000'000'000;
    // Names and attributes from the last listing are good until the next
    // sync replaces them; without periodic syncs, for a second. (Generous:
    // a listing of a big bucket can take longer than the poll interval.)
    // A complete listing (of a small bucket, see Watcher::SyncFromTree) is
    // good only about one poll interval for what no later sync lists: the
    // directories the kernel does not hold, which it may look into anew.
    ss.metadata_ttl = options.poll_interval.count() > 0 ? 2 * options.poll_interval + 30s : 1s;
    if (options.poll_interval.count() > 0) ss.complete_listing_ttl = options.poll_interval;
    ss.staging_dir = options.staging_dir;
    ss.conflict = options.conflict == config::Conflict::kOverwrite
                      ? store::ConflictPolicy::kOverwrite
                      : store::ConflictPolicy::kKeepBoth;
    ss.disk_cache = disk_cache.get();
    ss.on_skipped_keys = [m](size_t n) { m->SetS3SkippedKeys(n); };
    std::string why;
    auto opened = store::S3Store::Open(std::move(client), std::move(ss), &why);
    if (!opened) {
      *error = "source \"" + source_name + "\": " + why;
      return false;
    }
    *out = std::move(*opened);
    return true;
  }

  void ChooseChangeSources() {
    if (s3) {
      // S3 has no inotify; the store pushes events if --events-address is set.
      watching = options.poll_interval.count() > 0 || options.events_address.has_value();
      return;
    }
    switch (options.events) {
      case config::Events::kAuto:
        inotify = watch::FilesystemDeliversAllEvents(source);
        break;
      case config::Events::kInotify:
        inotify = true;
        break;
      case config::Events::kNone:
        inotify = false;
        break;
    }
    events_trusted = inotify && watch::FilesystemDeliversAllEvents(source);
    watching = options.poll_interval.count() > 0 || inotify;
  }

  fs::FsSettings FsSettings() const {
    fs::FsSettings s;
    s.read_only = options.read_only;
    s.uid = options.uid;
    s.gid = options.gid;
    s.file_mode = options.file_mode;
    s.dir_mode = options.dir_mode;
    s.revalidate_on_open = options.revalidate_on_open;
    return s;
  }

  // The watcher and what it feeds: applier -> invalidator. Its first scan
  // runs before the mount, so the kernel caches nothing it has not seen.
  bool StartWatcher(std::string* error) {
    if (!watching && !options.revalidate_on_open) return true;
    watch::Watcher::Settings ws;
    ws.poll_interval = options.poll_interval;
    // Lazy: the mount is ready once the source answers, whatever its size;
    // the snapshot follows what the kernel holds, and a scan of the whole
    // source (for usage) runs in the background every --full-sync-interval.
    ws.lazy = true;
    ws.scan_interval = options.full_sync_interval;
    watcher = std::make_unique<watch::Watcher>(&filesystem->store(), ws, metrics.get());
    fs::InodeTable* table = &filesystem->inodes();
    watcher->set_cached_dirs([table] { return table->DirectoryPaths(); });
    watcher->set_known_entries([table] { return table->Paths(); });
    applier = std::make_unique<invalidate::ChangeApplier>(&filesystem->inodes(), invalidator.get(),
                                                          metrics.get());
    fs::FileSystem* fs = filesystem.get();
    applier->set_on_content_change([fs](fuse_ino_t ino) { fs->DropUnopened(ino); });
    applier->set_invalidation_log(&fs->invalidations());
    invalidate::Invalidator* repeat_to = invalidator.get();
    fs->invalidations().set_repeat([repeat_to, m = metrics.get()](fuse_ino_t ino) {
      m->InvalidationRepeated();
      invalidate::Notification n;
      n.type = invalidate::InvalType::kInodeData;
      n.ino = ino;
      repeat_to->Enqueue(std::move(n));
    });
    if (options.push_small_files) {
      applier->set_pusher([fs](fuse_ino_t ino, const std::string& path) {
        return fs->RecentlyRead(ino) ? fs->ReadSmallFile(path, kPushLimit)
                                     : std::optional<std::string>();
      });
    }
    invalidate::ChangeApplier* apply = applier.get();
    watcher->set_sink(
        [apply](const std::vector<watch::Change>& changes, watch::Clock::time_point detected) {
          apply->Apply(changes, detected);
        });
    if (options.self_check_interval.count() > 0) {
      invalidate::SelfCheck::Settings sc;
      sc.interval = options.self_check_interval;
      self_check = std::make_unique<invalidate::SelfCheck>(
          fs, watcher.get(), invalidator.get(), metrics.get(), sc,
          [apply](const std::vector<watch::Change>& changes) {
            apply->Apply(changes, watch::Clock::now());
          });
      ctx.on_retrieve = [check = self_check.get()](void* cookie, std::string data) {
        check->OnRetrieved(cookie, std::move(data));
      };
    }
    invalidate::Invalidator* inv = invalidator.get();
    // On-open revalidation waits for its notifications: they concern an
    // inode the opener holds no lock on (docs/architecture.md, "Threads of
    // one freshfs-mount"); bounded all the same.
    watcher->set_flush([inv] { inv->Flush(1s); });
    filesystem->set_observer(watcher.get());
    if (inotify) {
      // Created now so the watcher's hooks can reach it; watching starts
      // once the mount is up (StartEvents).
      inotify_source = std::make_unique<watch::InotifySource>(watcher.get(), source, events_trusted,
                                                              /*held_only=*/true);
      watch::InotifySource* in = inotify_source.get();
      watcher->set_dir_hooks(
          [in](const std::string& dir) { in->Watch(dir); },
          [in](const std::unordered_set<std::string>& held) { in->Retain(held); });
    }
    if (Status s = watcher->Start(); !s.ok()) {
      *error = "source \"" + source_name + "\": " + std::strerror(s.error().code);
      return false;
    }
    watch::Watcher* w = watcher.get();
    fs::InodeTable* inodes = &filesystem->inodes();
    metrics->SetLive({[w] { return w->StalenessSeconds(); },
                      [w] { return double(w->WatchedEntries()); },
                      [inodes] { return double(inodes->Size()); }});
    return true;
  }

  // How long the kernel may cache, and the init callback that asks for the
  // capabilities this needs.
  void SetUpKernelCache(const std::string& description) {
    const config::Options& o = options;
    ctx.fs = filesystem.get();
    ctx.metrics = metrics.get();
    std::chrono::milliseconds fallback = watching ? kWatchedTimeout : kUnwatchedTimeout;
    ctx.cache.entry_timeout = Seconds(o.entry_timeout.value_or(fallback));
    ctx.cache.attr_timeout = Seconds(o.attr_timeout.value_or(fallback));
    ctx.cache.negative_timeout =
        Seconds(o.negative_timeout.value_or(watching ? kWatchedTimeout : 0ms));
    bool kernel_cache = o.kernel_cache.value_or(watching);
    ctx.cache.keep_cache = kernel_cache;
    ctx.cache.cache_readdir = kernel_cache;
    ctx.cache.explicit_inval_data = watching;
    ctx.cache.no_open = o.read_only && kernel_cache && !o.revalidate_on_open;
    ctx.cache.push_small_files = o.push_small_files && watching;
    invalidator->set_on_unsupported([this] { ctx.notifications_unsupported = true; });
    ctx.on_init = [this, description](fuse_conn_info* conn) { OnInit(conn, description); };
  }

  void OnInit(fuse_conn_info* conn, const std::string& description) {
    ctx.kernel_minor = conn->proto_minor;
    conn->want |= FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_CACHE_SYMLINKS;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // writes reach the source before write() returns
    WantPosixSemantics(conn);
    if (ctx.cache.explicit_inval_data && (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA)) {
      // Our own writes change mtime; the kernel must not drop the writer's
      // pages for that. Remote changes are invalidated explicitly.
      conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
      conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    }
    if (ctx.cache.no_open && !(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)) ctx.cache.no_open = false;
    if (ctx.cache.no_open) conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
    if (conn->max_write < (1u << 20)) conn->max_write = 1u << 20;
    // With long kernel caching, every readdir batch carries attributes, not
    // only the first (the kernel's "auto" mode, which expects a stat after
    // each batch; `ls -l` and most tools read the whole directory first):
    // one listing then fills the kernel's caches, and `ls -l` of 10,000
    // names is not 10,000 lookups (4x faster; a bare listing is slower).
    if (ctx.cache.cache_readdir && (conn->capable & FUSE_CAP_READDIRPLUS)) {
      conn->want |= FUSE_CAP_READDIRPLUS;
      conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    }
    spdlog::info(
        "mounted {} at {} (pid {}; poll {}ms, events {}, entry/attr timeout {}s/{}s, "
        "kernel cache {})",
        description, mountpoint, ::getpid(), options.poll_interval.count(),
        inotify     ? "inotify"
        : s3_events ? "s3 webhook"
                    : "none",
        ctx.cache.entry_timeout, ctx.cache.attr_timeout, ctx.cache.keep_cache ? "on" : "off");
    if (on_ready) on_ready();
  }

  // What makes the mount behave as the source does for each caller
  // (docs/posix.md#kernel-and-libfuse).
  void WantPosixSemantics(fuse_conn_info* conn) {
    // The caller's umask reaches us unapplied, so that a source directory's
    // default ACL can replace it as it would for the caller (FUSE 7.12).
    if (conn->capable & FUSE_CAP_DONT_MASK) {
      conn->want |= FUSE_CAP_DONT_MASK;
    } else {
      spdlog::warn(
          "this kernel applies the umask itself (no FUSE_DONT_MASK): default ACLs "
          "of the source's directories do not replace it");
    }
    // The kernel clears set-user-ID and set-group-ID bits on writes and
    // truncations with a SETATTR, judging the caller's own CAP_FSETID; we
    // never take that over (libfuse 3.14 could not hand us the kernel's
    // verdict: FUSE_HANDLE_KILLPRIV_V2 and its flags are unknown to it).
    // After an open with O_TRUNC done in the OPEN itself, though, the kernel
    // skips that SETATTR: directory sources truncate with it instead. S3
    // keeps O_TRUNC in the open (an object about to be emptied is then not
    // downloaded first), and S3 files have no such bits.
    conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
    conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV_V2;
#endif
    if (!s3) conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
  }

  // --events-address: bound before the mount (a bad address fails it);
  // events are applied once the mount is up (StartEvents).
  bool BindEvents(std::string* error) {
    if (!s3 || !options.events_address || !watcher) return true;
    s3_events = std::make_unique<watch::S3EventSource>(
        watcher.get(), metrics.get(),
        watch::S3EventSource::Settings{.bucket = s3->bucket,
                                       .prefix = s3->prefix,
                                       .address = *options.events_address,
                                       .token_file = options.events_token_file.value_or("")});
    *error = s3_events->Start();
    return error->empty();
  }

  bool MountSession(std::string* error) {
    fs::SessionSettings ss;
    ss.mountpoint = mountpoint;
    ss.fsname = source_name;
    ss.allow_other = options.allow_other;
    ss.read_only = options.read_only;
    ss.debug = options.debug;
    ss.max_threads = options.max_threads;
    ss.resume = resume->init();
    if (predecessor) {
      // The session owns the descriptor from here on.
      ss.mountpoint = "/dev/fd/" + std::to_string(predecessor->fuse_fd.release());
      if (!FuseFdOf(mountpoint)) ss.unmount_path = mountpoint;
    }
    session = fs::FuseSession::Mount(&ctx, ss, error);
    if (!session) return false;
    resume->Start(*filesystem, *session);
    notifier = std::make_unique<invalidate::FuseNotifier>(session->raw(), &ctx.kernel_minor);
    invalidator->Start(notifier.get());
    return true;
  }

  // inotify starts once the mount is up; a sync right after covers changes
  // made between the initial scan and the watches.
  void StartEvents() {
    if (self_check) self_check->Start();
    if (s3_events) s3_events->Run();
    if (!inotify_source) return;
    // Started empty; then every directory recorded by now (the root, and
    // what the kernel was handed meanwhile: later ones come by the hook).
    Status s = inotify_source->Start(watch::Snapshot{});
    if (!s.ok()) {
      spdlog::warn("inotify unavailable ({}); relying on periodic sync", s.error().Describe());
      return;  // its Watch()/Retain() do nothing now
    }
    watcher->CopySnapshot().ForEach([this](const std::string& path, const watch::EntryState& st) {
      if (st.is_dir()) inotify_source->Watch(path);
    });
    // What changed before the watches: the directories the kernel holds.
    watcher->RequestSync();
  }

  // A successor lists the directories the kernel holds before it tells the
  // predecessor to go (DONE): the predecessor's last sync, after DONE, then
  // covers every change up to a point this watcher has seen, so none falls
  // between the two daemons (docs/resume.md#upgrade). Within the pause.
  void FirstLookAfterPredecessor() {
    if (!predecessor || !watcher) return;
    if (!watcher->SyncNow())
      spdlog::warn(
          "take-over: the first look at the source failed; a change made during the "
          "hand-over may be found only by the predecessor's last sync");
  }

  // --take-over: the running daemon stops serving and hands over its
  // connection, state and control socket (its requests in flight answered).
  // Under a supervisor (MOUNTPOINT /dev/fd/N, --control-fd): the running
  // daemon listens on the socket inherited as --control-fd.
  bool TakeOver(std::string* error) {
    const std::string address =
        options.control_fd ? ListenerAddress(*options.control_fd) : ControlSocketPath(mountpoint);
    predecessor = Predecessor::Connect(address, version, error);
    if (!predecessor) return false;
    spdlog::info("take-over: pid {} (version {}) stopped serving {}", predecessor->pid,
                 predecessor->version, mountpoint);
    return true;
  }

  // The control socket successors connect to: handed over by the
  // predecessor, inherited (--control-fd), or bound at the path derived
  // from the mountpoint. Without one the volume cannot be taken over, and
  // serves all the same.
  void StartControl() {
    if (!options.resumable && !predecessor) return;
    const bool standalone = !FuseFdOf(mountpoint);
    const std::string path = standalone ? ControlSocketPath(mountpoint) : "";
    UniqueFd listener;
    std::string why;
    if (predecessor) {
      listener = std::move(predecessor->listener_fd);
    } else if (options.control_fd) {
      listener.reset(::fcntl(*options.control_fd, F_DUPFD_CLOEXEC, 3));
      why = listener.valid() ? CheckControlListener(listener.get()) : std::strerror(errno);
      if (!why.empty()) listener.reset();
      why = "--control-fd " + std::to_string(*options.control_fd) + ": " + why;
    } else if (standalone) {
      listener = ListenControlSocket(path, &why);
    }
    if (!listener.valid()) {
      if (!why.empty()) spdlog::warn("no take-over of this volume possible: {}", why);
      return;
    }
    ControlServer::Hooks hooks;
    hooks.quiesce = [this](std::string* why) { return Quiesce(why); };
    hooks.finish = [this](bool taken, pid_t pid) { FinishHandOver(taken, pid); };
    control = std::make_unique<ControlServer>(std::move(listener), version, std::move(hooks));
    if (!path.empty()) control->set_unlink_path(path);
  }

  std::optional<Quiesced> Quiesce(std::string* why) {
    {
      std::lock_guard lock(hand_over_mu);
      if (stopping) {
        *why = "this daemon is stopping";
        return std::nullopt;
      }
      hand_over = HandOver::kQuiescing;
    }
    session->Exit();  // returns once every request read was answered
    Quiesced q;
    q.stopped_ns = MonotonicNs();
    // Data written to S3 files still open would die with this process:
    // uploaded now (within the pause), the successor gets them whole.
    if (size_t failed = filesystem->SaveUnsaved())
      spdlog::warn(
          "take-over: {} open files could not be uploaded; their descriptors fail "
          "with EIO after the hand-over",
          failed);
    resume->Hold();
    q.fuse_fd = fuse_session_fd(session->raw());
    q.state_fd = resume->fd();
    q.listener_fd = control->listener();
    return q;
  }

  void FinishHandOver(bool taken, pid_t pid) {
    if (!taken) resume->Release();
    std::lock_guard lock(hand_over_mu);
    hand_over = taken ? HandOver::kTaken : HandOver::kFailed;
    successor = pid;
    hand_over_cv.notify_all();
  }

  // After the loop stopped: true if it is to serve again (a hand-over that
  // did not happen); false to end (a signal, or the volume was taken).
  bool ServeAgain() {
    std::unique_lock lock(hand_over_mu);
    hand_over_cv.wait(lock, [this] { return hand_over != HandOver::kQuiescing; });
    if (hand_over != HandOver::kFailed || stopping) return false;
    hand_over = HandOver::kNone;
    session->Rearm();
    return true;
  }

  bool HandedOver() {
    std::lock_guard lock(hand_over_mu);
    return hand_over == HandOver::kTaken;
  }

  // The successor serves. Changes the successor's watcher may have missed
  // (made before its first look, after our last) are found by one more
  // sync of ours; then we leave without unmounting.
  void LeaveToSuccessor() {
    bool signalled;
    {
      std::lock_guard lock(hand_over_mu);
      signalled = stopping;
    }
    if (watcher && !signalled) {
      watcher->SyncNow();
      invalidator->Flush(std::chrono::seconds(2));
    }
    session->Abandon();
    if (control) control->Stop();
    Stop();
    spdlog::info("handed {} over to pid {}; exiting", mountpoint, successor);
  }

  // A successor: the predecessor may exit now. The pause applications saw
  // ends with this daemon's first answer: recorded then.
  void TookOver() {
    if (!predecessor) return;
    const int64_t stopped_ns = predecessor->stopped_ns;
    session->AfterNextAnswer([this, stopped_ns] {
      const double pause = double(MonotonicNs() - stopped_ns) / 1e9;
      metrics->ResumePaused(pause);
      spdlog::info("take-over: first answer {:.3f} s after the predecessor's last", pause);
    });
    if (!predecessor->Done())
      spdlog::warn("take-over: could not tell pid {} that this daemon serves", predecessor->pid);
    spdlog::info("take-over: serving {}", mountpoint);
  }

  // Stops everything that may talk to the kernel on its own. Safe to call
  // while the FUSE loop still runs (that is the point: see signals.h).
  void StopFreshness() {
    // The signal thread and the FUSE loop's end may both get here at once
    // (an unmount racing a SIGTERM): one stops everything, the other waits
    // for that, so no thread is ever joined twice.
    std::lock_guard lock(stop_mu);
    if (self_check) self_check->Stop();
    if (s3_events) s3_events->Stop();
    if (inotify_source) inotify_source->Stop();
    if (watcher) watcher->Stop();
    if (invalidator) invalidator->Stop();
    if (resume) resume->Stop();
  }
  void Stop() {
    if (control) control->Stop();
    StopFreshness();
    std::lock_guard lock(stop_mu);
    session.reset();  // unmounts (unless handed over)
  }
  // Asks the FUSE loop to end; a no-op once the session is gone.
  void ExitSession() {
    std::lock_guard lock(stop_mu);
    if (session) session->Exit();
  }
};

Volume::Volume(const config::Options& options, const Checked& source, std::string mountpoint,
               std::string version)
    : parts_(std::make_unique<Parts>()) {
  parts_->options = options;
  parts_->source = source.path;
  parts_->source_name = source.name.empty() ? source.path : source.name;
  parts_->mountpoint = std::move(mountpoint);
  parts_->version = std::move(version);
}

Volume::~Volume() {
  parts_->Stop();
  // prometheus-cpp's Exposer drops its /metrics handler before it stops
  // listening, so a scrape during its destruction would get a 404. The
  // process is about to exit: the exposer and what it serves are left for
  // the exit to tear down, so a scrape gets a whole page or a closed socket.
  if (Parts& p = *parts_; p.exposer) {
    p.metrics->SetLive({});  // those read the watcher, which goes away now
    IgnoreLeak(p.exposer.release());
    IgnoreLeak(p.metrics.release());
    IgnoreLeak(new std::shared_ptr<prometheus::Collectable>(p.process_collector));
  }
}

bool Volume::Mount(std::function<void()> on_ready, std::string* error) {
  bool mounted = MountParts(std::move(on_ready), error);
  // The predecessor serves on (and the volume never goes dead) if this
  // successor cannot.
  if (!mounted && parts_->predecessor) parts_->predecessor->Refuse(*error);
  return mounted;
}

bool Volume::MountParts(std::function<void()> on_ready, std::string* error) {
  Parts& p = *parts_;
  p.on_ready = std::move(on_ready);
  std::string reason;
  p.s3 = config::ParseS3Source(p.source, &reason);
  if (!p.StartMetrics(error)) return false;
  std::unique_ptr<store::Store> store;
  if (!p.OpenStore(&store, error)) return false;
  std::string description = store->Describe();
  p.ChooseChangeSources();
  p.filesystem = std::make_unique<fs::FileSystem>(
      store::Instrument(std::move(store), p.metrics.get()), p.FsSettings());
  p.invalidator = std::make_unique<invalidate::Invalidator>(p.metrics.get());
  // Everything that takes long (the store, the S3 client) is ready before
  // the running daemon is asked to stop.
  if (p.options.take_over && !p.TakeOver(error)) return false;
  p.resume = VolumeResume::Open(p.options, p.options.source, error,
                                p.predecessor ? std::move(p.predecessor->state_fd) : UniqueFd());
  if (!p.resume || !p.resume->Restore(*p.filesystem, error)) return false;
  if (!p.StartWatcher(error)) return false;
  p.FirstLookAfterPredecessor();
  if (!p.BindEvents(error)) return false;
  p.SetUpKernelCache(description);
  if (!p.MountSession(error)) return false;
  p.resume->AfterCrash(*p.filesystem, *p.invalidator);
  p.StartEvents();
  return true;
}

int Volume::MetricsPort() const { return parts_->MetricsPort(); }

int Volume::Serve() {
  Parts& p = *parts_;
  pthread_t loop_thread = pthread_self();
  std::atomic<bool> loop_done{false};
  SignalThread signals([&p, &loop_done, loop_thread](int signo) {
    {
      std::lock_guard lock(p.hand_over_mu);
      p.stopping = true;
    }
    spdlog::info("signal {}: unmounting {}", signo, p.mountpoint);
    p.StopFreshness();
    p.ExitSession();
    // The loop notices Exit() when its wait is interrupted; repeat in case
    // the first interrupt lands just before the wait begins.
    while (!loop_done.load()) {
      SignalThread::Interrupt(loop_thread);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  p.StartControl();
  p.TookOver();
  fs::RequestLoop::End end;
  do end = p.session->Run();
  while (end == fs::RequestLoop::End::kStopped && p.ServeAgain());
  int rc = end == fs::RequestLoop::End::kError ? 1 : 0;
  loop_done = true;
  if (p.HandedOver()) {
    p.LeaveToSuccessor();
    return 0;
  }
  p.Stop();
  spdlog::info("unmounted {}", p.mountpoint);
  return rc == 0 ? 0 : 1;
}

}  // namespace freshfs::mount
