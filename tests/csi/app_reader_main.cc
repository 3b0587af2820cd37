// freshfs_app_reader: an application container's reader, for the tests that
// replace freshfs-csi's container under it. It takes a mount namespace of
// its own with private propagation (as kubelet gives a container's volume
// mounts: it keeps the mounts it started with, whatever happens on the
// host later), then reads FILE... every INTERVAL_MS until SIGTERM.
//
//   freshfs_app_reader REPORT INTERVAL_MS FILE...
//
// REPORT is rewritten (atomically) after every round:
//   reads N
//   failures N
//   first_failure <file>: <errno text>
//   slowest_ms N      the longest a read of one file took (open to close)
//   content <file> <contents of the last successful read>   (one per file)
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;

bool ReadAll(const std::string& path, std::string* out, int* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno;
    return false;
  }
  out->clear();
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      *error = errno;
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buffer, size_t(n));
  }
  ::close(fd);
  return true;
}

void WriteReport(const std::string& report, long reads, long failures, const std::string& first,
                 long slowest_ms, const std::map<std::string, std::string>& content) {
  const std::string tmp = report + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return;
  std::fprintf(f, "reads %ld\nfailures %ld\nfirst_failure %s\nslowest_ms %ld\n", reads, failures,
               first.c_str(), slowest_ms);
  for (const auto& [file, text] : content) std::fprintf(f, "content %s %s\n", file.c_str(), text.c_str());
  std::fclose(f);
  std::rename(tmp.c_str(), report.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s REPORT INTERVAL_MS FILE...\n", argv[0]);
    return 2;
  }
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::perror("private mount namespace");
    return 1;
  }
  struct sigaction stop {};
  stop.sa_handler = [](int) { g_stop = 1; };
  ::sigaction(SIGTERM, &stop, nullptr);
  const std::string report = argv[1];
  const auto interval = std::chrono::milliseconds(std::atol(argv[2]));
  const std::vector<std::string> files(argv + 3, argv + argc);
  long reads = 0, failures = 0, slowest_ms = 0;
  std::string first;
  std::map<std::string, std::string> content;
  while (!g_stop) {
    for (const std::string& file : files) {
      std::string text;
      int error = 0;
      const auto start = std::chrono::steady_clock::now();
      const bool ok = ReadAll(file, &text, &error);
      slowest_ms = std::max<long>(
          slowest_ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start).count());
      if (ok) {
        ++reads;
        content[file] = text;
      } else {
        if (failures++ == 0) first = file + ": " + std::strerror(error);
      }
    }
    WriteReport(report, reads, failures, first, slowest_ms, content);
    std::this_thread::sleep_for(interval);
  }
  WriteReport(report, reads, failures, first, slowest_ms, content);
  return 0;
}
