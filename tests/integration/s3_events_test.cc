// The S3 event webhook (--events-address) of a real mount of a real S3
// server (s3rver) under hostile or careless senders: requests without the
// token change nothing; duplicate events cost one rescan per key, not one
// per event; a flood past the queue keeps memory bounded and ends in a full
// sync instead of per-event requests; idle and slow connections do not keep
// a valid POST from being answered. What S3 sees is counted through the
// mount's own freshfs_s3_requests_total. (The basic event flow is in
// s3_test.cc, S3EventsTest.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"
#include "support/process.h"
#include "support/s3_mount.h"

namespace freshfs::testing {
namespace {

using Ms = std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr char kToken[] = "9f2b7c4e1a6d8053-webhook-token";

std::string Event(const std::string& name, const std::string& key) {
  return "{\"eventName\":\"" + name +
         "\",\"s3\":{\"bucket\":{\"name\":\"test\"},"
         "\"object\":{\"key\":\"" +
         key + "\"}}}";
}

std::string Body(const std::vector<std::string>& keys) {
  std::string body = "{\"Records\":[";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) body += ",";
    body += Event("s3:ObjectCreated:Put", keys[i]);
  }
  return body + "]}";
}

class S3WebhookTest : public S3MountedTest {
 protected:
  // Mounts with events on 127.0.0.1 and no periodic sync in the test's time.
  ::testing::AssertionResult StartWithEvents(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--poll-interval", "1h", "--events-address", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto started = StartMount(args);
    if (!started) return started;
    auto port = m_.EventsPort();
    if (!port) return ::testing::AssertionFailure() << "no events port: " << m_.LogTail();
    port_ = *port;
    return ::testing::AssertionSuccess();
  }
  std::string TokenFile() {
    const std::string path = m_.dir() + "/events-token";
    EXPECT_EQ(WriteFile(path, std::string(kToken) + "\n"), 0);
    chmod(path.c_str(), 0600);
    return path;
  }
  HttpResult Post(const std::string& body, const std::vector<std::string>& headers = {}) {
    return HttpRequest("POST", "http://127.0.0.1:" + std::to_string(port_) + "/", body, 10s,
                       headers);
  }
  // One family's samples with all of `labels`, summed (0 when absent).
  double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto scrape = Scrape();
    EXPECT_TRUE(scrape);
    if (!scrape) return -1;
    return MetricSum(*scrape, name, labels).value_or(0);
  }
  double S3Requests(const std::string& op) {
    return Metric("freshfs_s3_requests_total", {{"op", op}});
  }
  // Waits until the mount has sent S3 nothing new for half a second.
  void Settle() {
    double before = -1, now = 0;
    while ((now = Metric("freshfs_s3_requests_total")) != before) {
      before = now;
      std::this_thread::sleep_for(500ms);
    }
  }

  int port_ = 0;
};

TEST_F(S3WebhookTest, RequestsWithoutTheTokenAreRefusedAndChangeNothing) {
  Put("doc.txt", "old!");
  ASSERT_TRUE(StartWithEvents({"--events-token-file", TokenFile()}));
  ASSERT_EQ(ReadFile(m_.Mnt("doc.txt")), "old!");
  Put("doc.txt", "new!");
  Settle();
  const double heads = S3Requests("head"), lists = S3Requests("list");

  const std::string body = Body({"doc.txt"});
  EXPECT_EQ(Post(body).status, 401);
  EXPECT_EQ(Post(body, {"Authorization: Bearer not-the-token-at-all"}).status, 401);
  // Ceph RGW style, but a wrong password: base64("rgw:wrong-password-12345").
  EXPECT_EQ(Post(body, {"Authorization: Basic cmd3Ondyb25nLXBhc3N3b3JkLTEyMzQ1"}).status, 401);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(ReadFile(m_.Mnt("doc.txt")), "old!") << "a refused event changes nothing";
  EXPECT_EQ(S3Requests("head"), heads);
  EXPECT_EQ(S3Requests("list"), lists);
  EXPECT_EQ(Metric("freshfs_event_requests_rejected_total", {{"reason", "unauthorized"}}), 3);
  EXPECT_EQ(Metric("freshfs_events_received_total"), 0);

  // MinIO's auth_token: Authorization: Bearer TOKEN.
  auto posted = Post(body, {std::string("Authorization: Bearer ") + kToken});
  ASSERT_EQ(posted.status, 200) << posted.body;
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("doc.txt")) == "new!"; }, Ms(5000)));
  // Ceph RGW's http://USER:TOKEN@host/ endpoint: Basic, the token as password
  // (base64 of "rgw:9f2b7c4e1a6d8053-webhook-token").
  Put("doc.txt", "newer");
  posted = Post(body, {"Authorization: Basic cmd3OjlmMmI3YzRlMWE2ZDgwNTMtd2ViaG9vay10b2tlbg=="});
  ASSERT_EQ(posted.status, 200) << posted.body;
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("doc.txt")) == "newer"; }, Ms(5000)));
  EXPECT_EQ(m_.Log().find(kToken), std::string::npos) << "the token is never logged";
}

