#include "csi/redact.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/text_format.h>

#include <memory>
#include <string_view>

#include "csi.pb.h"

namespace freshfs::csi {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr const char* kRedacted = "***";

// Volume contexts may carry service-account tokens (CSIDriver tokenRequests).
constexpr std::string_view kTokensKey = "csi.storage.k8s.io/serviceAccount.tokens";

bool IsSecret(const FieldDescriptor* field) {
  return field->options().GetExtension(::csi::v1::csi_secret);
}

// A map<string, string> entry: key is field 1, value field 2.
void RedactMapEntryValue(Message* entry) {
  const FieldDescriptor* value = entry->GetDescriptor()->map_value();
  if (value->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    entry->GetReflection()->SetString(entry, value, kRedacted);
  } else {
    entry->GetReflection()->ClearField(entry, value);
  }
}

void RedactSecretField(Message* message, const FieldDescriptor* field) {
  const Reflection* reflection = message->GetReflection();
  if (field->is_map()) {
    for (int i = 0; i < reflection->FieldSize(*message, field); ++i) {
      RedactMapEntryValue(reflection->MutableRepeatedMessage(message, field, i));
    }
  } else if (!field->is_repeated() && field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    if (reflection->HasField(*message, field)) reflection->SetString(message, field, kRedacted);
  } else {
    reflection->ClearField(message, field);
  }
}

// Redacts the tokens entry of a map<string, string> (volume_context).
void RedactTokens(Message* message, const FieldDescriptor* field) {
  const Reflection* reflection = message->GetReflection();
  for (int i = 0; i < reflection->FieldSize(*message, field); ++i) {
    Message* entry = reflection->MutableRepeatedMessage(message, field, i);
    const FieldDescriptor* key = entry->GetDescriptor()->map_key();
    if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
        entry->GetReflection()->GetString(*entry, key) == kTokensKey) {
      RedactMapEntryValue(entry);
    }
  }
}

}  // namespace

void Redact(Message* message) {
  const Reflection* reflection = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (IsSecret(field)) {
      RedactSecretField(message, field);
      continue;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_map()) {
      // csi.proto has only map<string, string>.
      RedactTokens(message, field);
    } else if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(*message, field); ++i) {
        Redact(reflection->MutableRepeatedMessage(message, field, i));
      }
    } else {
      Redact(reflection->MutableMessage(message, field));
    }
  }
}

std::string RedactedText(const Message& message) {
  std::unique_ptr<Message> copy(message.New());
  copy->CopyFrom(message);
  Redact(copy.get());
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  printer.SetUseUtf8StringEscaping(true);
  std::string text;
  printer.PrintToString(*copy, &text);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace freshfs::csi
