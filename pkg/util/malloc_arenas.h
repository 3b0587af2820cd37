// LimitMallocArenas(): glibc gives each thread that allocates concurrently
// an arena of its own (up to 8 per CPU). A daemon's FUSE, watcher, notifier
// and read-ahead threads then free into different arenas, and each keeps
// pages of its own partly used: on S3, 443 bytes of RSS per entry the
// kernel holds with the default, 364 with two arenas (docs/scale.md,
// "Memory per entry held"). What the daemon allocates per request is small
// and short, so two arenas cost no measurable contention.
//
// Call once at start-up, before any thread exists. A limit the user set
// (MALLOC_ARENA_MAX, or glibc.malloc.arena_max in GLIBC_TUNABLES) wins.
#pragma once

namespace freshfs {

inline constexpr int kMallocArenas = 2;

// True if it set the limit, false if the user's stays.
bool LimitMallocArenas();

}  // namespace freshfs
