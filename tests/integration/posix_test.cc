// POSIX through a directory mount that many users share (--allow-other, as
// freshfs-csi mounts every volume), checked against what the same system
// calls give the same user on a plain directory of the source's filesystem:
// the modes a caller's umask (or a default ACL) gives new entries, who new
// entries belong to and which set-user-ID and set-group-ID bits they keep,
// those bits after writes and truncations by other users, the errors of
// renames, and an O_CREAT open of a name someone else created meanwhile.
//
// Every test runs twice: against a daemon that is full root (a mount made by
// hand) and against one with only the six capabilities freshfs-csi leaves a
// directory volume's process, on a mount the test makes itself as
// freshfs-csi does (docs/csi.md). The users are numbers without names.
// S3 volumes, which keep no owners or modes, show theirs on every new entry.
// What is checked here is what docs/posix.md says.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "support/as_user.h"
#include "support/fs_util.h"
#include "support/mount.h"
#include "support/s3_mount.h"
#include "support/supervisor.h"

namespace freshfs::testing {
namespace {

constexpr gid_t kTeam = 4322;       // a group the user is in
constexpr gid_t kStrangers = 4323;  // a group the user is not in
const Identity kUser{4321, 4321, {kTeam}, 022};
const Identity kOther{4331, 4331, {}, 022};
const Identity kRootUser{0, 0, {}, 022};

Identity WithUmask(Identity who, mode_t umask) {
  who.umask = umask;
  return who;
}

std::string Octal(mode_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "0%o", unsigned(mode));
  return text;
}

// As root: a directory or a file at `path` with this owner and mode (the
// mode last: a chown clears set-ID bits).
void Make(const std::string& path, mode_t mode, uid_t uid, gid_t gid, bool dir) {
  if (dir) {
    ASSERT_EQ(mkdir(path.c_str(), 0700), 0) << path << ": " << ErrnoName(errno);
  } else {
    ASSERT_EQ(WriteFile(path, "content"), 0) << path;
  }
  ASSERT_EQ(lchown(path.c_str(), uid, gid), 0) << path << ": " << ErrnoName(errno);
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path << ": " << ErrnoName(errno);
}
void MakeDir(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
  Make(path, mode, uid, gid, true);
}
void MakeFile(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
  Make(path, mode, uid, gid, false);
}

// The directories every test finds in the source and in the plain directory:
// the user's own, set-group-ID ones of a group the user is in and of one it
// is not in, and one anybody may write to.
void MakeTree(const std::string& base) {
  MakeDir(base + "/own", 0755, kUser.uid, kUser.gid);
  MakeDir(base + "/team", 02775, 0, kTeam);
  MakeDir(base + "/strangers", 02777, 0, kStrangers);
  MakeDir(base + "/open", 0777, 0, 0);
}

// open(O_CREAT | O_EXCL) and close, as a syscall-style result.
long CreateFile(const std::string& path, mode_t mode) {
  int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}

// Makes the directory `dir` and one entry of every kind in it, and says what
// each came out as (run as the user under test).
std::string MakeOneOfEach(const std::string& dir) {
  std::string out;
  auto made = [&out](const std::string& path, long rc) {
    out += path.substr(path.rfind('/') + 1) + ": " + Outcome(rc);
    if (rc != -1) out += " " + Describe(path);
    out += "\n";
  };
  made(dir, mkdir(dir.c_str(), 0777));
  made(dir + "/dir", mkdir((dir + "/dir").c_str(), 0777));
  made(dir + "/sticky-dir", mkdir((dir + "/sticky-dir").c_str(), 01777));
  made(dir + "/file", CreateFile(dir + "/file", 0666));
  made(dir + "/private", CreateFile(dir + "/private", 0620));
  made(dir + "/setuid", CreateFile(dir + "/setuid", 04755));
  made(dir + "/setgid", CreateFile(dir + "/setgid", 02775));
  made(dir + "/fifo", mkfifo((dir + "/fifo").c_str(), 0666));
  made(dir + "/setuid-fifo", mkfifo((dir + "/setuid-fifo").c_str(), 04777));
  made(dir + "/mknod-file", mknod((dir + "/mknod-file").c_str(), S_IFREG | 0666, 0));
  made(dir + "/link", symlink("file", (dir + "/link").c_str()));
  return out;
}

enum class Daemon { kRoot, kCsiCapabilities };

// What freshfs-csi leaves a directory volume's process (docs/csi.md).
constexpr char kCsiBoundingSet[] =
    "--bounding-set=-all,+dac_override,+dac_read_search,+chown,+fowner,+fsetid,+mknod";

std::string DaemonName(const ::testing::TestParamInfo<Daemon>& info) {
  return info.param == Daemon::kRoot ? "RootDaemon" : "CsiCapabilities";
}

class PosixTest : public ::testing::TestWithParam<Daemon> {
 protected:
  void SetUp() override {
    // Other users must reach the mountpoint and the plain directory
    // (mkdtemp makes the test directories 0700).
    ASSERT_EQ(chmod(TestRoot().c_str(), 0711), 0);
    ASSERT_EQ(chmod(m_.dir().c_str(), 0711), 0);
    MakeTree(m_.plain());
    MakeTree(m_.source());
  }

