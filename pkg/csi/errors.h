// Typed errors of the CSI layer. Everything below the gRPC services (argument
// checks, the VolumeManager, the process supervisor) reports failures as an
// Error with a code and a message for the CO's events; ToGrpcStatus() is the
// one place where those become gRPC status codes.
//
// Plain values, thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "util/expected.h"

namespace grpc {
class Status;
}

namespace freshfs::csi {

enum class ErrorCode {
  kInvalid,           // bad request: INVALID_ARGUMENT
  kNotFound,          // volume (or its source) does not exist: NOT_FOUND
  kAlreadyExists,     // a different volume is published there: ALREADY_EXISTS
  kPermissionDenied,  // not allowed by the driver config: PERMISSION_DENIED
  kAborted,           // another operation on the volume is running: ABORTED
  kUnavailable,       // try again later (e.g. not ready yet): UNAVAILABLE
  kInternal,          // anything else: INTERNAL
};

// "INVALID_ARGUMENT" etc.: the gRPC code name the error maps to.
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;  // one line, for the user; never holds secrets
};

inline Error InvalidArgument(std::string message) {
  return {ErrorCode::kInvalid, std::move(message)};
}
inline Error NotFound(std::string message) { return {ErrorCode::kNotFound, std::move(message)}; }
inline Error AlreadyExists(std::string message) {
  return {ErrorCode::kAlreadyExists, std::move(message)};
}
inline Error PermissionDenied(std::string message) {
  return {ErrorCode::kPermissionDenied, std::move(message)};
}
inline Error Aborted(std::string message) { return {ErrorCode::kAborted, std::move(message)}; }
inline Error Unavailable(std::string message) {
  return {ErrorCode::kUnavailable, std::move(message)};
}
inline Error Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }

// Success, or an Error; a value, or an Error (util/expected.h).
using Status = Expected<void, Error>;
template <typename T>
using Result = Expected<T, Error>;

// The one mapping from the CSI layer's errors to gRPC status codes; the
// message travels unchanged. Ok maps to grpc::Status::OK.
grpc::Status ToGrpcStatus(const Status& status);

}  // namespace freshfs::csi
