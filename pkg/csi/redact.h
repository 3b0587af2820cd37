// Secrets out of CSI messages before they are logged. A field is secret when
// csi.proto marks it [(csi.v1.csi_secret) = true] (every `secrets` map of
// the spec); the service-account tokens kubelet can put into a volume
// context are treated as secret as well.
//
// Pure functions, thread-safe.
#pragma once

#include <google/protobuf/message.h>

#include <string>

namespace freshfs::csi {

// Replaces every secret value in `message`, recursively, with "***"; the
// keys of secret maps stay, so a log still shows which secrets were sent.
void Redact(google::protobuf::Message* message);

// `message` as one line of protobuf text with every secret value redacted.
std::string RedactedText(const google::protobuf::Message& message);

}  // namespace freshfs::csi
