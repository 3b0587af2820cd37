// charts/freshfs through the real helm binary: it lints clean, renders with
// the defaults and with the value sets users pick, the rendered objects fit
// together the way kubelet needs them to (sockets, propagation, the driver's
// name), every image comes from values, sidecars drop every capability, and
// bad values are refused before anything reaches a cluster.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "chart/chart.h"
#include "chart/node_plugin.h"
#include "support/process.h"

namespace freshfs::testing {
namespace {

constexpr const char* kDriverName = "freshfs.csi.dev";

// Value sets, as users would write them.
struct ValueSet {
  std::string name;
  std::string yaml;
  std::string kubelet_dir = "/var/lib/kubelet";
  bool controller = true;
};

// Test names carry the set's name; this keeps gtest from dumping its bytes.
void PrintTo(const ValueSet& set, std::ostream* out) { *out << set.name; }

const char* const kAllOptionalParts = R"(
driver:
  allowedDirRoots: [/srv/data, /mnt/shared]
  debug: true
storageClass:
  create: true
  name: freshfs-dirs
  reclaimPolicy: Retain
  parameters:
    source: /srv/data/volumes
    onDelete: retain
    pollInterval: "10s"
    uid: "1000"
    csi.storage.k8s.io/provisioner-secret-name: unused
    csi.storage.k8s.io/provisioner-secret-namespace: default
metrics:
  serviceMonitor:
    enabled: true
    labels: {release: prometheus}
  prometheusRule:
    enabled: true
  dashboard:
    enabled: true
)";

std::vector<ValueSet> ValueSets() {
  return {
      {"Defaults", ""},
      {"AllOptionalParts", kAllOptionalParts},
      {"CustomKubeletDir",
       "kubeletDir: /var/lib/k0s/kubelet\nnode:\n  stateDir: /var/lib/k0s/freshfs-csi\n",
       "/var/lib/k0s/kubelet"},
      {"ControllerOff", "controller:\n  enabled: false\n", "/var/lib/kubelet", false},
      {"PodMonitorWithoutService",
       "metrics:\n  service:\n    enabled: false\n  podMonitor:\n    enabled: true\n"},
  };
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool HasAll(const YAML::Node& labels, const YAML::Node& wanted) {
  for (const auto& kv : wanted) {
    const YAML::Node have = At(labels, {kv.first.as<std::string>()});
    if (!have || have.as<std::string>() != kv.second.as<std::string>()) return false;
  }
  return true;
}

// ------------------------------------------------------------------ lint

TEST(HelmChart, LintsCleanWithDefaultsAndWithEveryOptionalPart) {
  for (const std::string& values : {std::string(), std::string(kAllOptionalParts)}) {
    ProcessResult r = HelmLint(values);
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(r.stdout_text.find("[WARNING]"), std::string::npos) << r.stdout_text;
    EXPECT_EQ(r.stdout_text.find("[ERROR]"), std::string::npos) << r.stdout_text;
    EXPECT_NE(r.stdout_text.find("0 chart(s) failed"), std::string::npos) << r.stdout_text;
  }
}

// --------------------------------------------------- every value set renders

class RenderedChart : public ::testing::TestWithParam<ValueSet> {
 protected:
  void SetUp() override {
    ProcessResult r = HelmTemplate(GetParam().yaml);
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    manifest_ = r.stdout_text;
    rendered_ = std::make_unique<Rendered>(manifest_);
    node_ = NodeDaemonSet(*rendered_);
    ASSERT_TRUE(node_) << "no node plugin DaemonSet in\n" << manifest_;
    plugin_ = Container(PodSpec(node_), "freshfs-csi");
    registrar_ = Container(PodSpec(node_), "node-driver-registrar");
    ASSERT_TRUE(registrar_) << "no node-driver-registrar container";
  }

  std::string manifest_;
  std::unique_ptr<Rendered> rendered_;
  YAML::Node node_, plugin_, registrar_;
};

// kubelet finds the plugin at <kubeletDir>/plugins/<driver>/csi.sock (the
// path the registrar announces); the plugin listens there, and the
// registrar and the livenessprobe talk to that same socket.
TEST_P(RenderedChart, PluginRegistrarAndProbeShareTheSocketKubeletIsToldAbout) {
  const YAML::Node pod = PodSpec(node_);
  const std::string kubelet_dir = GetParam().kubelet_dir;
  const std::string announced = FlagValue(registrar_, "kubelet-registration-path").value_or("");
  EXPECT_EQ(announced, kubelet_dir + "/plugins/" + kDriverName + "/csi.sock");

  const std::string endpoint = FlagValue(plugin_, "endpoint").value_or("");
  ASSERT_EQ(endpoint.rfind("unix://", 0), 0u) << endpoint;
  EXPECT_EQ(HostPathOf(pod, plugin_, endpoint.substr(7)), announced)
      << "freshfs-csi listens elsewhere";

  const std::string registrar_socket = FlagValue(registrar_, "csi-address").value_or("");
  EXPECT_EQ(HostPathOf(pod, registrar_, registrar_socket), announced);
  const YAML::Node probe = Container(pod, "liveness-probe");
  ASSERT_TRUE(probe) << "no livenessprobe sidecar";
  EXPECT_EQ(HostPathOf(pod, probe, FlagValue(probe, "csi-address").value_or("")), announced);

  // The registrar's registration socket lands in kubelet's plugins_registry.
  const YAML::Node registration = MountAt(registrar_, "/registration");
  ASSERT_TRUE(registration);
  EXPECT_EQ(HostPathOf(pod, registrar_, "/registration"), kubelet_dir + "/plugins_registry");

  // The plugin's liveness comes from the probe sidecar's port.
  const std::string health = FlagValue(probe, "health-port").value_or("");
  bool port_found = false;
  for (const YAML::Node& p : plugin_["ports"])
    if (p["name"].as<std::string>() ==
        plugin_["livenessProbe"]["httpGet"]["port"].as<std::string>())
      port_found = p["containerPort"].as<std::string>() == health;
  EXPECT_TRUE(port_found) << "the liveness probe does not ask the livenessprobe sidecar";
}

// Target paths are host paths under <kubeletDir>/pods: the plugin must see
// them at the same path and its FUSE mounts must propagate to the host.
TEST_P(RenderedChart, PodsDirIsMountedAtItsHostPathWithBidirectionalPropagation) {
  const std::string pods_dir = GetParam().kubelet_dir + "/pods";
  const YAML::Node mount = MountAt(plugin_, pods_dir);
  ASSERT_TRUE(mount) << "the pods dir is not mounted at " << pods_dir;
  EXPECT_EQ(At(mount, {"mountPropagation"}).as<std::string>(""), "Bidirectional");
  EXPECT_EQ(HostPathOf(PodSpec(node_), plugin_, pods_dir), pods_dir);
  // Bidirectional propagation is accepted by the API only for privileged containers.
  EXPECT_TRUE(At(plugin_, {"securityContext", "privileged"}).as<bool>(false));
  // FUSE needs the device.
  EXPECT_TRUE(HostPathOf(PodSpec(node_), plugin_, "/dev/fuse").has_value()) << "no /dev/fuse";
}

TEST_P(RenderedChart, NoHostPathOutsideTheKubeletDirStateDirFuseDirRootsAndCgroupTree) {
  std::set<std::string> allowed_prefixes = {GetParam().kubelet_dir + "/", "/dev/fuse"};
  const YAML::Node values = YAML::Load(GetParam().yaml.empty() ? "{}" : GetParam().yaml);
  allowed_prefixes.insert(At(values, {"node", "stateDir"}).as<std::string>("/var/lib/freshfs-csi"));
  // Where node.childCgroup lies (node_plugin_pod_test.cc checks it exactly).
  if (!At(values, {"node", "childCgroup"}).as<std::string>("freshfs-volumes").empty())
    allowed_prefixes.insert("/sys/fs/cgroup");
  for (const std::string& root : Strings(At(values, {"driver", "allowedDirRoots"})))
    allowed_prefixes.insert(root);
  for (const char* kind : {"DaemonSet", "Deployment"}) {
    for (const YAML::Node& w : rendered_->All(kind)) {
      for (const YAML::Node& v : PodSpec(w)["volumes"]) {
        const YAML::Node host_path = At(v, {"hostPath", "path"});
        if (!host_path) continue;
        const std::string path = host_path.as<std::string>();
        EXPECT_TRUE(std::any_of(allowed_prefixes.begin(), allowed_prefixes.end(),
                                [&](const std::string& p) { return path.rfind(p, 0) == 0; }))
            << kind << " mounts host path " << path << " that no value names";
      }
    }
  }
  if (GetParam().kubelet_dir != "/var/lib/kubelet") {
    EXPECT_EQ(manifest_.find("/var/lib/kubelet"), std::string::npos) << "default kubelet dir left";
  }
}

TEST_P(RenderedChart, CsiDriverObjectDescribesTheDriver) {
  const YAML::Node driver = rendered_->One("CSIDriver");
  ASSERT_TRUE(driver) << manifest_;
  EXPECT_EQ(driver["metadata"]["name"].as<std::string>(), kDriverName);
  const YAML::Node spec = driver["spec"];
  EXPECT_FALSE(At(spec, {"attachRequired"}).as<bool>(true));
  EXPECT_TRUE(At(spec, {"podInfoOnMount"}).as<bool>(false));
  std::vector<std::string> modes = Strings(spec["volumeLifecycleModes"]);
  std::sort(modes.begin(), modes.end());
  EXPECT_EQ(modes, (std::vector<std::string>{"Ephemeral", "Persistent"}));
  // Kubelet must not chown a bucket through FUSE: None by default.
  EXPECT_EQ(At(spec, {"fsGroupPolicy"}).as<std::string>(""), "File");
}

// The driver config the plugin reads (--config) is the ConfigMap built
// from driver.allowedDirRoots, and every root is visible in the plugin (and
// the controller) at its host path.
TEST_P(RenderedChart, DriverConfigAndDirectoryRootsReachThePlugin) {
  const YAML::Node values = YAML::Load(GetParam().yaml.empty() ? "{}" : GetParam().yaml);
  const std::vector<std::string> roots = Strings(At(values, {"driver", "allowedDirRoots"}));
  std::vector<YAML::Node> workloads = {node_};
  if (GetParam().controller) {
    ASSERT_EQ(rendered_->All("Deployment").size(), 1u);
    workloads.push_back(rendered_->All("Deployment")[0]);
  }
  for (const YAML::Node& w : workloads) {
    const YAML::Node pod = PodSpec(w);
    const YAML::Node csi = Container(pod, "freshfs-csi");
    ASSERT_TRUE(csi);
    const std::string config = FlagValue(csi, "config").value_or("");
    const size_t slash = config.rfind('/');
    ASSERT_NE(slash, std::string::npos) << "no --config";
    const YAML::Node mount = MountAt(csi, config.substr(0, slash));
    ASSERT_TRUE(mount) << "--config " << config << " is on no volume";
    const YAML::Node volume = Volume(pod, mount["name"].as<std::string>());
    const YAML::Node map_name = At(volume, {"configMap", "name"});
    ASSERT_TRUE(map_name) << "--config is not the driver ConfigMap";
    const YAML::Node map = rendered_->One("ConfigMap", map_name.as<std::string>());
    ASSERT_TRUE(map) << "ConfigMap " << map_name << " is not rendered";
    const YAML::Node driver_config =
        YAML::Load(At(map, {"data", config.substr(slash + 1)}).as<std::string>(""));
    EXPECT_EQ(Strings(driver_config["allowedDirRoots"]), roots);
    for (const std::string& root : roots) {
      const YAML::Node root_mount = MountAt(csi, root);
      ASSERT_TRUE(root_mount) << root << " is not visible in " << w["metadata"]["name"];
      EXPECT_EQ(HostPathOf(pod, csi, root), root);
      EXPECT_EQ(At(root_mount, {"mountPropagation"}).as<std::string>(""), "HostToContainer");
    }
  }
}

TEST_P(RenderedChart, SidecarsAndControllerDropEveryCapability) {
  for (const YAML::Node& c : AllContainers(*rendered_)) {
    const std::string name = c["name"].as<std::string>();
    // The node plugin is the one privileged container (checked above).
    if (name == "freshfs-csi" && FlagValue(c, "mode") == "node") continue;
    EXPECT_EQ(Strings(At(c, {"securityContext", "capabilities", "drop"})),
              std::vector<std::string>{"ALL"})
        << name;
    EXPECT_FALSE(At(c, {"securityContext", "allowPrivilegeEscalation"}).as<bool>(true)) << name;
    EXPECT_FALSE(At(c, {"securityContext", "privileged"}).as<bool>(false)) << name;
    EXPECT_TRUE(At(c, {"securityContext", "readOnlyRootFilesystem"}).as<bool>(false)) << name;
    if (name != "freshfs-csi") {
      EXPECT_FALSE(At(c, {"securityContext", "capabilities", "add"}))
          << name << " adds capabilities";
    }
  }
}

// Prometheus reaches freshfs-csi's --metrics-address through the port the
// Service or PodMonitor names.
TEST_P(RenderedChart, MetricsEndpointIsWhereTheScrapeConfigLooks) {
  const std::string address = FlagValue(plugin_, "metrics-address").value_or("");
  ASSERT_FALSE(address.empty()) << "no --metrics-address";
  const std::string port = address.substr(address.rfind(':') + 1);
  std::string port_name;
  for (const YAML::Node& p : plugin_["ports"])
    if (p["containerPort"].as<std::string>() == port) port_name = p["name"].as<std::string>();
  ASSERT_FALSE(port_name.empty()) << "port " << port << " is not declared";
  const YAML::Node pod_labels = node_["spec"]["template"]["metadata"]["labels"];

  const YAML::Node service = rendered_->One("Service");
  const YAML::Node pod_monitor = rendered_->One("PodMonitor");
  const YAML::Node service_monitor = rendered_->One("ServiceMonitor");
  if (service) {
    EXPECT_TRUE(HasAll(pod_labels, service["spec"]["selector"]))
        << "the Service selects no node plugin";
    EXPECT_EQ(service["spec"]["ports"][0]["targetPort"].as<std::string>(), port_name);
    if (service_monitor) {
      EXPECT_TRUE(HasAll(service["metadata"]["labels"],
                         service_monitor["spec"]["selector"]["matchLabels"]));
      EXPECT_EQ(service_monitor["spec"]["endpoints"][0]["port"].as<std::string>(),
                service["spec"]["ports"][0]["name"].as<std::string>());
    }
  } else {
    EXPECT_FALSE(service_monitor) << "a ServiceMonitor without a Service";
  }
  if (pod_monitor) {
    EXPECT_TRUE(HasAll(pod_labels, pod_monitor["spec"]["selector"]["matchLabels"]));
    EXPECT_EQ(pod_monitor["spec"]["podMetricsEndpoints"][0]["port"].as<std::string>(), port_name);
  }
  EXPECT_TRUE(service || pod_monitor) << "nothing points Prometheus at the metrics";
}

TEST_P(RenderedChart, ControllerAndItsRbacExactlyWhenEnabled) {
  const bool on = GetParam().controller;
  EXPECT_EQ(rendered_->All("Deployment").size(), on ? 1u : 0u);
  for (const char* kind : {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})
    EXPECT_EQ(rendered_->All(kind).size(), on ? 1u : 0u) << kind;
  if (!on) return;
  const YAML::Node deployment = rendered_->All("Deployment")[0];
  const YAML::Node pod = PodSpec(deployment);
  const YAML::Node csi = Container(pod, "freshfs-csi");
  const YAML::Node provisioner = Container(pod, "csi-provisioner");
  ASSERT_TRUE(csi && provisioner);
  EXPECT_EQ(FlagValue(csi, "mode"), "controller");
  // The provisioner talks to the controller's socket.
  const std::string endpoint = FlagValue(csi, "endpoint").value_or("");
  ASSERT_EQ(endpoint.rfind("unix://", 0), 0u);
  const std::string address = FlagValue(provisioner, "csi-address").value_or("");
  EXPECT_EQ(address, endpoint.substr(7));
  const std::string dir = address.substr(0, address.rfind('/'));
  ASSERT_TRUE(MountAt(csi, dir) && MountAt(provisioner, dir));
  EXPECT_EQ(MountAt(csi, dir)["name"].as<std::string>(),
            MountAt(provisioner, dir)["name"].as<std::string>());
  // RBAC binds the provisioner's ClusterRole to the pod's ServiceAccount.
  const std::string account = At(pod, {"serviceAccountName"}).as<std::string>("");
  const YAML::Node binding = rendered_->All("ClusterRoleBinding")[0];
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(), account);
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(),
            rendered_->All("ClusterRole")[0]["metadata"]["name"].as<std::string>());
  EXPECT_TRUE(rendered_->One("ServiceAccount", account))
      << "ServiceAccount " << account << " missing";
  bool creates_pvs = false;
  for (const YAML::Node& rule : rendered_->All("ClusterRole")[0]["rules"]) {
    const auto resources = Strings(rule["resources"]);
    const auto verbs = Strings(rule["verbs"]);
    if (std::count(resources.begin(), resources.end(), "persistentvolumes") &&
        std::count(verbs.begin(), verbs.end(), "create") &&
        std::count(verbs.begin(), verbs.end(), "delete"))
      creates_pvs = true;
  }
  EXPECT_TRUE(creates_pvs) << "the provisioner may not create and delete PersistentVolumes";
}

