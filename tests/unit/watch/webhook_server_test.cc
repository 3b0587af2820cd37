#include "watch/webhook_server.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <utility>

#include "webhook_client.h"

namespace freshfs::watch {
namespace {

using nlohmann::json;
using testing::Connect;
using testing::ReadUntilClose;
using testing::Record;
using testing::Records;
using testing::Request;
using testing::SendAll;

class WebhookServerTest : public ::testing::Test {
 protected:
  WebhookServer::Settings Settings() {
    WebhookServer::Settings s;
    s.address = "127.0.0.1:0";
    s.bucket = "photos";
    return s;
  }
  WebhookServer::Handler Recorder() {
    return [this](std::vector<S3Event> events) {
      std::lock_guard lock(mu_);
      ++calls_;
      for (auto& e : events) seen_.push_back(std::move(e));
    };
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<S3Event> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  std::unique_ptr<WebhookServer> StartServer(WebhookServer::Settings settings) {
    auto server = std::make_unique<WebhookServer>(std::move(settings), Recorder());
    const std::string error = server->Start();
    EXPECT_EQ(error, "");
    EXPECT_GT(server->port(), 0);
    return server;
  }

  std::mutex mu_;
  int calls_ = 0;
  std::vector<S3Event> seen_;
};

TEST_F(WebhookServerTest, ValidBodyIsDeliveredBeforeThe200) {
  auto server = StartServer(Settings());
  const auto r = Request(server->port(), "POST", "/",
                         Records({Record("s3:ObjectCreated:Put", "photos", "dir/a+b.jpg"),
                                  Record("ObjectRemoved:Delete", "photos", "old%2Fx")}));
  ASSERT_EQ(r.curl, CURLE_OK) << curl_easy_strerror(static_cast<CURLcode>(r.curl));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "accepted 2 events, ignored 0\n");
  ASSERT_EQ(calls(), 1);  // one call per request, made before the reply
  const auto events = seen();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].key, "dir/a b.jpg");
  EXPECT_FALSE(events[0].removed);
  EXPECT_EQ(events[1].key, "old/x");
  EXPECT_TRUE(events[1].removed);
  const auto stats = server->stats();
  EXPECT_EQ(stats.requests_accepted, 1u);
  EXPECT_EQ(stats.requests_rejected, 0u);
  EXPECT_EQ(stats.events_delivered, 2u);
}

TEST_F(WebhookServerTest, PathIsIgnoredForPosts) {
  auto server = StartServer(Settings());
  const std::string body = Records({Record("ObjectCreated:Put", "photos", "k")});
  EXPECT_EQ(Request(server->port(), "POST", "/events", body).status, 200);
  EXPECT_EQ(Request(server->port(), "POST", "/minio/webhook?x=1", body).status, 200);
  EXPECT_EQ(calls(), 2);
}

TEST_F(WebhookServerTest, SnsNotificationIsDelivered) {
  auto server = StartServer(Settings());
  const json envelope = {{"Type", "Notification"},
                         {"Message", Records({Record("ObjectCreated:Put", "photos", "sns")})}};
  const auto r = Request(server->port(), "POST", "/", envelope.dump());
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(seen().size(), 1u);
  EXPECT_EQ(seen()[0].key, "sns");
}

TEST_F(WebhookServerTest, MalformedBodyIs400AndChangesNothing) {
  auto server = StartServer(Settings());
  auto r = Request(server->port(), "POST", "/", "{\"Records\": [");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.body.starts_with("body is not JSON: ")) << r.body;
  EXPECT_EQ(r.body.find('\n'), r.body.size() - 1) << "one line: " << r.body;

  r = Request(server->port(), "POST", "/", R"({"Records":[{"eventName":"ObjectCreated:Put"}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "Records[0].s3 missing\n");

  r = Request(server->port(), "POST", "/", "");
  EXPECT_EQ(r.status, 400);

  EXPECT_EQ(calls(), 0);
  EXPECT_EQ(server->stats().requests_rejected, 3u);
  EXPECT_EQ(server->stats().requests_accepted, 0u);
}

