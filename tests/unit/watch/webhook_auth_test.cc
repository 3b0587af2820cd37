// The webhook's shared secret: what MinIO (Bearer) and Ceph RGW / SNS
// (Basic, the token as password) send is accepted, nothing else is, and a
// token file is refused with a reason that never shows its content.
#include "watch/webhook_auth.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "support/temp_dir.h"

namespace freshfs::watch {
namespace {

constexpr char kToken[] = "0123456789abcdef-token";
// base64("rgw:0123456789abcdef-token"), base64("rgw:wrong"), base64("no-colon")
constexpr char kBasicRight[] = "cmd3OjAxMjM0NTY3ODlhYmNkZWYtdG9rZW4=";
constexpr char kBasicWrong[] = "cmd3Ondyb25n";
constexpr char kBasicNoColon[] = "bm8tY29sb24=";

TEST(WebhookAuthTest, BearerAndBasicWithTheTokenMatch) {
  EXPECT_TRUE(AuthorizationMatches(std::string("Bearer ") + kToken, kToken));
  EXPECT_TRUE(AuthorizationMatches(std::string("bearer  ") + kToken + " ", kToken));
  EXPECT_TRUE(AuthorizationMatches(std::string("Basic ") + kBasicRight, kToken));
  EXPECT_TRUE(AuthorizationMatches(std::string("BASIC ") + kBasicRight, kToken));
}

TEST(WebhookAuthTest, AnythingElseDoesNot) {
  const std::string token = kToken;
  for (const std::string& header : std::vector<std::string>{
           std::string(), token, "Bearer", "Bearer ", "Bearer " + token.substr(1),
           "Bearer " + token + "x", "Bearer x" + token, "Token " + token,
           std::string("Basic ") + kBasicWrong, std::string("Basic ") + kBasicNoColon,
           std::string("Basic ") + kBasicRight + "!", "Basic " + token}) {
    EXPECT_FALSE(AuthorizationMatches(header, kToken)) << header;
  }
  EXPECT_FALSE(AuthorizationMatches("Bearer ", "")) << "an empty token matches nothing";
}

class TokenFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& content) {
    const std::string path = dir_ + "/token";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    return path;
  }
  freshfs::testing::TempDir tmp_{"token"};
  std::string dir_ = tmp_.str();
};

TEST_F(TokenFileTest, TheTokenIsTheTextWithoutSurroundingWhiteSpace) {
  std::string token;
  EXPECT_EQ(ReadTokenFile(Write(std::string("  ") + kToken + "\r\n"), &token), "");
  EXPECT_EQ(token, kToken);
}

TEST_F(TokenFileTest, UnusableFilesAreRefusedWithoutShowingTheirContent) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "is empty"},
      {" \n", "is empty"},
      {"short-secret\n", "holds a token of 12 characters; use at least 16"},
      {"two words secret-secret\n", "white space or non-printable characters"},
      {std::string("secret\x01secret-secret"), "white space or non-printable characters"},
      {std::string(5000, 'a'), "is larger than 4096 bytes"},
  };
  for (const auto& [content, message] : cases) {
    std::string token = "unchanged";
    const std::string error = ReadTokenFile(Write(content), &token);
    EXPECT_NE(error.find(message), std::string::npos) << error;
    EXPECT_EQ(token, "unchanged");
    if (content.size() > 4) {
      EXPECT_EQ(error.find(content.substr(0, 5)), std::string::npos) << error;
    }
  }
  std::string token;
  EXPECT_NE(ReadTokenFile(dir_ + "/missing", &token).find("No such file or directory"),
            std::string::npos);
}

}  // namespace
}  // namespace freshfs::watch
