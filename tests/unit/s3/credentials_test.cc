#include "s3/credential_chain.h"
#include "s3/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "support/temp_dir.h"

namespace freshfs::s3 {
namespace {

namespace stdfs = std::filesystem;

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY";
constexpr const char* kToken = "FwoGZXIvYXdzSECRETTOKEN==";

// The environment LoadCredentials sees: GetEnv is a plain function pointer,
// so the fake is a global the fixture resets.
std::map<std::string, std::string> g_env;
const char* FakeGetEnv(const char* name) {
  const auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

// Secrets must never reach a message, on success or failure.
void ExpectNoSecretIn(const CredentialsResult& r) {
  for (const std::string& text : {r.error, r.credentials.Describe(), r.credentials.source}) {
    EXPECT_EQ(text.find(kSecret), std::string::npos) << text;
    EXPECT_EQ(text.find(kToken), std::string::npos) << text;
  }
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << "error is not one line: " << r.error;
}

class LoadCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_env.clear();
    g_env["HOME"] = (dir_ / "home").string();
    // The chain ends at IMDS: not here (credential_chain_test.cc tests it).
    g_env["AWS_EC2_METADATA_DISABLED"] = "true";
  }
  void TearDown() override { g_env.clear(); }

  stdfs::path Write(const stdfs::path& relative, const std::string& text) {
    const stdfs::path path = dir_ / relative;
    stdfs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
  }

  CredentialsResult Load(const std::string& file = "", const std::string& profile = "") {
    CredentialsResult r = LoadCredentials(file, profile, FakeGetEnv);
    ExpectNoSecretIn(r);
    return r;
  }

  freshfs::testing::TempDir tmp_{"credentials"};
  stdfs::path dir_ = tmp_.path();
};

const std::string kTwoProfiles = std::string() +
                                 "[default]\n"
                                 "aws_access_key_id = AKIADEFAULT\n"
                                 "aws_secret_access_key = " +
                                 kSecret +
                                 "\n"
                                 "\n"
                                 "[prod]\n"
                                 "aws_access_key_id=AKIAPROD\n"
                                 "aws_secret_access_key=" +
                                 kSecret +
                                 "\n"
                                 "aws_session_token=" +
                                 kToken + "\n";

TEST_F(LoadCredentialsTest, EnvironmentWithSessionToken) {
  g_env["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  g_env["AWS_SECRET_ACCESS_KEY"] = kSecret;
  g_env["AWS_SESSION_TOKEN"] = kToken;
  const CredentialsResult r = Load();
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.credentials.access_key_id, "AKIAENV");
  EXPECT_EQ(r.credentials.secret_access_key, kSecret);
  EXPECT_EQ(r.credentials.session_token, kToken);
  EXPECT_EQ(r.credentials.Describe(), "from environment");
}

TEST_F(LoadCredentialsTest, EnvironmentWithHalfAPairIsAnError) {
  g_env["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  Write("home/.aws/credentials", kTwoProfiles);  // not a fallback
  const CredentialsResult r = Load();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << r.error;

  g_env.erase("AWS_ACCESS_KEY_ID");
  g_env["AWS_SECRET_ACCESS_KEY"] = kSecret;
  const CredentialsResult r2 = Load();
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error.find("AWS_ACCESS_KEY_ID is not"), std::string::npos) << r2.error;
}

TEST_F(LoadCredentialsTest, ExplicitFileWinsOverEnvironment) {
  g_env["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  g_env["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  const stdfs::path file = Write("creds", kTwoProfiles);
  const CredentialsResult r = Load(file.string());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.credentials.access_key_id, "AKIADEFAULT");
  EXPECT_EQ(r.credentials.secret_access_key, kSecret);
  EXPECT_EQ(r.credentials.session_token, "");
  EXPECT_EQ(r.credentials.Describe(), "from file " + file.string() + " [default]");
}

TEST_F(LoadCredentialsTest, ProfileArgumentWinsOverAwsProfile) {
  const stdfs::path file = Write("creds", kTwoProfiles +
                                              "[other]\naws_access_key_id=AKIAOTHER\n"
                                              "aws_secret_access_key=x\n");
  g_env["AWS_PROFILE"] = "other";
  EXPECT_EQ(Load(file.string()).credentials.access_key_id, "AKIAOTHER");
  const CredentialsResult r = Load(file.string(), "prod");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.credentials.access_key_id, "AKIAPROD");
  EXPECT_EQ(r.credentials.session_token, kToken);
  EXPECT_EQ(r.credentials.source, "file " + file.string() + " [prod]");
}

