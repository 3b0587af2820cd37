// The freshfs-csi binary as kubelet and the sidecars meet it: flags, the
// driver config, the socket, the metrics endpoint, and a clean stop on
// SIGTERM. The services themselves are tested in tests/unit/csi.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <grp.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <chrono>
#include <map>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "csi.grpc.pb.h"
#include "csi_binary.h"
#include "support/s3rver.h"

namespace {

namespace fs = std::filesystem;
namespace pb = ::csi::v1;
using namespace std::chrono_literals;
using namespace freshfs::testing;

class FreshfsCsiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = tmp_.path() / "plugin" / "csi.sock";
    roots_ = tmp_.path() / "data";
    fs::create_directories(roots_ / "vol");
    config_ = tmp_.path() / "csi.yaml";
    std::ofstream(config_) << "allowedDirRoots: [" << roots_.string() << "]\n";
    // S3 volumes' processes run as nobody: they must reach their directories
    // in the state dir (as under /var/lib on a node).
    fs::permissions(tmp_.path(), fs::perms(0711));
  }

  std::vector<std::string> Args() const {
    return {"--endpoint",     "unix://" + socket_.string(),
            "--node-id",      "node-a",
            "--config",       config_.string(),
            "--state-dir",    (tmp_.path() / "state").string(),
            "--mount-binary", FRESHFS_MOUNT_BIN};
  }

  // Waits until the plugin answers Probe on its socket.
  std::shared_ptr<grpc::Channel> Connect(CsiProcess& process) {
    auto channel =
        grpc::CreateChannel("unix://" + socket_.string(), grpc::InsecureChannelCredentials());
    const auto deadline = std::chrono::system_clock::now() + 20s;
    if (!channel->WaitForConnected(deadline)) {
      ADD_FAILURE() << "freshfs-csi did not come up:\n" << process.log();
    }
    return channel;
  }

  TempDir tmp_;
  fs::path socket_, roots_, config_;
};

TEST_F(FreshfsCsiTest, Version) {
  CsiProcess csi({"--version"}, tmp_.path() / "log");
  EXPECT_EQ(csi.Wait(10s), 0);
  EXPECT_EQ(csi.log(), "freshfs-csi " FRESHFS_VERSION "\n");
}

TEST_F(FreshfsCsiTest, EndpointAndNodeIdAreRequired) {
  CsiProcess csi({"--node-id", "a"}, tmp_.path() / "log");
  EXPECT_NE(csi.Wait(10s).value_or(0), 0);
  EXPECT_NE(csi.log().find("--endpoint is required"), std::string::npos) << csi.log();
}

TEST_F(FreshfsCsiTest, UnknownModeRefused) {
  auto args = Args();
  args.insert(args.end(), {"--mode", "both"});
  CsiProcess csi(args, tmp_.path() / "log");
  EXPECT_NE(csi.Wait(10s).value_or(0), 0);
  EXPECT_NE(csi.log().find("--mode"), std::string::npos) << csi.log();
}

TEST_F(FreshfsCsiTest, BadMetricsAddressRefused) {
  auto args = Args();
  args.insert(args.end(), {"--metrics-address", "999.1.1.1:0"});
  CsiProcess csi(args, tmp_.path() / "log");
  EXPECT_EQ(csi.Wait(10s), 1);
  EXPECT_NE(csi.log().find("--metrics-address 999.1.1.1:0: host 999.1.1.1 is not an IPv4 address"),
            std::string::npos)
      << csi.log();
}

TEST_F(FreshfsCsiTest, BadDriverConfigRefused) {
  std::ofstream(config_) << "allowedDirRoots: [relative]\n";
  CsiProcess csi(Args(), tmp_.path() / "log");
  EXPECT_EQ(csi.Wait(10s), 1);
  EXPECT_NE(csi.log().find("config " + config_.string() +
                           " line 1: allowedDirRoots \"relative\": not an absolute path"),
            std::string::npos)
      << csi.log();
  EXPECT_FALSE(fs::exists(socket_));
}