INSTANTIATE_TEST_SUITE_P(ValueSets, RenderedChart, ::testing::ValuesIn(ValueSets()),
                         [](const auto& info) { return info.param.name; });

// ------------------------------------------------- what the value sets add

// Per-pod identity: kubelet requests the pod's tokens only when asked to,
// and publishes again with each renewed one (requiresRepublish).
TEST(HelmChart, TokenRequestsMakeKubeletRepublish) {
  const YAML::Node plain = Render("").One("CSIDriver")["spec"];
  EXPECT_FALSE(plain["tokenRequests"]) << "no tokens unless asked for";
  EXPECT_FALSE(plain["requiresRepublish"]);
  const YAML::Node spec = Render(
                              "driver:\n  tokenRequests:\n    - audience: sts.amazonaws.com\n"
                              "      expirationSeconds: 3600\n    - audience: minio\n")
                              .One("CSIDriver")["spec"];
  ASSERT_EQ(spec["tokenRequests"].size(), 2u);
  EXPECT_EQ(spec["tokenRequests"][0]["audience"].as<std::string>(""), "sts.amazonaws.com");
  EXPECT_EQ(spec["tokenRequests"][0]["expirationSeconds"].as<int>(0), 3600);
  EXPECT_EQ(spec["tokenRequests"][1]["audience"].as<std::string>(""), "minio");
  EXPECT_TRUE(spec["requiresRepublish"].as<bool>(false));
  // IRSA: the node's service account carries the role annotation.
  const Rendered irsa = Render(
      "node:\n  serviceAccount:\n    annotations:\n"
      "      eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/freshfs-node\n");
  bool annotated = false;
  for (const YAML::Node& account : irsa.All("ServiceAccount")) {
    const YAML::Node annotations = account["metadata"]["annotations"];
    if (annotations && annotations["eks.amazonaws.com/role-arn"].as<std::string>("") ==
                           "arn:aws:iam::123456789012:role/freshfs-node")
      annotated = true;
  }
  EXPECT_TRUE(annotated);
}

