// The node plugin's container replaced under running applications, played
// with the kernel's own mechanisms: freshfs-csi runs in a cgroup of its own
// (a container), in a mount namespace whose kubelet directory is shared with
// the test's (Bidirectional mount propagation) and in a cgroup namespace of
// its own; it shares the test's PID namespace, as the chart's hostPID gives
// it. An application reads the volumes from a mount namespace of its own
// with private propagation, as a container keeps the mounts it started
// with. The runtime's stop is cgroup.kill.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "csi_binary.h"
#include "support/http_client.h"
#include "support/s3rver.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace freshfs::testing;

// FUSE_NOTIFY_RESEND (Linux 6.9), which resuming a dead child's connection
// needs.
bool KernelResends() {
  utsname u{};
  int major = 0, minor = 0;
  if (::uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 9);
}

// Where cgroup v2 is mounted ("" when it is not).
fs::path CgroupV2Root() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    const size_t dash = line.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    std::istringstream fields(line);
    std::string id, parent, dev, root, mountpoint;
    fields >> id >> parent >> dev >> root >> mountpoint;
    if (root == "/") return mountpoint;
  }
  return {};
}

bool Populated(const fs::path& cgroup) {
  const std::string events = ReadFile(cgroup / "cgroup.events");
  return events.find("populated 1") != std::string::npos;
}

// Kills everything in `cgroup` and below, then removes them.
void KillCgroupTree(const fs::path& cgroup) {
  std::error_code ec;
  if (!fs::exists(cgroup, ec)) return;
  std::ofstream(cgroup / "cgroup.kill") << "1";
  Eventually([&] { return !Populated(cgroup); }, 10s);
  std::vector<fs::path> dirs;
  for (auto it = fs::recursive_directory_iterator(cgroup, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_directory()) dirs.push_back(it->path());
  for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) ::rmdir(d->c_str());
  ::rmdir(cgroup.c_str());
}

std::string StatusField(pid_t pid, const std::string& name) {
  const std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  size_t at = status.find("\n" + name + ":\t");
  if (at == std::string::npos) return "";
  at += name.size() + 3;
  return status.substr(at, status.find('\n', at) - at);
}

// A process that is gone (or a zombie nobody reaped yet).
bool Gone(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  return stat.empty() || (close != std::string::npos && stat[close + 2] == 'Z');
}

// The read requests the volumes' daemons served, from the plugin's scrape
// (freshfs_fuse_requests_total{op="read"} of every child).
std::optional<double> ReadRequests(const std::string& metrics) {
  std::optional<double> sum;
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("freshfs_fuse_requests_total{", 0) != 0 ||
        line.find("op=\"read\"") == std::string::npos)
      continue;
    sum = sum.value_or(0) + std::atof(line.substr(line.rfind(' ') + 1).c_str());
  }
  return sum;
}

class PluginContainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path cgroup_root = CgroupV2Root();
    if (cgroup_root.empty()) GTEST_SKIP() << "no cgroup v2 mounted: cannot play a container";
    cgroup_ = cgroup_root / ("freshfs-test-" + std::to_string(::getpid()));
    ASSERT_TRUE(fs::create_directories(cgroup_ / "plugin"));
    fs::permissions(tmp_.path(), fs::perms(0711));  // the S3 volume's process runs as nobody
    kubelet_ = tmp_.path() / "kubelet";
    fs::create_directories(kubelet_);
    ASSERT_EQ(::mount(kubelet_.c_str(), kubelet_.c_str(), nullptr, MS_BIND, nullptr), 0);
    kubelet_mounted_ = true;
    ASSERT_EQ(::mount(nullptr, kubelet_.c_str(), nullptr, MS_SHARED, nullptr), 0);
    roots_ = tmp_.path() / "data";
    fs::create_directories(roots_ / "vol");
    config_ = tmp_.path() / "csi.yaml";
    std::ofstream(config_) << "allowedDirRoots: [" << roots_.string() << "]\n";
    dir_target_ = kubelet_ / "pods/app/volumes/dir/mount";
    s3_target_ = kubelet_ / "pods/app/volumes/s3/mount";
  }

  void TearDown() override {
    if (reader_ > 0) {
      ::kill(reader_, SIGKILL);
      ::waitpid(reader_, nullptr, 0);
    }
    if (!cgroup_.empty()) KillCgroupTree(cgroup_ / "plugin");
    for (const fs::path& target : {dir_target_, s3_target_}) {
      if (target.empty()) continue;
      const pid_t child = ChildPid(tmp_.path() / "state", target);
      if (child > 0 && !Gone(child)) ::kill(child, SIGKILL);
      for (int i = FuseMountCount(target); i > 0; --i) ::umount2(target.c_str(), MNT_DETACH);
    }
    if (!cgroup_.empty()) KillCgroupTree(cgroup_);
    if (kubelet_mounted_) ::umount2(kubelet_.c_str(), MNT_DETACH);
  }

  // freshfs-csi in its "container": a cgroup of its own, a mount namespace
  // (the kubelet directory stays a shared peer of the test's) and a cgroup
  // namespace of its own.
  std::unique_ptr<CsiProcess> StartPlugin(const std::string& log,
                                          const std::string& mount_binary = FRESHFS_MOUNT_BIN) {
    const int procs = ::open((cgroup_ / "plugin" / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    EXPECT_GE(procs, 0);
    CsiProcess::Launch launch;
    launch.wrapper = {"unshare", "--mount", "--cgroup", "--propagation", "unchanged", "--"};
    launch.cgroup_procs_fd = procs;
    auto csi = std::make_unique<CsiProcess>(
        std::vector<std::string>{"--endpoint", "unix://" + (tmp_.path() / "csi.sock").string(),
                                 "--node-id", "node-a", "--config", config_.string(), "--state-dir",
                                 (tmp_.path() / "state").string(), "--mount-binary", mount_binary,
                                 "--metrics-address", "127.0.0.1:" + std::to_string(metrics_port_),
                                 "--child-cgroup", (cgroup_ / "volumes").string()},
        tmp_.path() / log, launch);
    ::close(procs);
    return csi;
  }

  std::unique_ptr<pb::Node::Stub> Connect(CsiProcess& csi) {
    auto channel = grpc::CreateChannel("unix://" + (tmp_.path() / "csi.sock").string(),
                                       grpc::InsecureChannelCredentials());
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + 20s))
      ADD_FAILURE() << "freshfs-csi did not come up:\n" << csi.log();
    return pb::Node::NewStub(channel);
  }

  // The application: freshfs_app_reader reading `files` every 10 ms from a
  // mount namespace of its own, reporting to reader.report.
  // Stops the application; its report is final then.
  void StopReader() {
    if (reader_ <= 0) return;
    ::kill(reader_, SIGTERM);
    ::waitpid(reader_, nullptr, 0);
    reader_ = -1;
  }

  // With `write_dir`, the application also writes a new file there every
  // round (see app_reader_main.cc).
  void StartReader(const std::vector<fs::path>& files, const fs::path& write_dir = {}) {
    std::vector<std::string> args = {FRESHFS_APP_READER_BIN,
                                     (tmp_.path() / "reader.report").string(), "10"};
    if (!write_dir.empty()) {
      args.push_back("--write");
      args.push_back(write_dir.string());
    }
    for (const fs::path& file : files) args.push_back(file.string());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    reader_ = ::fork();
    if (reader_ == 0) {
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }

  // Publishing `s3`'s bucket, prefix team/, at s3_target_ as "s3-vol"
  // (1 s poll), with the server's secrets.
  auto S3PublishRequest(const S3Server& s3) const {
    auto request = PublishRequest("s3-vol", s3_target_,
                                  {{"source", "s3://" + s3.bucket() + "/team"},
                                   {"s3Endpoint", s3.endpoint()},
                                   {"s3PathStyle", "true"},
                                   {"pollInterval", "1s"}});
    (*request.mutable_secrets())["accessKeyId"] = S3Server::kAccessKeyId;
    (*request.mutable_secrets())["secretAccessKey"] = S3Server::kSecretAccessKey;
    return request;
  }

  // SIGKILLs the child serving `target` `rounds` times, each time waiting
  // for its successor and for the reader to go on.
  void KillChildRepeatedly(const fs::path& target, int rounds, CsiProcess& csi) {
    for (int round = 0; round < rounds; ++round) {
      const pid_t child = ChildPid(tmp_.path() / "state", target);
      ASSERT_GT(child, 0);
      ASSERT_EQ(::kill(child, SIGKILL), 0);
      ASSERT_TRUE(Eventually(
          [&] {
            const pid_t now = ChildPid(tmp_.path() / "state", target);
            return now > 0 && now != child;
          },
          10s))
          << csi.log();
      const long reads = std::atol(Report()["reads"].c_str());
      ASSERT_TRUE(
          Eventually([&] { return std::atol(Report()["reads"].c_str()) > reads + 20; }, 10s))
          << ReadFile(tmp_.path() / "reader.report");
    }
  }

  // The successor serving now exports how many requests the kernel resent
  // it (how many a kill left unanswered varies: logged, not asserted).
  void ReportResent() {
    const std::optional<double> resent =
        MetricSum(MetricsText(metrics_port_), "freshfs_fuse_resent_requests_total");
    EXPECT_TRUE(resent.has_value()) << "no freshfs_fuse_resent_requests_total from the successor";
    std::printf("[   INFO   ] requests resent to the last successor: %.0f\n", resent.value_or(-1));
  }

  // The reader saw no failure and no call over 2 s; `target` is mounted once.
  void ExpectNoReaderNoticed(const fs::path& target) {
    const std::map<std::string, std::string> report = Report();
    EXPECT_EQ(report.at("failures"), "0") << ReadFile(tmp_.path() / "reader.report");
    EXPECT_LT(std::atol(report.at("slowest_ms").c_str()), 2000);
    EXPECT_EQ(FuseMountCount(target), 1);
  }

  // Every write the application completed (all but its failed_writes) is at
  // the source, whole: `source_sizes` lists the source's files by name with
  // their sizes. Failed writes are allowed (a crash may cost a write in
  // flight its data, with an error: docs/resume.md) but counted in the log.
  void ExpectCompletedWritesKept(const std::map<std::string, long>& source_sizes) {
    const std::map<std::string, std::string> report = Report();
    const long attempted = std::atol(report.at("writes").c_str());
    std::set<long> failed;
    std::istringstream numbers(report.count("failed_writes") ? report.at("failed_writes") : "");
    for (long n; numbers >> n;) failed.insert(n);
    EXPECT_GT(attempted - long(failed.size()), 20) << "the application hardly wrote";
    for (long n = 0; n < attempted; ++n) {
      if (failed.count(n)) continue;
      const std::string name = "w" + std::to_string(n);
      auto it = source_sizes.find(name);
      EXPECT_TRUE(it != source_sizes.end() && it->second == long(name.size() + 1))
          << name << ", written and closed by the application, is "
          << (it == source_sizes.end()
                  ? "missing at the source"
                  : "at the source with " + std::to_string(it->second) + " bytes");
    }
    if (!failed.empty())
      std::printf("[   INFO   ] %zu of %ld writes failed (first: %s)\n", failed.size(), attempted,
                  report.at("first_write_failure").c_str());
  }
  // The files of directory `dir` by name, with their sizes.
  static std::map<std::string, long> FileSizes(const fs::path& dir) {
    std::map<std::string, long> sizes;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file()) sizes[entry.path().filename()] = long(entry.file_size());
    return sizes;
  }
  // The objects under s3://BUCKET/PREFIX/ by name (below the prefix), with
  // their sizes, as `aws s3 ls` lists them.
  static std::map<std::string, long> ObjectSizes(const S3Server& s3, const std::string& prefix) {
    std::map<std::string, long> sizes;
    ProcessResult ls = s3.Aws({"s3", "ls", "s3://" + s3.bucket() + "/" + prefix + "/"});
    EXPECT_EQ(ls.exit_code, 0) << ls.stderr_text;
    std::istringstream lines(ls.stdout_text);
    for (std::string date, time, size, name; lines >> date;) {
      if (date == "PRE") {  // "PRE sub/"
        lines >> name;
        continue;
      }
      lines >> time >> size >> name;
      sizes[name] = std::atol(size.c_str());
    }
    return sizes;
  }

  // The reader's report (see app_reader_main.cc) as key -> rest of line.
  std::map<std::string, std::string> Report() const {
    std::map<std::string, std::string> out;
    std::istringstream lines(ReadFile(tmp_.path() / "reader.report"));
    for (std::string line; std::getline(lines, line);) {
      const size_t space = line.find(' ');
      if (space == std::string::npos) continue;
      std::string key = line.substr(0, space), rest = line.substr(space + 1);
      if (key == "content") {
        const size_t file_end = rest.find(' ');
        key = rest.substr(0, file_end);
        rest = file_end == std::string::npos ? "" : rest.substr(file_end + 1);
      }
      out[key] = rest;
    }
    return out;
  }

  TempDir tmp_;
  fs::path cgroup_, kubelet_, roots_, config_, dir_target_, s3_target_;
  bool kubelet_mounted_ = false;
  pid_t reader_ = -1;
  const int metrics_port_ = FreePort();
};

