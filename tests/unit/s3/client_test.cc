// The S3 client against a real S3 server (s3rver), with the aws CLI as the
// independent other client.
#include "s3/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <thread>

#include "support/mount.h"
#include "support/s3rver.h"

namespace freshfs::s3 {
namespace {

using namespace std::chrono_literals;
using freshfs::testing::S3Server;

ClientConfig ConfigFor(const std::string& endpoint) {
  ClientConfig config;
  config.endpoint = endpoint;
  config.path_style = true;
  config.credentials.access_key_id = S3Server::kAccessKeyId;
  config.credentials.secret_access_key = S3Server::kSecretAccessKey;
  config.retry_base_delay = 20ms;
  return config;
}

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

// The whole object through GetRange, in reads of `chunk` bytes.
std::string ReadAll(Client& client, const std::string& key, size_t chunk = 1 << 20) {
  std::string out;
  std::string buf(chunk, '\0');
  for (;;) {
    auto got = client.GetRange(key, out.size(), chunk, buf.data());
    if (!got) {
      ADD_FAILURE() << got.error().Describe();
      return out;
    }
    out.append(buf.data(), *got);
    if (*got < chunk) return out;
  }
}

std::vector<std::string> Keys(const Listing& listing) {
  std::vector<std::string> keys;
  for (const auto& o : listing.objects) keys.push_back(o.key);
  return keys;
}

// One s3rver for the suite (node takes a second to start); every test
// works under its own key prefix.
class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new S3Server("test");
    auto started = server_->Start();
    if (!started) {
      delete server_;
      server_ = nullptr;
      FAIL() << started.message();
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "s3rver did not start";
    prefix_ = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "/";
    client_ = Client::Create(Config(), "test");
    client_->set_request_hook([this](std::string_view op, std::string_view outcome) {
      std::lock_guard lock(hook_mu_);
      requests_.push_back(std::string(op) + ":" + std::string(outcome));
    });
  }

  ClientConfig Config() const { return ConfigFor(server_->endpoint()); }
  std::string Key(const std::string& name) const { return prefix_ + name; }
  size_t CountRequests(const std::string& op_outcome) {
    std::lock_guard lock(hook_mu_);
    return std::count(requests_.begin(), requests_.end(), op_outcome);
  }
  void ResetRequests() {
    std::lock_guard lock(hook_mu_);
    requests_.clear();
  }

  static S3Server* server_;
  std::string prefix_;
  std::unique_ptr<Client> client_;
  std::mutex hook_mu_;
  std::vector<std::string> requests_;
};

S3Server* ClientTest::server_ = nullptr;

// Fails the run if an s3rver (or anything else under TestRoot()) outlives its
// fixture, and removes TestRoot() at the end.
[[maybe_unused]] ::testing::Environment* const kNoLeftovers =
    ::testing::AddGlobalTestEnvironment(new freshfs::testing::NoLeftoversEnvironment);

TEST_F(ClientTest, PutHeadAndRangedReads) {
  const std::string key = Key("hello.txt");
  const auto before_ns = (std::chrono::system_clock::now() - 2s).time_since_epoch() / 1ns;
  auto put = client_->Put(key, "hello world");
  ASSERT_TRUE(put) << put.error().Describe();
  EXPECT_EQ(*put, "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");  // quoted MD5

  auto head = client_->Head(key);
  ASSERT_TRUE(head) << head.error().Describe();
  EXPECT_EQ(head->key, key);
  EXPECT_EQ(head->size, 11u);
  EXPECT_EQ(head->etag, *put);
  EXPECT_GE(head->mtime_ns, before_ns);
  EXPECT_LE(head->mtime_ns, (std::chrono::system_clock::now() + 2s).time_since_epoch() / 1ns);

  char buf[16] = {};
  ObjectInfo info;
  auto got = client_->GetRange(key, 0, 5, buf, {}, &info);
  ASSERT_TRUE(got) << got.error().Describe();
  EXPECT_EQ(std::string(buf, *got), "hello");
  EXPECT_EQ(info.size, 11u);
  EXPECT_EQ(info.etag, *put);
  EXPECT_EQ(info.mtime_ns, head->mtime_ns);

  got = client_->GetRange(key, 6, sizeof buf, buf);  // runs past the end
  ASSERT_TRUE(got) << got.error().Describe();
  EXPECT_EQ(std::string(buf, *got), "world");

  for (uint64_t offset : {11u, 12u, 1000u}) {  // at and past the end: 416 → 0 bytes
    got = client_->GetRange(key, offset, sizeof buf, buf, {}, &info);
    ASSERT_TRUE(got) << "offset " << offset << ": " << got.error().Describe();
    EXPECT_EQ(*got, 0u);
  }
}

TEST_F(ClientTest, EmptyObject) {
  const std::string key = Key("empty");
  ASSERT_TRUE(client_->Put(key, ""));
  auto head = client_->Head(key);
  ASSERT_TRUE(head) << head.error().Describe();
  EXPECT_EQ(head->size, 0u);
  char buf[8];
  auto got = client_->GetRange(key, 0, sizeof buf, buf);
  ASSERT_TRUE(got) << got.error().Describe();
  EXPECT_EQ(*got, 0u);
}

TEST_F(ClientTest, MissingKeyIsNoSuchKey) {
  auto head = client_->Head(Key("missing"));
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().http_status, 404);
  EXPECT_EQ(head.error().code, "NoSuchKey");
  EXPECT_EQ(head.error().ToErrno(), ENOENT);
  EXPECT_NE(head.error().Describe().find("HEAD s3://test/" + Key("missing")), std::string::npos)
      << head.error().Describe();
  EXPECT_EQ(CountRequests("head:404"), 1u);  // not retried

