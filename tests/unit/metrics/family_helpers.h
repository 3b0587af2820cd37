// Helpers of the tests that look into parsed metric families
// (tests/unit/metrics/exposition_test.cc, tests/unit/csi/child_metrics_test.cc).
#pragma once

#include <gtest/gtest.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <map>
#include <string>
#include <vector>

#include "metrics/exposition.h"

namespace freshfs::metrics::testing {

using prometheus::ClientMetric;
using prometheus::MetricFamily;

inline std::string Serialize(const std::vector<MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

inline const MetricFamily* FindFamily(const std::vector<MetricFamily>& families,
                                      const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

inline std::map<std::string, std::string> Labels(const ClientMetric& m) {
  std::map<std::string, std::string> out;
  for (const auto& l : m.label) out[l.name] = l.value;
  return out;
}

inline const ClientMetric* FindMetric(const MetricFamily& family,
                                      const std::map<std::string, std::string>& labels) {
  for (const auto& m : family.metric) {
    if (Labels(m) == labels) return &m;
  }
  return nullptr;
}

inline ParsedExposition ParseOk(const std::string& text) {
  ParsedExposition parsed = ParseExposition(text);
  EXPECT_EQ(parsed.error, "") << text;
  return parsed;
}

}  // namespace freshfs::metrics::testing