TEST_F(WebhookServerTest, OversizedBodyIs413AndChangesNothing) {
  auto settings = Settings();
  settings.max_body_bytes = 1000;
  auto server = StartServer(settings);
  // Valid JSON, padded past the limit.
  std::string body = Records({Record("ObjectCreated:Put", "photos", "k")});
  body.insert(1, 1000, ' ');
  auto r = Request(server->port(), "POST", "/", body);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "body too large (limit 1000 bytes)\n");
  // Without a Content-Length the server stops reading at the limit.
  r = Request(server->port(), "POST", "/", body, /*chunked=*/true);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, "body too large (limit 1000 bytes)\n");
  EXPECT_EQ(calls(), 0);

  // Exactly at the limit is fine, chunked or not.
  body.erase(1, body.size() - 1000);
  ASSERT_EQ(body.size(), 1000u);
  EXPECT_EQ(Request(server->port(), "POST", "/", body).status, 200);
  EXPECT_EQ(Request(server->port(), "POST", "/", body, /*chunked=*/true).status, 200);
  EXPECT_EQ(calls(), 2);
}

TEST_F(WebhookServerTest, EventsForOtherBucketsOrThatChangeNothingAreIgnored) {
  auto server = StartServer(Settings());
  const auto r = Request(server->port(), "POST", "/",
                         Records({Record("ObjectCreated:Put", "other", "k"),
                                  Record("s3:ObjectAccessed:Get", "photos", "k"),
                                  Record("ObjectCreated:Put", "photos", "mine")}));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "accepted 1 events, ignored 2\n");
  ASSERT_EQ(seen().size(), 1u);
  EXPECT_EQ(seen()[0].key, "mine");
  EXPECT_EQ(server->stats().events_ignored, 2u);
  EXPECT_EQ(server->stats().events_delivered, 1u);

  // Nothing left to deliver: the handler is not called at all.
  EXPECT_EQ(
      Request(server->port(), "POST", "/", Records({Record("ObjectCreated:Put", "other", "k")}))
          .status,
      200);
  EXPECT_EQ(calls(), 1);
}

TEST_F(WebhookServerTest, EmptyBucketSettingAcceptsEveryBucket) {
  auto settings = Settings();
  settings.bucket.clear();
  auto server = StartServer(settings);
  EXPECT_EQ(Request(server->port(), "POST", "/", Records({Record("ObjectCreated:Put", "any", "k")}))
                .status,
            200);
  EXPECT_EQ(calls(), 1);
}

TEST_F(WebhookServerTest, TestEventsAndSubscriptionConfirmationsAre200WithoutDelivery) {
  auto server = StartServer(Settings());
  EXPECT_EQ(
      Request(server->port(), "POST", "/", R"({"Event":"s3:TestEvent","Bucket":"photos"})").status,
      200);
  const json confirmation = {{"Type", "SubscriptionConfirmation"},
                             {"TopicArn", "arn:aws:sns:eu-west-1:1:t"},
                             {"SubscribeURL", "https://sns.example/?Action=ConfirmSubscription"}};
  EXPECT_EQ(Request(server->port(), "POST", "/", confirmation.dump()).status, 200);
  EXPECT_EQ(calls(), 0);
  EXPECT_EQ(server->stats().requests_accepted, 2u);
}

