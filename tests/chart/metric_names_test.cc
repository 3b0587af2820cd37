// The chart's Prometheus assets against what the binaries really export:
// the Grafana dashboard parses and shows what operators watch, and every
// metric its queries and the alert rules name is one a node's scrape
// endpoint serves. The exported names come from running the built
// freshfs-csi as the chart runs it, with a directory volume and an S3
// volume published through CSI (each one a real freshfs-mount) and one of
// them restarted after a crash, then scraping its one /metrics.
#include <gtest/gtest.h>
#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "chart/chart.h"
#include "chart/node_plugin.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/s3rver.h"

namespace freshfs::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json Dashboard() {
  return nlohmann::json::parse(ReadFile(ChartDir() + "/files/grafana-dashboard.json"));
}

// Every string anywhere in `j`.
void CollectStrings(const nlohmann::json& j, std::vector<std::string>& out) {
  if (j.is_string()) out.push_back(j.get<std::string>());
  if (j.is_structured())
    for (const auto& item : j) CollectStrings(item, out);
}

// The freshfs_* metric names mentioned in `text`.
std::set<std::string> MetricNamesIn(const std::string& text) {
  static const std::regex name("freshfs_[a-z0-9_]+");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it)
    names.insert(it->str());
  return names;
}

// Whether `name` is exported: a family itself, or a histogram's (summary's)
// _bucket/_sum/_count series.
bool Exported(const std::map<std::string, std::string>& families, const std::string& name) {
  if (families.count(name)) return true;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() <= s.size() || name.compare(name.size() - s.size(), s.size(), s) != 0) continue;
    auto it = families.find(name.substr(0, name.size() - s.size()));
    if (it == families.end()) continue;
    if (it->second == "histogram" || (it->second == "summary" && s != "_bucket")) return true;
  }
  return false;
}

// Every panel of the dashboard, rows' nested panels included.
std::vector<nlohmann::json> Panels(const nlohmann::json& dashboard) {
  std::vector<nlohmann::json> panels;
  for (const auto& p : dashboard.value("panels", nlohmann::json::array())) {
    panels.push_back(p);
    for (const auto& nested : p.value("panels", nlohmann::json::array())) panels.push_back(nested);
  }
  return panels;
}

TEST(ChartDashboard, ParsesAndShowsWhatOperatorsWatch) {
  nlohmann::json dashboard;
  ASSERT_NO_THROW(dashboard = Dashboard());
  EXPECT_EQ(dashboard.value("uid", ""), "freshfs");
  std::set<int> ids;
  std::string all_queries;
  int graphs = 0;
  for (const nlohmann::json& panel : Panels(dashboard)) {
    const std::string title = panel.value("title", "");
    EXPECT_FALSE(title.empty()) << panel.dump();
    EXPECT_TRUE(ids.insert(panel.value("id", -1)).second) << "panel id used twice: " << title;
    if (panel.value("type", "") == "row") continue;
    ++graphs;
    EXPECT_EQ(panel["datasource"].value("uid", ""), "${datasource}") << title;
    ASSERT_TRUE(panel.contains("targets") && !panel["targets"].empty())
        << title << " queries nothing";
    for (const auto& target : panel["targets"]) {
      const std::string expr = target.value("expr", "");
      EXPECT_FALSE(expr.empty()) << title;
      EXPECT_FALSE(target.value("refId", "").empty()) << title;
      all_queries += expr + "\n";
    }
  }
  EXPECT_GE(graphs, 10);
  // What the chart promises the dashboard shows.
  const std::map<std::string, std::string> shown = {
      {"staleness per volume", "max by (volume) (freshfs_staleness_seconds"},
      {"invalidations by type", "sum by (type) (rate(freshfs_invalidations_total"},
      {"change detection latency", "freshfs_change_detection_seconds_bucket"},
      {"sync errors", "freshfs_sync_errors_total"},
      {"FUSE latency", "freshfs_fuse_request_duration_seconds_bucket"},
      {"store requests", "freshfs_store_requests_total"},
      {"S3 requests", "freshfs_s3_requests_total"},
  };
  for (const auto& [what, query] : shown)
    EXPECT_NE(all_queries.find(query), std::string::npos) << "the dashboard does not show " << what;
}