TEST_F(PluginContainerTest, ReplacedPluginContainerBreaksNoReaderAndChangesKeepArriving) {
  S3Server s3("containerbucket");
  ASSERT_TRUE(s3.Start());
  std::ofstream(roots_ / "vol" / "hello.txt") << "dir-1";
  const fs::path object = tmp_.path() / "object.txt";
  std::ofstream(object) << "s3-1";
  ASSERT_EQ(s3.Aws({"s3", "cp", object.string(), "s3://containerbucket/team/s3.txt"}).exit_code, 0);

  auto csi = StartPlugin("plugin-1.log");
  auto node = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  auto dir_request = PublishRequest(
      "dir-vol", dir_target_, {{"source", (roots_ / "vol").string()}, {"pollInterval", "1s"}});
  auto s3_request = S3PublishRequest(s3);
  grpc::Status published = Publish(*node, dir_request);
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  published = Publish(*node, s3_request);
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  // Mounted in the plugin's namespace, propagated to the "host".
  ASSERT_EQ(FuseMountCount(dir_target_), 1);
  ASSERT_EQ(FuseMountCount(s3_target_), 1);

  // Who the volumes' processes are, and where.
  const pid_t dir_child = ChildPid(tmp_.path() / "state", dir_target_);
  const pid_t s3_child = ChildPid(tmp_.path() / "state", s3_target_);
  ASSERT_GT(dir_child, 0);
  ASSERT_GT(s3_child, 0);
  EXPECT_EQ(StatusField(s3_child, "Uid"), "65534\t65534\t65534\t65534");
  EXPECT_EQ(StatusField(s3_child, "CapEff"), "0000000000000000");
  EXPECT_EQ(StatusField(s3_child, "CapBnd"), "0000000000000000");
  EXPECT_EQ(StatusField(s3_child, "NoNewPrivs"), "1");
  EXPECT_EQ(StatusField(dir_child, "Uid"), "0\t0\t0\t0");
  // CAP_CHOWN 0, DAC_OVERRIDE 1, DAC_READ_SEARCH 2, FOWNER 3, FSETID 4, MKNOD 27; no SYS_ADMIN.
  EXPECT_EQ(StatusField(dir_child, "CapEff"), "000000000800001f");
  EXPECT_EQ(StatusField(dir_child, "CapBnd"), "000000000800001f");
  EXPECT_EQ(StatusField(dir_child, "NoNewPrivs"), "1");
  for (pid_t child : {dir_child, s3_child}) {
    const std::string cgroup = ReadFile("/proc/" + std::to_string(child) + "/cgroup");
    EXPECT_NE(cgroup.find("/freshfs-test-" + std::to_string(::getpid()) + "/volumes/"),
              std::string::npos)
        << cgroup;
  }

  // The application starts after its volumes are mounted.
  StartReader({dir_target_ / "hello.txt", s3_target_ / "s3.txt"});
  ASSERT_TRUE(Eventually([&] { return std::atol(Report()["reads"].c_str()) > 50; }, 10s))
      << ReadFile(tmp_.path() / "reader.report");

  // The runtime stops the plugin's container.
  node.reset();
  std::ofstream(cgroup_ / "plugin" / "cgroup.kill") << "1";
  ASSERT_TRUE(Eventually([&] { return !Populated(cgroup_ / "plugin"); }, 10s));
  ASSERT_TRUE(csi->Wait(5s).has_value());
  EXPECT_FALSE(Gone(dir_child));
  EXPECT_FALSE(Gone(s3_child));
  std::this_thread::sleep_for(1s);  // no plugin at all for a while

  // Its replacement, with the same state directory.
  csi = StartPlugin("plugin-2.log");
  node = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  EXPECT_TRUE(Eventually(
      [&] {
        return VolumeCondition(*node, "dir-vol", dir_target_).empty() &&
               VolumeCondition(*node, "s3-vol", s3_target_).empty();
      },
      15s))
      << VolumeCondition(*node, "dir-vol", dir_target_) << " / "
      << VolumeCondition(*node, "s3-vol", s3_target_) << "\n"
      << csi->log();
  EXPECT_NE(MetricsText(metrics_port_).find("freshfs_csi_published_volumes 2"), std::string::npos)
      << MetricsText(metrics_port_);
  EXPECT_EQ(ChildPid(tmp_.path() / "state", dir_target_), dir_child) << csi->log();
  EXPECT_EQ(ChildPid(tmp_.path() / "state", s3_target_), s3_child) << csi->log();

  // Changes made afterwards reach the application through its own mounts.
  {
    const fs::path next = roots_ / "vol" / ".hello.next";
    std::ofstream(next) << "dir-2";
    fs::rename(next, roots_ / "vol" / "hello.txt");
  }
  std::ofstream(object) << "s3-2";
  ASSERT_EQ(s3.Aws({"s3", "cp", object.string(), "s3://containerbucket/team/s3.txt"}).exit_code, 0);
  EXPECT_TRUE(Eventually(
      [&] {
        auto report = Report();
        return report[(dir_target_ / "hello.txt").string()] == "dir-2" &&
               report[(s3_target_ / "s3.txt").string()] == "s3-2";
      },
      15s))
      << ReadFile(tmp_.path() / "reader.report");

  StopReader();
  auto report = Report();
  EXPECT_EQ(report["failures"], "0") << "first failure: " << report["first_failure"];
  EXPECT_GT(std::atol(report["reads"].c_str()), 200);
  EXPECT_EQ(FuseMountCount(dir_target_), 1) << "a second mount was stacked on the target";
  EXPECT_EQ(FuseMountCount(s3_target_), 1) << "a second mount was stacked on the target";

  // Unpublish through the new plugin: nothing is left.
  ASSERT_TRUE(Unpublish(*node, "dir-vol", dir_target_).ok());
  ASSERT_TRUE(Unpublish(*node, "s3-vol", s3_target_).ok());
  EXPECT_TRUE(Eventually([&] { return Gone(dir_child) && Gone(s3_child); }, 10s));
  EXPECT_FALSE(IsFuseMount(dir_target_));
  EXPECT_FALSE(IsFuseMount(s3_target_));
  EXPECT_FALSE(fs::exists(dir_target_));
  std::vector<std::string> cgroups;
  for (const auto& entry : fs::directory_iterator(cgroup_ / "volumes"))
    if (entry.is_directory()) cgroups.push_back(entry.path().filename());
  EXPECT_TRUE(cgroups.empty()) << cgroups.size() << " volume cgroups left";
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "state" / "volumes"));
}