  char buf[4];
  auto get = client_->GetRange(Key("missing"), 0, sizeof buf, buf);
  ASSERT_FALSE(get);
  EXPECT_EQ(get.error().code, "NoSuchKey");
  EXPECT_EQ(get.error().ToErrno(), ENOENT);
}

TEST_F(ClientTest, ListFollowsContinuationTokens) {
  // 2,500 keys: three pages of at most 1,000.
  constexpr int kKeys = 2500;
  std::vector<std::string> expected;
  for (int i = 0; i < kKeys; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "k%05d", i);
    expected.push_back(Key(name));
  }
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&] {
      for (int i; (i = next++) < kKeys;) {
        if (!client_->Put(expected[static_cast<size_t>(i)], "x")) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_EQ(failures, 0);

  ResetRequests();
  auto listing = client_->List(prefix_, "");
  ASSERT_TRUE(listing) << listing.error().Describe();
  EXPECT_EQ(Keys(*listing), expected);
  EXPECT_EQ(listing->requests, 3u);
  EXPECT_EQ(CountRequests("list:ok"), 3u);
  EXPECT_TRUE(listing->common_prefixes.empty());
  for (const auto& o : listing->objects) {
    EXPECT_EQ(o.size, 1u);
    EXPECT_EQ(o.etag, "\"9dd4e461268c8034f5c8564e155c67a6\"");  // MD5("x")
    EXPECT_GT(o.mtime_ns, 0);
  }

  auto limited = client_->List(prefix_, "", 1500);
  ASSERT_TRUE(limited) << limited.error().Describe();
  EXPECT_EQ(limited->objects.size(), 1500u);
  EXPECT_EQ(limited->requests, 2u);
  EXPECT_EQ(limited->objects.back().key, expected[1499]);
}

TEST_F(ClientTest, ListWithDelimiterFoldsSubdirectories) {
  for (const char* name : {"a", "b/1", "b/2", "c/x", "c/d/e", "c.txt"}) {
    ASSERT_TRUE(client_->Put(Key(name), name));
  }
  auto listing = client_->List(prefix_, "/");
  ASSERT_TRUE(listing) << listing.error().Describe();
  EXPECT_EQ(Keys(*listing), (std::vector<std::string>{Key("a"), Key("c.txt")}));
  EXPECT_EQ(listing->common_prefixes, (std::vector<std::string>{Key("b/"), Key("c/")}));

  listing = client_->List(Key("c/"), "/");
  ASSERT_TRUE(listing) << listing.error().Describe();
  EXPECT_EQ(Keys(*listing), std::vector<std::string>{Key("c/x")});
  EXPECT_EQ(listing->common_prefixes, std::vector<std::string>{Key("c/d/")});

  listing = client_->List(Key("nothing-here/"), "/");
  ASSERT_TRUE(listing) << listing.error().Describe();
  EXPECT_TRUE(listing->objects.empty());
  EXPECT_TRUE(listing->common_prefixes.empty());
}

// s3rver walks its directory tree and never enters a directory below a
// common prefix, so a "directory" holding only deeper ones is not listed.
// Real S3 lists "only-deeper/". Tests that need it must put an object
// directly below such a prefix.
TEST_F(ClientTest, S3rverOmitsPrefixesWithOnlyDeeperObjects) {
  ASSERT_TRUE(client_->Put(Key("shallow/x"), "x"));
  ASSERT_TRUE(client_->Put(Key("only-deeper/sub/x"), "x"));
  auto listing = client_->List(prefix_, "/");
  ASSERT_TRUE(listing) << listing.error().Describe();
  EXPECT_EQ(listing->common_prefixes, std::vector<std::string>{Key("shallow/")})
      << "s3rver now lists prefixes with only deeper objects";
  auto flat = client_->List(prefix_, "");
  ASSERT_TRUE(flat);
  EXPECT_EQ(flat->objects.size(), 2u);
}

TEST_F(ClientTest, KeysWithOddCharactersSurviveEveryOperation) {
  const std::vector<std::string> names = {"with space.txt",
                                          "plus+sign",
                                          "per%cent",
                                          "per%25cent-escaped",
                                          "ümlaut/日本語 ファイル",
                                          "q?mark&amp=1#frag",
                                          "tilde~(paren)[br]{c}",
                                          "semi;colon,comma'quote\"",
                                          "emoji-😀",
                                          "star*and!bang@at$dollar"};
  std::vector<std::string> keys;
  for (const auto& name : names) {
    const std::string key = Key(name);
    keys.push_back(key);
    auto put = client_->Put(key, "content of " + name);
    ASSERT_TRUE(put) << name << ": " << put.error().Describe();
    auto head = client_->Head(key);
    ASSERT_TRUE(head) << name << ": " << head.error().Describe();
    EXPECT_EQ(head->size, ("content of " + name).size());
    EXPECT_EQ(ReadAll(*client_, key), "content of " + name);
  }
  auto listing = client_->List(prefix_, "");
  ASSERT_TRUE(listing) << listing.error().Describe();
  std::vector<std::string> listed = Keys(*listing);
  std::sort(keys.begin(), keys.end());
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, keys);

  ASSERT_TRUE(client_->DeleteMany(keys));
  listing = client_->List(prefix_, "");
  ASSERT_TRUE(listing);
  EXPECT_TRUE(listing->objects.empty());
}

