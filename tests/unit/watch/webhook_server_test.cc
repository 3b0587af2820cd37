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

namespace freshfs::watch {
namespace {

using nlohmann::json;

struct HttpResponse {
  CURLcode curl = CURLE_OK;
  long status = 0;
  std::string body;
  std::string headers;
};

size_t Append(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct ChunkedSource {
  std::string data;
  size_t offset = 0;
};

size_t ReadChunk(char* buffer, size_t size, size_t count, void* source) {
  auto* s = static_cast<ChunkedSource*>(source);
  const size_t n = std::min(size * count, std::min<size_t>(4096, s->data.size() - s->offset));
  std::memcpy(buffer, s->data.data() + s->offset, n);
  s->offset += n;
  return n;
}

// One real HTTP request to 127.0.0.1:port. `chunked` sends the body without
// a Content-Length.
HttpResponse Request(int port, const std::string& method, const std::string& path,
                     const std::string& body = "", bool chunked = false) {
  HttpResponse response;
  CURL* curl = curl_easy_init();
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  headers = curl_slist_append(headers, "Content-Type: application/json");
  ChunkedSource source{body};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "POST" && chunked) {
    headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, &ReadChunk);
    curl_easy_setopt(curl, CURLOPT_READDATA, &source);
  } else if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  response.curl = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return response;
}

json Record(const std::string& event_name, const std::string& bucket, const std::string& key) {
  return {{"eventName", event_name},
          {"s3", {{"bucket", {{"name", bucket}}}, {"object", {{"key", key}, {"size", 5}}}}}};
}

std::string Records(const std::vector<json>& records) { return json{{"Records", records}}.dump(); }

class WebhookServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }

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
  ASSERT_EQ(r.curl, CURLE_OK) << curl_easy_strerror(r.curl);
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

TEST_F(WebhookServerTest, OversizedBodyIs400AndChangesNothing) {
  auto settings = Settings();
  settings.max_body_bytes = 1000;
  auto server = StartServer(settings);
  // Valid JSON, padded past the limit.
  std::string body = Records({Record("ObjectCreated:Put", "photos", "k")});
  body.insert(1, 1000, ' ');
  auto r = Request(server->port(), "POST", "/", body);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "body too large (limit 1000 bytes)\n");
  // Without a Content-Length the server stops reading at the limit.
  r = Request(server->port(), "POST", "/", body, /*chunked=*/true);
  EXPECT_EQ(r.status, 400);
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
  settings.worker_threads = 4;
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

}  // namespace
}  // namespace freshfs::watch
