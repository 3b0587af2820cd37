#include "util/malloc_arenas.h"

#include <malloc.h>

#include <cstdlib>
#include <string_view>

namespace freshfs {

bool LimitMallocArenas() {
  if (std::getenv("MALLOC_ARENA_MAX")) return false;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables &&
      std::string_view(tunables).find("glibc.malloc.arena_max") != std::string_view::npos)
    return false;
  return mallopt(M_ARENA_MAX, kMallocArenas) == 1;
}

}  // namespace freshfs
