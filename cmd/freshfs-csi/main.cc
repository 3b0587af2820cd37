// freshfs-csi: the CSI driver of freshfs (node plugin, controller, or both:
// --mode). Parses the command line and hands over to freshfs::csi::Run().
#include <CLI/CLI.hpp>

#include <sys/prctl.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <map>

#include "csi/mount_supervisor.h"
#include "csi/run.h"

namespace csi = freshfs::csi;

int main(int argc, char** argv) try {
  // It holds every volume's S3 credentials: no core dumps, and only root may
  // read its memory or /proc files.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  using csi::Mode;
  csi::RunOptions options;
  options.version = FRESHFS_VERSION;

  CLI::App app{
      "freshfs-csi: CSI driver freshfs.csi.dev (Identity service, and the Node or "
      "Controller service or both, by --mode)",
      "freshfs-csi"};
  app.set_version_flag("--version", "freshfs-csi " + options.version);
  app.add_option("--endpoint", options.endpoint, "gRPC endpoint, unix:///path/to/csi.sock")
      ->required();
  app.add_option("--node-id", options.node_id, "this node's name (NodeGetInfo)")->required();
  std::string mode = "node";
  app.add_option("--mode", mode, "services to run: node, controller or all")
      ->check(CLI::IsMember({"node", "controller", "all"}))
      ->capture_default_str();
  app.add_option("--state-dir", options.state_dir, "where published volumes are recorded")
      ->capture_default_str();
  app.add_option("--metrics-address", options.metrics_address,
                 "serve Prometheus metrics at HOST:PORT/metrics");
  app.add_option("--config", options.config_file,
                 "driver config YAML (allowedDirRoots: [/srv/data, ...])");
  app.add_flag("--debug", options.debug, "debug-level logs (every Probe call, ...)");
  app.add_option("--mount-binary", options.mount_binary,
                 "freshfs-mount to run per volume (default: next to freshfs-csi, else in PATH)");
  app.add_option("--child-cgroup", options.child_cgroup,
                 "cgroup v2 directory (the host's, e.g. /host/sys/fs/cgroup/freshfs) in which each "
                 "volume's freshfs-mount gets a cgroup of its own, so that stopping freshfs-csi's "
                 "container does not stop it (default: none, children stay in our cgroup)");
  std::string s3_user = "65534:65534";
  app.add_option("--s3-user", s3_user,
                 "UID:GID that S3 volumes' freshfs-mount processes run as, with no capabilities")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  {
    unsigned uid = 0, gid = 0;
    char rest = 0;
    if (std::sscanf(s3_user.c_str(), "%u:%u%c", &uid, &gid, &rest) != 2 || uid == 0) {
      std::cerr << "freshfs-csi: --s3-user " << s3_user
                << ": expected UID:GID of a user other than root, e.g. 65534:65534\n";
      return 2;
    }
    options.s3_user = {uid_t(uid), gid_t(gid)};
  }
  const std::map<std::string, Mode> modes{
      {"node", Mode::kNode}, {"controller", Mode::kController}, {"all", Mode::kAll}};
  options.mode = modes.at(mode);

  if (options.mount_binary.empty()) options.mount_binary = csi::DefaultMountBinary();
  using ManagerResult = csi::Result<std::unique_ptr<csi::VolumeManager>>;
  return csi::Run(options,
                  [](const csi::RunOptions& o, const csi::DriverConfig& config,
                     prometheus::Registry& registry) -> ManagerResult {
                    csi::MountSupervisor::Settings settings;
                    settings.mount_binary = o.mount_binary;
                    settings.state_dir = o.state_dir;
                    settings.allowed_dir_roots = config.allowed_dir_roots;
                    settings.child_cgroup = o.child_cgroup;
                    settings.s3_user = o.s3_user;
                    auto supervisor = csi::MountSupervisor::Start(settings, &registry);
                    if (!supervisor) return supervisor.error();
                    return std::unique_ptr<csi::VolumeManager>(std::move(*supervisor));
                  });
} catch (const std::exception& e) {
  // A message and a non-zero exit instead of std::terminate().
  std::cerr << "freshfs-csi: " << e.what() << "\n";
  return 1;
}