TEST(HelmChart, DefaultsRenderTheDriverWithoutOptionalParts) {
  Rendered r = Render("");
  for (const char* kind : {"CSIDriver", "DaemonSet", "Deployment", "Service", "ConfigMap"})
    EXPECT_FALSE(r.All(kind).empty()) << kind;
  for (const char* kind : {"StorageClass", "ServiceMonitor", "PodMonitor", "PrometheusRule"})
    EXPECT_TRUE(r.All(kind).empty()) << kind;
  EXPECT_EQ(r.All("ConfigMap").size(), 1u) << "a dashboard although dashboard.enabled is false";
}

TEST(HelmChart, ImageTagDefaultsToTheAppVersionWhichIsTheProjectVersion) {
  const YAML::Node chart = YAML::LoadFile(ChartDir() + "/Chart.yaml");
  const std::string app_version = chart["appVersion"].as<std::string>();
  EXPECT_EQ(app_version, FRESHFS_VERSION) << "Chart.yaml appVersion and the project version differ";
  Rendered r = Render("image:\n  repository: example.org/freshfs\n");
  int checked = 0;
  for (const YAML::Node& c : AllContainers(r)) {
    if (c["name"].as<std::string>() != "freshfs-csi") continue;
    EXPECT_EQ(c["image"].as<std::string>(), "example.org/freshfs:" + app_version);
    ++checked;
  }
  EXPECT_EQ(checked, 2) << "the node plugin and the controller";
}