  // Mounts the source for every user (--allow-other), with `extra` options.
  ::testing::AssertionResult StartMount(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), "--allow-other");
    if (GetParam() == Daemon::kRoot) return m_.Start(extra);
    // What freshfs-csi starts for a directory volume: root with these six
    // capabilities and no others, no new privileges, on its own mount.
    supervisor_ = std::make_unique<Supervisor>(m_);
    std::vector<std::string> argv = {"setpriv", kCsiBoundingSet, "--inh-caps=-all",
                                     "--no-new-privs", "--"};
    argv.insert(argv.end(), {MountBinary(), "-f", "--ready-fd", supervisor_->ReadyFd()});
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(m_.source());
    if (auto started = supervisor_->Start(argv); !started) return started;
    const std::string ready = supervisor_->ReadyReport();
    if (!ready.starts_with("READY "))
      return ::testing::AssertionFailure() << "\"" << ready << "\"\n" << supervisor_->Log();
    // Those six and no others, in the kernel's words.
    const std::string status =
        ReadFileOrEmpty("/proc/" + std::to_string(supervisor_->pid()) + "/status");
    if (status.find("\nCapEff:\t000000000800001f\n") == std::string::npos)
      return ::testing::AssertionFailure() << "not the six capabilities:\n" << status;
    return ::testing::AssertionSuccess();
  }

  // Runs `calls` as `who`, on the plain directory and through the mount:
  // both must tell the same.
  ::testing::AssertionResult SameForUser(
      const Identity& who, const std::function<std::string(const std::string&)>& calls) {
    const std::string plain = RunAs(who, [&] { return calls(m_.plain()); });
    const std::string mounted = RunAs(who, [&] { return calls(m_.mnt()); });
    if (plain == mounted) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "on a plain directory:\n"
                                         << plain << "through the mount:\n"
                                         << mounted;
  }

  // What the mount shows of the entries of `rel` is what the source holds.
  void ExpectSourceHoldsWhatTheMountShows(const std::string& rel) {
    for (const std::string& name : SortedNames(ListDir(m_.Src(rel)))) {
      EXPECT_EQ(Describe(m_.Mnt(rel + "/" + name)), Describe(m_.Src(rel + "/" + name)))
          << rel << "/" << name;
    }
  }

  Mount m_;
  std::unique_ptr<Supervisor> supervisor_;  // the caller-made mount (kCsiCapabilities)
};

