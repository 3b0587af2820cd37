#include "mount/resume.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "invalidate/notifier.h"

namespace freshfs::mount {

VolumeResume::VolumeResume(std::unique_ptr<fs::StateJournal> journal,
                           std::optional<config::Options::ResumeCause> cause)
    : journal_(std::move(journal)), cause_(cause) {
  if (cause_) init_ = journal_->Init();
}

VolumeResume::~VolumeResume() { Stop(); }

std::unique_ptr<VolumeResume> VolumeResume::Open(const config::Options& options,
                                                 const std::string& owner, std::string* error,
                                                 UniqueFd handed) {
  std::optional<config::Options::ResumeCause> cause = options.resume;
  UniqueFd fd;
  if (!options.resumable && !handed.valid()) {
    return std::unique_ptr<VolumeResume>(new VolumeResume(nullptr, std::nullopt));
  } else if (handed.valid()) {
    fd = std::move(handed);
    cause = config::Options::ResumeCause::kUpgrade;
  } else if (options.state_fd) {
    // Our own copy: the number stays free for nothing else to land on.
    fd.reset(::fcntl(*options.state_fd, F_DUPFD_CLOEXEC, 3));
    if (!fd.valid()) {
      *error = "--state-fd " + std::to_string(*options.state_fd) + ": " + std::strerror(errno);
      return nullptr;
    }
  } else if (options.resume) {
    *error = "--resume needs the predecessor's state: give --state-fd";
    return nullptr;
  } else {
    fd.reset(::memfd_create("freshfs-state", MFD_CLOEXEC));
    if (!fd.valid()) {
      *error =
          std::string("cannot create the resume state (memfd_create): ") + std::strerror(errno);
      return nullptr;
    }
  }
  std::string why;
  std::unique_ptr<fs::StateJournal> journal =
      cause ? fs::StateJournal::Open(std::move(fd), owner, &why)
            : fs::StateJournal::Create(std::move(fd), owner, &why);
  if (!journal) {
    *error = (cause ? "cannot resume: " : "resume state: ") + why;
    return nullptr;
  }
  return std::unique_ptr<VolumeResume>(new VolumeResume(std::move(journal), cause));
}

bool VolumeResume::Restore(fs::FileSystem& fs, std::string* error) {
  if (!resuming()) return true;
  fs::RestoreReport report;
  std::string why;
  if (!fs::StateKeeper::Restore(*journal_, fs, &report, &why)) {
    *error = "cannot resume: " + why;
    return false;
  }
  spdlog::info(
      "resuming the connection of a predecessor that {}: {} entries the kernel holds, "
      "{} open files ({} lost), {} open directories ({} journal records)",
      *cause_ == config::Options::ResumeCause::kCrash ? "died" : "handed it over", report.inodes,
      report.files, report.lost, report.dirs, report.records);
  return true;
}

void VolumeResume::Start(fs::FileSystem& fs, fs::FuseSession& session) {
  if (!journal_) return;  // --resumable=false
  fs::StateJournal* journal = journal_.get();
  session.set_on_init_answered([journal](const fs::KernelInit& init) { journal->SaveInit(init); });
  keeper_ = std::make_unique<fs::StateKeeper>(journal, &fs);
  keeper_->Start();
}

void VolumeResume::AfterCrash(fs::FileSystem& fs, invalidate::Invalidator& invalidator) {
  if (cause_ != config::Options::ResumeCause::kCrash) return;
  // First the requests the dead daemon had read: their callers wait, and
  // may hold inode locks the invalidations below need.
  invalidate::Notification resend;
  resend.call = [](invalidate::KernelNotifier& k) {
    int rc = k.Resend();
    if (rc == 0) spdlog::info("resume: the kernel resends the requests left unanswered");
    else
      spdlog::warn(
          "resume: the kernel cannot resend unanswered requests ({}); their callers "
          "wait until interrupted (needs Linux 6.9)",
          std::strerror(-rc));
  };
  invalidator.Enqueue(std::move(resend));
  // Nobody watched the source while no daemon ran: whatever the kernel
  // caches may be stale. Names are looked up again, attributes and pages
  // read again (on the next use; nothing is fetched now).
  std::vector<fs::InodeTable::Held> held = fs.inodes().HeldNodes();
  for (const fs::InodeTable::Held& h : held) {
    invalidate::Notification data;
    data.type = invalidate::InvalType::kInodeData;
    data.ino = h.ino;
    invalidator.Enqueue(std::move(data));
    if (h.parent == 0) continue;
    invalidate::Notification entry;
    entry.type = invalidate::InvalType::kEntry;
    entry.parent = h.parent;
    entry.name = h.name;
    invalidator.Enqueue(std::move(entry));
  }
  invalidate::Notification root;
  root.type = invalidate::InvalType::kInodeData;
  root.ino = fs::InodeTable::kRoot;
  invalidator.Enqueue(std::move(root));
}

void VolumeResume::Stop() {
  if (keeper_) keeper_->Stop();
}

void VolumeResume::Hold() {
  if (journal_) journal_->Hold(true);
}

void VolumeResume::Release() {
  if (!journal_) return;
  journal_->Hold(false);
  // The successor may have rewritten it from what it replayed: ours again.
  if (keeper_) keeper_->Compact();
}

}  // namespace freshfs::mount