// The metric families one node's endpoint exports with a directory volume
// and an S3 volume published and one volume process restarted after dying.
std::map<std::string, std::string> ExportedFamilies() {
  S3Server s3("chartbucket");
  if (!s3.Start()) {
    ADD_FAILURE() << "s3rver does not start: " << s3.Log();
    return {};
  }
  NodePlugin plugin;
  if (!plugin.Start()) {
    ADD_FAILURE() << "freshfs-csi does not start";
    return {};
  }
  std::string dir_target, s3_target;
  std::filesystem::create_directories(plugin.allowed_dir_root() + "/vol");
  std::ofstream(plugin.allowed_dir_root() + "/vol/hello.txt") << "hello";
  EXPECT_TRUE(plugin.Publish(
      "dir-vol", {{"source", plugin.allowed_dir_root() + "/vol"}, {"pollInterval", "1s"}}, {},
      &dir_target));
  EXPECT_TRUE(plugin.Publish(
      "s3-vol",
      {{"source", "s3://chartbucket"},
       {"s3Endpoint", s3.endpoint()},
       {"s3PathStyle", "true"},
       {"pollInterval", "1s"}},
      {{"accessKeyId", S3Server::kAccessKeyId}, {"secretAccessKey", S3Server::kSecretAccessKey}},
      &s3_target));
  // Traffic through both mounts, and a crash the plugin recovers from.
  EXPECT_EQ(ReadFileOrEmpty(dir_target + "/hello.txt"), "hello");
  std::ofstream(s3_target + "/note.txt") << "through freshfs";
  const pid_t child = plugin.ChildPid(dir_target);
  EXPECT_GT(child, 0);
  if (child > 0) ::kill(child, SIGKILL);

  std::string text;
  const auto ready = WaitFor(
      [&] {
        text = plugin.Scrape().value_or("");
        const auto families = MetricFamilies(text);
        return families.count("freshfs_csi_child_restarts_total") &&
               families.count("freshfs_s3_requests_total") &&
               text.find("freshfs_staleness_seconds{volume=\"dir-vol\"}") != std::string::npos &&
               text.find("freshfs_staleness_seconds{volume=\"s3-vol\"}") != std::string::npos;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(200));
  EXPECT_TRUE(ready) << "the node endpoint never carried both volumes and the restart:\n"
                     << text << "\n"
                     << plugin.Log();
  return MetricFamilies(text);
}

TEST(ChartMetrics, DashboardAndAlertRulesQueryOnlyExportedMetrics) {
  const std::map<std::string, std::string> families = ExportedFamilies();
  ASSERT_FALSE(families.empty());

  std::vector<std::string> dashboard_strings;
  CollectStrings(Dashboard(), dashboard_strings);
  std::set<std::string> dashboard_names;
  for (const std::string& s : dashboard_strings)
    for (const std::string& n : MetricNamesIn(s)) dashboard_names.insert(n);
  EXPECT_GE(dashboard_names.size(), 10u);
  for (const std::string& name : dashboard_names)
    EXPECT_TRUE(Exported(families, name))
        << "the dashboard queries " << name << ", which nothing exports";

  const YAML::Node rules = YAML::LoadFile(ChartDir() + "/files/freshfs-rules.yml");
  int exprs = 0;
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      const std::string expr = rule["expr"].as<std::string>();
      ++exprs;
      const std::set<std::string> names = MetricNamesIn(expr);
      EXPECT_FALSE(names.empty()) << expr;
      for (const std::string& name : names)
        EXPECT_TRUE(Exported(families, name)) << "alert " << rule["alert"].as<std::string>("")
                                              << " queries " << name << ", which nothing exports";
    }
  }
  EXPECT_GE(exprs, 3);
}

// The check above can fail: a name nobody exports is caught.
TEST(ChartMetrics, NameCheckRefusesWhatIsNotExported) {
  const std::map<std::string, std::string> families = {
      {"freshfs_sync_duration_seconds", "histogram"}, {"freshfs_syncs_total", "counter"}};
  EXPECT_TRUE(Exported(families, "freshfs_sync_duration_seconds_bucket"));
  EXPECT_TRUE(Exported(families, "freshfs_syncs_total"));
  EXPECT_FALSE(Exported(families, "freshfs_syncs_total_bucket"));
  EXPECT_FALSE(Exported(families, "freshfs_sync_latency_seconds"));
  EXPECT_EQ(MetricNamesIn("rate(freshfs_a_total[5m]) / freshfs_b"),
            (std::set<std::string>{"freshfs_a_total", "freshfs_b"}));
}

}  // namespace
}  // namespace freshfs::testing
