#include "store/dir_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "store/dir_store.h"
#include "store/source_stat.h"

namespace freshfs::store {

Result<size_t> DirFile::Read(char* buf, size_t size, off_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd_.get(), buf + done, size - done, offset + off_t(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{errno};
    }
    if (n == 0) break;  // end of file
    done += size_t(n);
  }
  return done;
}

Result<size_t> DirFile::Write(const char* buf, size_t size, off_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd_.get(), buf + done, size - done, offset + off_t(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (done > 0) break;  // report the partial write
      return Error{errno};
    }
    done += size_t(n);
  }
  return done;
}

Result<struct stat> DirFile::Stat() {
  struct stat st;
  if (SourceStatAt(fd_.get(), "", AT_EMPTY_PATH, &st) != 0) return Error{errno};
  return st;
}

Status DirFile::SetAttr(const AttrChange& change) { return ApplyAttrChange(fd_.get(), change); }

Status DirFile::Flush() {
  // close() of a duplicate tells the source filesystem about the close (NFS
  // close-to-open flushes and writes back here) without losing our descriptor.
  int dup = ::dup(fd_.get());
  if (dup < 0) return Error(errno);
  if (::close(dup) != 0 && errno != EINTR) return Error(errno);
  return Status::Ok();
}

Status DirFile::Fsync(bool datasync) {
  int rc = datasync ? ::fdatasync(fd_.get()) : ::fsync(fd_.get());
  return rc == 0 ? Status::Ok() : Error(errno);
}

Status DirFile::Allocate(int mode, off_t offset, off_t length) {
  return ::fallocate(fd_.get(), mode, offset, length) == 0 ? Status::Ok() : Error(errno);
}

Result<off_t> DirFile::Seek(off_t offset, int whence) {
  off_t r = ::lseek(fd_.get(), offset, whence);
  if (r < 0) return Error{errno};
  return r;
}

}  // namespace freshfs::store