// A volume's freshfs-mount that dies (SIGKILL, as the OOM killer sends)
// while freshfs-csi holds the connection: a successor resumes that very
// connection (docs/resume.md), so an application that keeps the old mount
// in its own mount namespace sees a pause, never an error, and changes keep
// arriving. Kernels before 6.9 cannot resend what the dead child had read:
// there the connection is aborted and mounted anew (readers get errors).
TEST_F(PluginContainerTest, ADeadChildIsSucceededOnItsConnectionAndNoReaderNotices) {
  if (!KernelResends()) GTEST_SKIP() << "Linux before 6.9: no FUSE_NOTIFY_RESEND";
  std::ofstream(roots_ / "vol" / "hello.txt") << "dir-1";
  auto csi = StartPlugin("plugin.log");
  auto node = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  grpc::Status published = Publish(
      *node, PublishRequest("dir-vol", dir_target_, {{"source", (roots_ / "vol").string()}}));
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  StartReader({dir_target_ / "hello.txt"}, dir_target_);
  ASSERT_TRUE(Eventually([&] { return std::atol(Report()["reads"].c_str()) > 20; }, 10s));

  KillChildRepeatedly(dir_target_, 3, *csi);
  ASSERT_FALSE(HasFailure());
  std::ofstream(roots_ / "vol" / "hello.txt") << "dir-2";
  EXPECT_TRUE(
      Eventually([&] { return Report()[(dir_target_ / "hello.txt").string()] == "dir-2"; }, 10s))
      << ReadFile(tmp_.path() / "reader.report");
  ExpectNoReaderNoticed(dir_target_);
  StopReader();
  ExpectCompletedWritesKept(FileSizes(roots_ / "vol"));
  ReportResent();
  EXPECT_NE(MetricsText(metrics_port_).find("freshfs_csi_resumes_total{cause=\"crash\"} 3"),
            std::string::npos)
      << MetricsText(metrics_port_);
  ASSERT_TRUE(Unpublish(*node, "dir-vol", dir_target_).ok());
  EXPECT_FALSE(IsFuseMount(dir_target_));
}