TEST(HelmChart, AllOptionalPartsRenderFromTheirValues) {
  Rendered r = Render(kAllOptionalParts);
  const YAML::Node sc = r.One("StorageClass", "freshfs-dirs");
  ASSERT_TRUE(sc);
  EXPECT_EQ(sc["provisioner"].as<std::string>(), kDriverName);
  EXPECT_EQ(sc["reclaimPolicy"].as<std::string>(), "Retain");
  EXPECT_EQ(sc["parameters"]["source"].as<std::string>(), "/srv/data/volumes");
  EXPECT_EQ(sc["parameters"]["uid"].as<std::string>(), "1000");
  EXPECT_EQ(sc["parameters"]["csi.storage.k8s.io/provisioner-secret-name"].as<std::string>(),
            "unused");
  EXPECT_EQ(sc["parameters"].size(), 6u);

  const YAML::Node monitor = r.One("ServiceMonitor");
  ASSERT_TRUE(monitor);
  EXPECT_EQ(At(monitor, {"metadata", "labels", "release"}).as<std::string>(""), "prometheus");

  // The PrometheusRule carries the rule file unchanged.
  const YAML::Node rule = r.One("PrometheusRule");
  ASSERT_TRUE(rule);
  const YAML::Node file = YAML::LoadFile(ChartDir() + "/files/freshfs-rules.yml");
  EXPECT_EQ(YAML::Dump(rule["spec"]), YAML::Dump(file));

  // The dashboard ConfigMap carries the dashboard file, labelled for the sidecar.
  YAML::Node dashboard = Absent();
  for (const YAML::Node& m : r.All("ConfigMap"))
    if (At(m, {"metadata", "labels", "grafana_dashboard"})) dashboard.reset(m);
  ASSERT_TRUE(dashboard) << "no ConfigMap with the grafana_dashboard label";
  EXPECT_EQ(At(dashboard, {"metadata", "labels", "grafana_dashboard"}).as<std::string>(), "1");
  ASSERT_EQ(dashboard["data"].size(), 1u);
  const std::string json = dashboard["data"].begin()->second.as<std::string>();
  EXPECT_EQ(nlohmann::json::parse(json),
            nlohmann::json::parse(ReadFile(ChartDir() + "/files/grafana-dashboard.json")));

  // --debug reaches both freshfs-csi containers.
  int debug = 0;
  for (const YAML::Node& c : AllContainers(r)) {
    const std::vector<std::string> args = Strings(c["args"]);
    if (c["name"].as<std::string>() == "freshfs-csi")
      debug += int(std::count(args.begin(), args.end(), "--debug"));
  }
  EXPECT_EQ(debug, 2) << "driver.debug did not reach the node plugin and the controller";
}