TEST_F(FreshfsCsiTest, ServesUntilSigtermThenRemovesItsSocket) {
  const int port = FreePort();
  auto args = Args();
  args.insert(args.end(), {"--metrics-address", "127.0.0.1:" + std::to_string(port)});
  CsiProcess csi(args, tmp_.path() / "log");
  auto channel = Connect(csi);
  ASSERT_FALSE(HasFailure());

  struct stat st;
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  auto identity = pb::Identity::NewStub(channel);
  {
    grpc::ClientContext context;
    pb::GetPluginInfoResponse info;
    ASSERT_TRUE(identity->GetPluginInfo(&context, {}, &info).ok());
    EXPECT_EQ(info.name(), "freshfs.csi.dev");
    EXPECT_EQ(info.vendor_version(), FRESHFS_VERSION);
  }
  auto node = pb::Node::NewStub(channel);
  {
    grpc::ClientContext context;
    pb::NodeGetInfoResponse info;
    ASSERT_TRUE(node->NodeGetInfo(&context, {}, &info).ok());
    EXPECT_EQ(info.node_id(), "node-a");
  }
  pb::NodePublishVolumeRequest publish;
  publish.set_volume_id("v1");
  publish.set_target_path((tmp_.path() / "target").string());
  publish.mutable_volume_capability()->mutable_mount();
  publish.mutable_volume_capability()->mutable_access_mode()->set_mode(
      pb::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  {
    // The driver config is in force.
    grpc::ClientContext context;
    pb::NodePublishVolumeResponse response;
    (*publish.mutable_volume_context())["source"] = "/etc";
    EXPECT_EQ(node->NodePublishVolume(&context, publish, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }

  const std::string metrics = MetricsText(port);
  EXPECT_NE(metrics.find("freshfs_csi_calls_total{code=\"OK\",method=\"GetPluginInfo\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("freshfs_csi_calls_total{code=\"PERMISSION_DENIED\","
                         "method=\"NodePublishVolume\"} 1"),
            std::string::npos)
      << metrics;

  // Hang up first: a gRPC C++ client that makes no calls notices the
  // server's GOAWAY only at its 5 s backup poll, which would hold up the
  // server's graceful shutdown that long (kubelet's Go client answers at once).
  identity.reset();
  node.reset();
  channel.reset();
  csi.Signal(SIGTERM);
  EXPECT_EQ(csi.Wait(10s), 0) << csi.log();
  EXPECT_NE(csi.log().find("CSI server stopped"), std::string::npos) << csi.log();
  EXPECT_FALSE(fs::exists(fs::symlink_status(socket_))) << "socket left behind";
}

// The contents of `path` read by a child process running as `uid` (and
// gid `uid`), or "error: <errno text>".
std::string ReadAs(uid_t uid, const fs::path& path) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "error: pipe";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::string out;
    if (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0) {
      out = "error: setuid";
    } else {
      const int fd = ::open(path.c_str(), O_RDONLY);
      if (fd < 0) {
        out = std::string("error: ") + std::strerror(errno);
      } else {
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, size_t(n));
        ::close(fd);
      }
    }
    (void)!::write(pipe_fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string result;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buffer, sizeof(buffer))) > 0) result.append(buffer, size_t(n));
  ::close(pipe_fds[0]);
  ::waitpid(pid, nullptr, 0);
  return result;
}

class PublishTest : public FreshfsCsiTest {
 protected:
  void TearDown() override {
    // Whatever happened: no mount and no freshfs-mount left behind.
    for (const char* t : {"target", "target2"}) {
      fs::path target = tmp_.path() / t;
      pid_t pid = fs::exists(tmp_.path() / "state" / "volumes")
                      ? ChildPid(tmp_.path() / "state", target)
                      : -1;
      if (IsFuseMount(target)) ::umount2(target.c_str(), MNT_DETACH);
      if (pid > 0) ::kill(pid, SIGKILL);
    }
  }
};

