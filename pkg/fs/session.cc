#include "fs/session.h"

#include <fuse_lowlevel.h>
#include <spdlog/spdlog.h>

#include <poll.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

namespace freshfs::fs {
namespace {

// libfuse reports mount errors through its log function; keep the last
// error line so Mount() can give the user one clear sentence, and send the
// rest to our log.
std::mutex g_log_mu;
std::string g_last_fuse_error;

void FuseLog(enum fuse_log_level level, const char* fmt, va_list ap) {
  char line[1024];
  std::vsnprintf(line, sizeof line, fmt, ap);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (level <= FUSE_LOG_ERR) {
    std::lock_guard lock(g_log_mu);
    g_last_fuse_error = text;
  }
  // Errors reach the log through whoever fails on them (g_last_fuse_error).
  if (level > FUSE_LOG_ERR && level <= FUSE_LOG_NOTICE) spdlog::info("libfuse: {}", text);
  else spdlog::debug("libfuse: {}", text);
}

std::string EscapeOption(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// What fuse_session_unmount() does for a mountpoint it mounted: nothing if
// the connection is gone already (unmounted by the user), else a lazy
// unmount, by fusermount3 without privilege.
void UnmountTakenOver(int fd, const std::string& path) {
  pollfd p{fd, 0, 0};
  if (::poll(&p, 1, 0) == 1 && (p.revents & POLLERR)) return;
  if (::geteuid() == 0) {
    if (::umount2(path.c_str(), MNT_DETACH) != 0)
      spdlog::warn("cannot unmount {}: {}", path, std::strerror(errno));
    return;
  }
  const char* argv[] = {"fusermount3", "-u", "-q", "-z", "--", path.c_str(), nullptr};
  pid_t pid = 0;
  if (::posix_spawnp(&pid, "fusermount3", nullptr, nullptr, const_cast<char**>(argv), environ) != 0)
    return;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

std::unique_ptr<FuseSession> FuseSession::Mount(FuseContext* ctx, const SessionSettings& settings,
                                                std::string* error) {
  fuse_set_log_func(FuseLog);
  // The kernel checks permissions against the attributes we report (the
  // daemon itself usually runs as root and would otherwise allow anything).
  std::string opts =
      "fsname=" + EscapeOption(settings.fsname) + ",subtype=freshfs,default_permissions";
  if (settings.allow_other) opts += ",allow_other";
  if (settings.read_only) opts += ",ro";
  std::vector<std::string> argv_storage = {"freshfs-mount", "-o", opts};
  if (settings.debug) argv_storage.push_back("-d");
  std::vector<char*> argv;
  argv.reserve(argv_storage.size());
  for (auto& a : argv_storage) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(int(argv.size()), argv.data());

  const fuse_lowlevel_ops& ops = FuseOperations();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, ctx);
  fuse_opt_free_args(&args);
  if (!se) {
    *error = "cannot create the FUSE session: " + g_last_fuse_error;
    return nullptr;
  }
  {
    std::lock_guard lock(g_log_mu);
    g_last_fuse_error.clear();
  }
  if (fuse_session_mount(se, settings.mountpoint.c_str()) != 0) {
    std::lock_guard lock(g_log_mu);
    *error = "cannot mount on " + settings.mountpoint +
             (g_last_fuse_error.empty() ? "" : ": " + g_last_fuse_error);
    fuse_session_destroy(se);
    return nullptr;
  }
  std::unique_ptr<FuseSession> session(new FuseSession(se, ctx, settings));
  if (settings.resume) {
    // The kernel answered INIT long ago: replay it so libfuse knows the
    // connection (its answer goes to a request id the kernel no longer
    // has, and libfuse ignores that ENOENT).
    ctx->resume_init = *settings.resume;
    std::string request = settings.resume->request;
    fuse_buf buf{};
    buf.mem = request.data();
    buf.size = request.size();
    fuse_session_process_buf(se, &buf);
    if (ctx->conn == nullptr || fuse_session_exited(se)) {
      *error = "libfuse did not accept the predecessor's INIT: " + g_last_fuse_error;
      session->mounted_ = false;
      return nullptr;
    }
  }
  return session;
}

FuseSession::FuseSession(fuse_session* se, FuseContext* ctx, SessionSettings settings)
    : se_(se), ctx_(ctx), settings_(std::move(settings)) {
  loop_ = std::make_unique<RequestLoop>(
      se_, settings_.max_threads, [this](std::string_view init) { InitAnswered(init); },
      [ctx] {
        if (ctx->metrics) ctx->metrics->FuseRequestResent();
      });
}

void FuseSession::InitAnswered(std::string_view request) {
  if (!on_init_answered_ || ctx_->conn == nullptr) return;
  const fuse_conn_info& c = *ctx_->conn;
  KernelInit init;
  init.request.assign(request);
  init.want = c.want;
  init.max_write = c.max_write;
  init.max_readahead = c.max_readahead;
  init.max_background = c.max_background;
  init.congestion_threshold = c.congestion_threshold;
  init.time_gran = c.time_gran;
  init.proto_minor = c.proto_minor;
  on_init_answered_(init);
}

RequestLoop::End FuseSession::Run() { return loop_->Run(); }

void FuseSession::Exit() { loop_->Stop(); }

FuseSession::~FuseSession() {
  loop_.reset();
  if (mounted_ && !settings_.unmount_path.empty())
    UnmountTakenOver(fuse_session_fd(se_), settings_.unmount_path);
  if (mounted_) fuse_session_unmount(se_);
  fuse_session_destroy(se_);
}

}  // namespace freshfs::fs