// Every image, repository and tag, is the one values name: set a unique one
// for each and find exactly those.
TEST(HelmChart, EveryContainerImageComesFromValues) {
  Rendered r = Render(R"(
image: {repository: test.invalid/main, tag: t-main, pullPolicy: Always}
node:
  registrar:
    image: {repository: test.invalid/registrar, tag: t-registrar, pullPolicy: Never}
  livenessProbe:
    image: {repository: test.invalid/probe, tag: t-probe, pullPolicy: Never}
controller:
  provisioner:
    image: {repository: test.invalid/provisioner, tag: t-provisioner, pullPolicy: Never}
)");
  const std::map<std::string, std::string> expected = {
      {"freshfs-csi", "test.invalid/main:t-main"},
      {"node-driver-registrar", "test.invalid/registrar:t-registrar"},
      {"liveness-probe", "test.invalid/probe:t-probe"},
      {"csi-provisioner", "test.invalid/provisioner:t-provisioner"}};
  std::set<std::string> seen;
  const std::vector<YAML::Node> containers = AllContainers(r);
  ASSERT_FALSE(containers.empty());
  for (const YAML::Node& c : containers) {
    const std::string name = c["name"].as<std::string>();
    const std::string image = c["image"].as<std::string>();
    ASSERT_TRUE(expected.count(name)) << "unexpected container " << name << " with image " << image;
    EXPECT_EQ(image, expected.at(name)) << name;
    EXPECT_EQ(c["imagePullPolicy"].as<std::string>(), name == "freshfs-csi" ? "Always" : "Never")
        << name;
    seen.insert(image);
  }
  EXPECT_EQ(seen.size(), expected.size());
}

