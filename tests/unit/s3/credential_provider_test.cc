// CredentialProvider: refresh before expiry (margin, jitter, backoff),
// refusals answered by one refresh, and the client's expired-token retry on
// the wire (FakeHttpServer). The source is a fake that issues numbered
// credentials with a chosen lifetime.
#include "s3/credential_provider.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "fake_http_server.h"
#include "s3/client.h"

namespace freshfs::s3 {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

class FakeSource : public CredentialSource {
 public:
  explicit FakeSource(std::chrono::milliseconds lifetime) : lifetime_(lifetime) {}
  const std::string& name() const override { return name_; }
  CredentialsResult Fetch() override {
    std::this_thread::sleep_for(fetch_delay);
    const int n = ++fetches;
    {
      std::lock_guard lock(mu_);
      if (!failures_.empty() && failures_.front() == n) {
        failures_.pop_front();
        return CredentialsResult{{}, "fake: fetch " + std::to_string(n) + " fails"};
      }
    }
    return {Issue(n), ""};
  }
  Credentials Issue(int n) const {
    return Credentials{"AKID" + std::to_string(n), "secret" + std::to_string(n),
                       "token" + std::to_string(n), name_,
                       Clock::now() + std::chrono::duration_cast<Clock::duration>(lifetime_)};
  }
  void FailFetches(std::deque<int> numbers) {
    std::lock_guard lock(mu_);
    failures_ = std::move(numbers);
  }

  std::atomic<int> fetches{0};
  std::chrono::milliseconds fetch_delay{0};

