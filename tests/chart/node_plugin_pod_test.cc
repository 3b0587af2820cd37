// The node plugin's pod as it must be for volumes to outlive it: freshfs-csi
// moves each volume's freshfs-mount into a cgroup of its own under
// node.childCgroup (outside the pod's cgroup, which the runtime kills when it
// stops the container), in the host's PID namespace (a pod's own dies with
// its first process), so a new pod re-adopts them. With childCgroup "" none
// of that is rendered. And every flag the chart hands freshfs-csi is one the
// built binary knows.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "chart/chart.h"
#include "support/process.h"

#ifndef FRESHFS_CSI_BIN
#error "FRESHFS_CSI_BIN must name the freshfs-csi binary under test"
#endif

namespace freshfs::testing {
namespace {

constexpr const char* kHostCgroupTree = "/sys/fs/cgroup";

struct NodePod {
  YAML::Node daemon_set = Absent(), pod = Absent(), plugin = Absent();
};

NodePod RenderNodePod(const std::string& values_yaml) {
  Rendered rendered = Render(values_yaml);
  NodePod p;
  p.daemon_set.reset(NodeDaemonSet(rendered));
  if (p.daemon_set) {
    p.pod.reset(PodSpec(p.daemon_set));
    p.plugin.reset(Container(p.pod, "freshfs-csi"));
  }
  return p;
}

// The volumes of `pod` backed by `host_path` exactly.
std::vector<std::string> VolumesOfHostPath(const YAML::Node& pod, const std::string& host_path) {
  std::vector<std::string> names;
  for (const YAML::Node& v : pod["volumes"])
    if (At(v, {"hostPath", "path"}).as<std::string>("") == host_path)
      names.push_back(v["name"].as<std::string>());
  return names;
}

TEST(NodePluginPod, VolumeProcessesGetAHostCgroupByDefault) {
  const NodePod p = RenderNodePod("");
  ASSERT_TRUE(p.plugin) << "no node plugin";
  EXPECT_TRUE(At(p.pod, {"hostPID"}).as<bool>(false))
      << "without hostPID the volumes' processes die with freshfs-csi's PID namespace";

  const std::optional<std::string> child_cgroup = FlagValue(p.plugin, "child-cgroup");
  ASSERT_TRUE(child_cgroup) << "no --child-cgroup";
  // The directory freshfs-csi is told about is the host's cgroup, through a
  // hostPath of the host's whole cgroup tree (not the container's own view).
  EXPECT_EQ(HostPathOf(p.pod, p.plugin, *child_cgroup),
            std::string(kHostCgroupTree) + "/freshfs-volumes");
  EXPECT_NE(child_cgroup->rfind(std::string(kHostCgroupTree) + "/", 0), 0u)
      << *child_cgroup << " is the container's own cgroup tree";
  const std::vector<std::string> volumes = VolumesOfHostPath(p.pod, kHostCgroupTree);
  ASSERT_EQ(volumes.size(), 1u) << "the host's cgroup tree is not one hostPath volume";
  const YAML::Node volume = Volume(p.pod, volumes[0]);
  EXPECT_EQ(At(volume, {"hostPath", "type"}).as<std::string>(""), "Directory");
  YAML::Node mount = Absent();
  for (const YAML::Node& m : p.plugin["volumeMounts"])
    if (m["name"].as<std::string>() == volumes[0]) mount.reset(m);
  ASSERT_TRUE(mount) << "the host's cgroup tree is not mounted into freshfs-csi";
  EXPECT_FALSE(At(mount, {"readOnly"}).as<bool>(false))
      << "freshfs-csi makes and removes cgroups there";
  EXPECT_FALSE(At(mount, {"mountPropagation"})) << "nothing needs propagating from the cgroup tree";

  EXPECT_EQ(FlagValue(p.plugin, "s3-user"), "65534:65534");
}

TEST(NodePluginPod, ChildCgroupAndS3UserComeFromValues) {
  const NodePod p =
      RenderNodePod("node:\n  childCgroup: system.slice/freshfs\n  s3User: \"2000:3000\"\n");
  ASSERT_TRUE(p.plugin) << "no node plugin";
  const std::optional<std::string> child_cgroup = FlagValue(p.plugin, "child-cgroup");
  ASSERT_TRUE(child_cgroup) << "no --child-cgroup";
  EXPECT_EQ(HostPathOf(p.pod, p.plugin, *child_cgroup),
            std::string(kHostCgroupTree) + "/system.slice/freshfs");
  EXPECT_EQ(FlagValue(p.plugin, "s3-user"), "2000:3000");
}

TEST(NodePluginPod, EmptyChildCgroupKeepsVolumeProcessesInThePodWithoutHostAccess) {
  const NodePod p = RenderNodePod("node:\n  childCgroup: \"\"\n");
  ASSERT_TRUE(p.plugin) << "no node plugin";
  EXPECT_FALSE(FlagValue(p.plugin, "child-cgroup"))
      << "--child-cgroup although childCgroup is empty";
  for (const std::string& arg : Strings(p.plugin["args"]))
    EXPECT_NE(arg.rfind("--child-cgroup", 0), 0u) << arg;
  EXPECT_FALSE(At(p.pod, {"hostPID"}).as<bool>(false))
      << "hostPID serves nothing without childCgroup";
  EXPECT_TRUE(VolumesOfHostPath(p.pod, kHostCgroupTree).empty())
      << "the host's cgroup tree is mounted";
  EXPECT_EQ(FlagValue(p.plugin, "s3-user"), "65534:65534") << "S3 volumes still run unprivileged";
}

// RollingUpdate is the default because a new pod re-adopts the volumes; a
// surge would put two node plugins on a node, both supervising its volumes.
TEST(NodePluginPod, RollsOutOneNodeAtATimeWithoutSurge) {
  const NodePod p = RenderNodePod("");
  ASSERT_TRUE(p.daemon_set) << "no node plugin";
  const YAML::Node strategy = At(p.daemon_set, {"spec", "updateStrategy"});
  EXPECT_EQ(At(strategy, {"type"}).as<std::string>(""), "RollingUpdate");
  EXPECT_FALSE(At(strategy, {"rollingUpdate", "maxSurge"}));

  const NodePod on_delete = RenderNodePod("node:\n  updateStrategy:\n    type: OnDelete\n");
  ASSERT_TRUE(on_delete.daemon_set);
  EXPECT_EQ(At(on_delete.daemon_set, {"spec", "updateStrategy", "type"}).as<std::string>(""),
            "OnDelete");
}

// A flag the binary does not know stops freshfs-csi at start on every node.
TEST(NodePluginPod, EveryFreshfsCsiFlagTheChartPassesIsOneTheBinaryKnows) {
  ProcessResult help = RunToCompletion({FRESHFS_CSI_BIN, "--help"});
  ASSERT_EQ(help.exit_code, 0) << help.Describe();
  std::set<std::string> checked;
  for (const char* values : {"", "driver:\n  allowedDirRoots: [/srv/data]\n  debug: true\n"}) {
    Rendered rendered = Render(values);
    for (const YAML::Node& c : AllContainers(rendered)) {
      if (c["name"].as<std::string>() != "freshfs-csi") continue;
      for (const std::string& arg : Strings(c["args"])) {
        ASSERT_EQ(arg.rfind("--", 0), 0u) << "not a flag: " << arg;
        const std::string flag = arg.substr(0, arg.find('='));
        const std::regex listed("(^|[\\s,])" + flag + "([\\s,=]|$)");
        EXPECT_TRUE(std::regex_search(help.stdout_text, listed))
            << flag << " is not in freshfs-csi --help:\n"
            << help.stdout_text;
        checked.insert(flag);
      }
    }
  }
  for (const char* flag :
       {"--mode", "--state-dir", "--config", "--child-cgroup", "--s3-user", "--debug"})
    EXPECT_TRUE(checked.count(flag)) << flag << " was not rendered";
}

}  // namespace
}  // namespace freshfs::testing