// A daemon's umask of 022 used to apply on top of the caller's: umask 002 for
// a group-writable shared directory, or 0, gave 0755 directories and 0644
// files through the mount.
TEST_P(PosixTest, NewEntriesHaveTheModesTheCallersUmaskGives) {
  ASSERT_TRUE(StartMount());
  for (mode_t umask : {0000, 0002, 0022, 0027, 0077}) {
    const std::string dir = "own/umask-" + Octal(umask);
    EXPECT_TRUE(
        SameForUser(WithUmask(kUser, umask),
                    [&](const std::string& base) { return MakeOneOfEach(base + "/" + dir); }))
        << "umask " << Octal(umask);
    ExpectSourceHoldsWhatTheMountShows(dir);
  }
}

// The default ACL of a directory replaces the umask (acl(5)): the kernel
// hands the umask over unapplied and the source decides, as it does for a
// local caller.
TEST_P(PosixTest, ADefaultAclOfTheDirectoryReplacesTheUmask) {
  // system.posix_acl_default: version 2, then (tag, permissions, id) for the
  // owner rwx, the group rwx, others r-x.
  struct [[gnu::packed]] Entry {
    uint16_t tag, perm;
    uint32_t id;
  };
  struct [[gnu::packed]] {
    uint32_t version = 2;
    Entry entries[3] = {{0x01, 7, ~0u}, {0x04, 7, ~0u}, {0x20, 5, ~0u}};
  } acl;
  for (const std::string& base : {m_.plain(), m_.source()}) {
    if (setxattr((base + "/own").c_str(), "system.posix_acl_default", &acl, sizeof acl, 0) != 0)
      GTEST_SKIP() << "no POSIX ACLs here: " << ErrnoName(errno);
  }
  ASSERT_TRUE(StartMount());
  EXPECT_TRUE(SameForUser(WithUmask(kUser, 077), [](const std::string& base) {
    return MakeOneOfEach(base + "/own/acl");
  }));
  ExpectSourceHoldsWhatTheMountShows("own/acl");
  EXPECT_EQ(Describe(m_.Mnt("own/acl/file")), "mode 0100664 4321:4321");
}

// New entries belong to the calling user and its group, or the directory's
// group in a set-group-ID directory; set-user-ID and set-group-ID bits the
// caller may set stay (the daemon used to create as root and chown, which
// cleared them).
TEST_P(PosixTest, NewEntriesBelongToTheCallerAndKeepTheSetIdBitsItGave) {
  ASSERT_TRUE(StartMount());
  struct Case {
    Identity who;
    std::string dir;
  };
  for (const Case& c :
       {Case{kUser, "own/made"}, Case{kUser, "team/made"}, Case{kUser, "strangers/made"},
        Case{kOther, "open/made-by-other"}, Case{WithUmask(kRootUser, 0), "open/made-by-root"},
        Case{WithUmask(kRootUser, 0), "team/made-by-root"}}) {
    EXPECT_TRUE(SameForUser(c.who, [&](const std::string& base) {
      return MakeOneOfEach(base + "/" + c.dir);
    })) << c.dir;
    ExpectSourceHoldsWhatTheMountShows(c.dir);
  }
  EXPECT_EQ(Describe(m_.Mnt("own/made/setuid")), "mode 0104755 4321:4321");
  EXPECT_EQ(Describe(m_.Mnt("team/made/setgid")), "mode 0102755 4321:4322");
}