TEST_F(PublishTest, DirectoryVolumeServesSurvivesCrashesAndUnpublishesClean) {
  const int port = FreePort();
  auto args = Args();
  args.insert(args.end(), {"--metrics-address", "127.0.0.1:" + std::to_string(port)});
  auto csi = std::make_unique<CsiProcess>(args, tmp_.path() / "log");
  auto channel = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  auto node = pb::Node::NewStub(channel);
  const fs::path source = roots_ / "vol", target = tmp_.path() / "target";
  std::ofstream(source / "hello.txt") << "hello";
  auto request =
      PublishRequest("vol-1", target, {{"source", source.string()}, {"pollInterval", "1s"}});
  grpc::Status published = Publish(*node, request);
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  ASSERT_TRUE(IsFuseMount(target));
  EXPECT_EQ(ReadFile(target / "hello.txt"), "hello");
  // A pod's container runs as any user: it reads what the modes allow (the
  // test's own directory is made traversable for it first).
  fs::permissions(tmp_.path(), fs::perms(0755));
  EXPECT_EQ(ReadAs(65534, target / "hello.txt"), "hello");
  // The same request again: fine. Another source at the same target: refused.
  EXPECT_TRUE(Publish(*node, request).ok());
  auto other = PublishRequest("vol-2", target, {{"source", source.string()}});
  EXPECT_EQ(Publish(*node, other).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  // Writes reach the source; source changes reach the reader.
  std::ofstream(target / "written.txt") << "through the mount";
  EXPECT_EQ(ReadFile(source / "written.txt"), "through the mount");
  std::ofstream(source / "hello.txt") << "HELLO";
  EXPECT_TRUE(Eventually([&] { return ReadFile(target / "hello.txt") == "HELLO"; }, 5s));

  {
    grpc::ClientContext context;
    pb::NodeGetVolumeStatsRequest stats_request;
    stats_request.set_volume_id("vol-1");
    stats_request.set_volume_path(target.string());
    pb::NodeGetVolumeStatsResponse stats;
    grpc::Status s = node->NodeGetVolumeStats(&context, stats_request, &stats);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_FALSE(stats.volume_condition().abnormal()) << stats.volume_condition().message();
    EXPECT_GT(stats.usage_size(), 0);
  }

  // The volume's series are on the node's one endpoint.
  EXPECT_TRUE(Eventually(
      [&] {
        return MetricsText(port).find("freshfs_staleness_seconds{volume=\"vol-1\"}") !=
               std::string::npos;
      },
      5s))
      << MetricsText(port) << csi->log();

  // Two volumes: the one endpoint passes promtool (no family announced twice).
  {
    fs::create_directories(roots_ / "vol2");
    auto second =
        PublishRequest("vol-2", tmp_.path() / "target2", {{"source", (roots_ / "vol2").string()}});
    ASSERT_TRUE(Publish(*node, second).ok());
    std::string text;
    ASSERT_TRUE(Eventually(
        [&] {
          text = MetricsText(port);
          return text.find("volume=\"vol-2\"") != std::string::npos;
        },
        5s))
        << text;
    const fs::path file = tmp_.path() / "scrape.prom";
    std::ofstream(file) << text;
    const std::string out = tmp_.path() / "promtool.out";
    int rc =
        std::system(("promtool check metrics < " + file.string() + " > " + out + " 2>&1").c_str());
    EXPECT_EQ(rc, 0) << ReadFile(out);
    EXPECT_EQ(ReadFile(out), "") << "promtool found problems";
    ASSERT_TRUE(Unpublish(*node, "vol-2", tmp_.path() / "target2").ok());
  }

  // A child killed hard: the volume is served again within seconds, and
  // the node's mounts are left as they were (fusectl, mounted for the
  // abort, is unmounted again).
  const bool fusectl_before = ReadFile("/proc/self/mounts").find(" fusectl ") != std::string::npos;
  const pid_t child = ChildPid(tmp_.path() / "state", target);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_TRUE(Eventually(
      [&] {
        return ChildPid(tmp_.path() / "state", target) != child && IsFuseMount(target) &&
               ReadFile(target / "hello.txt") == "HELLO";
      },
      15s))
      << csi->log();
  EXPECT_NE(MetricsText(port).find("freshfs_csi_child_restarts_total{volume=\"vol-1\"} 1"),
            std::string::npos);
  EXPECT_EQ(ReadFile("/proc/self/mounts").find(" fusectl ") != std::string::npos, fusectl_before);

  // freshfs-csi killed and started again while a reader keeps reading.
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, failures{0};
  std::thread reader([&] {
    while (!stop) {
      if (ReadFile(target / "hello.txt") == "HELLO") ++reads;
      else ++failures;
      std::this_thread::sleep_for(5ms);
    }
  });
  node.reset();
  channel.reset();
  csi->Signal(SIGKILL);
  csi->Wait(5s);
  std::this_thread::sleep_for(500ms);
  csi = std::make_unique<CsiProcess>(args, tmp_.path() / "log2");
  channel = Connect(*csi);
  node = pb::Node::NewStub(channel);
  std::this_thread::sleep_for(1s);
  stop = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(reads.load(), 10);
  EXPECT_NE(csi->log().find("adopted running freshfs-mount"), std::string::npos) << csi->log();

  // Unpublish: no process, no mount, no state left; twice is fine.
  const pid_t last = ChildPid(tmp_.path() / "state", target);
  grpc::Status gone = Unpublish(*node, "vol-1", target);
  ASSERT_TRUE(gone.ok()) << gone.error_message();
  EXPECT_TRUE(Unpublish(*node, "vol-1", target).ok());
  EXPECT_FALSE(IsFuseMount(target));
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(Eventually([&] { return ::kill(last, 0) != 0; }, 5s))
      << "freshfs-mount still running";
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "state" / "volumes"));
}