TEST_F(S3WebhookTest, WithoutATokenOnlyThisHostMayPost) {
  // Refused at start, with what to do, and nothing left behind.
  auto refused = RunToCompletion(
      {MountBinary(), "--s3-endpoint", s3_.endpoint(), "--s3-path-style", "--staging-dir",
       m_.dir() + "/staging", "--events-address", "0.0.0.0:0", "s3://test", m_.mnt()},
      60s);
  EXPECT_EQ(refused.exit_code, 1) << refused.Describe();
  EXPECT_NE(refused.stderr_text.find("0.0.0.0 is reachable from other hosts and no token is set"),
            std::string::npos)
      << refused.Describe();
  EXPECT_NE(refused.stderr_text.find("--events-token-file"), std::string::npos)
      << refused.Describe();
  EXPECT_FALSE(IsFuseMountpoint(m_.mnt()));

  // With the token, any address; port 0 is logged as 0.0.0.0:PORT.
  ASSERT_TRUE(StartMount({"--events-address", "0.0.0.0:0", "--events-token-file", TokenFile()}));
  auto port = m_.EventsPort();
  ASSERT_TRUE(port) << m_.LogTail();
  port_ = *port;
  EXPECT_EQ(Post(Body({"x"})).status, 401);
  EXPECT_EQ(Post(Body({"x"}), {std::string("Authorization: Bearer ") + kToken}).status, 200);
}

TEST_F(S3WebhookTest, ManyEventsForTheSameKeysCostOneRescanEach) {
  for (const char* key : {"a.txt", "b.txt", "dir/c.txt"}) Put(key, "old");
  ASSERT_TRUE(StartWithEvents());
  for (const char* path : {"a.txt", "b.txt", "dir/c.txt"}) ASSERT_EQ(ReadFile(m_.Mnt(path)), "old");
  for (const char* key : {"a.txt", "b.txt", "dir/c.txt"}) Put(key, "new");
  Settle();
  const double heads = S3Requests("head"), lists = S3Requests("list");

  // 500 events, a store retrying and repeating itself: 3 keys.
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i)
    keys.push_back(i % 3 == 0 ? "a.txt" : i % 3 == 1 ? "b.txt" : "dir/c.txt");
  const std::string body = Body(keys);
  ASSERT_GT(body.size(), 40000u);
  auto posted = Post(body);
  ASSERT_EQ(posted.status, 200) << posted.body;
  for (const char* path : {"a.txt", "b.txt", "dir/c.txt"}) {
    EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt(path)) == "new"; }, Ms(5000))) << path;
  }
  Settle();
  EXPECT_LE(S3Requests("head") - heads, 6) << "one rescan per key, not per event";
  EXPECT_LE(S3Requests("list") - lists, 6);
  EXPECT_EQ(Metric("freshfs_events_received_total", {{"result", "applied"}}), 3);
  EXPECT_EQ(Metric("freshfs_events_received_total", {{"result", "collapsed"}}), 497);
}

