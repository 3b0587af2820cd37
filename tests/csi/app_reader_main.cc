// freshfs_app_reader: an application container's reader, for the tests that
// replace freshfs-csi's container under it. It takes a mount namespace of
// its own with private propagation (as kubelet gives a container's volume
// mounts: it keeps the mounts it started with, whatever happens on the
// host later), then reads FILE... every INTERVAL_MS until SIGTERM. With
// --write DIR it is also a writer: each round it writes one new file
// DIR/wN holding "wN\n" (open, write, close: a write is complete when its
// close succeeds).
//
//   freshfs_app_reader REPORT INTERVAL_MS [--write DIR] FILE...
//
// REPORT is rewritten (atomically) after every round:
//   reads N
//   failures N
//   first_failure <file>: <errno text>
//   slowest_ms N      the longest a read of one file took (open to close)
//   content <file> <contents of the last successful read>   (one per file)
//   writes N          writes attempted: DIR/w0 .. DIR/w(N-1)
//   failed_writes n...  the numbers of those that failed (their file may or
//                     may not be there); every other one is complete
//   first_write_failure <file>: <errno text>
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

struct Writes {
  long attempted = 0;
  std::vector<long> failed;
  std::string first_failure;
};

// Writes DIR/wN ("wN\n") and closes it; false with errno in *error.
bool WriteOne(const std::string& dir, long n, int* error) {
  const std::string name = "w" + std::to_string(n);
  const std::string text = name + "\n";
  const int fd = ::open((dir + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = errno;
    return false;
  }
  const ssize_t n_written = ::write(fd, text.data(), text.size());
  if (n_written != ssize_t(text.size())) *error = n_written < 0 ? errno : EIO;
  if (::close(fd) != 0 && *error == 0) *error = errno;
  return *error == 0;
}

void WriteReport(const std::string& report, long reads, long failures, const std::string& first,
                 long slowest_ms, const std::map<std::string, std::string>& content,
                 const Writes& writes) {
  const std::string tmp = report + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return;
  std::fprintf(f, "reads %ld\nfailures %ld\nfirst_failure %s\nslowest_ms %ld\n", reads, failures,
               first.c_str(), slowest_ms);
  for (const auto& [file, text] : content)
    std::fprintf(f, "content %s %s\n", file.c_str(), text.c_str());
  std::fprintf(f, "writes %ld\nfailed_writes", writes.attempted);
  for (long n : writes.failed) std::fprintf(f, " %ld", n);
  std::fprintf(f, "\nfirst_write_failure %s\n", writes.first_failure.c_str());
  std::fclose(f);
  std::rename(tmp.c_str(), report.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string write_dir;
  int first_file = 3;
  if (argc > 4 && std::string(argv[3]) == "--write") {
    write_dir = argv[4];
    first_file = 5;
  }
  if (argc <= first_file) {
    std::fprintf(stderr, "usage: %s REPORT INTERVAL_MS [--write DIR] FILE...\n", argv[0]);
    return 2;
  }
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::perror("private mount namespace");
    return 1;
  }
  struct sigaction stop {};
  stop.sa_handler = [](int) { g_stop = 1; };
  ::sigaction(SIGTERM, &stop, nullptr);
  const std::string report = argv[1];
  const auto interval = std::chrono::milliseconds(std::atol(argv[2]));
  const std::vector<std::string> files(argv + first_file, argv + argc);
  Writes writes;
  long reads = 0, failures = 0, slowest_ms = 0;
  std::string first;
  std::map<std::string, std::string> content;
  while (!g_stop) {
    for (const std::string& file : files) {
      std::string text;
      int error = 0;
      const auto start = std::chrono::steady_clock::now();
      const bool ok = ReadAll(file, &text, &error);
      slowest_ms = std::max<long>(slowest_ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now() - start)
                                                  .count());
      if (ok) {
        ++reads;
        content[file] = text;
      } else {
        if (failures++ == 0) first = file + ": " + std::strerror(error);
      }
    }
    if (!write_dir.empty()) {
      const long n = writes.attempted++;
      int error = 0;
      if (!WriteOne(write_dir, n, &error)) {
        if (writes.failed.empty())
          writes.first_failure = "w" + std::to_string(n) + ": " + std::strerror(error);
        writes.failed.push_back(n);
      }
    }
    WriteReport(report, reads, failures, first, slowest_ms, content, writes);
    std::this_thread::sleep_for(interval);
  }
  WriteReport(report, reads, failures, first, slowest_ms, content, writes);
  return 0;
}