TEST_F(WebhookServerTest, HealthzAndMethodNotAllowed) {
  auto server = StartServer(Settings());
  auto r = Request(server->port(), "GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  // One well-formed Date header (ours; civetweb's own is racy).
  const size_t date = r.headers.find("Date: ");
  ASSERT_NE(date, std::string::npos) << r.headers;
  EXPECT_EQ(r.headers.find("Date: ", date + 1), std::string::npos) << r.headers;
  EXPECT_EQ(r.headers.find(" GMT\r\n", date), date + 6 + 25) << r.headers;
  EXPECT_EQ(Request(server->port(), "HEAD", "/healthz").status, 200);

  r = Request(server->port(), "GET", "/");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.headers.find("Allow: POST"), std::string::npos) << r.headers;
  EXPECT_EQ(Request(server->port(), "PUT", "/").status, 405);
  EXPECT_EQ(Request(server->port(), "DELETE", "/events").status, 405);
  r = Request(server->port(), "POST", "/healthz", "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.headers.find("Allow: GET, HEAD"), std::string::npos) << r.headers;
  EXPECT_EQ(calls(), 0);
}

TEST_F(WebhookServerTest, PortAlreadyTakenIsAClearError) {
  // Hold a listening socket on a free port.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int taken = ntohs(addr.sin_port);

  auto settings = Settings();
  settings.address = "127.0.0.1:" + std::to_string(taken);
  WebhookServer server(settings, Recorder());
  const std::string error = server.Start();
  EXPECT_NE(error.find("cannot serve S3 events on \"127.0.0.1:" + std::to_string(taken) + "\""),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("Address already in use"), std::string::npos) << error;
  EXPECT_EQ(server.port(), 0);
  server.Stop();  // harmless when never started
  close(fd);
}

TEST_F(WebhookServerTest, MalformedAddressesAreErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "expected HOST:PORT"},
      {"localhost", "expected HOST:PORT"},
      {":8080", "missing host"},
      {"127.0.0.1:", "invalid port \"\""},
      {"127.0.0.1:65536", "invalid port \"65536\""},
      {"127.0.0.1:-1", "invalid port \"-1\""},
      {"127.0.0.1:80x", "invalid port \"80x\""},
      {"::1:80", "IPv6 addresses need brackets"},
      {"[::1", "unterminated '['"},
      {"[::1]80", "expected [IPv6]:PORT"},
      {"[not-v6]:80", "invalid IPv6 address"},
      {"no-such-host.invalid:80", "cannot resolve"},
  };
  for (const auto& [address, message] : cases) {
    auto settings = Settings();
    settings.address = address;
    WebhookServer server(settings, Recorder());
    const std::string error = server.Start();
    EXPECT_NE(error.find(message), std::string::npos) << address << " -> " << error;
    EXPECT_EQ(server.port(), 0);
  }
  EXPECT_EQ(CheckListenAddress("0.0.0.0:9000"), "");
  EXPECT_EQ(CheckListenAddress("[::]:0"), "");
  EXPECT_NE(CheckListenAddress("9000"), "");
}

TEST_F(WebhookServerTest, ResolvesHostNames) {
  auto settings = Settings();
  settings.address = "localhost:0";
  auto server = StartServer(settings);
  EXPECT_EQ(Request(server->port(), "GET", "/healthz").status, 200);
}

TEST_F(WebhookServerTest, StopIsIdempotentAndRestartWorks) {
  auto server = StartServer(Settings());
  const std::string body = Records({Record("ObjectCreated:Put", "photos", "k")});
  const int first_port = server->port();
  EXPECT_EQ(Request(first_port, "POST", "/", body).status, 200);
  EXPECT_NE(server->Start(), "");  // already running
  server->Stop();
  EXPECT_EQ(server->port(), 0);
  server->Stop();
  EXPECT_EQ(Request(first_port, "POST", "/", body).curl, CURLE_COULDNT_CONNECT);

  ASSERT_EQ(server->Start(), "");
  ASSERT_GT(server->port(), 0);
  EXPECT_EQ(Request(server->port(), "POST", "/", body).status, 200);
  EXPECT_EQ(calls(), 2);
  EXPECT_EQ(server->stats().requests_accepted, 2u);  // counters survive a restart
}

TEST_F(WebhookServerTest, DestructorStops) {
  int port = 0;
  {
    auto server = StartServer(Settings());
    port = server->port();
  }
  EXPECT_EQ(Request(port, "GET", "/healthz").curl, CURLE_COULDNT_CONNECT);
}

TEST_F(WebhookServerTest, ThrowingHandlerGets500AndServerKeepsServing) {
  auto settings = Settings();
  bool throw_once = true;
  WebhookServer server(settings, [&](std::vector<S3Event>) {
    if (std::exchange(throw_once, false)) throw std::runtime_error("queue full");
  });
  ASSERT_EQ(server.Start(), "");
  const std::string body = Records({Record("ObjectCreated:Put", "photos", "k")});
  auto r = Request(server.port(), "POST", "/", body);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "handler failed: queue full\n");
  EXPECT_EQ(Request(server.port(), "POST", "/", body).status, 200);
}