TEST_F(LoadCredentialsTest, MissingExplicitFileIsFinal) {
  g_env["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  g_env["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  const std::string missing = (dir_ / "nope").string();
  const CredentialsResult r = Load(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.credentials.empty());
  EXPECT_NE(r.error.find("\"" + missing + "\""), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;
}

TEST_F(LoadCredentialsTest, ExplicitFileWithoutTheProfileNamesTheProfilesItHas) {
  const stdfs::path file = Write("creds", kTwoProfiles);
  const CredentialsResult r = Load(file.string(), "staging");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error.find("[staging]"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("\"default\", \"prod\""), std::string::npos) << r.error;
}

TEST_F(LoadCredentialsTest, SharedFileFromHome) {
  const stdfs::path file = Write("home/.aws/credentials", kTwoProfiles);
  g_env["AWS_PROFILE"] = "prod";
  const CredentialsResult r = Load();
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.credentials.access_key_id, "AKIAPROD");
  EXPECT_EQ(r.credentials.source, "file " + file.string() + " [prod]");
}

TEST_F(LoadCredentialsTest, SharedFileFromAwsSharedCredentialsFile) {
  Write("home/.aws/credentials",
        "[default]\naws_access_key_id=AKIAHOME\n"
        "aws_secret_access_key=x\n");
  g_env["AWS_SHARED_CREDENTIALS_FILE"] = Write("elsewhere", kTwoProfiles).string();
  EXPECT_EQ(Load().credentials.access_key_id, "AKIADEFAULT");
}

TEST_F(LoadCredentialsTest, MissingAwsSharedCredentialsFileIsReported) {
  g_env["AWS_SHARED_CREDENTIALS_FILE"] = (dir_ / "gone").string();
  const CredentialsResult r = Load();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error.find((dir_ / "gone").string()), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("AWS_ACCESS_KEY_ID"), std::string::npos) << r.error;
}

