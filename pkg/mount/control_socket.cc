#include "mount/control_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "s3/sigv4.h"
#include "util/quote.h"

namespace freshfs::mount {
namespace {

constexpr size_t kMaxMessage = 256;
constexpr int kHandOverFds = 3;
// How long a successor waits for the daemon to quiesce (its requests in
// flight may wait on the source), and the daemon for the successor's word.
constexpr int kQuiesceTimeoutSeconds = 30;
constexpr int kSuccessorTimeoutSeconds = 120;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// "@name": an abstract address (no file, so no file permissions between
// a supervisor and children of another user; SO_PEERCRED still checks).
socklen_t FillAddress(const std::string& path, sockaddr_un* addr, std::string* error) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr->sun_path) {
    *error = "control socket path " + Quoted(path) + " is empty or too long";
    return 0;
  }
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  if (path[0] != '@') return sizeof *addr;
  addr->sun_path[0] = '\0';
  return socklen_t(offsetof(sockaddr_un, sun_path) + path.size());
}

// Sends one message, with `fds` attached if any.
bool SendMessage(int sock, const std::string& text, const std::vector<int>& fds = {}) {
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kHandOverFds)] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    return n == ssize_t(text.size());
  }
}

// Receives one message (and any descriptors, which become ours). False on
// end of stream, timeout or error.
bool ReceiveMessage(int sock, std::string* text, std::vector<UniqueFd>* fds = nullptr) {
  char buf[kMaxMessage];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kHandOverFds)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      UniqueFd owned(fd);
      if (fds) fds->push_back(std::move(owned));
    }
  }
  if (n <= 0) return false;
  text->assign(buf, size_t(n));
  return true;
}

void SetTimeouts(int sock, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string FirstWord(const std::string& text) { return text.substr(0, text.find(' ')); }

}  // namespace

int64_t MonotonicNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string ControlSocketPath(const std::string& mountpoint) {
  std::string dir;
  if (::geteuid() == 0) {
    dir = "/run/freshfs";
  } else if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime == '/') {
    dir = std::string(runtime) + "/freshfs";
  } else {
    dir = "/tmp/freshfs-" + std::to_string(::geteuid());
  }
  return dir + "/" + s3::Sha256Hex(mountpoint).substr(0, 32) + ".sock";
}

UniqueFd ListenControlSocket(const std::string& path, std::string* error) {
  const std::string dir = path.substr(0, path.rfind('/'));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = Errno("control socket directory " + Quoted(dir));
    return {};
  }
  // Someone else's directory (a /tmp fallback taken by another user) would
  // let them replace our socket.
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 022)) {
    *error = "control socket directory " + Quoted(dir) +
             " is not a directory of this user writable by it alone";
    return {};
  }
  sockaddr_un addr;
  if (!FillAddress(path, &addr, error)) return {};
  UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock.valid()) {
    *error = Errno("control socket");
    return {};
  }
  const mode_t old_mask = ::umask(0177);
  int rc = ::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EADDRINUSE) {
    // A daemon killed before it could remove its socket leaves the file:
    // replace it, unless a daemon answers there.
    UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      ::umask(old_mask);
      *error = "control socket " + Quoted(path) + ": another daemon serves this mountpoint";
      return {};
    }
    ::unlink(path.c_str());
    rc = ::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  ::umask(old_mask);
  if (rc != 0 || ::listen(sock.get(), 4) != 0) {
    *error = Errno("control socket " + Quoted(path));
    return {};
  }
  return sock;
}

std::string ListenerAddress(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  const size_t name = len - offsetof(sockaddr_un, sun_path);
  if (name == 0) return "";
  if (addr.sun_path[0] == '\0') return "@" + std::string(addr.sun_path + 1, name - 1);
  return std::string(addr.sun_path, strnlen(addr.sun_path, name));
}

std::string CheckControlListener(int fd) {
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return std::strerror(errno);
  len = sizeof listening;
  ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  if (type != SOCK_SEQPACKET || !listening) return "not a listening SOCK_SEQPACKET socket";
  return "";
}

