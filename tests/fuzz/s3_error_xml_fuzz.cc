// The other XML an S3 server sends back (s3/xml.h): <Error> bodies (their
// code and message reach logs and errors), DeleteObjects results, multipart
// upload ids and ETags.
//
// Properties: no field is longer than the document; an <Error> document
// written back parses to the same code and message.
#include <pugixml.hpp>

#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_check.h"
#include "s3/xml.h"

namespace s3 = freshfs::s3;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view xml = freshfs::fuzz::AsText(data, size);
  auto fits = [size](const std::optional<std::string>& s) { return !s || s->size() <= size; };
  FUZZ_CHECK(fits(s3::ParseUploadId(xml)), "an upload id fits in the document");
  FUZZ_CHECK(fits(s3::ParseCompleteMultipartUploadETag(xml)), "an ETag fits in the document");
  FUZZ_CHECK(fits(s3::ParseCopyObjectETag(xml)), "an ETag fits in the document");
  if (auto failures = s3::ParseDeleteResult(xml)) {
    for (const s3::DeleteFailure& f : *failures) {
      FUZZ_CHECK(f.key.size() + f.code.size() + f.message.size() <= size,
                 "delete failures fit in the document");
    }
  }

  auto error = s3::ParseErrorBody(xml);
  if (!error) return 0;
  FUZZ_CHECK(error->code.size() + error->message.size() <= size, "an error fits in the document");
  if (error->code.find('\0') != std::string::npos ||
      error->message.find('\0') != std::string::npos) {
    return 0;  // not representable in XML
  }
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Error");
  root.append_child("Code").text() = error->code.c_str();
  root.append_child("Message").text() = error->message.c_str();
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  auto again = s3::ParseErrorBody(out.str());
  FUZZ_CHECK(again && again->code == error->code && again->message == error->message,
             "a written <Error> parses to the same code and message");
  return 0;
}
