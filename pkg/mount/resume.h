// VolumeResume: a volume's resume state (docs/resume.md), from the mount's
// side. Every daemon keeps its state in a journal (--state-fd, or a memfd of
// its own); a daemon started with --resume restores its predecessor's from
// it and serves on that daemon's kernel connection:
//
//   Open()        the journal: a new one, or with --resume the predecessor's
//                 (refused cleanly: another format, source or damage);
//   Restore()     replays it into the fresh FileSystem (before the watcher's
//                 first scan, which then covers the directories the kernel
//                 holds);
//   init()        the INIT to replay in place of the kernel's;
//   Start()       keeps the journal current from now on;
//   AfterCrash()  once serving, after a predecessor that died: the kernel
//                 resends the requests it had read (Linux 6.9+), and
//                 everything the kernel caches is invalidated (what changed
//                 while nobody watched is unknown). Not after a hand-over:
//                 the predecessor answered everything and watched until
//                 the successor did, so the kernel's caches stay.
//   Hold()/Release()  around a hand-over to a successor: the journal is
//                 left alone while the successor may read and rewrite it;
//                 if the successor does not take over, Release() writes
//                 the live state anew.
//
// With --resumable=false there is no journal: every call does nothing.
//
// Used from the main thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/options.h"
#include "fs/filesystem.h"
#include "fs/session.h"
#include "fs/state_journal.h"
#include "fs/state_keeper.h"
#include "invalidate/invalidator.h"

namespace freshfs::mount {

class VolumeResume {
 public:
  // `owner`: what the state belongs to (the SOURCE argument).
  // `handed`: the state a predecessor handed over (--take-over); else the
  // journal of --state-fd or a new one.
  static std::unique_ptr<VolumeResume> Open(const config::Options& options,
                                            const std::string& owner, std::string* error,
                                            UniqueFd handed = {});
  ~VolumeResume();

  bool resuming() const { return cause_.has_value(); }
  const fs::KernelInit* init() const { return resuming() ? &init_ : nullptr; }

  bool Restore(fs::FileSystem& fs, std::string* error);
  void Start(fs::FileSystem& fs, fs::FuseSession& session);
  void AfterCrash(fs::FileSystem& fs, invalidate::Invalidator& invalidator);
  void Stop();
  int fd() const { return journal_ ? journal_->fd() : -1; }
  void Hold();
  void Release();

 private:
  VolumeResume(std::unique_ptr<fs::StateJournal> journal,
               std::optional<config::Options::ResumeCause> cause);

  std::unique_ptr<fs::StateJournal> journal_;
  std::optional<config::Options::ResumeCause> cause_;
  fs::KernelInit init_;
  std::unique_ptr<fs::StateKeeper> keeper_;
};

}  // namespace freshfs::mount
