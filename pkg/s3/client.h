// S3 client: the object operations freshfs needs, over libcurl with a pool of
// reusable connections, SigV4 signing (sigv4.h) and XML via pugixml.
//
// Thread safety: every method may be called from any thread concurrently;
// up to ClientConfig::max_connections requests run in parallel, more wait for
// a free connection. Calls block on the network (bounded by the timeouts and
// retry budget below) and must not be made under a lock a FUSE handler needs.
//
// Retries: network errors and timeouts, HTTP 5xx (incl. 503 SlowDown), 429,
// and the codes SlowDown/InternalError/RequestTimeout (also inside a 200, as
// S3 may send for copy and CompleteMultipartUpload) are retried with
// full-jitter exponential backoff, up to max_attempts in total; every attempt
// is signed anew and resends the whole body. Other errors return at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3/credential_provider.h"
#include "s3/credentials.h"
#include "s3/object_client.h"

namespace freshfs::s3 {

// Parts of one multipart upload sent at once (docs/s3.md quotes it).
inline constexpr size_t kParallelParts = 4;

struct ClientConfig {
  // "http(s)://host[:port]". Empty: AWS, https://s3.<region>.amazonaws.com.
  std::string endpoint;
  std::string region = "us-east-1";
  bool path_style = false;  // http://host/bucket/key instead of http://bucket.host/key
  std::string ca_file;      // extra CA bundle for TLS; empty: system store
  bool verify_tls = true;
  // What requests are signed with: `credential_provider` when set (it
  // refreshes temporary credentials), else these fixed ones. `credentials`
  // also names the source in messages.
  Credentials credentials;
  std::shared_ptr<CredentialProvider> credential_provider;
  size_t max_connections = 16;
  std::chrono::milliseconds connect_timeout{5000};
  // A request that moves no byte for this long fails (and may be retried).
  std::chrono::milliseconds stall_timeout{10000};
  int max_attempts = 4;
  std::chrono::milliseconds retry_base_delay{100};  // doubled per attempt, jittered
  uint64_t multipart_threshold = 64ull << 20;       // PutFile: multipart above this
  uint64_t multipart_part_size = 16ull << 20;
};

class Client final : public ObjectClient {
 public:
  static std::unique_ptr<Client> Create(ClientConfig config, std::string bucket);
  ~Client() override;

  const std::string& bucket() const override;
  Location location() const override;
  const ClientConfig& config() const;

  // The operations of ObjectClient (s3/object_client.h), over HTTP.
  Outcome<Done> CheckBucket(std::string_view prefix) override;
  Outcome<ObjectInfo> Head(std::string_view key) override;
  Outcome<size_t> GetRange(std::string_view key, uint64_t offset, size_t length, char* buf,
                           const Condition& condition = {}, ObjectInfo* info = nullptr) override;
  Outcome<std::string> Put(std::string_view key, std::string_view data,
                           const Condition& condition = {}) override;
  // Multipart above multipart_threshold, in parts of multipart_part_size.
  Outcome<std::string> PutFile(std::string_view key, int fd, uint64_t size,
                               const Condition& condition = {}) override;
  Outcome<Done> Delete(std::string_view key) override;
  Outcome<Done> DeleteMany(const std::vector<std::string>& keys) override;
  // Note: s3rver decodes x-amz-copy-source with JS decodeURI, which leaves
  // "%2B" etc. encoded: copying a key with '+', '&', '=', ',', ';', '?', '#',
  // '$', ':' or '@' in it fails there (404) though it works on S3.
  Outcome<std::string> Copy(std::string_view from_key, std::string_view to_key,
                            const Condition& source_condition = {}) override;

  // Counts every HTTP request sent (retries too), by operation name
  // ("list", "head", "get", "put", "delete", "copy", "multipart") and outcome
  // ("ok" or the HTTP status / "network"); for metrics and tests.
  using RequestHook = std::function<void(std::string_view op, std::string_view outcome)>;
  void set_request_hook(RequestHook hook);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  // 1,000 keys a page (S3's most), fewer when max_keys says so.
  Outcome<Done> Pages(std::string_view prefix, std::string_view delimiter, size_t max_keys,
                      const std::function<bool(Listing& page)>& each) override;
  std::unique_ptr<Impl> impl_;
};

}  // namespace freshfs::s3
