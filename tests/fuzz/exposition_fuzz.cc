// The Prometheus text exposition that freshfs-csi scrapes from every
// freshfs-mount child (csi/child_metrics.h) and merges into the node's one
// endpoint: a child is a less privileged process, so its text is untrusted.
//
// Properties: refused text yields no families and a one-line "line N: ..."
// error; accepted text, written back by prometheus-cpp's TextSerializer
// (what the node endpoint serves), parses again and writes back the same;
// adding the volume label and merging a set of families with itself (what
// a scrape does) gives text that parses, and the merge drops every
// duplicate series.
#include <prometheus/text_serializer.h>

#include <cstdint>
#include <string>

#include "csi/child_metrics.h"
#include "fuzz_check.h"

namespace csi = freshfs::csi;

namespace {

std::string Write(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  csi::ParsedExposition parsed = csi::ParseExposition(freshfs::fuzz::AsText(data, size));
  if (!parsed.error.empty()) {
    FUZZ_CHECK(parsed.families.empty(), "refused text yields no families");
    FUZZ_CHECK(parsed.error.starts_with("line ") && freshfs::fuzz::OneLine(parsed.error),
               "errors are one line and say where");
    return 0;
  }

  const std::string written = Write(parsed.families);
  const csi::ParsedExposition again = csi::ParseExposition(written);
  FUZZ_CHECK(again.error.empty(), "what the serializer writes parses");
  FUZZ_CHECK(Write(again.families) == written, "parse and write is a fixed point");

  csi::AddLabelIfMissing(parsed.families, "volume", "pv-fuzz");
  const std::string labelled = Write(parsed.families);
  FUZZ_CHECK(csi::ParseExposition(labelled).error.empty(), "labelled families parse");
  const auto merged = csi::MergeFamilies({parsed.families, parsed.families});
  FUZZ_CHECK(Write(merged) == labelled, "merging families with themselves changes nothing");
  return 0;
}
