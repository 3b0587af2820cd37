// KernelNotifier: the four kernel cache notifications freshfs sends, behind
// an interface so the Invalidator can be tested without a kernel.
// FuseNotifier sends them on a live session with libfuse.
//
// Each call may block until the kernel has taken the locks it needs (an
// inval_entry waits for the parent directory's inode lock); call only from
// the Invalidator's thread. Each returns 0 or a negative errno.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <cerrno>
#include <string_view>

namespace freshfs::invalidate {

class KernelNotifier {
 public:
  virtual ~KernelNotifier() = default;
  virtual int InvalEntry(fuse_ino_t parent, std::string_view name) = 0;
  // Marks the entry expired without detaching mounts on it (FUSE_CAP_EXPIRE_ONLY).
  virtual int ExpireEntry(fuse_ino_t parent, std::string_view name) = 0;
  virtual int Delete(fuse_ino_t parent, fuse_ino_t child, std::string_view name) = 0;
  // off = 0, len = 0: attributes and all cached data; off = -1: attributes only.
  virtual int InvalInode(fuse_ino_t ino, off_t off, off_t len) = 0;
  // Puts `data` into the page cache of `ino` from offset 0.
  virtual int Store(fuse_ino_t ino, std::string_view data) = 0;
  // Invalidates every cached name at once (FUSE_NOTIFY_INC_EPOCH, Linux 6.16+);
  // -ENOSYS where the kernel lacks it.
  virtual int IncrementEpoch() = 0;
  // Asks the kernel for the pages of `ino` it caches from `offset` on (up
  // to `size` bytes, stopping at the first page it does not hold); they
  // arrive as a retrieve_reply request carrying `cookie`. -ENOENT: the
  // kernel holds no such inode (no reply comes then).
  virtual int Retrieve(fuse_ino_t ino, off_t offset, size_t size, void* cookie) {
    (void)ino, (void)offset, (void)size, (void)cookie;
    return -ENOSYS;
  }
  // Asks the kernel to queue again every request a daemon read and did not
  // answer (FUSE_NOTIFY_RESEND, Linux 6.9+): a successor answers them.
  // -ENOSYS where the kernel lacks it.
  virtual int Resend() { return -ENOSYS; }
};

class FuseNotifier final : public KernelNotifier {
 public:
  // `kernel_minor`: the FUSE protocol minor version the kernel speaks, set
  // when the connection is initialized (0 until then).
  FuseNotifier(fuse_session* se, const std::atomic<unsigned>* kernel_minor)
      : se_(se), kernel_minor_(kernel_minor) {}
  int InvalEntry(fuse_ino_t parent, std::string_view name) override {
    return fuse_lowlevel_notify_inval_entry(se_, parent, name.data(), name.size());
  }
  int ExpireEntry(fuse_ino_t parent, std::string_view name) override {
    return fuse_lowlevel_notify_expire_entry(se_, parent, name.data(), name.size(),
                                             FUSE_LL_EXPIRE_ONLY);
  }
  int Delete(fuse_ino_t parent, fuse_ino_t child, std::string_view name) override {
    return fuse_lowlevel_notify_delete(se_, parent, child, name.data(), name.size());
  }
  int InvalInode(fuse_ino_t ino, off_t off, off_t len) override {
    return fuse_lowlevel_notify_inval_inode(se_, ino, off, len);
  }
  int Store(fuse_ino_t ino, std::string_view data) override {
    fuse_bufvec buf = FUSE_BUFVEC_INIT(data.size());
    buf.buf[0].mem = const_cast<char*>(data.data());
    return fuse_lowlevel_notify_store(se_, ino, 0, &buf, fuse_buf_copy_flags(0));
  }
  int IncrementEpoch() override;
  int Resend() override;
  int Retrieve(fuse_ino_t ino, off_t offset, size_t size, void* cookie) override {
    return fuse_lowlevel_notify_retrieve(se_, ino, size, offset, cookie);
  }

 private:
  // A notification that is only a header (no libfuse wrapper), which the
  // kernel knows from protocol 7.`since_minor` on; -ENOSYS before.
  int SendBare(int32_t code, unsigned since_minor);

  fuse_session* se_;
  const std::atomic<unsigned>* kernel_minor_;
};

}  // namespace freshfs::invalidate
