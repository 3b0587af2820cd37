#include "chart/chart.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/mount.h"

#ifndef FRESHFS_HELM_BIN
#error "FRESHFS_HELM_BIN must name the helm binary"
#endif
#ifndef FRESHFS_CHART_DIR
#error "FRESHFS_CHART_DIR must name charts/freshfs"
#endif

namespace freshfs::testing {

const std::string& HelmBinary() {
  static const std::string path = FRESHFS_HELM_BIN;
  return path;
}

const std::string& ChartDir() {
  static const std::string path = FRESHFS_CHART_DIR;
  return path;
}

ProcessResult RunHelm(const std::vector<std::string>& args) {
  static const std::string home = MakeTempDir("helm-home");
  std::vector<std::string> argv{HelmBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunToCompletionWithEnv(argv,
                                {{"HELM_CONFIG_HOME", home + "/config"},
                                 {"HELM_CACHE_HOME", home + "/cache"},
                                 {"HELM_DATA_HOME", home + "/data"}},
                                {"KUBECONFIG", "HELM_NAMESPACE", "HELM_KUBECONTEXT"}, 60s);
}

std::string WriteValuesFile(const std::string& values_yaml) {
  const std::string path = MakeTempDir("values") + "/values.yaml";
  std::ofstream(path) << values_yaml;
  return path;
}

ProcessResult HelmTemplate(const std::string& values_yaml) {
  return RunHelm({"template", "freshfs", ChartDir(), "--namespace", "freshfs-system", "-f",
                  WriteValuesFile(values_yaml)});
}

ProcessResult HelmLint(const std::string& values_yaml) {
  return RunHelm({"lint", "--strict", ChartDir(), "-f", WriteValuesFile(values_yaml)});
}

Rendered::Rendered(const std::string& manifest) {
  for (const YAML::Node& doc : YAML::LoadAll(manifest)) {
    if (doc.IsMap()) objects_.push_back(doc);
  }
}

std::vector<YAML::Node> Rendered::All(const std::string& kind) const {
  std::vector<YAML::Node> found;
  for (const YAML::Node& o : objects_) {
    if (o["kind"] && o["kind"].as<std::string>() == kind) found.push_back(o);
  }
  return found;
}

YAML::Node Rendered::One(const std::string& kind, const std::string& name) const {
  YAML::Node match;
  int count = 0;
  for (const YAML::Node& o : All(kind)) {
    if (!name.empty() && At(o, {"metadata", "name"}).as<std::string>("") != name) continue;
    match.reset(o);
    ++count;
  }
  return count == 1 ? match : Absent();
}

Rendered Render(const std::string& values_yaml) {
  ProcessResult r = HelmTemplate(values_yaml);
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  return Rendered(r.exit_code == 0 ? r.stdout_text : std::string());
}

YAML::Node PodSpec(const YAML::Node& workload) { return workload["spec"]["template"]["spec"]; }

YAML::Node NodeDaemonSet(const Rendered& rendered) {
  for (const YAML::Node& ds : rendered.All("DaemonSet")) {
    YAML::Node c = Container(PodSpec(ds), "freshfs-csi");
    if (c && FlagValue(c, "mode") == "node") return ds;
  }
  return Absent();
}

YAML::Node Container(const YAML::Node& pod_spec, const std::string& name) {
  for (const YAML::Node& c : pod_spec["containers"]) {
    if (c["name"].as<std::string>() == name) return c;
  }
  return Absent();
}

std::vector<YAML::Node> AllContainers(const Rendered& rendered) {
  std::vector<YAML::Node> found;
  for (const char* kind : {"DaemonSet", "Deployment", "StatefulSet", "Job", "Pod"}) {
    for (const YAML::Node& o : rendered.All(kind)) {
      const YAML::Node spec =
          std::string(kind) == "Pod" ? o["spec"] : o["spec"]["template"]["spec"];
      for (const char* list : {"containers", "initContainers"}) {
        for (const YAML::Node& c : spec[list]) found.push_back(c);
      }
    }
  }
  return found;
}

std::optional<std::string> FlagValue(const YAML::Node& container, const std::string& flag) {
  const std::string prefix = "--" + flag + "=";
  for (const std::string& arg : Strings(container["args"])) {
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
  }
  return std::nullopt;
}

YAML::Node MountAt(const YAML::Node& container, const std::string& mount_path) {
  for (const YAML::Node& m : container["volumeMounts"]) {
    if (m["mountPath"].as<std::string>() == mount_path) return m;
  }
  return Absent();
}

YAML::Node Volume(const YAML::Node& pod_spec, const std::string& name) {
  for (const YAML::Node& v : pod_spec["volumes"]) {
    if (v["name"].as<std::string>() == name) return v;
  }
  return Absent();
}

std::optional<std::string> HostPathOf(const YAML::Node& pod_spec, const YAML::Node& container,
                                      const std::string& path) {
  YAML::Node best = Absent();
  size_t best_length = 0;
  for (const YAML::Node& m : container["volumeMounts"]) {
    std::string mount_path = m["mountPath"].as<std::string>();
    const bool covers =
        path == mount_path || mount_path == "/" || path.rfind(mount_path + "/", 0) == 0;
    if (covers && mount_path.size() >= best_length) {
      best.reset(m);
      best_length = mount_path.size();
    }
  }
  if (!best) return std::nullopt;
  const YAML::Node volume = Volume(pod_spec, best["name"].as<std::string>());
  const YAML::Node host_path = At(volume, {"hostPath", "path"});
  if (!host_path) return std::nullopt;
  std::string host = host_path.as<std::string>();
  return host + path.substr(best_length == 1 ? 0 : best_length);
}

YAML::Node Absent() { return YAML::Node(YAML::NodeType::Undefined); }

YAML::Node At(const YAML::Node& node, std::initializer_list<std::string> path) {
  YAML::Node current;
  current.reset(node);
  for (const std::string& key : path) {
    if (!current || !current.IsMap()) return Absent();
    const YAML::Node& map = current;
    const YAML::Node next = map[key];
    if (!next) return Absent();
    current.reset(next);
  }
  return current;
}

std::vector<std::string> Strings(const YAML::Node& sequence) {
  std::vector<std::string> out;
  if (!sequence || !sequence.IsSequence()) return out;
  for (const YAML::Node& s : sequence) out.push_back(s.as<std::string>());
  return out;
}

}  // namespace freshfs::testing
