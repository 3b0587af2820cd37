// Expected<T, E>: a value or an error, the one result type of every layer
// (we are on C++20, without std::expected). Each layer names its own error
// type and aliases this: freshfs::Result/Status (util/result.h, errno and
// message), csi::Result/Status (csi/errors.h), s3::Outcome
// (s3/object_client.h). The mapping of each error type to what leaves the
// process (errno, gRPC code) stays in one place per layer.
//
// Propagation is one idiom across value types, since an E converts to any
// Expected<U, E>:
//
//   auto r = Step();
//   if (!r) return r.error();
//
// Plain values, thread-compatible.
#pragma once

#include <cassert>
#include <optional>
#include <utility>
#include <variant>

namespace freshfs {

template <typename T, typename E>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Expected(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Only when !ok() (else it throws std::bad_variant_access).
  const E& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  E&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

  // Only when ok().
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }

 private:
  std::variant<T, E> v_;
};

// Success without a value, or an error.
template <typename E>
class [[nodiscard]] Expected<void, E> {
 public:
  Expected() = default;
  Expected(E error) : error_(std::move(error)) {}  // NOLINT: implicit by design
  static Expected Ok() { return {}; }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }

  // Only when !ok() (else it throws, as the valued form does).
  const E& error() const& {
    assert(!ok());
    return error_.value();
  }
  E&& error() && {
    assert(!ok());
    return std::move(error_).value();
  }

 private:
  std::optional<E> error_;
};

}  // namespace freshfs