// The source path swapped for a symlink to a host directory outside the
// roots, after publish: a child restarted by the supervisor serves the
// directory that was checked (freshfs-csi holds it open), and a new
// freshfs-csi that has to start the volume again refuses the path.
TEST_F(PublishTest, ASourceSwappedForASymlinkNeverMountsWhatIsOutsideTheRoots) {
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directories(outside);
  std::ofstream(outside / "secret.txt") << "host secret";
  std::ofstream(roots_ / "vol" / "inside.txt") << "inside";
  auto csi = std::make_unique<CsiProcess>(Args(), tmp_.path() / "log");
  auto channel = Connect(*csi);
  ASSERT_FALSE(HasFailure());
  auto node = pb::Node::NewStub(channel);
  const fs::path target = tmp_.path() / "target";
  grpc::Status published =
      Publish(*node, PublishRequest("vol-1", target, {{"source", (roots_ / "vol").string()}}));
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi->log();
  EXPECT_EQ(ReadFile(target / "inside.txt"), "inside");

  fs::rename(roots_ / "vol", roots_ / "vol-old");
  fs::create_directory_symlink(outside, roots_ / "vol");
  // Before a child restart.
  const pid_t child = ChildPid(tmp_.path() / "state", target);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_TRUE(Eventually(
      [&] {
        return ChildPid(tmp_.path() / "state", target) != child && IsFuseMount(target) &&
               ReadFile(target / "inside.txt") == "inside";
      },
      15s))
      << csi->log();
  std::error_code ec;
  EXPECT_FALSE(fs::exists(target / "secret.txt", ec));

  // Before a publish of that path: refused at once.
  grpc::Status refused = Publish(*node, PublishRequest("vol-2", tmp_.path() / "target2",
                                                       {{"source", (roots_ / "vol").string()}}));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
  EXPECT_FALSE(IsFuseMount(tmp_.path() / "target2"));

  // freshfs-csi and the child both gone: the new one must open the path
  // again, and refuses it.
  const pid_t second = ChildPid(tmp_.path() / "state", target);
  node.reset();
  channel.reset();
  csi->Signal(SIGKILL);
  csi->Wait(5s);
  ASSERT_EQ(::kill(second, SIGKILL), 0);
  csi = std::make_unique<CsiProcess>(Args(), tmp_.path() / "log2");
  channel = Connect(*csi);
  node = pb::Node::NewStub(channel);
  std::string condition;
  EXPECT_TRUE(Eventually(
      [&] {
        condition = VolumeCondition(*node, "vol-1", target);
        return condition.find("symlink") != std::string::npos;
      },
      15s))
      << condition << "\n"
      << csi->log();
  EXPECT_FALSE(IsFuseMount(target));
  EXPECT_FALSE(fs::exists(target / "secret.txt", ec));
  ASSERT_TRUE(Unpublish(*node, "vol-1", target).ok());
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "state" / "volumes"));
}

