#include "watch/entry_state.h"

#include <algorithm>
#include <limits>

namespace freshfs::watch {

EntryState EntryState::From(const struct stat& st) {
  EntryState e;
  e.mode = st.st_mode;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.nlink = uint32_t(std::min<uint64_t>(st.st_nlink, std::numeric_limits<uint32_t>::max()));
  e.size = st.st_size;
  e.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  e.ino = st.st_ino;
  return e;
}

}  // namespace freshfs::watch
