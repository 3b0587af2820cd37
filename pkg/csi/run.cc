#include "csi/run.h"

#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstring>

#include "config/options.h"
#include "csi/driver_config.h"
#include "util/log.h"

namespace freshfs::csi {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);  // not termination: upgrade the volumes (below)
  return set;
}

Result<DriverConfig> LoadConfig(const RunOptions& options) {
  if (!options.config_file) return DriverConfig{};
  return LoadDriverConfig(*options.config_file);
}

}  // namespace

int Run(const RunOptions& options, const VolumeManagerFactory& make_volume_manager) {
  // Blocked here, inherited by gRPC's and the exposer's threads, taken with
  // sigwait() below.
  const sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  LogSettings log;
  log.debug = options.debug;
  log.ident = "freshfs-csi";
  if (std::string error = InitLogging(log); !error.empty()) {
    std::fprintf(stderr, "freshfs-csi: %s\n", error.c_str());
    return 1;
  }

  auto config = LoadConfig(options);
  if (!config) {
    spdlog::error("{}", config.error().message);
    return 1;
  }
  if (config->allowed_dir_roots.empty()) {
    spdlog::info("no allowedDirRoots configured: directory sources are refused");
  }

  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer;
  if (options.metrics_address) {
    if (auto reason = config::CheckAddress(*options.metrics_address)) {
      spdlog::error("--metrics-address {}: {}", *options.metrics_address, *reason);
      return 1;
    }
    try {
      exposer = std::make_unique<prometheus::Exposer>(*options.metrics_address);
    } catch (const std::exception& e) {
      spdlog::error("--metrics-address {}: cannot listen: {}", *options.metrics_address, e.what());
      return 1;
    }
    const std::string& address = *options.metrics_address;
    const auto ports = exposer->GetListeningPorts();
    spdlog::info("metrics at http://{}:{}/metrics", address.substr(0, address.rfind(':')),
                 ports.empty() ? 0 : ports.front());
  }

  // The controller alone publishes nothing: no volume manager.
  std::unique_ptr<VolumeManager> volumes;
  std::shared_ptr<prometheus::Collectable> merged;
  if (options.mode != Mode::kController) {
    auto made = make_volume_manager(options, *config, *registry);
    if (!made) {
      spdlog::error("volume manager: {}", made.error().message);
      return 1;
    }
    volumes = std::move(*made);
    // The one scrape endpoint of the node also carries every volume's series.
    // One collectable, so that families announced by freshfs-csi and by the
    // children alike appear once. (The Exposer holds it weakly: this keeps it.)
    merged = volumes->MetricsCollectable(registry);
  }
  if (exposer) exposer->RegisterCollectable(merged ? merged : registry);

  ServerOptions server_options;
  server_options.endpoint = options.endpoint;
  server_options.node_id = options.node_id;
  server_options.mode = options.mode;
  server_options.version = options.version;
  server_options.driver_config = *config;
  server_options.volumes = volumes.get();
  server_options.registry = registry.get();
  auto server = Server::Start(server_options);
  if (!server) {
    spdlog::error("{}", server.error().message);
    return 1;
  }

  int signo = 0;
  for (;;) {
    if (sigwait(&signals, &signo) != 0) continue;
    if (signo != SIGHUP) break;
    if (volumes) volumes->RequestUpgrades();
  }
  spdlog::info("{}: shutting down", strsignal(signo));
  (*server)->Shutdown();
  exposer.reset();  // its collectables read the volume manager, which goes next
  spdlog::info("CSI server stopped");
  return 0;
}

}  // namespace freshfs::csi