// A write or a truncation by a user without CAP_FSETID clears the
// set-user-ID bit, and the set-group-ID bit of a group-executable file.
// open(O_TRUNC) (`echo > file`) kept them: the kernel truncated in the open
// and skipped its own clearing, and the daemon truncates with CAP_FSETID.
TEST_P(PosixTest, WritesAndTruncationsByOtherUsersClearSetIdBits) {
  const std::vector<std::string> ways = {"write", "open-truncate", "truncate", "ftruncate",
                                         "fallocate"};
  const std::vector<mode_t> modes = {04777, 02777, 06777, 04755};
  auto name = [](const std::string& who, const std::string& way, mode_t mode) {
    return "open/" + who + "-" + way + "-" + Octal(mode);
  };
  for (const std::string& base : {m_.plain(), m_.source()})
    for (const char* who : {"user", "owner", "root"})
      for (const std::string& way : ways)
        for (mode_t mode : modes)
          MakeFile(base + "/" + name(who, way, mode), mode, kOther.uid, kOther.gid);
  ASSERT_TRUE(StartMount());
  auto each_way = [&](const std::string& who) {
    return [&, who](const std::string& base) {
      std::string out;
      for (const std::string& way : ways) {
        for (mode_t mode : modes) {
          const std::string path = base + "/" + name(who, way, mode);
          long rc = -1;
          if (way == "truncate") {
            rc = truncate(path.c_str(), 1);
          } else {
            int fd = open(path.c_str(), way == "open-truncate" ? O_WRONLY | O_TRUNC : O_WRONLY);
            rc = fd;
            if (fd >= 0 && way == "write") rc = write(fd, "w", 1);
            if (fd >= 0 && way == "ftruncate") rc = ftruncate(fd, 2);
            if (fd >= 0 && way == "fallocate") {
              errno = posix_fallocate(fd, 0, 8192);
              rc = errno == 0 ? 0 : -1;
            }
            if (fd >= 0) close(fd);
          }
          const std::string outcome = Outcome(rc);
          out += name(who, way, mode) + ": " + outcome + " " + Describe(path) + "\n";
        }
      }
      return out;
    };
  };
  EXPECT_TRUE(SameForUser(kUser, each_way("user")));
  EXPECT_TRUE(SameForUser(kOther, each_way("owner")));
  EXPECT_TRUE(SameForUser(kRootUser, each_way("root")));  // CAP_FSETID: the bits stay
  ExpectSourceHoldsWhatTheMountShows("open");
  EXPECT_EQ(Describe(m_.Mnt(name("user", "open-truncate", 06777))), "mode 0100777 4331:4331");
  EXPECT_EQ(Describe(m_.Mnt(name("root", "open-truncate", 06777))), "mode 0106777 4331:4331");
}

// A file replaced at the source behind the kernel's cached entry is opened
// past the page cache (FOPEN_DIRECT_IO, docs/freshness.md): for such writes
// the kernel clears nothing itself and leaves it to the filesystem.
TEST_P(PosixTest, AWriteThatBypassesThePageCacheClearsSetIdBitsToo) {
  for (const std::string& base : {m_.plain(), m_.source()})
    MakeFile(base + "/open/replaced", 0777, kOther.uid, kOther.gid);
  // No change source but a poll an hour away: the kernel keeps its entry.
  ASSERT_TRUE(StartMount({"--events", "none", "--poll-interval", "1h"}));
  ASSERT_EQ(RunAs(kUser, [&] { return Describe(m_.Mnt("open/replaced")); }),
            "mode 0100777 4331:4331");
  for (const std::string& base : {m_.plain(), m_.source()}) {
    MakeFile(base + "/open/replacement", 06777, kOther.uid, kOther.gid);
    ASSERT_EQ(rename((base + "/open/replacement").c_str(), (base + "/open/replaced").c_str()), 0);
  }
  EXPECT_TRUE(SameForUser(kUser, [](const std::string& base) {
    const std::string path = base + "/open/replaced";
    int fd = open(path.c_str(), O_WRONLY);
    const std::string outcome = Outcome(fd < 0 ? -1 : write(fd, "w", 1));
    if (fd >= 0) close(fd);
    return outcome + " " + Describe(path) + " " + ReadFile(path).value_or("?");
  }));
  EXPECT_EQ(Describe(m_.Src("open/replaced")), "mode 0100777 4331:4331");
}