// The same for an S3 volume (s3rver): its child, an unprivileged user's,
// is killed under a reader; the successor resumes the connection and
// another writer's change arrives afterwards.
TEST_F(PluginContainerTest, ADeadS3ChildIsSucceededOnItsConnectionAndNoReaderNotices) {
  if (!KernelResends()) GTEST_SKIP() << "Linux before 6.9: no FUSE_NOTIFY_RESEND";
  S3Server s3("crashbucket");
  ASSERT_TRUE(s3.Start());
  const fs::path object = tmp_.path() / "object.txt";
  std::ofstream(object) << "s3-1";
  ASSERT_EQ(s3.Aws({"s3", "cp", object.string(), "s3://crashbucket/team/s3.txt"}).exit_code, 0);
  auto csi = StartPlugin("plugin.log");
  auto node = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  auto request = S3PublishRequest(s3);
  grpc::Status published = Publish(*node, request);
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  StartReader({s3_target_ / "s3.txt"}, s3_target_);
  ASSERT_TRUE(Eventually([&] { return std::atol(Report()["reads"].c_str()) > 20; }, 10s));

  KillChildRepeatedly(s3_target_, 2, *csi);
  ASSERT_FALSE(HasFailure());
  std::ofstream(object) << "s3-2";
  ASSERT_EQ(s3.Aws({"s3", "cp", object.string(), "s3://crashbucket/team/s3.txt"}).exit_code, 0);
  EXPECT_TRUE(Eventually([&] { return Report()[(s3_target_ / "s3.txt").string()] == "s3-2"; }, 15s))
      << ReadFile(tmp_.path() / "reader.report");
  ExpectNoReaderNoticed(s3_target_);
  StopReader();
  ExpectCompletedWritesKept(ObjectSizes(s3, "team"));
  ReportResent();
  EXPECT_NE(MetricsText(metrics_port_).find("freshfs_csi_resumes_total{cause=\"crash\"} 2"),
            std::string::npos)
      << MetricsText(metrics_port_);
  ASSERT_TRUE(Unpublish(*node, "s3-vol", s3_target_).ok());
  EXPECT_FALSE(IsFuseMount(s3_target_));
}