TEST(HelmChart, ControllerOffMeansNoDynamicProvisioningObjects) {
  Rendered r = Render("controller:\n  enabled: false\n");
  EXPECT_TRUE(r.All("Deployment").empty());
  for (const YAML::Node& sa : r.All("ServiceAccount"))
    EXPECT_EQ(At(sa, {"metadata", "labels", "app.kubernetes.io/component"}).as<std::string>(""),
              "node");
  EXPECT_TRUE(r.One("CSIDriver"));
  EXPECT_TRUE(NodeDaemonSet(r));
}

// ------------------------------------------------------------- bad values

struct BadValues {
  std::string yaml;
  std::string message;  // expected in helm's error output
};

TEST(HelmChart, RefusesBadValuesNamingTheValue) {
  const std::vector<BadValues> cases = {
      {"kubeletDir: var/lib/kubelet\n", "/kubeletDir"},
      {"kubeletdir: /var/lib/kubelet\n", "'kubeletdir' not allowed"},
      {"metrics:\n  port: 70000\n", "/metrics/port"},
      {"metrics:\n  port: \"9810\"\n", "/metrics/port"},
      {"image:\n  pullPolicy: Sometimes\n", "/image/pullPolicy"},
      {"node:\n  updateStrategy:\n    type: Recreate\n", "/node/updateStrategy/type"},
      // Two node plugins on one node would both supervise its volumes.
      {"node:\n  updateStrategy:\n    rollingUpdate:\n      maxSurge: 1\n",
       "'maxSurge' not allowed"},
      {"node:\n  updateStrategy:\n    rollingUpdate:\n      maxUnavailable: 0\n",
       "/node/updateStrategy/rollingUpdate/maxUnavailable"},
      {"node:\n  s3User: \"0:0\"\n", "/node/s3User"},
      {"node:\n  s3User: nobody\n", "/node/s3User"},
      {"node:\n  s3User: 65534\n", "/node/s3User"},
      {"node:\n  childCgroup: /sys/fs/cgroup/freshfs\n", "/node/childCgroup"},
      {"node:\n  childCgroup: freshfs/../system.slice\n", "/node/childCgroup"},
      {"driver:\n  allowedDirRoots: /srv/data\n", "/driver/allowedDirRoots"},
      {"driver:\n  allowedDirRoots: [srv/data]\n", "/driver/allowedDirRoots/0"},
      {"driver:\n  allowedDirRoots: [/srv/../etc]\n", "/driver/allowedDirRoots/0"},
      {"driver:\n  fsGroupPolicy: Sometimes\n", "/driver/fsGroupPolicy"},
      {"driver:\n  tokenRequests:\n    - expirationSeconds: 3600\n", "/driver/tokenRequests/0"},
      {"storageClass:\n  create: true\n", "source"},
      {"storageClass:\n  parameters:\n    uid: 1000\n", "/storageClass/parameters/uid"},
      {"storageClass:\n  parameters:\n    sourcePath: /srv\n", "'sourcePath' not allowed"},
      {"storageClass:\n  parameters:\n    onDelete: keep\n", "/storageClass/parameters/onDelete"},
      {"node:\n  registrar:\n    image:\n      tag: \"\"\n", "/node/registrar/image/tag"},
      // Across components, refused by the templates.
      {"controller:\n  enabled: false\nstorageClass:\n  create: true\n  parameters:\n    source: "
       "/srv/v\n",
       "storageClass.create needs controller.enabled"},
      {"metrics:\n  serviceMonitor:\n    enabled: true\n  podMonitor:\n    enabled: true\n",
       "choose one"},
      {"metrics:\n  port: 9808\n", "must differ"},
  };
  for (const BadValues& c : cases) {
    ProcessResult r = HelmTemplate(c.yaml);
    EXPECT_NE(r.exit_code, 0) << "accepted:\n" << c.yaml;
    EXPECT_NE(r.stderr_text.find(c.message), std::string::npos)
        << "values:\n"
        << c.yaml << "error does not name \"" << c.message << "\": " << r.stderr_text;
  }
}

// ------------------------------------------------------- the driver itself

// The CSIDriver object's name is what the built freshfs-csi reports in
// GetPluginInfo (kubelet matches them).
TEST(HelmChart, CsiDriverNameIsWhatTheBinaryReports) {
  NodePlugin plugin;
  ASSERT_TRUE(plugin.Start());
  const std::optional<std::string> name = plugin.PluginName();
  ASSERT_TRUE(name) << plugin.Log();
  Rendered r = Render("");
  const YAML::Node driver = r.One("CSIDriver");
  ASSERT_TRUE(driver);
  EXPECT_EQ(driver["metadata"]["name"].as<std::string>(), *name);
  const YAML::Node registrar = Container(PodSpec(NodeDaemonSet(r)), "node-driver-registrar");
  EXPECT_NE(FlagValue(registrar, "kubelet-registration-path")
                .value_or("")
                .find("/plugins/" + *name + "/"),
            std::string::npos);
}

}  // namespace
}  // namespace freshfs::testing