TEST_F(WebhookServerTest, HandlerIsNeverCalledConcurrently) {
  auto settings = Settings();
  std::atomic<int> in_handler{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> calls{0};
  WebhookServer server(settings, [&](std::vector<S3Event>) {
    if (in_handler.fetch_add(1) != 0) ++overlaps;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    in_handler.fetch_sub(1);
    ++calls;
  });
  ASSERT_EQ(server.Start(), "");
  const std::string body = Records({Record("ObjectCreated:Put", "photos", "k")});
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      for (int j = 0; j < 3; ++j) EXPECT_EQ(Request(server.port(), "POST", "/", body).status, 200);
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(calls.load(), 12);
  EXPECT_EQ(overlaps.load(), 0);
}

TEST_F(WebhookServerTest, StopWaitsForARunningHandler) {
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  WebhookServer server(Settings(), [&](std::vector<S3Event>) {
    entered = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    finished = true;
  });
  ASSERT_EQ(server.Start(), "");
  std::thread client([&] {
    Request(server.port(), "POST", "/", Records({Record("ObjectCreated:Put", "photos", "k")}));
  });
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server.Stop();
  EXPECT_TRUE(finished);  // no handler call outlives Stop()
  client.join();
}

// --- The shared secret ---

constexpr char kToken[] = "s3cret-token-0123456789";

std::string Basic(const std::string& user_password) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < user_password.size(); i += 3) {
    const uint32_t n = uint32_t(uint8_t(user_password[i])) << 16 |
                       uint32_t(uint8_t(user_password[i + 1])) << 8 |
                       uint32_t(uint8_t(user_password[i + 2]));
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i < user_password.size()) {
    uint32_t n = uint32_t(uint8_t(user_password[i])) << 16;
    if (i + 1 < user_password.size()) n |= uint32_t(uint8_t(user_password[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < user_password.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return "Authorization: Basic " + out;
}

// `n` connections to `port` that each sent `head` (maybe nothing) and wait;
// returns once the server has had time to read them.
std::vector<UniqueFd> Waiting(int port, int n, const std::string& head) {
  std::vector<UniqueFd> connections;
  for (int i = 0; i < n; ++i) {
    connections.push_back(Connect(port));
    EXPECT_TRUE(connections.back().valid() && SendAll(connections.back().get(), head));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return connections;
}

TEST_F(WebhookServerTest, WithATokenOnlyRequestsCarryingItAreDelivered) {
  auto settings = Settings();
  settings.token = kToken;
  std::vector<RejectReason> rejected;
  settings.on_reject = [&](RejectReason reason) { rejected.push_back(reason); };
  auto server = StartServer(settings);
  const int port = server->port();
  const std::string body = Records({Record("ObjectCreated:Put", "photos", "k")});

  auto r = Request(port, "POST", "/", body);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "credentials required\n");
  EXPECT_NE(r.headers.find("WWW-Authenticate: Bearer realm=\"freshfs\""), std::string::npos)
      << r.headers;
  EXPECT_EQ(Request(port, "POST", "/", body, false, {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(Request(port, "POST", "/", body, false,
                    {std::string("Authorization: Bearer ") + kToken + "x"})
                .status,
            401);
  EXPECT_EQ(
      Request(port, "POST", "/", body, false, {Basic(std::string("minio:") + kToken + "!")}).status,
      401);
  EXPECT_EQ(
      Request(port, "POST", "/", body, false, {std::string("Authorization: ") + kToken}).status,
      401);
  // Even a method that is not allowed says only "unauthorized".
  EXPECT_EQ(Request(port, "GET", "/").status, 401);
  EXPECT_EQ(calls(), 0) << "nothing delivered without the token";

  // MinIO's auth_token (Bearer, any case of the scheme) and Ceph's
  // http://USER:TOKEN@host/ (Basic) both work.
  EXPECT_EQ(
      Request(port, "POST", "/", body, false, {std::string("Authorization: Bearer ") + kToken})
          .status,
      200);
  EXPECT_EQ(
      Request(port, "POST", "/", body, false, {std::string("Authorization: bearer ") + kToken})
          .status,
      200);
  EXPECT_EQ(Request(port, "POST", "/", body, false, {Basic(std::string("rgw:") + kToken)}).status,
            200);
  EXPECT_EQ(calls(), 3);
  // The health check needs no token.
  EXPECT_EQ(Request(port, "GET", "/healthz").status, 200);

  const auto stats = server->stats();
  EXPECT_EQ(stats.rejected[size_t(RejectReason::kUnauthorized)], 6u);
  EXPECT_EQ(stats.requests_rejected, 6u);
  EXPECT_EQ(rejected, std::vector<RejectReason>(6, RejectReason::kUnauthorized));
}

TEST_F(WebhookServerTest, UnauthorizedRequestIsRefusedBeforeItsBodyIsRead) {
  auto settings = Settings();
  settings.token = kToken;
  auto server = StartServer(settings);
  UniqueFd fd = Connect(server->port());
  ASSERT_TRUE(fd.valid());
  // A head announcing 100 MB, and no body: the answer comes at once.
  ASSERT_TRUE(SendAll(fd.get(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"));
  const auto start = std::chrono::steady_clock::now();
  const std::string answer = ReadUntilClose(fd.get(), std::chrono::seconds(5));
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 401 Unauthorized\r\n")) << answer;
  EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(WebhookServerTest, NoTokenIsRefusedOnAddressesOtherHostsReach) {
  auto settings = Settings();
  settings.address = "0.0.0.0:0";
  WebhookServer open_server(settings, Recorder());
  const std::string error = open_server.Start();
  EXPECT_NE(error.find("0.0.0.0 is reachable from other hosts and no token is set"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("--events-token-file"), std::string::npos) << error;
  EXPECT_EQ(open_server.port(), 0);

  settings.token = kToken;
  WebhookServer guarded(settings, Recorder());
  EXPECT_EQ(guarded.Start(), "");
  EXPECT_GT(guarded.port(), 0);
}

// --- Slow clients ---

TEST_F(WebhookServerTest, IdleAndTricklingConnectionsDoNotDelayAValidPost) {
  auto settings = Settings();
  settings.max_connections = 8;
  auto server = StartServer(settings);
  const int port = server->port();
  // Far more connections than the limit: some idle, some stuck halfway
  // through their head.
  const auto idle = Waiting(port, 20, "");
  const auto halfway = Waiting(port, 20, "POST / HT");
  const auto start = std::chrono::steady_clock::now();
  const auto r = Request(port, "POST", "/", Records({Record("ObjectCreated:Put", "photos", "k")}));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_LT(took, std::chrono::milliseconds(1000));
  EXPECT_EQ(calls(), 1);
  EXPECT_GE(server->stats().rejected[size_t(RejectReason::kOverloaded)], 32u)
      << "the slow connections past the limit were closed";
}

TEST_F(WebhookServerTest, ARequestNotCompleteInTimeGets408) {
  auto settings = Settings();
  settings.head_timeout = std::chrono::milliseconds(300);
  settings.request_timeout = std::chrono::milliseconds(600);
  auto server = StartServer(settings);
  UniqueFd idle = Connect(server->port());
  UniqueFd stalled_body = Connect(server->port());
  ASSERT_TRUE(idle.valid() && stalled_body.valid());
  ASSERT_TRUE(SendAll(stalled_body.get(), "POST / HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"Rec"));
  const auto start = std::chrono::steady_clock::now();
  std::string answer = ReadUntilClose(idle.get(), std::chrono::seconds(5));
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n")) << answer;
  EXPECT_NE(answer.find("request head not complete in time"), std::string::npos) << answer;
  answer = ReadUntilClose(stalled_body.get(), std::chrono::seconds(5));
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n")) << answer;
  EXPECT_NE(answer.find("request not complete in time"), std::string::npos) << answer;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(server->stats().rejected[size_t(RejectReason::kTimeout)], 2u);
  EXPECT_EQ(calls(), 0);
}

TEST_F(WebhookServerTest, WhenEveryConnectionIsPastItsHeadANewOneGets503) {
  auto settings = Settings();
  settings.max_connections = 3;
  auto server = StartServer(settings);
  const auto busy = Waiting(server->port(), 3, "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n{");
  const auto r =
      Request(server->port(), "POST", "/", Records({Record("ObjectCreated:Put", "photos", "k")}));
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.headers.find("Retry-After: 1"), std::string::npos) << r.headers;
  EXPECT_EQ(server->stats().rejected[size_t(RejectReason::kOverloaded)], 1u);
}

TEST_F(WebhookServerTest, ConnectionsAnsweredAlreadyMakeRoomFirst) {
  auto settings = Settings();
  settings.token = kToken;
  settings.max_connections = 3;
  auto server = StartServer(settings);
  // Refused, answered, and kept open by their clients (the server lingers).
  const auto answered = Waiting(server->port(), 3, "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n");
  const auto r =
      Request(server->port(), "POST", "/", Records({Record("ObjectCreated:Put", "photos", "k")}),
              false, {std::string("Authorization: Bearer ") + kToken});
  EXPECT_EQ(r.status, 200) << r.body;
  const auto stats = server->stats();
  EXPECT_EQ(stats.rejected[size_t(RejectReason::kUnauthorized)], 3u);
  EXPECT_EQ(stats.rejected[size_t(RejectReason::kOverloaded)], 0u);
}

TEST_F(WebhookServerTest, BodiesBeingReadHoldAtMostTheBufferBudget) {
  auto settings = Settings();
  settings.max_body_bytes = 1000;
  settings.max_buffered_bytes = 1500;
  auto server = StartServer(settings);
  UniqueFd first = Connect(server->port());
  ASSERT_TRUE(SendAll(first.get(),
                      "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + std::string(900, ' ')));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  UniqueFd second = Connect(server->port());
  ASSERT_TRUE(SendAll(second.get(), "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n"));
  const std::string answer = ReadUntilClose(second.get(), std::chrono::seconds(5));
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << answer;
  // The first one finishes normally.
  ASSERT_TRUE(SendAll(first.get(), std::string(100, ' ')));
  EXPECT_TRUE(ReadUntilClose(first.get(), std::chrono::seconds(5)).starts_with("HTTP/1.1 400"))
      << "a body of blanks is not JSON, but it was read whole";
}

// --- HTTP details ---

TEST_F(WebhookServerTest, Expect100ContinueGetsTheInterimAnswer) {
  auto server = StartServer(Settings());
  UniqueFd fd = Connect(server->port());
  const std::string body = Records({Record("ObjectCreated:Put", "photos", "k")});
  ASSERT_TRUE(SendAll(fd.get(), "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: " +
                                    std::to_string(body.size()) + "\r\n\r\n"));
  char buffer[64] = {};
  const ssize_t n = recv(fd.get(), buffer, sizeof(buffer) - 1, 0);
  EXPECT_EQ(std::string(buffer, n > 0 ? size_t(n) : 0), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(SendAll(fd.get(), body));
  const std::string answer = ReadUntilClose(fd.get(), std::chrono::seconds(5));
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer;
  EXPECT_EQ(calls(), 1);
}

TEST_F(WebhookServerTest, RequestsThatAreNotHttpWeTakeAreRefused) {
  auto settings = Settings();
  settings.max_head_bytes = 1024;
  auto server = StartServer(settings);
  const std::pair<std::string, std::string> cases[] = {
      {"GARBAGE\r\n\r\n", "HTTP/1.1 400 "},
      {"POST / HTTP/2.0\r\n\r\n", "HTTP/1.1 400 "},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 "},
      {"POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
       "HTTP/1.1 400 "},
      {"POST / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", "HTTP/1.1 431 "},
  };
  for (const auto& [request, status] : cases) {
    UniqueFd fd = Connect(server->port());
    ASSERT_TRUE(SendAll(fd.get(), request));
    const std::string answer = ReadUntilClose(fd.get(), std::chrono::seconds(5));
    EXPECT_TRUE(answer.starts_with(status)) << request.substr(0, 60) << " -> " << answer;
  }
  EXPECT_EQ(calls(), 0);
  const auto stats = server->stats();
  EXPECT_EQ(stats.rejected[size_t(RejectReason::kMalformed)], 4u);
  EXPECT_EQ(stats.rejected[size_t(RejectReason::kTooLarge)], 1u);
}

}  // namespace
}  // namespace freshfs::watch
