#include "store/source_stat.h"

#include <fcntl.h>
#include <sys/sysmacros.h>

#include <cstdint>

namespace freshfs::store {
namespace {

timespec TimeOf(const struct statx_timestamp& t) { return timespec{t.tv_sec, t.tv_nsec}; }

}  // namespace

int SourceStatAt(int dirfd, const char* name, int flags, struct stat* st) {
  struct statx x;
  if (::statx(dirfd, name, flags, STATX_BASIC_STATS | STATX_BTIME, &x) != 0) return -1;
  *st = {};
  st->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
  st->st_ino = x.stx_ino;
  st->st_mode = x.stx_mode;
  st->st_nlink = x.stx_nlink;
  st->st_uid = x.stx_uid;
  st->st_gid = x.stx_gid;
  st->st_rdev = makedev(x.stx_rdev_major, x.stx_rdev_minor);
  st->st_size = off_t(x.stx_size);
  st->st_blksize = blksize_t(x.stx_blksize);
  st->st_blocks = blkcnt_t(x.stx_blocks);
  st->st_atim = TimeOf(x.stx_atime);
  st->st_mtim = TimeOf(x.stx_mtime);
  st->st_ctim = TimeOf(x.stx_ctime);
  if (x.stx_mask & STATX_BTIME) {
    const uint64_t birth = uint64_t(x.stx_btime.tv_sec) * 1'000'000'000 + x.stx_btime.tv_nsec;
    const ino_t folded = st->st_ino ^ ino_t(birth * 0x9e3779b97f4a7c15ULL);
    if (folded != 0) st->st_ino = folded;  // readdir(3) skips entries with inode 0
  }
  return 0;
}

}  // namespace freshfs::store
