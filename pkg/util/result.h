// Result<T> and Status: a value (or success) or an Error, the currency
// between the FUSE layer and the filesystem logic/stores. The Error carries
// the errno the application gets and a message saying why; errno -> FUSE
// reply, and the one log line per failed request, happen in one place
// (pkg/fs/fuse_ops.cc), so every layer below just returns them:
//
//   auto entry = store.Stat(path);
//   if (!entry) return entry.error();
//
// and adds context on the way up where it knows more
// (`return std::move(r).error().With("upload")`).
#pragma once

#include <string>
#include <string_view>

#include "util/expected.h"

namespace freshfs {

struct Error {
  // How the FUSE boundary logs it.
  enum class Kind {
    kAnswer,   // an outcome applications meet in normal use (no such name,
               // exists, not empty, a permission check): debug
    kFailure,  // the mount could not do what it should (I/O error, stale,
               // out of space, a store refusing): warning
  };

  // The kind follows from the errno (KindOf); a message says why.
  explicit Error(int code, std::string message = {});
  Error(int code, std::string message, Kind kind);

  // The same error, its message prefixed: "context: message" (or just the
  // context when there was no message).
  Error With(std::string_view context) &&;

  // For logs: "<strerror>: <message>", or just the strerror.
  std::string Describe() const;

  int code;             // positive errno, never 0
  std::string message;  // one line for the log, never with credentials; may be empty
  Kind kind;
};

// kAnswer for ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, ENAMETOOLONG,
// EXDEV, EACCES, EPERM, EINVAL, ENODATA, ERANGE, ENOTSUP, ENOSYS, EBADF,
// ELOOP, EMLINK, EFBIG, EOVERFLOW, EAGAIN, EINTR; kFailure for anything else
// (EIO, ESTALE, ENOSPC, EDQUOT, EROFS, EBUSY, ...). An EROFS or EACCES that
// answers a check (read-only mount) is made kAnswer where it is decided.
Error::Kind KindOf(int code);

template <typename T>
using Result = Expected<T, Error>;
using Status = Expected<void, Error>;

}  // namespace freshfs
