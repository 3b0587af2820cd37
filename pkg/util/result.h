// Result<T>: a value or a positive errno, the currency between the FUSE layer
// and the filesystem logic/stores. errno -> FUSE reply happens in one place
// (pkg/fs/fuse_ops.cc), so every layer below just returns Result.
#pragma once

#include <cassert>
#include <utility>
#include <variant>

namespace freshfs {

struct Errno {
  int value;  // positive errno, never 0
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}               // NOLINT: implicit by design
  Result(Errno err) : v_(err) { assert(err.value > 0); }  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return ok() ? 0 : std::get<1>(v_).value; }

  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }

 private:
  std::variant<T, Errno> v_;
};

// Result of an operation with no value: 0 on success, else a positive errno.
struct Status {
  int error = 0;
  bool ok() const { return error == 0; }
  static Status Ok() { return {}; }
  static Status FromErrno(int e) { return {e}; }
};

}  // namespace freshfs
