// The control socket's protocol between a serving daemon and a successor,
// with stand-ins for what is handed over (pipes) and for the daemon's
// reaction (the hooks): no FUSE mount needed.
#include "mount/control_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "support/temp_dir.h"

namespace freshfs::mount {
namespace {

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_ + "/sockets/volume.sock";
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    read_end_.reset(p[0]);
    write_end_.reset(p[1]);
  }
  // A server whose quiesce hands over the pipe's write end three times
  // (standing in for the fuse, state and listener fds), or refuses.
  std::unique_ptr<ControlServer> Serve(bool busy = false) {
    std::string error;
    UniqueFd listener = ListenControlSocket(path_, &error);
    EXPECT_TRUE(listener.valid()) << error;
    ControlServer::Hooks hooks;
    hooks.quiesce = [this, busy](std::string* why) -> std::optional<Quiesced> {
      if (busy) {
        *why = "this daemon is stopping";
        return std::nullopt;
      }
      Quiesced q;
      q.fuse_fd = q.state_fd = q.listener_fd = write_end_.get();
      q.stopped_ns = 42;
      return q;
    };
    hooks.finish = [this](bool taken, pid_t) {
      std::lock_guard lock(mu_);
      outcome_ = taken ? 1 : 0;
      cv_.notify_all();
    };
    auto server = std::make_unique<ControlServer>(std::move(listener), "1.0", std::move(hooks));
    server->set_unlink_path(path_);
    return server;
  }
  int Outcome() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return outcome_ >= 0; });
    return outcome_;
  }

  freshfs::testing::TempDir tmp_{"control"};
  std::string dir_ = tmp_.str(), path_;
  UniqueFd read_end_, write_end_;
  std::mutex mu_;
  std::condition_variable cv_;
  int outcome_ = -1;
};

TEST_F(ControlSocketTest, ASuccessorGetsTheDescriptorsAndItsDoneEndsTheServer) {
  auto server = Serve();
  std::string error;
  auto p = Predecessor::Connect(path_, "2.0", &error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->stopped_ns, 42);
  EXPECT_EQ(p->pid, ::getpid());
  EXPECT_EQ(p->version, "1.0");
  // What arrived is the same pipe: written here, read at the other end.
  ASSERT_EQ(::write(p->state_fd.get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(read_end_.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  EXPECT_TRUE(p->Done());
  EXPECT_EQ(Outcome(), 1);
  server->Stop();
  // The listener went to the successor: its path stays.
  EXPECT_TRUE(std::filesystem::exists(path_));
}

TEST_F(ControlSocketTest, ARefusalOrAVanishedSuccessorLetsTheDaemonServeOn) {
  auto server = Serve();
  std::string error;
  auto p = Predecessor::Connect(path_, "2.0", &error);
  ASSERT_TRUE(p) << error;
  p->Refuse("the state belongs to another source");
  EXPECT_EQ(Outcome(), 0);
  {
    std::lock_guard lock(mu_);
    outcome_ = -1;
  }
  // It accepts the next successor; this one goes away without a word.
  p = Predecessor::Connect(path_, "2.0", &error);
  ASSERT_TRUE(p) << error;
  p.reset();
  EXPECT_EQ(Outcome(), 0);
  server->Stop();
  EXPECT_FALSE(std::filesystem::exists(path_));  // ours again, removed at the end
}

TEST_F(ControlSocketTest, ADaemonThatCannotHandOverSaysWhy) {
  auto server = Serve(/*busy=*/true);
  std::string error;
  EXPECT_FALSE(Predecessor::Connect(path_, "2.0", &error));
  EXPECT_NE(error.find("this daemon is stopping"), std::string::npos) << error;
}

// What a successor sends is checked: anything but a QUIESCE gets an error
// and leaves the server serving (and alive).
TEST_F(ControlSocketTest, GarbageIsAnsweredWithAnErrorAndTheServerServesOn) {
  auto server = Serve();
  for (std::string garbage :
       {std::string("QUIESCE"), std::string("HELLO"), std::string(""), std::string(300, 'Q')}) {
    UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::send(sock.get(), garbage.data(), garbage.size(), 0), ssize_t(garbage.size()));
    char reply[256] = {};
    ssize_t n = ::recv(sock.get(), reply, sizeof reply - 1, 0);
    if (garbage == "QUIESCE") {
      EXPECT_EQ(std::string(reply, 8), "QUIESCED");
      sock.reset();  // gone without a DONE: serving again
      EXPECT_EQ(Outcome(), 0);
      std::lock_guard lock(mu_);
      outcome_ = -1;
    } else if (!garbage.empty()) {
      EXPECT_GT(n, 0);
      EXPECT_EQ(std::string(reply).substr(0, 5), "ERROR") << reply;
    }
  }
  std::string error;
  auto p = Predecessor::Connect(path_, "2.0", &error);
  ASSERT_TRUE(p) << error;
  EXPECT_TRUE(p->Done());
  EXPECT_EQ(Outcome(), 1);
}

TEST_F(ControlSocketTest, NoDaemonThereIsAClearError) {
  std::string error;
  EXPECT_FALSE(Predecessor::Connect(path_, "2.0", &error));
  EXPECT_NE(error.find("no freshfs-mount answers"), std::string::npos) << error;
}

TEST_F(ControlSocketTest, AStaleSocketIsReplacedALiveOneIsNot) {
  std::string error;
  {
    UniqueFd first = ListenControlSocket(path_, &error);
    ASSERT_TRUE(first.valid()) << error;
    // A live listener: a second daemon may not take its place.
    EXPECT_FALSE(ListenControlSocket(path_, &error).valid());
    EXPECT_NE(error.find("another daemon serves this mountpoint"), std::string::npos) << error;
  }
  // Its daemon died without removing the file: replaced.
  ASSERT_TRUE(std::filesystem::exists(path_));
  EXPECT_TRUE(ListenControlSocket(path_, &error).valid()) << error;
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ControlSocketTest, ADirectoryOthersMayWriteIsRefused) {
  const std::string dir = dir_ + "/open";
  ASSERT_EQ(::mkdir(dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  std::string error;
  EXPECT_FALSE(ListenControlSocket(dir + "/v.sock", &error).valid());
  EXPECT_NE(error.find("writable by it alone"), std::string::npos) << error;
}

TEST(ControlSocketPath, DependsOnTheMountpointOnly) {
  EXPECT_EQ(ControlSocketPath("/mnt/a"), ControlSocketPath("/mnt/a"));
  EXPECT_NE(ControlSocketPath("/mnt/a"), ControlSocketPath("/mnt/b"));
  EXPECT_LT(ControlSocketPath("/" + std::string(4000, 'x')).size(), sizeof(sockaddr_un::sun_path));
}

}  // namespace
}  // namespace freshfs::mount