TEST_F(ClientTest, MultipartUploadReadsBackByteExact) {
  ClientConfig config = Config();
  config.multipart_threshold = 1 << 20;
  config.multipart_part_size = 512 << 10;
  auto client = Client::Create(config, "test");
  std::vector<std::string> ops;
  std::mutex ops_mu;
  client->set_request_hook([&](std::string_view op, std::string_view outcome) {
    std::lock_guard lock(ops_mu);
    ops.push_back(std::string(op) + ":" + std::string(outcome));
  });

  const std::string data = RandomBytes((3 << 20) + 12345, 7);  // 7 parts, the last short
  const std::string path = freshfs::testing::MakeTempDir("multipart") + "/file";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));

  const std::string key = Key("big.bin");
  auto put = client->PutFile(key, fd, data.size());
  ASSERT_TRUE(put) << put.error().Describe();
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "multipart:ok"), 1 + 7 + 1);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "put:ok"), 0);
  // s3rver's multipart ETag is the MD5 of the whole object (AWS: MD5 of the
  // part MD5s, "-7"); either way a quoted string we only compare.
  EXPECT_EQ(put->front(), '"');

  auto head = client->Head(key);
  ASSERT_TRUE(head) << head.error().Describe();
  EXPECT_EQ(head->size, data.size());
  EXPECT_EQ(head->etag, *put);
  EXPECT_TRUE(ReadAll(*client, key, 1 << 20) == data) << "contents differ";
  EXPECT_TRUE(ReadAll(*client, key, 777777) == data) << "contents differ (odd chunks)";

  // At the threshold: one plain PUT.
  ops.clear();
  auto small = client->PutFile(Key("small.bin"), fd, 1 << 20);
  ASSERT_TRUE(small) << small.error().Describe();
  EXPECT_EQ(ops, std::vector<std::string>{"put:ok"});
  EXPECT_TRUE(ReadAll(*client, Key("small.bin")) == data.substr(0, 1 << 20));
  close(fd);
  freshfs::testing::RemoveTree(path.substr(0, path.rfind('/')));
}

