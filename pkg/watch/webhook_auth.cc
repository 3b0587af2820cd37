#include "watch/webhook_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

namespace freshfs::watch {
namespace {

constexpr size_t kMaxTokenFileBytes = 4096;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 (RFC 4648 4), padding optional; nullopt if malformed.
std::optional<std::string> DecodeBase64(std::string_view text) {
  while (text.ends_with('=')) text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int v = Base64Value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    if (++count == 4) {
      out.push_back(static_cast<char>(bits >> 16));
      out.push_back(static_cast<char>(bits >> 8));
      out.push_back(static_cast<char>(bits));
      bits = 0;
      count = 0;
    }
  }
  if (count == 2) out.push_back(static_cast<char>(bits >> 4));
  if (count == 3) {
    out.push_back(static_cast<char>(bits >> 10));
    out.push_back(static_cast<char>(bits >> 2));
  }
  return out;
}

using Digest = std::array<unsigned char, 32>;

Digest Sha256(std::string_view data) {
  Digest digest{};
  unsigned int len = 0;
  // Fails only when OpenSSL cannot allocate a few bytes: the zero digest
  // then matches nothing that was hashed.
  EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr);
  return digest;
}

// Comparing digests rather than the strings makes the time independent of
// both the token's length and the position of the first difference.
bool SecretEquals(std::string_view presented, std::string_view token) {
  const Digest a = Sha256(presented);
  const Digest b = Sha256(token);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string ReadTokenFile(const std::string& path, std::string* token) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::string("cannot read: ") + std::strerror(errno);
  std::string text(kMaxTokenFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return std::string("cannot read: ") + std::strerror(errno);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxTokenFileBytes) {
    return "is larger than " + std::to_string(kMaxTokenFileBytes) +
           " bytes (it should hold one token)";
  }
  const std::string_view trimmed = TrimSpace(text);
  if (trimmed.empty()) return "is empty (it should hold one token)";
  for (char c : trimmed) {
    if (c < 0x21 || c > 0x7e) {
      return "holds white space or non-printable characters inside the token (one token of "
             "printable ASCII expected)";
    }
  }
  if (trimmed.size() < kMinTokenLength) {
    return "holds a token of " + std::to_string(trimmed.size()) + " characters; use at least " +
           std::to_string(kMinTokenLength) + " (e.g. openssl rand -hex 32 > FILE)";
  }
  *token = std::string(trimmed);
  return "";
}

bool AuthorizationMatches(std::string_view header, std::string_view token) {
  if (token.empty()) return false;
  header = TrimSpace(header);
  const size_t space = header.find(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view scheme = header.substr(0, space);
  const std::string_view credentials = TrimSpace(header.substr(space + 1));
  if (EqualsIgnoreCase(scheme, "bearer")) return SecretEquals(credentials, token);
  if (!EqualsIgnoreCase(scheme, "basic")) return false;
  const auto decoded = DecodeBase64(credentials);
  if (!decoded) return false;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  return SecretEquals(std::string_view(*decoded).substr(colon + 1), token);
}

}  // namespace freshfs::watch