// A request the child had read and not answered when it died: the kernel
// keeps it on the connection, and hands it to the successor when asked to
// resend (FUSE_NOTIFY_RESEND); the application's call completes with the
// right data. s3rver is stalled, so the application's first look at an
// object is surely inside the child at the kill.
TEST_F(PluginContainerTest, ARequestInFlightAtTheKillIsAnsweredByTheSuccessor) {
  if (!KernelResends()) GTEST_SKIP() << "Linux before 6.9: no FUSE_NOTIFY_RESEND";
  S3Server s3("inflightbucket");
  ASSERT_TRUE(s3.Start());
  const fs::path object = tmp_.path() / "object.txt";
  std::ofstream(object) << "answered by the successor";
  ASSERT_EQ(s3.Aws({"s3", "cp", object.string(), "s3://inflightbucket/team/slow.txt"}).exit_code,
            0);
  auto csi = StartPlugin("plugin.log");
  auto node = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  grpc::Status published = Publish(*node, S3PublishRequest(s3));
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  const pid_t child = ChildPid(tmp_.path() / "state", s3_target_);
  ASSERT_GT(child, 0);

  s3.Stall();
  std::future<std::string> read =
      std::async(std::launch::async, [&] { return ReadFile(s3_target_ / "slow.txt"); });
  const bool waited = read.wait_for(1s) == std::future_status::timeout;
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] { return !ProcessAlive(child); }, 10s));
  s3.Resume();
  ASSERT_TRUE(waited) << "the read did not wait for the stalled server";

  ASSERT_EQ(read.wait_for(20s), std::future_status::ready) << csi->log();
  EXPECT_EQ(read.get(), "answered by the successor");
  const std::optional<double> resent =
      MetricSum(MetricsText(metrics_port_), "freshfs_fuse_resent_requests_total");
  EXPECT_GE(resent.value_or(0), 1) << MetricsText(metrics_port_);
  ASSERT_TRUE(Unpublish(*node, "s3-vol", s3_target_).ok());
  EXPECT_FALSE(IsFuseMount(s3_target_));
}