TEST_F(PublishTest, S3VolumeGetsItsSecretsThroughAPipeNeverArgvOrState) {
  freshfs::testing::S3Server s3("csibucket");
  ASSERT_TRUE(s3.Start());
  ASSERT_EQ(s3.Aws({"s3", "cp", "/etc/hostname", "s3://csibucket/team/host.txt"}).exit_code, 0);
  CsiProcess csi(Args(), tmp_.path() / "log");
  auto channel = Connect(csi);
  ASSERT_FALSE(HasFailure());
  auto node = pb::Node::NewStub(channel);
  const fs::path target = tmp_.path() / "target";
  auto request = PublishRequest("s3-vol", target,
                                {{"source", "s3://csibucket/team"},
                                 {"s3Endpoint", s3.endpoint()},
                                 {"s3PathStyle", "true"},
                                 {"pollInterval", "1s"}});
  // Without secrets: refused before anything starts.
  EXPECT_EQ(Publish(*node, request).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  (*request.mutable_secrets())["accessKeyId"] = freshfs::testing::S3Server::kAccessKeyId;
  (*request.mutable_secrets())["secretAccessKey"] = freshfs::testing::S3Server::kSecretAccessKey;
  grpc::Status published = Publish(*node, request);
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi.log();
  EXPECT_EQ(ReadFile(target / "host.txt"), ReadFile("/etc/hostname"));
  std::ofstream(target / "new.txt") << "from the pod";
  EXPECT_EQ(s3.Aws({"s3", "cp", "s3://csibucket/team/new.txt", "-"}).stdout_text, "from the pod");

  // The secret is in no argv and in no file but the 0600 state.
  const pid_t child = ChildPid(tmp_.path() / "state", target);
  ASSERT_GT(child, 0);
  // freshfs-csi mounted for it: the child runs as nobody with no
  // capabilities at all, and cannot gain any.
  {
    const std::string status = ReadFile("/proc/" + std::to_string(child) + "/status");
    auto field = [&](const std::string& name) {
      size_t at = status.find("\n" + name + ":\t");
      if (at == std::string::npos) return std::string();
      at += name.size() + 3;
      return status.substr(at, status.find('\n', at) - at);
    };
    EXPECT_EQ(field("Uid"), "65534\t65534\t65534\t65534") << status;
    EXPECT_EQ(field("Gid"), "65534\t65534\t65534\t65534") << status;
    EXPECT_EQ(field("Groups").find_first_not_of(" "), std::string::npos) << status;
    EXPECT_EQ(field("CapEff"), "0000000000000000") << status;
    EXPECT_EQ(field("CapPrm"), "0000000000000000") << status;
    EXPECT_EQ(field("CapBnd"), "0000000000000000") << status;
    EXPECT_EQ(field("CapAmb"), "0000000000000000") << status;
    EXPECT_EQ(field("NoNewPrivs"), "1") << status;
  }
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(child) + "/cmdline").find("S3RVER"),
            std::string::npos);
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(child) + "/environ").find("S3RVER"),
            std::string::npos);
  EXPECT_EQ(csi.log().find("S3RVER"), std::string::npos);
  for (const auto& entry : fs::recursive_directory_iterator(tmp_.path() / "state")) {
    if (!entry.is_regular_file()) continue;
    if (ReadFile(entry.path()).find("S3RVER") == std::string::npos) continue;
    struct stat st;
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 077, 0u)
        << entry.path() << " holds the secret and is readable by others";
  }
  // Usage: what the volume's last background scan found (the first runs a
  // second after the mount: one small file, and new.txt if it was uploaded
  // by then; one entry each, one 4 KiB block in all), and a bucket's
  // "available".
  {
    pb::NodeGetVolumeStatsResponse stats;
    EXPECT_TRUE(Eventually(
        [&] {
          grpc::ClientContext context;
          pb::NodeGetVolumeStatsRequest stats_request;
          stats_request.set_volume_id("s3-vol");
          stats_request.set_volume_path(target.string());
          stats = {};
          if (!node->NodeGetVolumeStats(&context, stats_request, &stats).ok()) return false;
          for (const auto& usage : stats.usage())
            if (usage.unit() == pb::VolumeUsage::INODES && usage.used() > 0) return true;
          return false;
        },
        10s))
        << stats.DebugString();
    ASSERT_EQ(stats.usage_size(), 2);
    const int64_t files = stats.usage(0).unit() == pb::VolumeUsage::INODES ? stats.usage(0).used()
                                                                           : stats.usage(1).used();
    EXPECT_TRUE(files == 1 || files == 2) << files;
    for (const auto& usage : stats.usage()) {
      if (usage.unit() == pb::VolumeUsage::BYTES) {
        EXPECT_EQ(usage.used(), 4096);
        EXPECT_EQ(usage.available(), int64_t(1) << 52);
      } else {
        EXPECT_EQ(usage.available(), int64_t(1) << 32);
      }
      EXPECT_EQ(usage.total(), usage.used() + usage.available());
    }
  }

  // A session token far larger than a pipe's buffer: publish answers (the
  // test server refuses such a header) instead of hanging, and the volume
  // takes further calls.
  {
    auto big = request;
    big.set_volume_id("s3-big");
    big.set_target_path((tmp_.path() / "target2").string());
    (*big.mutable_secrets())["sessionToken"] = std::string(100 * 1024, 't');
    const grpc::StatusCode code = Publish(*node, big).error_code();
    EXPECT_NE(code, grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_NE(code, grpc::StatusCode::ABORTED);
    EXPECT_TRUE(Unpublish(*node, "s3-big", tmp_.path() / "target2").ok());
    EXPECT_FALSE(IsFuseMount(tmp_.path() / "target2"));
  }

  ASSERT_TRUE(Unpublish(*node, "s3-vol", target).ok());
  EXPECT_FALSE(IsFuseMount(target));
}

