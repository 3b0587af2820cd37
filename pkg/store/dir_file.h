// DirFile: an open file of a DirStore, a thin owner of one descriptor.
// Thread-safe: positional I/O only (pread/pwrite), no shared offset.
#pragma once

#include "store/store.h"
#include "util/unique_fd.h"

namespace freshfs::store {

class DirFile final : public FileHandle {
 public:
  explicit DirFile(UniqueFd fd) : fd_(std::move(fd)) {}

  Result<size_t> Read(char* buf, size_t size, off_t offset) override;
  Result<size_t> Write(const char* buf, size_t size, off_t offset) override;
  Result<struct stat> Stat() override;
  Status SetAttr(const AttrChange& change) override;
  Status Flush() override;
  Status Fsync(bool datasync) override;
  Status Allocate(int mode, off_t offset, off_t length) override;
  Result<off_t> Seek(off_t offset, int whence) override;

 private:
  UniqueFd fd_;
};

}  // namespace freshfs::store
