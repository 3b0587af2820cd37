#include "s3/object_client.h"

#include <cerrno>
#include <iterator>

namespace freshfs::s3 {

int Error::ToErrno() const {
  if (code == "NoSuchKey" || code == "NoSuchBucket" || code == "NoSuchUpload") return ENOENT;
  if (code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
      code == "ExpiredToken" || code == "InvalidToken" || code == "AllAccessDisabled") {
    return EACCES;
  }
  if (code == "KeyTooLongError") return ENAMETOOLONG;
  if (code == "EntityTooLarge") return EFBIG;
  if (code == "RequestTimeout" || code == "SlowDown" || code == "InternalError") return EIO;
  switch (http_status) {
    case 0:
      return EIO;
    case 401:
    case 403:
      return EACCES;
    case 404:
      return ENOENT;
    case 409:
      return EBUSY;
    case 412:
      return ESTALE;
    case 501:
      return ENOTSUP;
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500 && http_status != 429) return EINVAL;
  return EIO;
}

freshfs::Error Error::ToError() const {
  const int err = ToErrno();
  return freshfs::Error(
      err, Describe(),
      err == ENOENT ? freshfs::Error::Kind::kAnswer : freshfs::Error::Kind::kFailure);
}

std::string Error::Describe() const {
  std::string out = http_status != 0 ? "HTTP " + std::to_string(http_status) + " " + code
                                     : "network error " + code;
  if (!message.empty()) out += ": " + message;
  if (!resource.empty()) out += " (" + resource + ")";
  if (attempts > 1) out += " after " + std::to_string(attempts) + " attempts";
  return out;
}

Outcome<Listing> ObjectClient::List(std::string_view prefix, std::string_view delimiter,
                                    size_t max_keys) {
  Listing listing;
  auto done = Pages(prefix, delimiter, max_keys, [&](Listing& page) {
    listing.requests += page.requests;
    std::move(page.objects.begin(), page.objects.end(), std::back_inserter(listing.objects));
    std::move(page.common_prefixes.begin(), page.common_prefixes.end(),
              std::back_inserter(listing.common_prefixes));
    return max_keys == 0 || listing.objects.size() + listing.common_prefixes.size() < max_keys;
  });
  if (!done) return done.error();
  return listing;
}

Outcome<Done> ObjectClient::ListPages(std::string_view prefix, std::string_view delimiter,
                                      const std::function<bool(Listing& page)>& page) {
  return Pages(prefix, delimiter, 0, page);
}

}  // namespace freshfs::s3
