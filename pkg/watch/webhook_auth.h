// The shared secret of the S3 event webhook (--events-token-file): read
// once at start, and checked against each request's Authorization header.
//
// What the stores send (checked against their sources):
//   - MinIO's webhook target with auth_token=TOKEN sends
//     "Authorization: Bearer TOKEN" (a token of two words, e.g.
//     "Bearer TOKEN", is sent as it is), on every POST and on the HEAD it
//     uses as a liveness probe;
//   - Ceph RGW's HTTP endpoint has no header setting: credentials go into
//     the push-endpoint URL (http://USER:TOKEN@host:port/), which its
//     libcurl client sends as "Authorization: Basic base64(USER:TOKEN)";
//   - AWS SNS HTTP(S) subscriptions do the same with user:password in the
//     subscription URL.
// So a request is authorized by "Bearer TOKEN" or by "Basic" credentials
// whose password is TOKEN (any user name).
//
// Pure functions; callable from any thread. Nothing here logs the token.
#pragma once

#include <string>
#include <string_view>

namespace freshfs::watch {

// Tokens shorter than this are refused: guessable over the network.
inline constexpr size_t kMinTokenLength = 16;

// Reads the token from `path`: the file's text without surrounding white
// space; at least kMinTokenLength printable ASCII characters, none of them
// white space. Returns an error message (never the file's content), empty
// on success.
std::string ReadTokenFile(const std::string& path, std::string* token);

// Whether the value of an Authorization header carries `token` (non-empty)
// as described above. Takes the same time whatever the token, wherever the
// first difference is.
bool AuthorizationMatches(std::string_view header, std::string_view token);

}  // namespace freshfs::watch