// Unprivileged renames across directories, of files and directories, fail
// as on the source filesystem, and succeed where it succeeds.
TEST_P(PosixTest, RenamesByAUserGiveTheSourcesOutcomes) {
  // Each case in a tree of its own: mine/ is the user's, open/ anybody's,
  // sticky/ a sticky directory, closed/ root's.
  auto make_case_tree = [](const std::string& dir) {
    MakeDir(dir, 0777, 0, 0);
    MakeDir(dir + "/mine", 0755, kUser.uid, kUser.gid);
    MakeFile(dir + "/mine/f", 0644, kUser.uid, kUser.gid);
    MakeDir(dir + "/mine/roots-dir", 0755, 0, 0);
    MakeDir(dir + "/mine/my-dir", 0755, kUser.uid, kUser.gid);
    MakeDir(dir + "/mine/my-read-only-dir", 0555, kUser.uid, kUser.gid);
    MakeDir(dir + "/mine/a", 0755, kUser.uid, kUser.gid);
    MakeDir(dir + "/mine/a/sub", 0755, kUser.uid, kUser.gid);
    MakeDir(dir + "/open", 0777, 0, 0);
    MakeDir(dir + "/open/full", 0755, 0, 0);
    MakeFile(dir + "/open/full/x", 0644, 0, 0);
    MakeDir(dir + "/open/empty", 0755, 0, 0);
    MakeDir(dir + "/sticky", 01777, 0, 0);
    MakeFile(dir + "/sticky/others-file", 0666, kOther.uid, kOther.gid);
    MakeFile(dir + "/sticky/my-file", 0666, kUser.uid, kUser.gid);
    MakeDir(dir + "/sticky/others-dir", 0777, kOther.uid, kOther.gid);
    MakeDir(dir + "/closed", 0755, 0, 0);
    MakeFile(dir + "/closed/f", 0644, 0, 0);
  };
  struct Case {
    std::string name, from, to;
    unsigned flags = 0;
  };
  const std::vector<Case> cases = {
      {"file to another directory", "mine/f", "open/f"},
      {"root's directory to another directory", "mine/roots-dir", "open/d"},
      {"root's directory within its directory", "mine/roots-dir", "mine/renamed"},
      {"own read-only directory to another directory", "mine/my-read-only-dir", "open/d"},
      {"own directory to another directory", "mine/my-dir", "open/d"},
      {"another's file out of a sticky directory", "sticky/others-file", "open/f"},
      {"own file over another's in a sticky directory", "sticky/my-file", "sticky/others-file"},
      {"another's directory out of a sticky directory", "sticky/others-dir", "open/d"},
      {"into a directory without write access", "open/empty", "closed/empty"},
      {"out of a directory without write access", "closed/f", "open/f"},
      {"directory over a non-empty one", "mine/a", "open/full"},
      {"directory over root's empty one", "mine/a", "open/empty"},
      {"directory into itself", "mine/a", "mine/a/sub/a"},
      {"exchange with root's directory elsewhere", "mine/my-dir", "open/empty", RENAME_EXCHANGE},
      {"no-replace onto a taken name", "mine/my-dir", "open/full", RENAME_NOREPLACE},
      {"exchange with a missing name", "mine/my-dir", "open/missing", RENAME_EXCHANGE},
      {"whiteout of a file to another directory", "mine/f", "open/f", RENAME_WHITEOUT},
  };
  for (size_t i = 0; i < cases.size(); ++i)
    for (const std::string& base : {m_.plain(), m_.source()})
      make_case_tree(base + "/case" + std::to_string(i));
  ASSERT_TRUE(StartMount());
  EXPECT_TRUE(SameForUser(kUser, [&](const std::string& base) {
    std::string out;
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      const std::string dir = base + "/case" + std::to_string(i) + "/";
      const std::string outcome = Outcome(Renameat2(dir + c.from, dir + c.to, c.flags));
      out += c.name + ": " + outcome + "; from: " + Describe(dir + c.from) +
             "; to: " + Describe(dir + c.to) + "\n";
    }
    return out;
  }));
}

