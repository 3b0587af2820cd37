// ObjectClient: the object operations of one bucket that the S3 store
// (store/s3_store.h, store/s3_file.h) uses, as an interface. s3::Client
// (s3/client.h) speaks them over HTTP; unit tests give the store an
// in-memory bucket instead (tests/fakes/fake_object_client.h).
//
// Contract, for every implementation: every method may be called from any
// thread concurrently, and blocks until it has an answer. Errors are
// s3::Error as S3 reports them (HTTP status and S3 code), after whatever
// retries the implementation makes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/expected.h"
#include "util/result.h"

namespace freshfs::s3 {

// What went wrong with a request, after retries.
struct Error {
  int http_status = 0;  // 0: no HTTP response (DNS, connect, TLS, timeout)
  // S3 error code ("NoSuchKey", "AccessDenied", ...); without an HTTP
  // response one of "ConnectFailed", "ResolveFailed", "Timeout", "TLSError",
  // "NetworkError", "BodyReadError" (the local file could not be read).
  std::string code;
  std::string message;   // S3's <Message>, or curl's detail
  std::string resource;  // what the request was about: "HEAD s3://bucket/key"
  int attempts = 0;      // requests sent, retries included

  // ENOENT for 404, EACCES for 401/403 (and credential errors), ESTALE for
  // 412 (also when If-None-Match: * failed: a caller that asked for that
  // knows it means EEXIST), EBUSY for 409, EINVAL for other 4xx, ENOTSUP for
  // 501, EIO for network errors, timeouts and 5xx.
  int ToErrno() const;
  // One line for logs, never with credentials, e.g.
  // "HTTP 403 AccessDenied: Access Denied (GET s3://bucket/key)".
  std::string Describe() const;
  // For the filesystem layers: ToErrno() with Describe() as the message.
  // A missing object (404) is an answer; anything else a failure that the
  // FUSE boundary logs as a warning (an EACCES here is the bucket refusing
  // these credentials, not a permission check).
  freshfs::Error ToError() const;
};

// A value or an Error (util/expected.h).
template <typename T>
using Outcome = Expected<T, Error>;
struct Done {};  // value of operations that return nothing

struct ObjectInfo {
  std::string key;  // full key, including the volume prefix
  uint64_t size = 0;
  std::string etag;      // as the server sends it, quotes included
  int64_t mtime_ns = 0;  // LastModified
};

struct Listing {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> common_prefixes;  // with the trailing delimiter
  size_t requests = 0;                       // how many ListObjectsV2 pages it took
};

// Preconditions for writes (PUT, copy) and reads.
struct Condition {
  std::string if_match;            // ETag the object must still have
  bool if_none_match_any = false;  // the object must not exist yet
};

// Where the bucket is and who asks, for messages that tell a user what to
// check (the store's mount-time advice, Describe()).
struct Location {
  std::string url;          // "http(s)://host[:port]"; empty: AWS
  std::string region;       // e.g. "us-east-1"
  std::string credentials;  // Credentials::Describe(): where they came from, never a secret
};

class ObjectClient {
 public:
  virtual ~ObjectClient() = default;

  virtual const std::string& bucket() const = 0;
  virtual Location location() const = 0;

  // Whether the bucket exists and these credentials may list it (one
  // ListObjectsV2 with max-keys=1). The Error says which, for mount-time
  // messages.
  virtual Outcome<Done> CheckBucket(std::string_view prefix) = 0;

  // ListObjectsV2 under `prefix`, following continuation tokens. With a
  // delimiter ("/"), keys below the next delimiter fold into common_prefixes.
  // max_keys > 0 stops after that many entries (objects + prefixes).
  Outcome<Listing> List(std::string_view prefix, std::string_view delimiter, size_t max_keys = 0);
  // The same, one page (ListObjectsV2 response) at a time and never more in
  // memory: `page` gets each (it may move its contents out) and returns
  // false to stop.
  Outcome<Done> ListPages(std::string_view prefix, std::string_view delimiter,
                          const std::function<bool(Listing& page)>& page);

  virtual Outcome<ObjectInfo> Head(std::string_view key) = 0;

  // GET bytes [offset, offset + length) into `buf`; returns how many were
  // read (fewer at the end of the object, 0 past it). `info`, when given,
  // receives the object's ETag/size/mtime from the response (size stays 0
  // when reading past the end). With condition.if_match, fails with 412 when
  // the object's ETag differs (if_none_match_any does not apply to reads).
  // Note: s3rver ignores If-Match on GET.
  virtual Outcome<size_t> GetRange(std::string_view key, uint64_t offset, size_t length, char* buf,
                                   const Condition& condition = {}, ObjectInfo* info = nullptr) = 0;

  // PUT the bytes of `data`. Returns the new ETag.
  virtual Outcome<std::string> Put(std::string_view key, std::string_view data,
                                   const Condition& condition = {}) = 0;
  // PUT the first `size` bytes of file `fd` (read with pread, so the offset
  // is untouched), as a multipart upload above the client's threshold
  // (aborted on failure; the condition is checked when it completes).
  // Returns the new ETag.
  virtual Outcome<std::string> PutFile(std::string_view key, int fd, uint64_t size,
                                       const Condition& condition = {}) = 0;

  // DELETE; succeeds when the key does not exist (S3 semantics).
  virtual Outcome<Done> Delete(std::string_view key) = 0;
  // DeleteObjects in batches of 1000; fails on the first key S3 refuses.
  virtual Outcome<Done> DeleteMany(const std::vector<std::string>& keys) = 0;
  // Server-side copy; returns the new ETag. `source_condition.if_match`
  // applies to the source (x-amz-copy-source-if-match).
  virtual Outcome<std::string> Copy(std::string_view from_key, std::string_view to_key,
                                    const Condition& source_condition = {}) = 0;

 protected:
  // One ListObjectsV2 page after another, each handed to `each`, until it
  // returns false, the listing ends, or max_keys (> 0) entries came (a
  // page asks for at most max_keys less what came before). List() and
  // ListPages() are built on it.
  virtual Outcome<Done> Pages(std::string_view prefix, std::string_view delimiter, size_t max_keys,
                              const std::function<bool(Listing& page)>& each) = 0;
};

}  // namespace freshfs::s3