 private:
  const std::chrono::milliseconds lifetime_;
  const std::string name_ = "fake source";
  std::mutex mu_;
  std::deque<int> failures_;
};

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(CredentialProviderTest, FixedCredentialsAreNeverRefreshed) {
  CredentialProvider provider(Credentials{"AKID", "secret", "", "environment", std::nullopt});
  EXPECT_FALSE(provider.refreshing());
  EXPECT_FALSE(provider.SecondsUntilExpiry().has_value());
  EXPECT_FALSE(provider.RefreshAfterRejection(provider.Current()));
}

// A reader polling all the time never sees expired credentials, and the
// provider fetched again before each expiry (3 s lifetimes: refresh at
// 2 s, minus up to 0.3 s jitter).
TEST(CredentialProviderTest, RefreshesBeforeExpiryWithoutAGap) {
  auto source = std::make_unique<FakeSource>(3000ms);
  FakeSource* fake = source.get();
  std::vector<bool> outcomes;
  std::mutex outcomes_mu;
  CredentialProvider provider(fake->Issue(0), std::move(source));
  provider.set_observer([&](bool ok) {
    std::lock_guard lock(outcomes_mu);
    outcomes.push_back(ok);
  });
  std::set<std::string> seen;
  const auto end = Clock::now() + 7500ms;
  while (Clock::now() < end) {
    const Credentials c = provider.Current();
    ASSERT_GT(*c.expiration, Clock::now() + 500ms) << c.access_key_id << " about to expire";
    seen.insert(c.access_key_id);
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GE(fake->fetches.load(), 3);
  EXPECT_GE(seen.size(), 4u);
  std::lock_guard lock(outcomes_mu);
  EXPECT_EQ(outcomes, std::vector<bool>(outcomes.size(), true));
  EXPECT_GT(*provider.SecondsUntilExpiry(), 0.5);
}

TEST(CredentialProviderTest, FailedRefreshesBackOffAndKeepTheOldCredentials) {
  auto source = std::make_unique<FakeSource>(3000ms);
  FakeSource* fake = source.get();
  fake->FailFetches({1, 2});
  RefreshSettings settings;
  settings.first_retry = 100ms;
  std::vector<bool> outcomes;
  std::mutex outcomes_mu;
  CredentialProvider provider(fake->Issue(0), std::move(source), settings);
  provider.set_observer([&](bool ok) {
    std::lock_guard lock(outcomes_mu);
    outcomes.push_back(ok);
  });
  // Until the third fetch succeeds, the first credentials stay in use.
  ASSERT_TRUE(WaitUntil([&] { return fake->fetches.load() >= 3; }, 5s));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(provider.Current().access_key_id, "AKID3");
  std::lock_guard lock(outcomes_mu);
  EXPECT_EQ(outcomes, (std::vector<bool>{false, false, true}));
}

TEST(CredentialProviderTest, ConcurrentRejectionsCauseOneFetch) {
  auto source = std::make_unique<FakeSource>(3600s);
  FakeSource* fake = source.get();
  fake->fetch_delay = 200ms;
  CredentialProvider provider(fake->Issue(0), std::move(source));
  const Credentials used = provider.Current();
  std::vector<std::thread> threads;
  std::atomic<int> retried{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (provider.RefreshAfterRejection(used)) ++retried;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fake->fetches.load(), 1);
  EXPECT_EQ(retried.load(), 8);
  EXPECT_EQ(provider.Current().access_key_id, "AKID1");
  // A late rejection of the old credentials costs nothing more.
  EXPECT_TRUE(provider.RefreshAfterRejection(used));
  EXPECT_EQ(fake->fetches.load(), 1);
}

TEST(CredentialProviderTest, RejectionWhileTheSourceFailsIsNotRetried) {
  auto source = std::make_unique<FakeSource>(3600s);
  FakeSource* fake = source.get();
  fake->FailFetches({1});
  CredentialProvider provider(fake->Issue(0), std::move(source));
  EXPECT_FALSE(provider.RefreshAfterRejection(provider.Current()));
  EXPECT_EQ(provider.Current().access_key_id, "AKID0");
}

// --- on the wire -----------------------------------------------------------

using freshfs::s3::testing::FakeHttpServer;
using freshfs::s3::testing::FakeReply;

FakeReply ExpiredToken() {
  return FakeReply{400,
                   {{"Content-Type", "application/xml"}},
                   "<?xml version=\"1.0\"?><Error><Code>ExpiredToken</Code>"
                   "<Message>The provided token has expired.</Message></Error>"};
}

std::string KeyIdOf(const std::string& authorization) {
  const auto start = authorization.find("Credential=");
  if (start == std::string::npos) return "";
  return authorization.substr(start + 11, authorization.find('/', start) - start - 11);
}

// A client of `server` whose credentials come from a fake source (*fake).
std::unique_ptr<Client> ClientWithFakeSource(const FakeHttpServer& server, FakeSource** fake) {
  auto source = std::make_unique<FakeSource>(3600s);
  *fake = source.get();
  ClientConfig config;
  config.endpoint = server.endpoint();
  config.path_style = true;
  config.retry_base_delay = 10ms;
  config.credential_provider =
      std::make_shared<CredentialProvider>((*fake)->Issue(0), std::move(source));
  return Client::Create(config, "bucket");
}

TEST(ExpiredTokenTest, OneRefreshAndTheRequestSucceeds) {
  FakeHttpServer server({ExpiredToken(), FakeReply{200, {}, "hello"}});
  FakeSource* fake = nullptr;
  auto client = ClientWithFakeSource(server, &fake);
  char buf[16];
  const auto got = client->GetRange("key", 0, sizeof buf, buf);
  ASSERT_TRUE(got.ok()) << got.error().Describe();
  EXPECT_EQ(std::string(buf, *got), "hello");
  EXPECT_EQ(fake->fetches.load(), 1);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(KeyIdOf(requests[0].Header("authorization")), "AKID0");
  EXPECT_EQ(requests[0].Header("x-amz-security-token"), "token0");
  EXPECT_EQ(KeyIdOf(requests[1].Header("authorization")), "AKID1");
  EXPECT_EQ(requests[1].Header("x-amz-security-token"), "token1");
}

TEST(ExpiredTokenTest, RefusedAgainAfterTheRefreshFailsWithoutALoop) {
  FakeHttpServer server({ExpiredToken()});
  FakeSource* fake = nullptr;
  auto client = ClientWithFakeSource(server, &fake);
  char buf[16];
  const auto got = client->GetRange("key", 0, sizeof buf, buf);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, "ExpiredToken");
  EXPECT_EQ(got.error().ToErrno(), EACCES);
  EXPECT_EQ(fake->fetches.load(), 1);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(ExpiredTokenTest, FixedCredentialsAreNotRetried) {
  FakeHttpServer server({ExpiredToken(), FakeReply{200, {}, "hello"}});
  ClientConfig config;
  config.endpoint = server.endpoint();
  config.path_style = true;
  config.credentials = Credentials{"AKID", "secret", "token", "environment", std::nullopt};
  auto client = Client::Create(config, "bucket");
  char buf[16];
  EXPECT_FALSE(client->GetRange("key", 0, sizeof buf, buf).ok());
  EXPECT_EQ(server.requests().size(), 1u);
}

}  // namespace
}  // namespace freshfs::s3
