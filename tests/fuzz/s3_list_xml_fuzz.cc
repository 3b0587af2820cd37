// ListObjectsV2 responses (s3/xml.h): bytes from the S3 server, which may be
// anyone's (a custom --s3-endpoint, a volume's s3Endpoint attribute).
//
// Properties: nothing a listing yields is longer than the document
// (URL-decoding only shrinks); a page written back as XML parses to the same
// page; timestamps and UrlDecode() alone take any bytes.
#include <pugixml.hpp>

#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_check.h"
#include "s3/xml.h"

namespace s3 = freshfs::s3;

namespace {

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

// The page as a server would send it (no EncodingType: keys verbatim).
std::string Write(const s3::ListPage& page) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("ListBucketResult");
  root.append_child("IsTruncated").text() = page.truncated ? "true" : "false";
  root.append_child("NextContinuationToken").text() = page.next_continuation_token.c_str();
  for (const s3::ObjectInfo& o : page.objects) {
    pugi::xml_node c = root.append_child("Contents");
    c.append_child("Key").text() = o.key.c_str();
    c.append_child("ETag").text() = o.etag.c_str();
    c.append_child("Size").text() = static_cast<unsigned long long>(o.size);
  }
  for (const std::string& p : page.common_prefixes) {
    root.append_child("CommonPrefixes").append_child("Prefix").text() = p.c_str();
  }
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view xml = freshfs::fuzz::AsText(data, size);
  (void)s3::ParseIso8601(xml);
  FUZZ_CHECK(s3::UrlDecode(xml).size() <= size, "UrlDecode() never grows");

  auto page = s3::ParseListObjectsV2(xml);
  if (!page) return 0;
  bool nul = HasNul(page->next_continuation_token);  // not representable in XML
  for (const s3::ObjectInfo& o : page->objects) {
    FUZZ_CHECK(o.key.size() <= size && o.etag.size() <= size, "keys fit in the document");
    nul |= HasNul(o.key) || HasNul(o.etag);
  }
  for (const std::string& p : page->common_prefixes) {
    FUZZ_CHECK(p.size() <= size, "prefixes fit in the document");
    nul |= HasNul(p);
  }
  if (nul) return 0;

  auto again = s3::ParseListObjectsV2(Write(*page));
  FUZZ_CHECK(again.has_value(), "a written page parses");
  FUZZ_CHECK(again->truncated == page->truncated &&
                 again->next_continuation_token == page->next_continuation_token &&
                 again->common_prefixes == page->common_prefixes &&
                 again->objects.size() == page->objects.size(),
             "a written page parses to the same page");
  for (size_t i = 0; i < page->objects.size(); ++i) {
    const s3::ObjectInfo& a = page->objects[i];
    const s3::ObjectInfo& b = again->objects[i];
    FUZZ_CHECK(a.key == b.key && a.etag == b.etag && a.size == b.size,
               "a written object parses to the same object");
  }
  return 0;
}