// Issue 20: publishing a bucket costs the same whatever its size. 300,000
// objects (straight on s3rver's disk) are published within the plugin's
// publish timeout (the child must be ready in 30 s), and are there.
TEST_F(PublishTest, AThreeHundredThousandObjectBucketPublishesWithinTheTimeout) {
  freshfs::testing::S3Server s3("bigbucket");
  std::vector<std::string> keys;
  keys.reserve(300'000);
  for (int d = 0; d < 300; ++d)
    for (int i = 0; i < 1000; ++i)
      keys.push_back("d" + std::to_string(d) + "/f" + std::to_string(i));
  ASSERT_TRUE(s3.LinkObjects(keys, "big")) << std::strerror(errno);
  ASSERT_TRUE(s3.Start());
  CsiProcess csi(Args(), tmp_.path() / "log");
  auto channel = Connect(csi);
  ASSERT_FALSE(HasFailure());
  auto node = pb::Node::NewStub(channel);
  const fs::path target = tmp_.path() / "target";
  auto request = PublishRequest("big-vol", target,
                                {{"source", "s3://bigbucket"},
                                 {"s3Endpoint", s3.endpoint()},
                                 {"s3PathStyle", "true"},
                                 {"pollInterval", "5s"}});
  (*request.mutable_secrets())["accessKeyId"] = freshfs::testing::S3Server::kAccessKeyId;
  (*request.mutable_secrets())["secretAccessKey"] = freshfs::testing::S3Server::kSecretAccessKey;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status published = Publish(*node, request);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi.log();
  std::cout << "published 300,000 objects in " << seconds << " s" << std::endl;
  EXPECT_EQ(ReadFile(target / "d123" / "f456"), "big");
  size_t names = 0;
  for (const auto& entry : fs::directory_iterator(target / "d7")) names += entry.exists();
  EXPECT_EQ(names, 1000u);
  ASSERT_TRUE(Unpublish(*node, "big-vol", target).ok());
  EXPECT_FALSE(IsFuseMount(target));
}

// The keys under `prefix` in the test bucket, one per line as `aws s3 ls`
// names them (relative to the bucket).
std::string Keys(freshfs::testing::S3Server& s3, const std::string& prefix) {
  std::string listing =
      s3.Aws({"s3", "ls", "--recursive", "s3://" + s3.bucket() + "/" + prefix}).stdout_text;
  std::string keys;
  std::istringstream lines(listing);
  for (std::string line; std::getline(lines, line);) {
    // "2026-11-22 05:44:36          5 volumes/pvc/file"
    std::istringstream fields(line);
    std::string date, time, size, key;
    fields >> date >> time >> size;
    std::getline(fields >> std::ws, key);
    keys += key + "\n";
  }
  return keys;
}

TEST_F(PublishTest, S3VolumesAreProvisionedPublishedAndDeleted) {
  freshfs::testing::S3Server s3("provbucket");
  ASSERT_TRUE(s3.Start());
  auto args = Args();
  args.insert(args.end(), {"--mode", "all"});
  CsiProcess csi(args, tmp_.path() / "log");
  auto channel = Connect(csi);
  ASSERT_FALSE(HasFailure());
  auto controller = pb::Controller::NewStub(channel);
  auto node = pb::Node::NewStub(channel);
  const std::map<std::string, std::string> secrets{
      {"accessKeyId", freshfs::testing::S3Server::kAccessKeyId},
      {"secretAccessKey", freshfs::testing::S3Server::kSecretAccessKey}};

  auto create_request = [&](const std::string& name, const std::string& on_delete) {
    pb::CreateVolumeRequest request;
    request.set_name(name);
    auto* capability = request.add_volume_capabilities();
    capability->mutable_mount();
    capability->mutable_access_mode()->set_mode(
        pb::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
    auto& parameters = *request.mutable_parameters();
    parameters["source"] = "s3://provbucket/volumes";
    parameters["s3Endpoint"] = s3.endpoint();
    parameters["s3PathStyle"] = "true";
    parameters["pollInterval"] = "1s";
    parameters["onDelete"] = on_delete;
    parameters["csi.storage.k8s.io/pvc/name"] = "data";
    for (const auto& [k, v] : secrets) (*request.mutable_secrets())[k] = v;
    return request;
  };
  auto create = [&](const pb::CreateVolumeRequest& request, pb::CreateVolumeResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 60s);
    return controller->CreateVolume(&context, request, response);
  };
  auto remove = [&](const std::string& volume_id, bool with_secrets = true) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 60s);
    pb::DeleteVolumeRequest request;
    request.set_volume_id(volume_id);
    if (with_secrets)
      for (const auto& [k, v] : secrets) (*request.mutable_secrets())[k] = v;
    pb::DeleteVolumeResponse response;
    return controller->DeleteVolume(&context, request, &response);
  };
  auto validate = [&](const std::string& volume_id) {
    grpc::ClientContext context;
    pb::ValidateVolumeCapabilitiesRequest request;
    request.set_volume_id(volume_id);
    auto* capability = request.add_volume_capabilities();
    capability->mutable_mount();
    capability->mutable_access_mode()->set_mode(
        pb::VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER);
    for (const auto& [k, v] : secrets) (*request.mutable_secrets())[k] = v;
    pb::ValidateVolumeCapabilitiesResponse response;
    grpc::Status status = controller->ValidateVolumeCapabilities(&context, request, &response);
    return status.ok()
               ? (response.has_confirmed() ? grpc::StatusCode::OK : grpc::StatusCode::UNKNOWN)
               : status.error_code();
  };

  // Without the provisioner secret: refused, nothing written.
  auto request = create_request("pvc-s3", "delete");
  request.clear_secrets();
  pb::CreateVolumeResponse created;
  EXPECT_EQ(create(request, &created).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Keys(s3, ""), "");

  request = create_request("pvc-s3", "delete");
  grpc::Status status = create(request, &created);
  ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << csi.log();
  const std::string volume_id = created.volume().volume_id();
  EXPECT_EQ(volume_id, "s3:" + s3.endpoint() + ";;true;provbucket/volumes/pvc-s3");
  const auto& context = created.volume().volume_context();
  EXPECT_EQ(context.at("source"), "s3://provbucket/volumes/pvc-s3");
  EXPECT_EQ(context.at("s3Endpoint"), s3.endpoint());
  EXPECT_EQ(context.at("pollInterval"), "1s");
  EXPECT_EQ(context.count("onDelete"), 0u);
  EXPECT_EQ(Keys(s3, ""), "volumes/.freshfs-pvc-s3.json\nvolumes/pvc-s3/\n");
  EXPECT_EQ(validate(volume_id), grpc::StatusCode::OK);

  // The same request again: the same volume. Other parameters: refused.
  pb::CreateVolumeResponse again;
  ASSERT_TRUE(create(request, &again).ok());
  EXPECT_EQ(again.volume().volume_id(), volume_id);
  auto changed = create_request("pvc-s3", "retain");
  EXPECT_EQ(create(changed, &again).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  // A prefix someone else already uses is not adopted.
  ASSERT_EQ(s3.Aws({"s3", "cp", "/etc/hostname", "s3://provbucket/volumes/taken/x"}).exit_code, 0);
  grpc::Status taken = create(create_request("taken", "delete"), &again);
  EXPECT_EQ(taken.error_code(), grpc::StatusCode::ALREADY_EXISTS) << taken.error_message();

  // Published with the context CreateVolume returned: an empty directory
  // that writes land in, under the volume's prefix.
  {
    const fs::path target = tmp_.path() / "target";
    auto publish = PublishRequest(volume_id, target, {context.begin(), context.end()});
    for (const auto& [k, v] : secrets) (*publish.mutable_secrets())[k] = v;
    grpc::Status published = Publish(*node, publish);
    ASSERT_TRUE(published.ok()) << published.error_message() << "\n" << csi.log();
    EXPECT_TRUE(fs::is_empty(target));
    std::ofstream(target / "result.txt") << "written by the pod";
    EXPECT_EQ(s3.Aws({"s3", "cp", "s3://provbucket/volumes/pvc-s3/result.txt", "-"}).stdout_text,
              "written by the pod");
    ASSERT_TRUE(Unpublish(*node, volume_id, target).ok());
  }

  // Deleted: every object under the prefix and the record go, nothing else.
  EXPECT_EQ(remove(volume_id, /*with_secrets=*/false).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  status = remove(volume_id);
  ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << csi.log();
  EXPECT_EQ(Keys(s3, ""), "volumes/taken/x\n");
  EXPECT_TRUE(remove(volume_id).ok()) << "deleting twice is fine";
  EXPECT_EQ(validate(volume_id), grpc::StatusCode::NOT_FOUND);

  // A 128-byte name (CSI's longest): a hashed id within 128 bytes, the same
  // on a retry, resolved through the bucket's index to delete it.
  {
    const std::string name(128, 'n');
    grpc::Status long_created = create(create_request(name, "delete"), &created);
    ASSERT_TRUE(long_created.ok()) << long_created.error_message();
    const std::string long_id = created.volume().volume_id();
    EXPECT_LE(long_id.size(), 128u) << long_id;
    EXPECT_TRUE(long_id.starts_with("s3#")) << long_id;
    ASSERT_TRUE(create(create_request(name, "delete"), &again).ok());
    EXPECT_EQ(again.volume().volume_id(), long_id);
    EXPECT_EQ(validate(long_id), grpc::StatusCode::OK);
    EXPECT_EQ(Keys(s3, ".freshfs-ids/"),
              ".freshfs-ids/" + long_id.substr(long_id.size() - 40) + "\n");
    ASSERT_TRUE(remove(long_id).ok()) << csi.log();
    EXPECT_EQ(Keys(s3, ""), "volumes/taken/x\n");
    EXPECT_TRUE(remove(long_id).ok());
    EXPECT_EQ(validate(long_id), grpc::StatusCode::NOT_FOUND);
  }

  // onDelete: retain keeps the data and forgets the volume.
  ASSERT_TRUE(create(create_request("pvc-keep", "retain"), &created).ok());
  ASSERT_EQ(
      s3.Aws({"s3", "cp", "/etc/hostname", "s3://provbucket/volumes/pvc-keep/kept"}).exit_code, 0);
  ASSERT_TRUE(remove(created.volume().volume_id()).ok());
  EXPECT_EQ(Keys(s3, "volumes/pvc-keep"), "volumes/pvc-keep/\nvolumes/pvc-keep/kept\n");
  EXPECT_EQ(Keys(s3, "volumes/.freshfs"), "");
  EXPECT_EQ(csi.log().find(freshfs::testing::S3Server::kSecretAccessKey), std::string::npos);
}

}  // namespace