// The plugin's container is replaced by an image with another build of
// freshfs-mount: the new plugin adopts the running child, sees it runs
// another binary, and moves the volume to its own in place
// (docs/resume.md#upgrade). The application, in a mount namespace of its
// own, sees no error; its cached file is not read again; changes arrive.
TEST_F(PluginContainerTest, APluginWithAnotherMountBinaryUpgradesItsVolumesInPlace) {
  S3Server s3("upgradebucket");
  ASSERT_TRUE(s3.Start());
  std::ofstream(roots_ / "vol" / "hello.txt") << "dir-1";
  const fs::path object = tmp_.path() / "object.txt";
  std::ofstream(object) << "s3-1";
  ASSERT_EQ(s3.Aws({"s3", "cp", object.string(), "s3://upgradebucket/team/s3.txt"}).exit_code, 0);
  auto csi = StartPlugin("plugin-1.log");
  auto node = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  grpc::Status published = Publish(
      *node, PublishRequest("dir-vol", dir_target_, {{"source", (roots_ / "vol").string()}}));
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  auto s3_request = S3PublishRequest(s3);
  published = Publish(*node, s3_request);
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  // The application also writes a file every round into the directory
  // volume. (Into an S3 volume a take-over has been seen to fail a write
  // now and then: see the disabled S3TakeOverTest.)
  StartReader({dir_target_ / "hello.txt", s3_target_ / "s3.txt"}, dir_target_);
  ASSERT_TRUE(Eventually([&] { return std::atol(Report()["reads"].c_str()) > 20; }, 10s));
  const std::vector<fs::path> targets = {dir_target_, s3_target_};
  std::vector<pid_t> old_children;
  for (const fs::path& target : targets) {
    old_children.push_back(ChildPid(tmp_.path() / "state", target));
    ASSERT_GT(old_children.back(), 0);
  }

  node.reset();
  std::ofstream(cgroup_ / "plugin" / "cgroup.kill") << "1";
  ASSERT_TRUE(Eventually([&] { return !Populated(cgroup_ / "plugin"); }, 10s));
  ASSERT_TRUE(csi->Wait(5s).has_value());
  csi = StartPlugin("plugin-2.log", FRESHFS_MOUNT_NEXT_BIN);
  node = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  for (size_t i = 0; i < targets.size(); ++i) {
    ASSERT_TRUE(Eventually(
        [&] {
          const pid_t now = ChildPid(tmp_.path() / "state", targets[i]);
          return now > 0 && now != old_children[i];
        },
        20s))
        << csi->log();
    const pid_t new_child = ChildPid(tmp_.path() / "state", targets[i]);
    EXPECT_TRUE(Eventually([&] { return Gone(old_children[i]); }, 10s));
    std::error_code ec;
    EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(new_child) + "/exe", ec).string(),
              FRESHFS_MOUNT_NEXT_BIN);
  }
  const std::string metrics = MetricsText(metrics_port_);
  EXPECT_NE(metrics.find("freshfs_csi_upgrades_total{result=\"ok\"} 2"), std::string::npos)
      << metrics;

  // The reader goes on; its files stay in the page cache: no read request
  // reaches the new daemons.
  const std::optional<double> reads_served = ReadRequests(MetricsText(metrics_port_));
  ASSERT_TRUE(reads_served.has_value()) << MetricsText(metrics_port_);
  const long reads = std::atol(Report()["reads"].c_str());
  ASSERT_TRUE(Eventually([&] { return std::atol(Report()["reads"].c_str()) > reads + 50; }, 10s));
  EXPECT_EQ(ReadRequests(MetricsText(metrics_port_)), reads_served);

  std::ofstream(roots_ / "vol" / "hello.txt") << "dir-2";
  std::ofstream(object) << "s3-2";
  ASSERT_EQ(s3.Aws({"s3", "cp", object.string(), "s3://upgradebucket/team/s3.txt"}).exit_code, 0);
  EXPECT_TRUE(Eventually(
      [&] {
        auto report = Report();
        return report[(dir_target_ / "hello.txt").string()] == "dir-2" &&
               report[(s3_target_ / "s3.txt").string()] == "s3-2";
      },
      15s))
      << ReadFile(tmp_.path() / "reader.report");
  const std::map<std::string, std::string> report = Report();
  EXPECT_EQ(report.at("failures"), "0") << ReadFile(tmp_.path() / "reader.report");
  EXPECT_LT(std::atol(report.at("slowest_ms").c_str()), 2000);
  for (const fs::path& target : targets) EXPECT_EQ(FuseMountCount(target), 1);
  StopReader();
  EXPECT_EQ(Report().count("failed_writes"), 0u)
      << "an upgrade failed a write: " << Report()["first_write_failure"];
  ExpectCompletedWritesKept(FileSizes(roots_ / "vol"));
  ASSERT_TRUE(Unpublish(*node, "dir-vol", dir_target_).ok());
  ASSERT_TRUE(Unpublish(*node, "s3-vol", s3_target_).ok());
  EXPECT_FALSE(IsFuseMount(dir_target_));
  EXPECT_FALSE(IsFuseMount(s3_target_));
}

