// SourceStatAt: fstatat(2) for directory sources, with the inode number
// folded with the file's birth time where the filesystem keeps one (statx
// STATX_BTIME: ext4, XFS, Btrfs, tmpfs; NFS and others report none and get
// the plain number).
//
// Why: the mount gives each version of an object its own kernel inode,
// keyed by this number (store::VersionOf), and ext4 hands a freed inode
// number straight to the next new file: a writer that renames a new file
// over a name again and again alternates between two numbers. The birth
// time tells the files apart; in-place writes do not change it.
#pragma once

#include <sys/stat.h>

namespace freshfs::store {

// As fstatat(dirfd, name, st, flags); flags may hold AT_SYMLINK_NOFOLLOW and
// AT_EMPTY_PATH (with name "" for the descriptor itself). 0 or -1 (errno).
int SourceStatAt(int dirfd, const char* name, int flags, struct stat* st);

}  // namespace freshfs::store
