#include "util/malloc_arenas.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <optional>
#include <string>

namespace freshfs {
namespace {

// Sets an environment variable for one test, and puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(LimitMallocArenas, AnArenaLimitTheUserSetWins) {
  {
    ScopedEnv env("MALLOC_ARENA_MAX", "8");
    EXPECT_FALSE(LimitMallocArenas());
  }
  ScopedEnv env("GLIBC_TUNABLES", "glibc.malloc.check=0:glibc.malloc.arena_max=4");
  EXPECT_FALSE(LimitMallocArenas());
}

}  // namespace
}  // namespace freshfs