TEST_F(ClientTest, DeleteAndDeleteMany) {
  for (const char* name : {"one", "two", "three", "four"})
    ASSERT_TRUE(client_->Put(Key(name), name));
  auto deleted = client_->Delete(Key("one"));
  ASSERT_TRUE(deleted) << deleted.error().Describe();
  EXPECT_EQ(client_->Head(Key("one")).error().http_status, 404);
  EXPECT_TRUE(client_->Delete(Key("one"))) << "deleting a missing key succeeds";

  auto many = client_->DeleteMany({Key("two"), Key("three"), Key("never-existed")});
  ASSERT_TRUE(many) << many.error().Describe();
  auto listing = client_->List(prefix_, "");
  ASSERT_TRUE(listing);
  EXPECT_EQ(Keys(*listing), std::vector<std::string>{Key("four")});
  EXPECT_TRUE(client_->DeleteMany({}));
}

TEST_F(ClientTest, CopyKeepsContentAndETag) {
  auto put = client_->Put(Key("src dir/söurce.txt"), "copy me");
  ASSERT_TRUE(put);
  auto copy = client_->Copy(Key("src dir/söurce.txt"), Key("dst.txt"), Condition{.if_match = *put});
  ASSERT_TRUE(copy) << copy.error().Describe();
  EXPECT_EQ(*copy, *put);
  EXPECT_EQ(ReadAll(*client_, Key("dst.txt")), "copy me");
  EXPECT_TRUE(client_->Head(Key("src dir/söurce.txt"))) << "a copy leaves the source";

  auto missing = client_->Copy(Key("nope"), Key("dst2.txt"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().http_status, 404);
  EXPECT_EQ(missing.error().code, "NoSuchKey");
}

// s3rver decodes x-amz-copy-source with JS decodeURI, which leaves %2B (and
// the escapes of the other URI-reserved characters) encoded, so it looks for
// a source key "a%2Bb". The aws CLI fails the same way; S3 copies it.
TEST_F(ClientTest, S3rverCannotCopyKeysWithPlus) {
  ASSERT_TRUE(client_->Put(Key("a+b"), "x"));
  auto copy = client_->Copy(Key("a+b"), Key("dst"));
  ASSERT_FALSE(copy) << "s3rver now copies keys with '+'";
  EXPECT_EQ(copy.error().code, "NoSuchKey");
}

TEST_F(ClientTest, CheckBucket) {
  auto ok = client_->CheckBucket(prefix_);
  EXPECT_TRUE(ok) << ok.error().Describe();

  auto other = Client::Create(Config(), "no-such-bucket");
  auto missing = other->CheckBucket("");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().http_status, 404);
  EXPECT_EQ(missing.error().code, "NoSuchBucket");
  EXPECT_EQ(missing.error().ToErrno(), ENOENT);
  EXPECT_EQ(
      missing.error().Describe(),
      "HTTP 404 NoSuchBucket: The specified bucket does not exist (GET s3://no-such-bucket/)");
}

TEST_F(ClientTest, UnknownAccessKeyIsAccessDenied) {
  ClientConfig config = Config();
  config.credentials.access_key_id = "AKIDNOTKNOWN";
  auto client = Client::Create(config, "test");
  auto listed = client->CheckBucket("");
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().http_status, 403);
  EXPECT_EQ(listed.error().code, "InvalidAccessKeyId");
  EXPECT_EQ(listed.error().ToErrno(), EACCES);
  EXPECT_EQ(listed.error().Describe().find(S3Server::kSecretAccessKey), std::string::npos);
}

// What the filesystem layers get: the errno, S3's own words as the message
// (no secret), and a refused request is a failure to warn about, where a
// missing object is an ordinary answer.
TEST(S3Error, ToErrorCarriesTheErrnoAndTheDescription) {
  s3::Error denied{403, "AccessDenied", "Access Denied", "GET s3://b/k", 1};
  const freshfs::Error e = denied.ToError();
  EXPECT_EQ(e.code, EACCES);
  EXPECT_EQ(e.message, denied.Describe());
  EXPECT_EQ(e.kind, freshfs::Error::Kind::kFailure);
  s3::Error missing{404, "NoSuchKey", "gone", "HEAD s3://b/k", 1};
  EXPECT_EQ(missing.ToError().code, ENOENT);
  EXPECT_EQ(missing.ToError().kind, freshfs::Error::Kind::kAnswer);
}

