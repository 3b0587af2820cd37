// The process's resident memory, for the in-process benchmarks (bench/scale,
// bench/lazy): freed memory is handed back first, so what is measured is
// what is held.
#pragma once

#include <malloc.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>

namespace freshfs::bench {

inline size_t RssBytes() {
  malloc_trim(0);
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

}  // namespace freshfs::bench