TEST_F(S3WebhookTest, AFloodPastTheQueueKeepsMemoryBoundedAndEndsInAFullSync) {
  Put("doc.txt", "old");
  ASSERT_TRUE(StartWithEvents());
  ASSERT_EQ(ReadFile(m_.Mnt("doc.txt")), "old");
  ASSERT_EQ(Post(Body({"warm-up"})).status, 200);
  Settle();
  const double heads = S3Requests("head"), lists = S3Requests("list");
  // (A lazy mount's sync covers everything the kernel holds: kind "cached".)
  auto syncs_so_far = [&] {
    return Metric("freshfs_syncs_total", {{"kind", "full"}}) +
           Metric("freshfs_syncs_total", {{"kind", "cached"}});
  };
  const double full_syncs = syncs_so_far();
  Put("doc.txt", "new");

  // 40 bodies of about 1 MB, each naming 5,000 keys no queue should hold.
  const std::string padding(100, 'p');
  const size_t resident_before = ResidentBytes(m_.pid());
  std::vector<size_t> resident;
  const auto start = std::chrono::steady_clock::now();
  for (int post = 0; post < 40; ++post) {
    std::vector<std::string> keys;
    for (int i = 0; i < 5000; ++i) {
      keys.push_back("flood/" + std::to_string(post) + "/" + std::to_string(i) + padding);
    }
    const std::string body = Body(keys);
    ASSERT_GT(body.size(), 900000u);
    ASSERT_LT(body.size(), 1024u * 1024);
    auto posted = Post(body);
    ASSERT_EQ(posted.status, 200) << posted.body;
    resident.push_back(ResidentBytes(m_.pid()));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The overflow's full sync finds what the events were about.
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("doc.txt")) == "new"; }, Ms(5000)));
  Settle();

  const double syncs = syncs_so_far() - full_syncs;
  EXPECT_GE(syncs, 1);
  EXPECT_LE(syncs, 2 + seconds) << "at most one full sync a second while the queue overflows";
  EXPECT_LE(S3Requests("head") - heads, 5) << "no per-event HEADs";
  EXPECT_LE(S3Requests("list") - lists, 2 + seconds + 5) << "a listing per full sync";
  EXPECT_EQ(Metric("freshfs_events_queue_overflows_total"), 40);
  EXPECT_EQ(Metric("freshfs_events_received_total", {{"result", "applied"}}) +
                Metric("freshfs_events_received_total", {{"result", "dropped"}}),
            1 + 40 * 5000);
  // Memory: bounded by one body in flight, not by what was sent (40 MB).
  // (Only without a sanitizer: its allocator keeps freed memory resident.)
  if (!kSanitizedAllocator) {
    const size_t first_half = *std::max_element(resident.begin(), resident.begin() + 20);
    const size_t second_half = *std::max_element(resident.begin() + 20, resident.end());
    EXPECT_LT(second_half, first_half + (4u << 20)) << "resident memory keeps growing";
    EXPECT_LT(resident.back(), resident_before + (8u << 20));
  }
  // And events are still applied one by one afterwards.
  Put("doc.txt", "after");
  ASSERT_EQ(Post(Body({"doc.txt"})).status, 200);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("doc.txt")) == "after"; }, Ms(5000)));
}

TEST_F(S3WebhookTest, IdleAndSlowConnectionsDoNotDelayAValidPost) {
  Put("doc.txt", "old");
  ASSERT_TRUE(StartWithEvents());
  ASSERT_EQ(ReadFile(m_.Mnt("doc.txt")), "old");
  // Far more connections than the server serves at once (64): most send
  // nothing, some stop halfway through their head.
  std::vector<int> slow;
  for (int i = 0; i < 120; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    if (i % 4 == 0) {
      ASSERT_EQ(send(fd, "POST / HTTP/1.1\r\nHost", 21, MSG_NOSIGNAL), 21);
    }
    slow.push_back(fd);
  }
  std::this_thread::sleep_for(200ms);
  Put("doc.txt", "new");
  const auto start = std::chrono::steady_clock::now();
  auto posted = Post(Body({"doc.txt"}));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(posted.status, 200) << posted.body << posted.error;
  EXPECT_LT(took, 1s);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("doc.txt")) == "new"; }, Ms(5000)));
  EXPECT_GE(Metric("freshfs_event_requests_rejected_total", {{"reason", "overloaded"}}), 120 - 64);
  for (int fd : slow) close(fd);
}

}  // namespace
}  // namespace freshfs::testing