TEST_F(LoadCredentialsTest, SharedFileWithoutTheProfileSaysWhatWasTried) {
  Write("home/.aws/credentials", kTwoProfiles);
  const CredentialsResult r = Load("", "staging");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error.find("[staging]"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("--s3-credentials-file"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("AWS_ACCESS_KEY_ID"), std::string::npos) << r.error;
}

TEST_F(LoadCredentialsTest, NothingFoundSaysWhatWasTried) {
  const CredentialsResult r = Load();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error.find("--s3-credentials-file"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("AWS_ACCESS_KEY_ID"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find((dir_ / "home/.aws/credentials").string()), std::string::npos) << r.error;

  g_env.erase("HOME");
  const CredentialsResult no_home = Load();
  ASSERT_FALSE(no_home.ok());
  EXPECT_NE(no_home.error.find("HOME"), std::string::npos) << no_home.error;
}

TEST_F(LoadCredentialsTest, UnreadableFileIsReported) {
  const stdfs::path directory = dir_ / "a-directory";
  stdfs::create_directories(directory);
  const CredentialsResult r = Load(directory.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error.find("cannot read S3 credentials file"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("Is a directory"), std::string::npos) << r.error;
}

// --- ParseCredentialsFile ---------------------------------------------------

CredentialsResult Parse(const std::string& text, const std::string& profile = "default") {
  CredentialsResult r = ParseCredentialsFile(text, profile, "/etc/creds");
  ExpectNoSecretIn(r);
  return r;
}

TEST(ParseCredentialsFileTest, CommentsWhitespaceCaseAndCrlf) {
  const std::string text = std::string() +
                           "# leading comment\r\n"
                           "; another comment\r\n"
                           "  [ default ]  \r\n"
                           "\tAWS_Access_Key_ID\t=\tAKIA1  \r\n"
                           "   # indented comment\r\n"
                           "aws_secret_access_key=" +
                           kSecret +
                           "\r\n"
                           "region = us-east-1\r\n";
  const CredentialsResult r = Parse(text);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.credentials.access_key_id, "AKIA1");
  EXPECT_EQ(r.credentials.secret_access_key, kSecret);
  EXPECT_EQ(r.credentials.session_token, "");
  EXPECT_EQ(r.credentials.source, "file /etc/creds [default]");
}

TEST(ParseCredentialsFileTest, ValueKeepsEverythingAfterTheFirstEquals) {
  const CredentialsResult r =
      Parse("[default]\naws_access_key_id=AKIA1\naws_secret_access_key = a=b;c#d\n");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.credentials.secret_access_key, "a=b;c#d");
}

TEST(ParseCredentialsFileTest, SessionTokenAndItsOlderName) {
  const std::string keys =
      std::string("aws_access_key_id=AKIA1\naws_secret_access_key=") + kSecret + "\n";
  EXPECT_EQ(
      Parse("[p]\n" + keys + "aws_session_token=" + kToken + "\n", "p").credentials.session_token,
      kToken);
  EXPECT_EQ(
      Parse("[p]\n" + keys + "aws_security_token=" + kToken + "\n", "p").credentials.session_token,
      kToken);
}

TEST(ParseCredentialsFileTest, ProfilesDoNotLeakIntoEachOther) {
  const CredentialsResult r = Parse(std::string() + "[default]\naws_secret_access_key=" + kSecret +
                                        "\n"
                                        "[b]\naws_access_key_id=AKIAB\n",
                                    "default");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error.find("[default] has no aws_access_key_id"), std::string::npos) << r.error;
}

TEST(ParseCredentialsFileTest, MissingKeysAreNamed) {
  const CredentialsResult r = Parse("[default]\nregion=x\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error.find("\"/etc/creds\""), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("aws_access_key_id and aws_secret_access_key"), std::string::npos)
      << r.error;

  const CredentialsResult empty_secret =
      Parse("[default]\naws_access_key_id=AKIA1\naws_secret_access_key =  \n");
  ASSERT_FALSE(empty_secret.ok());
  EXPECT_NE(empty_secret.error.find("has no aws_secret_access_key"), std::string::npos)
      << empty_secret.error;
}

TEST(ParseCredentialsFileTest, MissingProfile) {
  const CredentialsResult r = Parse("# nothing\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error.find("no profile [default] (profiles: none)"), std::string::npos) << r.error;
}

TEST(ParseCredentialsFileTest, MalformedLinesAreReportedByNumberWithoutTheirContent) {
  const CredentialsResult no_equals =
      Parse(std::string("[default]\naws_access_key_id=AKIA1\naws_secret_access_key ") + kSecret);
  ASSERT_FALSE(no_equals.ok());
  EXPECT_NE(no_equals.error.find("line 3"), std::string::npos) << no_equals.error;

  const CredentialsResult outside = Parse(std::string("aws_secret_access_key=") + kSecret);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error.find("line 1"), std::string::npos) << outside.error;

  const CredentialsResult open_section = Parse("\n[default\n");
  ASSERT_FALSE(open_section.ok());
  EXPECT_NE(open_section.error.find("line 2"), std::string::npos) << open_section.error;
}

TEST(CredentialsTest, DescribeShowsTheSourceOnly) {
  const Credentials c{"AKIAX", kSecret, kToken, "environment"};
  EXPECT_EQ(c.Describe(), "from environment");  // not even the access key id
  EXPECT_FALSE(c.empty());
  EXPECT_TRUE(Credentials{}.empty());
  EXPECT_EQ(Credentials{}.Describe(), "no credentials");
}

}  // namespace
}  // namespace freshfs::s3
