// FakeObjectClient: an in-memory bucket behind s3::ObjectClient
// (s3/object_client.h), for unit tests of the S3 store and its files.
//
// It answers as S3 does (ETags are quoted MD5s of the content, "<md5>-N"
// for multipart uploads; conditional writes fail with 412; a missing key is
// 404 NoSuchKey; DELETE of a missing key succeeds), and can be told to
// misbehave:
//   - faults: per operation and key, the next N requests (or all) fail with
//     a given error, wait first, or run a callback first (another writer
//     acting between two requests of the store);
//   - quirks of other servers: a page size, listings out of key order,
//     prefixes left out of delimiter listings when all their keys lie
//     deeper (s3rver), conditional headers ignored or refused with 501.
// The test side (Set/Get/RemoveObject) is another writer: no faults, not
// counted. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3/object_client.h"

namespace freshfs::testing {

enum class S3Op { kList, kHead, kGet, kPut, kMultipart, kCopy, kDelete };

class FakeObjectClient final : public s3::ObjectClient {
 public:
  struct Object {
    std::string data;
    std::string etag;  // quoted
    int64_t mtime_ns = 0;
  };

  // How a server treats a conditional header on a write.
  enum class Conditional { kHonoured, kIgnored, kNotImplemented };

  struct Quirks {
    size_t page_size = 1000;          // keys (objects + prefixes) per ListObjectsV2 page
    bool unordered = false;           // listings in reverse key order (s3rver walks directories)
    bool hide_deep_prefixes = false;  // a prefix whose keys all lie two levels deeper is left out
    Conditional if_match_on_put = Conditional::kHonoured;
    Conditional if_none_match_on_put = Conditional::kHonoured;
    bool get_ignores_if_match = false;           // s3rver
    bool copy_ignores_if_match = false;          // x-amz-copy-source-if-match
    uint64_t multipart_threshold = 64ull << 20;  // PutFile above: a multipart upload
  };

  struct Fault {
    S3Op op = S3Op::kGet;
    std::string key;                 // "" any; else the key (the prefix for a listing)
    int times = 1;                   // requests it applies to; -1: every one
    std::optional<s3::Error> error;  // none: the request is served (after the rest)
    std::chrono::milliseconds delay{0};
    std::function<void()> before;  // runs first, without the fake's lock
  };

  explicit FakeObjectClient(std::string bucket = "bucket");

  const std::string& bucket() const override { return bucket_; }
  s3::Location location() const override;
  s3::Outcome<s3::Done> CheckBucket(std::string_view prefix) override;
  s3::Outcome<s3::ObjectInfo> Head(std::string_view key) override;
  s3::Outcome<size_t> GetRange(std::string_view key, uint64_t offset, size_t length, char* buf,
                               const s3::Condition& condition = {},
                               s3::ObjectInfo* info = nullptr) override;
  s3::Outcome<std::string> Put(std::string_view key, std::string_view data,
                               const s3::Condition& condition = {}) override;
  s3::Outcome<std::string> PutFile(std::string_view key, int fd, uint64_t size,
                                   const s3::Condition& condition = {}) override;
  s3::Outcome<s3::Done> Delete(std::string_view key) override;
  s3::Outcome<s3::Done> DeleteMany(const std::vector<std::string>& keys) override;
  s3::Outcome<std::string> Copy(std::string_view from_key, std::string_view to_key,
                                const s3::Condition& source_condition = {}) override;

  // The test's side. SetObject returns the new ETag; mtime 0: the fake's clock.
  std::string SetObject(const std::string& key, std::string_view data, int64_t mtime_ns = 0);
  std::optional<Object> GetObject(const std::string& key) const;
  void RemoveObject(const std::string& key);
  std::vector<std::string> Keys() const;
  // LastModified of what is written from now on (whole seconds, as S3 has it).
  void set_now_ns(int64_t ns);
  void set_quirks(const Quirks& quirks);
  void Inject(Fault fault);
  // Requests of `op` so far (failed ones too), of any key or of `key`.
  size_t Requests(S3Op op) const;
  size_t Requests(S3Op op, const std::string& key) const;

  static s3::Error HttpError(int status, std::string code);
  static s3::Error NetworkError();
  static std::string ETagOf(std::string_view data);

 protected:
  s3::Outcome<s3::Done> Pages(std::string_view prefix, std::string_view delimiter, size_t max_keys,
                              const std::function<bool(s3::Listing& page)>& each) override;

 private:
  // Counts the request, applies the first fault that matches: its callback
  // and delay, then its error if it has one.
  std::optional<s3::Error> Begin(S3Op op, std::string_view key);
  // Whether a write under `condition` may replace what `key` holds now
  // (mu_ held); the error when not.
  std::optional<s3::Error> CheckWriteLocked(std::string_view key, const s3::Condition& condition);
  std::string StoreLocked(std::string_view key, std::string data, std::string etag);
  // One page of a listing from entry `from` on (mu_ held).
  s3::Listing PageLocked(std::string_view prefix, std::string_view delimiter, size_t from,
                         size_t count, size_t* total);

  const std::string bucket_;
  mutable std::mutex mu_;  // guards everything below
  std::map<std::string, Object, std::less<>> objects_;
  Quirks quirks_;
  std::vector<Fault> faults_;
  std::map<std::pair<S3Op, std::string>, size_t> requests_;
  int64_t now_ns_ = 0;
};

}  // namespace freshfs::testing
