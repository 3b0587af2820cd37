#include "s3/sigv4.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/temp_dir.h"

namespace freshfs::s3 {
namespace {

// Debian's interpreter, which has python3-botocore (scripts/deps.sh); the
// python3 first on PATH may be another one without it.
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kBotocoreScript = FRESHFS_BOTOCORE_SIGN_SCRIPT;

// The example credentials of AWS's SigV4 documentation.
const Credentials kDocCredentials{"AKIAIOSFODNN7EXAMPLE",
                                  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", "test"};
constexpr std::time_t kDocTime = 1369353600;  // 2013-05-24T00:00:00Z
constexpr const char* kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string HeaderValue(const SignedHeaders& signed_headers, std::string_view name) {
  for (const auto& [n, v] : signed_headers.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

// --- Fixed values -----------------------------------------------------------

TEST(Sha256HexTest, MatchesKnownDigests) {
  EXPECT_EQ(Sha256Hex(""), kEmptySha256);
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(UriEncodeTest, KeepsUnreservedAndEncodesTheRestAsUppercaseHex) {
  EXPECT_EQ(UriEncode("AZaz09-_.~", false), "AZaz09-_.~");
  EXPECT_EQ(UriEncode("a b+c=d&e", false), "a%20b%2Bc%3Dd%26e");
  EXPECT_EQ(UriEncode("dir/file", false), "dir%2Ffile");
  EXPECT_EQ(UriEncode("dir/file", true), "dir/file");
  EXPECT_EQ(UriEncode("\xc3\xbc", true), "%C3%BC");  // ü as UTF-8 bytes
  EXPECT_EQ(UriEncode("100%", true), "100%25");
  EXPECT_EQ(UriEncode("", true), "");
}

// AWS's documented S3 examples ("Signature Calculations for the
// Authorization Header"), bucket examplebucket, 2013-05-24.
TEST(SignTest, DocumentedGetObjectExample) {
  SigningRequest req{.method = "GET",
                     .host = "examplebucket.s3.amazonaws.com",
                     .encoded_path = "/test.txt",
                     .headers = {{"Range", "bytes=0-9"}},
                     .payload_hash = kEmptySha256};
  const SignedHeaders s = Sign(req, kDocCredentials, "us-east-1", kDocTime);
  EXPECT_EQ(
      s.canonical_request,
      "GET\n/test.txt\n\n"
      "host:examplebucket.s3.amazonaws.com\n"
      "range:bytes=0-9\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20130524T000000Z\n\n"
      "host;range;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(HeaderValue(s, "Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SignTest, DocumentedPutObjectExample) {
  const std::string body = "Welcome to Amazon S3.";
  SigningRequest req{.method = "PUT",
                     .host = "examplebucket.s3.amazonaws.com",
                     .encoded_path = "/test%24file.text",
                     .headers = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                     .payload_hash = Sha256Hex(body)};
  const SignedHeaders s = Sign(req, kDocCredentials, "us-east-1", kDocTime);
  EXPECT_EQ(s.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SignTest, DocumentedListObjectsExample) {
  SigningRequest req{.method = "GET",
                     .host = "examplebucket.s3.amazonaws.com",
                     .encoded_path = "/",
                     .query = {{"prefix", "J"}, {"max-keys", "2"}},
                     .payload_hash = kEmptySha256};
  EXPECT_EQ(Sign(req, kDocCredentials, "us-east-1", kDocTime).signature,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SignTest, DocumentedGetBucketLifecycleExampleWithValuelessParameter) {
  SigningRequest req{.method = "GET",
                     .host = "examplebucket.s3.amazonaws.com",
                     .encoded_path = "/",
                     .query = {{"lifecycle", ""}},
                     .payload_hash = kEmptySha256};
  const SignedHeaders s = Sign(req, kDocCredentials, "us-east-1", kDocTime);
  EXPECT_NE(s.canonical_request.find("\n/\nlifecycle=\n"), std::string::npos);
  EXPECT_EQ(s.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SignTest, ReturnsTheHeadersTheRequestMustCarry) {
  SigningRequest req{.method = "GET", .host = "h", .encoded_path = "/b/k"};
  Credentials with_token = kDocCredentials;
  with_token.session_token = "TOKEN";
  const SignedHeaders s = Sign(req, with_token, "eu-west-1", kDocTime);
  ASSERT_EQ(s.headers.size(), 4u);
  EXPECT_EQ(s.headers[0].first, "Authorization");
  EXPECT_EQ(s.headers[1], (std::pair<std::string, std::string>{"x-amz-date", "20130524T000000Z"}));
  EXPECT_EQ(s.headers[2],
            (std::pair<std::string, std::string>{"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}));
  EXPECT_EQ(s.headers[3], (std::pair<std::string, std::string>{"x-amz-security-token", "TOKEN"}));

  const SignedHeaders no_token = Sign(req, kDocCredentials, "eu-west-1", kDocTime);
  EXPECT_EQ(no_token.headers.size(), 3u);
  EXPECT_EQ(no_token.canonical_request.find("x-amz-security-token"), std::string::npos);
}

TEST(SignTest, CallerCannotOverrideTheSignersOwnHeaders) {
  SigningRequest plain{.method = "GET", .host = "h", .encoded_path = "/b/k"};
  SigningRequest overriding = plain;
  overriding.headers = {
      {"Host", "evil"}, {"X-Amz-Date", "19700101T000000Z"}, {"authorization", "x"}};
  EXPECT_EQ(Sign(overriding, kDocCredentials, "us-east-1", kDocTime).canonical_request,
            Sign(plain, kDocCredentials, "us-east-1", kDocTime).canonical_request);
}

TEST(SignTest, SignatureDependsOnSecretRegionAndTime) {
  SigningRequest req{.method = "GET", .host = "h", .encoded_path = "/b/k"};
  const std::string base = Sign(req, kDocCredentials, "us-east-1", kDocTime).signature;
  Credentials other_secret = kDocCredentials;
  other_secret.secret_access_key += "x";
  EXPECT_NE(Sign(req, other_secret, "us-east-1", kDocTime).signature, base);
  EXPECT_NE(Sign(req, kDocCredentials, "us-west-2", kDocTime).signature, base);
  EXPECT_NE(Sign(req, kDocCredentials, "us-east-1", kDocTime + 1).signature, base);
}

// --- Against botocore -------------------------------------------------------

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", byte);
      out += buf;
    } else {
      out += c;  // UTF-8 passes through; JSON text is UTF-8
    }
  }
  return out + "\"";
}

std::string JsonPairs(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out = "[";
  for (const auto& [a, b] : pairs) {
    if (out.size() > 1) out += ",";
    out += "[" + JsonString(a) + "," + JsonString(b) + "]";
  }
  return out + "]";
}

// One request signed both ways. `path` is the raw (unencoded) path: the C++
// side encodes it with UriEncode, botocore with its S3 serializer encoding.
struct Case {
  Credentials credentials = kDocCredentials;
  std::string region = "us-east-1";
  std::time_t time = kDocTime;
  std::string scheme = "https";
  std::string host = "bucket.s3.amazonaws.com";
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  bool unsigned_payload = true;
  std::string body;  // hashed when !unsigned_payload
};

struct BotocoreResult {
  std::string headers;  // "Name: value" lines
  std::string canonical_request;
};

class SignAgainstBotocoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::access(kPython, X_OK), 0)
        << kPython << " not found: the SigV4 tests compare against botocore, which needs "
        << "Debian's python3 with python3-botocore (scripts/deps.sh installs both)";
  }

  // Runs botocore_sign.py; on failure records a test failure and returns {}.
  BotocoreResult SignWithBotocore(const Case& c) {
    const std::filesystem::path spec = dir_ / "request.json";
    std::ofstream(spec) << "{\"access_key\":" << JsonString(c.credentials.access_key_id)
                        << ",\"secret_key\":" << JsonString(c.credentials.secret_access_key)
                        << ",\"token\":" << JsonString(c.credentials.session_token)
                        << ",\"region\":" << JsonString(c.region) << ",\"time\":" << c.time
                        << ",\"scheme\":" << JsonString(c.scheme)
                        << ",\"host\":" << JsonString(c.host)
                        << ",\"method\":" << JsonString(c.method)
                        << ",\"path\":" << JsonString(c.path) << ",\"query\":" << JsonPairs(c.query)
                        << ",\"headers\":" << JsonPairs(c.headers)
                        << ",\"unsigned\":" << (c.unsigned_payload ? "true" : "false")
                        << ",\"body\":" << JsonString(c.body) << "}";
    const std::string command =
        std::string(kPython) + " '" + kBotocoreScript + "' '" + spec.string() + "' 2>&1";
    std::FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) {
      ADD_FAILURE() << "cannot run " << command;
      return {};
    }
    std::string output;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
    const int status = ::pclose(pipe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ADD_FAILURE() << command << " failed (is python3-botocore installed for " << kPython
                    << "?):\n"
                    << output;
      return {};
    }
    const size_t blank = output.find("\n\n");
    if (blank == std::string::npos) {
      ADD_FAILURE() << "unexpected output of " << command << ":\n" << output;
      return {};
    }
    return {output.substr(0, blank + 1), output.substr(blank + 2)};
  }

  // Signs `c` here and with botocore and compares everything that goes on
  // the wire.
  void ExpectSameAsBotocore(const Case& c) {
    SigningRequest req{
        .method = c.method,
        .host = c.host,
        .encoded_path = UriEncode(c.path, true),
        .query = c.query,
        .headers = c.headers,
        .payload_hash = c.unsigned_payload ? std::string(kUnsignedPayload) : Sha256Hex(c.body)};
    const SignedHeaders ours = Sign(req, c.credentials, c.region, c.time);
    const BotocoreResult theirs = SignWithBotocore(c);
    if (theirs.headers.empty()) return;

    std::string our_headers;
    const char* botocore_names[] = {"Authorization", "X-Amz-Date", "X-Amz-Content-SHA256",
                                    "X-Amz-Security-Token"};
    for (size_t i = 0; i < ours.headers.size() && i < std::size(botocore_names); ++i) {
      our_headers += std::string(botocore_names[i]) + ": " + ours.headers[i].second + "\n";
    }
    EXPECT_EQ(ours.canonical_request, theirs.canonical_request);
    EXPECT_EQ(our_headers, theirs.headers);
    EXPECT_NE(theirs.headers.find("Signature=" + ours.signature), std::string::npos);
  }

  freshfs::testing::TempDir tmp_{"sigv4"};
  std::filesystem::path dir_ = tmp_.path();
};

TEST_F(SignAgainstBotocoreTest, ListObjectsV2WithParametersNeedingEncoding) {
  Case c;
  c.path = "/bucket";
  c.query = {{"list-type", "2"},
             {"prefix",
              "dir with spaces/\xc3\xbcnic\xc3\xb6"
              "de/"},  // ü, ö
             {"delimiter", "/"},
             {"continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=+x=="},
             {"encoding-type", "url"}};
  ExpectSameAsBotocore(c);
}

TEST_F(SignAgainstBotocoreTest, ValuelessParameterAndRealPayloadHash) {
  Case c;
  c.method = "POST";
  c.path = "/bucket/big file.bin";
  c.query = {{"uploads", ""}};
  c.unsigned_payload = false;
  ExpectSameAsBotocore(c);
}

TEST_F(SignAgainstBotocoreTest, KeyWithSpacesUnicodeAndSpecialCharacters) {
  Case c;
  c.path =
      "/bucket/dir one/\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82/"  // été € 🙂
      "!$&'()*+,;=:@%#?[]{}^`|\"<>~.txt";
  ExpectSameAsBotocore(c);
}

TEST_F(SignAgainstBotocoreTest, ConditionalPutWithExtraSignedHeaders) {
  Case c;
  c.method = "PUT";
  c.path = "/bucket/dir/file.txt";
  c.headers = {{"If-Match", "\"0123456789abcdef0123456789abcdef\""},
               {"If-None-Match", "*"},
               {"Content-Type", "  text/plain;   charset=utf-8  "},
               {"x-amz-meta-Tag", "one"},
               {"X-Amz-Meta-Tag", "two  words"}};
  c.unsigned_payload = false;
  c.body = "hello, world\n";
  ExpectSameAsBotocore(c);
}

TEST_F(SignAgainstBotocoreTest, SessionTokenAndNonDefaultPortOverPlainHttp) {
  Case c;
  c.credentials = {"ASIAEXAMPLEKEYID0001", "secret/with+chars=", "FwoGZXIvYXdzE+/token==", "test"};
  c.region = "eu-central-1";
  c.time = 1709251199;  // 2024-02-29T23:59:59Z
  c.scheme = "http";
  c.host = "localhost:9000";
  c.method = "DELETE";
  c.path = "/bucket/key";
  c.unsigned_payload = false;
  ExpectSameAsBotocore(c);
}

TEST_F(SignAgainstBotocoreTest, UnsignedPayloadWithSessionTokenAndQueryWithSlash) {
  Case c;
  c.credentials.session_token = "token with spaces";
  c.host = "s3.us-west-2.amazonaws.com";
  c.region = "us-west-2";
  c.time = 1767225600;  // 2026-01-01T00:00:00Z
  c.method = "HEAD";
  c.path = "/bucket/a/b/c";
  c.query = {{"versionId", "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"}};
  ExpectSameAsBotocore(c);
}

}  // namespace
}  // namespace freshfs::s3
