#include "metrics/process_collector.h"

#include <dirent.h>
#include <prometheus/metric_family.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace freshfs::metrics {
namespace {

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto add = [&](const char* name, const char* help, prometheus::MetricType type, double value) {
      prometheus::MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = type;
      prometheus::ClientMetric m;
      if (type == prometheus::MetricType::Counter) m.counter.value = value;
      else m.gauge.value = value;
      f.metric.push_back(std::move(m));
      out.push_back(std::move(f));
    };
    Stat st;
    if (ReadStat(&st)) {
      double ticks = double(::sysconf(_SC_CLK_TCK));
      double page = double(::sysconf(_SC_PAGESIZE));
      add("process_cpu_seconds_total", "User and system CPU time spent in seconds",
          prometheus::MetricType::Counter, double(st.utime + st.stime) / ticks);
      add("process_resident_memory_bytes", "Resident memory size in bytes",
          prometheus::MetricType::Gauge, double(st.rss_pages) * page);
      add("process_virtual_memory_bytes", "Virtual memory size in bytes",
          prometheus::MetricType::Gauge, double(st.vsize));
      add("process_start_time_seconds", "Start time of the process since unix epoch in seconds",
          prometheus::MetricType::Gauge, BootTime() + double(st.starttime) / ticks);
    }
    add("process_open_fds", "Number of open file descriptors", prometheus::MetricType::Gauge,
        double(OpenFds()));
    rlimit lim;
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0)
      add("process_max_fds", "Maximum number of open file descriptors",
          prometheus::MetricType::Gauge, double(lim.rlim_cur));
    return out;
  }

 private:
  struct Stat {
    unsigned long long utime = 0, stime = 0, starttime = 0, vsize = 0;
    long long rss_pages = 0;
  };
  static bool ReadStat(Stat* st) {
    std::ifstream in("/proc/self/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    // The command name (field 2) may hold spaces: parse after its ')'.
    size_t close = line.rfind(')');
    if (close == std::string::npos) return false;
    std::istringstream fields(line.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; fields >> x;) f.push_back(x);
    // f[0] is field 3 (state); utime=14, stime=15, starttime=22, vsize=23, rss=24.
    if (f.size() < 22) return false;
    st->utime = std::stoull(f[11]);
    st->stime = std::stoull(f[12]);
    st->starttime = std::stoull(f[19]);
    st->vsize = std::stoull(f[20]);
    st->rss_pages = std::stoll(f[21]);
    return true;
  }
  static double BootTime() {
    std::ifstream in("/proc/stat");
    for (std::string key; in >> key;) {
      if (key == "btime") {
        double t = 0;
        in >> t;
        return t;
      }
    }
    return 0;
  }
  static size_t OpenFds() {
    size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
      while (struct dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
      ::closedir(d);
      if (n > 0) --n;  // the directory stream itself
    }
    return n;
  }
};

}  // namespace

std::shared_ptr<prometheus::Collectable> MakeProcessCollector() {
  return std::make_shared<ProcessCollector>();
}

}  // namespace freshfs::metrics
