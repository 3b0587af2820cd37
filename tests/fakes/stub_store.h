// StubStore: what the test stores (FakeStore, SyntheticStore) do not model,
// answered once for both: no extended attributes (ENOTSUP, as a source
// without them answers) and an empty statfs. A fake derives from it and
// overrides the rest of store::Store.
#pragma once

#include <sys/statvfs.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "store/store.h"

namespace freshfs::testing {

class StubStore : public store::Store {
 public:
  Result<struct statvfs> StatFs() override { return (struct statvfs){}; }
  Result<std::string> GetXattr(std::string_view, const std::string&) override {
    return Error{ENOTSUP};
  }
  Result<std::string> ListXattr(std::string_view) override { return Error{ENOTSUP}; }
  Status SetXattr(std::string_view, const std::string&, std::string_view, int) override {
    return Error(ENOTSUP);
  }
  Status RemoveXattr(std::string_view, const std::string&) override { return Error(ENOTSUP); }
};

}  // namespace freshfs::testing