// s3rver 3.7.1 ignores If-Match / If-None-Match on PUT and If-Match on GET
// (it only honours If-None-Match and If-Modified-Since on GET). The client
// sends them (client_wire_test.cc); this pins down what s3rver does so tests
// of conditional writes know they need real S3 or a fake.
TEST_F(ClientTest, S3rverIgnoresWriteConditions) {
  const std::string key = Key("cond");
  auto first = client_->Put(key, "v1");
  ASSERT_TRUE(first);
  auto overwrite = client_->Put(key, "v2", Condition{.if_none_match_any = true});
  EXPECT_TRUE(overwrite) << "s3rver now honours If-None-Match: * on PUT";
  auto stale = client_->Put(key, "v3", Condition{.if_match = "\"0000\""});
  EXPECT_TRUE(stale) << "s3rver now honours If-Match on PUT";
  char buf[8];
  auto read = client_->GetRange(key, 0, sizeof buf, buf, Condition{.if_match = "\"0000\""});
  EXPECT_TRUE(read) << "s3rver now honours If-Match on GET";
}

TEST_F(ClientTest, ConnectionRefusedFailsAfterMaxAttempts) {
  // A port bound but not listening refuses connections, and nobody else can
  // take it while we hold it.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ClientConfig config = ConfigFor("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
  config.max_attempts = 4;
  config.retry_base_delay = 50ms;
  auto client = Client::Create(config, "test");
  std::vector<std::string> outcomes;
  client->set_request_hook(
      [&](std::string_view, std::string_view outcome) { outcomes.emplace_back(outcome); });
  const auto start = std::chrono::steady_clock::now();
  auto head = client->Head("k");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().http_status, 0);
  EXPECT_EQ(head.error().code, "ConnectFailed");
  EXPECT_EQ(head.error().attempts, 4);
  EXPECT_EQ(head.error().ToErrno(), EIO);
  EXPECT_EQ(outcomes, std::vector<std::string>(4, "network"));
  // Backoff ceilings 50 + 100 + 200 ms; refused connects are instant.
  EXPECT_LT(elapsed, 2s);
  close(fd);
}

TEST(ClientOutage, ServerRestartIsSurvived) {
  S3Server server("test");
  ASSERT_TRUE(server.Start());
  ClientConfig config = ConfigFor(server.endpoint());
  config.max_attempts = 2;
  config.connect_timeout = 1s;
  auto client = Client::Create(config, "test");
  ASSERT_TRUE(client->Put("kept", "before the outage"));

  server.Stop();
  auto during = client->Head("kept");
  ASSERT_FALSE(during);
  EXPECT_EQ(during.error().http_status, 0);
  EXPECT_EQ(during.error().ToErrno(), EIO);

  ASSERT_TRUE(server.Start());
  auto after = client->Head("kept");
  ASSERT_TRUE(after) << after.error().Describe();
  EXPECT_EQ(ReadAll(*client, "kept"), "before the outage");
}

TEST_F(ClientTest, AwsCliAndClientSeeEachOthersObjects) {
  const std::string dir = freshfs::testing::MakeTempDir("aws");
  const std::string file = dir + "/from-aws.txt";
  {
    const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "written by aws\n", 15), 15);
    close(fd);
  }
  const std::string aws_key = Key("aws dir/ünï code.txt");
  auto cp = server_->Aws({"s3", "cp", file, "s3://test/" + aws_key});
  ASSERT_EQ(cp.exit_code, 0) << cp.Describe();

  auto head = client_->Head(aws_key);
  ASSERT_TRUE(head) << head.error().Describe();
  EXPECT_EQ(head->size, 15u);
  EXPECT_EQ(ReadAll(*client_, aws_key), "written by aws\n");
  auto listing = client_->List(Key("aws dir/"), "/");
  ASSERT_TRUE(listing);
  EXPECT_EQ(Keys(*listing), std::vector<std::string>{aws_key});

  const std::string our_key = Key("from client+plus.txt");
  auto put = client_->Put(our_key, "written by freshfs");
  ASSERT_TRUE(put) << put.error().Describe();
  auto get = server_->Aws({"s3", "cp", "s3://test/" + our_key, "-"});
  ASSERT_EQ(get.exit_code, 0) << get.Describe();
  EXPECT_EQ(get.stdout_text, "written by freshfs");
  auto api = server_->Aws({"s3api", "head-object", "--bucket", "test", "--key", our_key, "--query",
                           "ETag", "--output", "text"});
  ASSERT_EQ(api.exit_code, 0) << api.Describe();
  EXPECT_EQ(api.stdout_text, *put + "\n");

  auto removed = server_->Aws({"s3", "rm", "s3://test/" + aws_key});
  ASSERT_EQ(removed.exit_code, 0) << removed.Describe();
  EXPECT_EQ(client_->Head(aws_key).error().http_status, 404);
  freshfs::testing::RemoveTree(dir);
}

}  // namespace
}  // namespace freshfs::s3
