// The Helm chart charts/freshfs as a user meets it: the real `helm` binary
// lints and renders it with a values file, and the rendered objects are
// parsed for the tests to inspect.
//
// helm runs with its config, cache and data directories in a temporary
// directory, so a user's helm setup neither helps nor breaks the tests.
// Called from the test's main thread only.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "support/process.h"

namespace freshfs::testing {

// Paths given by CMake: the helm binary and the chart's directory.
const std::string& HelmBinary();
const std::string& ChartDir();

// Runs `helm args...` (60 s at most).
ProcessResult RunHelm(const std::vector<std::string>& args);

// Writes `values_yaml` to a fresh file and returns its path.
std::string WriteValuesFile(const std::string& values_yaml);

// `helm template freshfs CHART --namespace freshfs-system -f <values>`.
ProcessResult HelmTemplate(const std::string& values_yaml);
// `helm lint --strict CHART -f <values>`.
ProcessResult HelmLint(const std::string& values_yaml);

// The objects of a rendered chart.
class Rendered {
 public:
  // Parses every YAML document of `manifest` (empty documents skipped).
  explicit Rendered(const std::string& manifest);

  const std::vector<YAML::Node>& objects() const { return objects_; }
  // Every object of `kind`.
  std::vector<YAML::Node> All(const std::string& kind) const;
  // The one object of `kind` (and `name` when given); Absent() when there is none.
  YAML::Node One(const std::string& kind, const std::string& name = "") const;

 private:
  std::vector<YAML::Node> objects_;
};

// HelmTemplate(values_yaml) parsed; a failed render fails the calling test
// (non-fatally) and yields no objects.
Rendered Render(const std::string& values_yaml);

// spec.template.spec of a workload.
YAML::Node PodSpec(const YAML::Node& workload);
// The node plugin DaemonSet (the one whose pods run freshfs-csi --mode=node);
// Absent() when there is none.
YAML::Node NodeDaemonSet(const Rendered& rendered);

// A container of a pod template (spec.template.spec of a workload).
YAML::Node Container(const YAML::Node& pod_spec, const std::string& name);
// Every container and init container of every workload in `rendered`.
std::vector<YAML::Node> AllContainers(const Rendered& rendered);

// The value of --`flag`=VALUE among a container's args; nullopt if absent.
std::optional<std::string> FlagValue(const YAML::Node& container, const std::string& flag);

// Where `path` inside `container` lies on the host: through the container's
// volume mount with the longest matching mountPath, when that volume is a
// hostPath. nullopt when `path` is on no hostPath volume.
std::optional<std::string> HostPathOf(const YAML::Node& pod_spec, const YAML::Node& container,
                                      const std::string& path);

// The volume mount of `container` at exactly `mount_path`; Absent() if none.
YAML::Node MountAt(const YAML::Node& container, const std::string& mount_path);
// The volume `name` of `pod_spec`; Absent() if none.
YAML::Node Volume(const YAML::Node& pod_spec, const std::string& name);

// "No such node": an undefined node (false in a boolean context, unlike a
// default-constructed YAML::Node, which is a defined null).
YAML::Node Absent();

// node[k1][k2]... looked up without creating keys or throwing: Absent()
// when a step is missing. (yaml-cpp's non-const operator[] inserts missing
// keys, its const one throws on the second missing step, and operator= on a
// node that already refers to something overwrites that: use reset().)
YAML::Node At(const YAML::Node& node, std::initializer_list<std::string> path);

// Strings of a YAML sequence (empty for a null node).
std::vector<std::string> Strings(const YAML::Node& sequence);

}  // namespace freshfs::testing
