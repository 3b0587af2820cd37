#include "s3/xml.h"

#include <charconv>
#include <pugixml.hpp>
#include <sstream>

#include "util/percent.h"

namespace freshfs::s3 {
namespace {

constexpr const char* kS3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

// Keys are data: keep whitespace-only text (a key " ") and carriage returns.
constexpr unsigned kParseOptions =
    (pugi::parse_default | pugi::parse_ws_pcdata_single) & ~pugi::parse_eol;

bool Load(pugi::xml_document& doc, std::string_view xml) {
  return doc.load_buffer(xml.data(), xml.size(), kParseOptions, pugi::encoding_utf8);
}

std::string Text(const pugi::xml_node& parent, const char* name) {
  return parent.child(name).child_value();
}

bool ParseUint(std::string_view text, uint64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool ParseDigits(std::string_view text, size_t pos, size_t count, int& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string Save(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

}  // namespace

std::optional<ListPage> ParseListObjectsV2(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return std::nullopt;
  const pugi::xml_node root = doc.child("ListBucketResult");
  if (!root) return std::nullopt;
  const bool url_encoded = Text(root, "EncodingType") == "url";
  auto decode = [url_encoded](const std::string& s) { return url_encoded ? UrlDecode(s) : s; };

  ListPage page;
  page.truncated = Text(root, "IsTruncated") == "true";
  page.next_continuation_token = Text(root, "NextContinuationToken");
  for (pugi::xml_node c = root.child("Contents"); c; c = c.next_sibling("Contents")) {
    ObjectInfo info;
    info.key = decode(Text(c, "Key"));
    info.etag = Text(c, "ETag");
    if (!ParseUint(Text(c, "Size"), info.size)) return std::nullopt;
    info.mtime_ns = ParseIso8601(Text(c, "LastModified")).value_or(0);
    page.objects.push_back(std::move(info));
  }
  for (pugi::xml_node p = root.child("CommonPrefixes"); p; p = p.next_sibling("CommonPrefixes")) {
    page.common_prefixes.push_back(decode(Text(p, "Prefix")));
  }
  return page;
}

std::optional<ErrorBody> ParseErrorBody(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return std::nullopt;
  const pugi::xml_node root = doc.child("Error");
  if (!root) return std::nullopt;
  return ErrorBody{Text(root, "Code"), Text(root, "Message")};
}

std::optional<StsCredentials> ParseAssumeRoleWithWebIdentity(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return std::nullopt;
  const pugi::xml_node c = doc.child("AssumeRoleWithWebIdentityResponse")
                               .child("AssumeRoleWithWebIdentityResult")
                               .child("Credentials");
  if (!c) return std::nullopt;
  return StsCredentials{Text(c, "AccessKeyId"), Text(c, "SecretAccessKey"), Text(c, "SessionToken"),
                        Text(c, "Expiration")};
}

std::optional<ErrorBody> ParseStsError(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return std::nullopt;
  const pugi::xml_node error = doc.child("ErrorResponse").child("Error");
  if (!error) return std::nullopt;
  return ErrorBody{Text(error, "Code"), Text(error, "Message")};
}

std::optional<std::string> ParseUploadId(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return std::nullopt;
  std::string id = Text(doc.child("InitiateMultipartUploadResult"), "UploadId");
  if (id.empty()) return std::nullopt;
  return id;
}

std::optional<std::string> ParseCompleteMultipartUploadETag(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return std::nullopt;
  const pugi::xml_node root = doc.child("CompleteMultipartUploadResult");
  if (!root) return std::nullopt;
  return Text(root, "ETag");
}

std::optional<std::string> ParseCopyObjectETag(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return std::nullopt;
  const pugi::xml_node root = doc.child("CopyObjectResult");
  if (!root) return std::nullopt;
  return Text(root, "ETag");
}

std::optional<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view xml) {
  pugi::xml_document doc;
  if (!Load(doc, xml)) return std::nullopt;
  const pugi::xml_node root = doc.child("DeleteResult");
  if (!root) return std::nullopt;
  std::vector<DeleteFailure> failures;
  for (pugi::xml_node e = root.child("Error"); e; e = e.next_sibling("Error")) {
    failures.push_back({Text(e, "Key"), Text(e, "Code"), Text(e, "Message")});
  }
  return failures;
}

std::string BuildCompleteMultipartUpload(const std::vector<std::string>& etags) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CompleteMultipartUpload");
  root.append_attribute("xmlns") = kS3Namespace;
  for (size_t i = 0; i < etags.size(); ++i) {
    pugi::xml_node part = root.append_child("Part");
    part.append_child("PartNumber").text() = static_cast<unsigned long long>(i) + 1;
    part.append_child("ETag").text() = etags[i].c_str();
  }
  return Save(doc);
}

std::string BuildDeleteObjects(const std::vector<std::string>& keys, bool quiet) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Delete");
  root.append_attribute("xmlns") = kS3Namespace;
  if (quiet) root.append_child("Quiet").text() = "true";
  for (const auto& key : keys) {
    root.append_child("Object").append_child("Key").text() = key.c_str();
  }
  return Save(doc);
}

std::optional<int64_t> ParseIso8601(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS
  int year, month, day, hour, minute, second;
  if (t.size() < 19 || !ParseDigits(t, 0, 4, year) || t[4] != '-' || !ParseDigits(t, 5, 2, month) ||
      t[7] != '-' || !ParseDigits(t, 8, 2, day) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
      !ParseDigits(t, 11, 2, hour) || t[13] != ':' || !ParseDigits(t, 14, 2, minute) ||
      t[16] != ':' || !ParseDigits(t, 17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    int64_t scale = 100000000;
    const size_t start = pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      nanos += (t[pos] - '0') * scale;  // digits beyond nanoseconds add 0
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset_seconds = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
    ++pos;
  } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
    int oh, om;
    if (!ParseDigits(t, pos + 1, 2, oh) || pos + 3 >= t.size() || t[pos + 3] != ':' ||
        !ParseDigits(t, pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset_seconds = (oh * 3600 + om * 60) * (t[pos] == '+' ? 1 : -1);
    pos += 6;
  }
  if (pos != t.size()) return std::nullopt;
  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  // Nanoseconds since 1970 fit in int64 only from 1677 to 2262.
  int64_t ns = 0;
  if (__builtin_mul_overflow(seconds, int64_t{1000000000}, &ns) ||
      __builtin_add_overflow(ns, nanos, &ns)) {
    return std::nullopt;
  }
  return ns;
}

std::string UrlDecode(std::string_view text) { return PercentDecode(text, /*plus_is_space=*/true); }

}  // namespace freshfs::s3
