// The control socket of a running freshfs-mount, through which a successor
// takes the volume over without unmounting it (docs/resume.md#upgrade).
//
//   successor                                   serving daemon
//   connect (same uid only: SO_PEERCRED)  ->    accept
//   "QUIESCE <version>"                   ->    stops reading requests, answers
//                                               those in flight, stops its journal
//                                   <-    "QUIESCED <stopped ns> <pid> <version>" with
//                                         [fuse fd, state fd, control listener]
//   restores, serves; "DONE"              ->    exits 0 without unmounting
//   (or "REFUSED <why>", or dies)         ->    serves again
//
// Messages are SOCK_SEQPACKET packets of text. A standalone daemon listens
// at ControlSocketPath(mountpoint); under freshfs-csi the listener is
// inherited (--control-fd).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "util/unique_fd.h"

namespace freshfs::mount {

// /run/freshfs/<hash>.sock for root, else $XDG_RUNTIME_DIR/freshfs/<hash>.sock
// (or /tmp/freshfs-<uid>/...): hash = the first 32 hex digits of the
// SHA-256 of the canonical mountpoint.
std::string ControlSocketPath(const std::string& mountpoint);

// Binds and listens at `path` (mode 0600, its directory created 0700). A
// socket file nobody answers on is a leftover and replaced.
UniqueFd ListenControlSocket(const std::string& path, std::string* error);
// Where listening socket `fd` can be reached ("@name" for an abstract
// address), "" if nowhere.
std::string ListenerAddress(int fd);
// A listening SOCK_SEQPACKET socket of its own (tests, freshfs-csi): ""
// on success, else why `fd` is not one.
std::string CheckControlListener(int fd);

// CLOCK_MONOTONIC in nanoseconds (the same clock in both daemons).
int64_t MonotonicNs();

// What a serving daemon gives its successor.
struct Quiesced {
  int fuse_fd = -1;  // borrowed: sent, not closed
  int state_fd = -1;
  int listener_fd = -1;
  int64_t stopped_ns = 0;  // when the last request was answered
};

// Serves the control socket of a running daemon: one thread, one successor
// at a time. The hooks run on that thread.
class ControlServer {
 public:
  struct Hooks {
    // Stop serving and say what to hand over; nullopt (with *why) if this
    // daemon cannot hand over now (still starting, stopping).
    std::function<std::optional<Quiesced>(std::string* why)> quiesce;
    // After quiesce: true once the successor serves (this daemon exits),
    // false if it refused or died (this daemon serves again).
    std::function<void(bool taken, pid_t successor)> finish;
  };
  ControlServer(UniqueFd listener, std::string version, Hooks hooks);
  ~ControlServer();
  // Ends the thread (no-op after a hand-over). `unlink_path`: the socket
  // file to remove, unless the listener went to a successor.
  void Stop();
  void set_unlink_path(std::string path) { unlink_path_ = std::move(path); }
  int listener() const { return listener_.get(); }

 private:
  void Loop();
  // True once the successor took over.
  bool Serve(int conn);

  UniqueFd listener_;
  std::string version_;
  Hooks hooks_;
  std::string unlink_path_;
  std::atomic<bool> stop_{false};
  bool handed_over_ = false;
  std::thread thread_;
};

// The successor's side: connected to a serving daemon, which has stopped
// and handed over what it served with.
class Predecessor {
 public:
  // Connects to `path`, asks the daemon there to quiesce and waits for it
  // (at most 30 s). nullptr with *error saying why.
  static std::unique_ptr<Predecessor> Connect(const std::string& path, const std::string& version,
                                              std::string* error);
  UniqueFd fuse_fd, state_fd, listener_fd;
  int64_t stopped_ns = 0;
  std::string version;
  pid_t pid = 0;

  // The successor serves: the predecessor exits.
  bool Done();
  // The successor will not serve: the predecessor serves again.
  void Refuse(const std::string& why);

 private:
  UniqueFd conn_;
};

}  // namespace freshfs::mount
