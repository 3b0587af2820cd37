#include "util/result.h"

#include <cassert>
#include <cerrno>
#include <cstring>
#include <utility>

namespace freshfs {

Error::Error(int code, std::string message) : Error(code, std::move(message), KindOf(code)) {}

Error::Error(int code, std::string message, Kind kind)
    : code(code), message(std::move(message)), kind(kind) {
  assert(code > 0);
}

Error Error::With(std::string_view context) && {
  message = message.empty() ? std::string(context) : std::string(context) + ": " + message;
  return std::move(*this);
}

std::string Error::Describe() const {
  std::string text = std::strerror(code);
  if (!message.empty()) text += ": " + message;
  return text;
}

Error::Kind KindOf(int code) {
  switch (code) {
    case ENOENT:
    case EEXIST:
    case ENOTEMPTY:
    case ENOTDIR:
    case EISDIR:
    case ENAMETOOLONG:
    case EXDEV:
    case EACCES:
    case EPERM:
    case EINVAL:
    case ENODATA:
    case ERANGE:
    case ENOTSUP:
    case ENOSYS:
    case EBADF:
    case ELOOP:
    case EMLINK:
    case EFBIG:
    case EOVERFLOW:
    case EAGAIN:
    case EINTR:
      return Error::Kind::kAnswer;
    default:
      return Error::Kind::kFailure;
  }
}

}  // namespace freshfs