// On request: the node's freshfs-mount package is upgraded under a running
// plugin (the file at --mount-binary replaced by another build), and
// SIGHUP tells the plugin to move its volumes to it.
TEST_F(PluginContainerTest, SighupMovesVolumesToTheReplacedMountBinary) {
  const fs::path binary = tmp_.path() / "freshfs-mount";
  fs::copy_file(FRESHFS_MOUNT_BIN, binary);
  std::ofstream(roots_ / "vol" / "hello.txt") << "dir-1";
  auto csi = StartPlugin("plugin.log", binary.string());
  auto node = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  grpc::Status published = Publish(
      *node, PublishRequest("dir-vol", dir_target_, {{"source", (roots_ / "vol").string()}}));
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  StartReader({dir_target_ / "hello.txt"});
  ASSERT_TRUE(Eventually([&] { return std::atol(Report()["reads"].c_str()) > 20; }, 10s));
  const pid_t old_child = ChildPid(tmp_.path() / "state", dir_target_);
  ASSERT_GT(old_child, 0);

  // Nothing to do while the child runs the configured file.
  ASSERT_EQ(::kill(csi->pid(), SIGHUP), 0);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(ChildPid(tmp_.path() / "state", dir_target_), old_child);

  const fs::path next = tmp_.path() / "freshfs-mount.next";
  fs::copy_file(FRESHFS_MOUNT_NEXT_BIN, next);
  fs::rename(next, binary);  // as a package manager replaces a file
  ASSERT_EQ(::kill(csi->pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually(
      [&] {
        const pid_t now = ChildPid(tmp_.path() / "state", dir_target_);
        return now > 0 && now != old_child;
      },
      20s))
      << csi->log();
  EXPECT_TRUE(Eventually([&] { return Gone(old_child); }, 10s));
  EXPECT_NE(MetricsText(metrics_port_).find("freshfs_csi_upgrades_total{result=\"ok\"} 1"),
            std::string::npos)
      << MetricsText(metrics_port_);
  const long reads = std::atol(Report()["reads"].c_str());
  ASSERT_TRUE(Eventually([&] { return std::atol(Report()["reads"].c_str()) > reads + 20; }, 10s));
  const std::map<std::string, std::string> report = Report();
  EXPECT_EQ(report.at("failures"), "0") << ReadFile(tmp_.path() / "reader.report");
  EXPECT_LT(std::atol(report.at("slowest_ms").c_str()), 2000);
  ASSERT_TRUE(Unpublish(*node, "dir-vol", dir_target_).ok());
  EXPECT_FALSE(IsFuseMount(dir_target_));
}

}  // namespace