// A name the kernel took for free (a negative entry from before another user
// created it) reaches the daemon as a CREATE: that is an open of someone
// else's file, checked as one. The daemon used to open it as root and chown
// it to the caller.
TEST_P(PosixTest, AnOCreatOpenOfANameAnotherUserJustMadeIsAnOrdinaryOpen) {
  // No change source but a poll an hour away: the kernel keeps what it knows.
  ASSERT_TRUE(StartMount({"--events", "none", "--poll-interval", "1h"}));
  for (const char* name : {"theirs", "shared", "taken"})
    EXPECT_EQ(RunAs(kUser, [&] { return Describe(m_.Mnt("open/" + std::string(name))); }),
              "ENOENT");
  for (const std::string& base : {m_.plain(), m_.source()}) {
    MakeFile(base + "/open/theirs", 0600, kOther.uid, kOther.gid);
    MakeFile(base + "/open/shared", 0666, kOther.uid, kOther.gid);
    MakeFile(base + "/open/taken", 0666, kOther.uid, kOther.gid);
  }
  EXPECT_TRUE(SameForUser(kUser, [](const std::string& base) {
    std::string out;
    auto open_with = [&](const std::string& name, int flags) {
      const std::string path = base + "/open/" + name;
      int fd = open(path.c_str(), flags | O_CLOEXEC, 0644);
      out += name + ": " + Outcome(fd);
      if (fd >= 0) close(fd);
      out += " " + Describe(path) + " \"" + ReadFile(path).value_or("?") + "\"\n";
    };
    open_with("theirs", O_CREAT | O_WRONLY);
    open_with("shared", O_CREAT | O_WRONLY | O_TRUNC);
    open_with("taken", O_CREAT | O_EXCL | O_WRONLY);
    return out;
  }));
  EXPECT_EQ(Describe(m_.Src("open/theirs")), "mode 0100600 4331:4331");
  EXPECT_EQ(ReadFile(m_.Src("open/theirs")), "content");
  EXPECT_EQ(Describe(m_.Src("open/shared")), "mode 0100666 4331:4331");
}

INSTANTIATE_TEST_SUITE_P(Daemons, PosixTest,
                         ::testing::Values(Daemon::kRoot, Daemon::kCsiCapabilities), DaemonName);

// S3 keeps no owners or modes: every entry shows the volume's (--uid, --gid,
// --file-mode, --dir-mode), a new one too, from its create on, whoever made
// it and whatever the umask (docs/s3.md).
class S3PosixTest : public S3MountedTest {};

TEST_F(S3PosixTest, NewEntriesShowTheVolumesOwnerAndModesWhoeverMadeThem) {
  ASSERT_EQ(chmod(TestRoot().c_str(), 0711), 0);
  ASSERT_EQ(chmod(m_.dir().c_str(), 0711), 0);
  ASSERT_TRUE(StartMount({"--allow-other", "--uid", "4321", "--gid", "4322", "--file-mode", "0664",
                          "--dir-mode", "0777"}));
  for (const Identity& who : {WithUmask(kUser, 0), kOther}) {
    const std::string dir = m_.Mnt("by-" + std::to_string(who.uid));
    EXPECT_EQ(RunAs(who,
                    [&] {
                      std::string out = "mkdir: " + Outcome(mkdir(dir.c_str(), 0700));
                      out += " " + Describe(dir) + "\n";
                      int fd = open((dir + "/f").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0620);
                      struct stat open_st {};
                      out += "open: " + Outcome(fd);
                      if (fd >= 0 && fstat(fd, &open_st) == 0) {
                        out += " mode " + Octal(open_st.st_mode) + " " +
                               std::to_string(open_st.st_uid) + ":" +
                               std::to_string(open_st.st_gid);
                      }
                      if (fd >= 0 && (write(fd, "data", 4) != 4 || close(fd) != 0))
                        out += " (write failed)";
                      return out + "\nclosed: " + Describe(dir + "/f") + "\n";
                    }),
              "mkdir: ok mode 040777 4321:4322\n"
              "open: ok mode 0100664 4321:4322\n"
              "closed: mode 0100664 4321:4322\n")
        << who.uid;
  }
  EXPECT_EQ(Keys(), (std::set<std::string>{"by-4321/", "by-4321/f", "by-4331/", "by-4331/f"}));
}

}  // namespace
}  // namespace freshfs::testing