ControlServer::ControlServer(UniqueFd listener, std::string version, Hooks hooks)
    : listener_(std::move(listener)), version_(std::move(version)), hooks_(std::move(hooks)) {
  thread_ = std::thread([this] { Loop(); });
}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (!handed_over_ && !unlink_path_.empty()) {
    ::unlink(unlink_path_.c_str());
    unlink_path_.clear();
  }
}

void ControlServer::Loop() {
  while (!stop_.load()) {
    pollfd p{listener_.get(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 ||
        peer.uid != ::geteuid()) {
      spdlog::warn("control socket: refused a connection from uid {} (only uid {} may take over)",
                   peer.uid, ::geteuid());
      continue;
    }
    SetTimeouts(conn.get(), 5);
    if (Serve(conn.get())) {
      handed_over_ = true;
      return;
    }
  }
}

bool ControlServer::Serve(int conn) {
  ucred peer{};
  socklen_t len = sizeof peer;
  ::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &peer, &len);
  std::string request;
  if (!ReceiveMessage(conn, &request)) return false;
  if (FirstWord(request) != "QUIESCE") {
    SendMessage(conn, "ERROR unknown request " + Quoted(request.substr(0, 40)));
    return false;
  }
  const std::string their_version = request.size() > 8 ? request.substr(8, 64) : "?";
  spdlog::info("take-over: pid {} ({}) asks for this volume", peer.pid, Quoted(their_version));
  std::string why;
  std::optional<Quiesced> q = hooks_.quiesce(&why);
  if (!q) {
    SendMessage(conn, "BUSY " + why);
    return false;
  }
  const std::string reply = "QUIESCED " + std::to_string(q->stopped_ns) + " " +
                            std::to_string(::getpid()) + " " + version_;
  bool taken = false;
  std::string word;
  if (SendMessage(conn, reply, {q->fuse_fd, q->state_fd, q->listener_fd})) {
    SetTimeouts(conn, kSuccessorTimeoutSeconds);
    std::string answer;
    if (ReceiveMessage(conn, &answer)) {
      taken = answer == "DONE";
      word = answer;
    } else {
      word = "the successor went away";
    }
  } else {
    word = Errno("cannot hand over");
  }
  if (taken) {
    spdlog::info("take-over: pid {} serves this volume now", peer.pid);
  } else {
    spdlog::warn("take-over by pid {} did not happen ({}); serving again", peer.pid,
                 word.substr(0, 200));
  }
  hooks_.finish(taken, peer.pid);
  return taken;
}

std::unique_ptr<Predecessor> Predecessor::Connect(const std::string& path,
                                                  const std::string& version, std::string* error) {
  sockaddr_un addr;
  const socklen_t addr_len = FillAddress(path, &addr, error);
  if (addr_len == 0) return nullptr;
  auto p = std::make_unique<Predecessor>();
  p->conn_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (::connect(p->conn_.get(), reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    *error = Errno("--take-over: no freshfs-mount answers on its control socket " + Quoted(path));
    return nullptr;
  }
  SetTimeouts(p->conn_.get(), kQuiesceTimeoutSeconds);
  if (!SendMessage(p->conn_.get(), "QUIESCE " + version)) {
    *error = Errno("--take-over: control socket");
    return nullptr;
  }
  std::string reply;
  std::vector<UniqueFd> fds;
  errno = 0;  // an end of stream leaves it alone
  if (!ReceiveMessage(p->conn_.get(), &reply, &fds)) {
    *error = std::string("--take-over: the daemon did not hand over") +
             (errno ? std::string(": ") + std::strerror(errno) : "");
    return nullptr;
  }
  std::istringstream words(reply);
  std::string word;
  words >> word;
  if (word != "QUIESCED" || fds.size() != kHandOverFds) {
    *error = "--take-over: the daemon refused: " + Quoted(reply.substr(0, 200));
    return nullptr;
  }
  words >> p->stopped_ns >> p->pid >> p->version;
  p->fuse_fd = std::move(fds[0]);
  p->state_fd = std::move(fds[1]);
  p->listener_fd = std::move(fds[2]);
  return p;
}

bool Predecessor::Done() { return SendMessage(conn_.get(), "DONE"); }

void Predecessor::Refuse(const std::string& why) {
  SendMessage(conn_.get(), "REFUSED " + why.substr(0, kMaxMessage - 10));
  conn_.reset();
}

}  // namespace freshfs::mount
