// S3 sources on real mounts against a real S3 server (s3rver), with the real
// aws CLI as the other writer: file operations checked against what S3
// holds, other writers' changes by polling and by pushed events, write
// conflicts, an outage, mount-time errors, keys that cannot be names.
// Larger data sets (10,000 objects, a 1 GiB object) are in s3_scale_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <linux/fs.h>
#include <thread>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/fs_util.h"
#include "support/http_client.h"
#include "support/mount.h"
#include "support/s3_mount.h"
#include "support/s3rver.h"

namespace freshfs::testing {
namespace {

using Ms = std::chrono::milliseconds;

class S3MountTest : public S3MountedTest {
 protected:
  // The files the log says failed uploads were kept in, in log order.
  std::vector<std::string> KeptFiles() {
    std::vector<std::string> kept;
    const std::string log = m_.Log();
    const std::string marker = "the data is kept in \"";
    for (size_t at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1)) {
      const size_t start = at + marker.size();
      kept.push_back(log.substr(start, log.find('"', start) - start));
    }
    return kept;
  }
};

TEST_F(S3MountTest, FileOperationsMatchWhatAwsSees) {
  ASSERT_TRUE(StartMount());
  // Create and write: S3 has the object once the file is closed.
  ASSERT_EQ(WriteFile(m_.Mnt("a.txt"), "hello"), 0);
  EXPECT_EQ(Get("a.txt"), "hello");
  // Append.
  {
    int fd = open(m_.Mnt("a.txt").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(write(fd, " world", 6), 6);
    ASSERT_EQ(close(fd), 0) << strerror(errno);
  }
  EXPECT_EQ(Get("a.txt"), "hello world");
  // A write in the middle.
  {
    int fd = open(m_.Mnt("a.txt").c_str(), O_RDWR);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(pwrite(fd, "J", 1, 0), 1);
    ASSERT_EQ(close(fd), 0) << strerror(errno);
  }
  EXPECT_EQ(Get("a.txt"), "Jello world");
  // truncate(2) on a path.
  ASSERT_EQ(truncate(m_.Mnt("a.txt").c_str(), 4), 0) << strerror(errno);
  EXPECT_EQ(Get("a.txt"), "Jell");
  EXPECT_EQ(ReadFile(m_.Mnt("a.txt")), "Jell");

  // Directories: a marker object for an empty one.
  ASSERT_EQ(mkdir(m_.Mnt("d").c_str(), 0755), 0) << strerror(errno);
  EXPECT_EQ(Keys(), (std::set<std::string>{"a.txt", "d/"}));
  ASSERT_EQ(WriteFile(m_.Mnt("d/f"), "in d"), 0);
  ASSERT_EQ(rename(m_.Mnt("d/f").c_str(), m_.Mnt("d/g").c_str()), 0) << strerror(errno);
  EXPECT_EQ(Keys(), (std::set<std::string>{"a.txt", "d/", "d/g"}));
  ASSERT_EQ(rename(m_.Mnt("d").c_str(), m_.Mnt("e").c_str()), 0) << strerror(errno);
  EXPECT_EQ(Keys(), (std::set<std::string>{"a.txt", "e/", "e/g"}));
  EXPECT_EQ(Get("e/g"), "in d");
  EXPECT_EQ(SortedNames(ListDir(m_.mnt())), (std::vector<std::string>{"a.txt", "e"}));
  // Removing the last file keeps the directory, as on a local filesystem.
  ASSERT_EQ(unlink(m_.Mnt("e/g").c_str()), 0) << strerror(errno);
  EXPECT_TRUE(Stat(m_.Mnt("e")).has_value());
  EXPECT_EQ(Keys(), (std::set<std::string>{"a.txt", "e/"}));
  EXPECT_TRUE(FailsWith(rmdir(m_.Mnt("nope").c_str()), ENOENT));
  ASSERT_EQ(rmdir(m_.Mnt("e").c_str()), 0) << strerror(errno);
  EXPECT_EQ(Keys(), (std::set<std::string>{"a.txt"}));

  // rmdir of a non-empty directory, rename onto a non-empty one.
  ASSERT_EQ(mkdir(m_.Mnt("x").c_str(), 0755), 0);
  ASSERT_EQ(WriteFile(m_.Mnt("x/1"), "1"), 0);
  EXPECT_TRUE(FailsWith(rmdir(m_.Mnt("x").c_str()), ENOTEMPTY));
  EXPECT_TRUE(FailsWith(Renameat2(m_.Mnt("a.txt"), m_.Mnt("x/1"), RENAME_NOREPLACE), EEXIST));

  // What S3 cannot hold is refused, not faked.
  EXPECT_TRUE(FailsWith(symlink("a.txt", m_.Mnt("link").c_str()), EPERM));
  EXPECT_TRUE(FailsWith(chmod(m_.Mnt("a.txt").c_str(), 0600), EPERM));
  EXPECT_TRUE(FailsWith(link(m_.Mnt("a.txt").c_str(), m_.Mnt("hard").c_str()), EPERM));
  EXPECT_EQ(Keys(), (std::set<std::string>{"a.txt", "x/", "x/1"}));
}

TEST_F(S3MountTest, OwnWritesAreNotReportedAsRemoteChanges) {
  ASSERT_TRUE(StartMount());
  ASSERT_EQ(WriteFile(m_.Mnt("mine.txt"), "v1"), 0);
  ASSERT_EQ(WriteFile(m_.Mnt("mine.txt"), "v2 longer"), 0);
  ASSERT_EQ(mkdir(m_.Mnt("dir").c_str(), 0755), 0);
  std::this_thread::sleep_for(Ms(2500));  // two syncs
  auto scrape = Scrape();
  ASSERT_TRUE(scrape);
  EXPECT_EQ(MetricSum(*scrape, "freshfs_remote_changes_total").value_or(-1), 0) << *scrape;
}

TEST_F(S3MountTest, OtherWritersChangesShowWithinThePollBound) {
  Put("same.txt", "version-1");
  Put("gone.txt", "bye");
  ASSERT_TRUE(StartMount());
  ASSERT_EQ(ReadFile(m_.Mnt("same.txt")), "version-1");
  ASSERT_TRUE(Stat(m_.Mnt("gone.txt")));
  ASSERT_FALSE(Stat(m_.Mnt("fresh")));  // a cached "no such file"

  // Same size, new content: only the ETag tells.
  Put("same.txt", "version-2");
  ASSERT_TRUE(s3_.Aws({"s3", "rm", "s3://test/gone.txt"}).exit_code == 0);
  Put("fresh/deeper/new.txt", "new");
  const Ms bound = Ms(1000) + Ms(2000);  // poll interval + a sync on a loaded machine
  auto changed = WaitFor([&] { return ReadFile(m_.Mnt("same.txt")) == "version-2"; }, Ms(10000));
  ASSERT_TRUE(changed) << m_.LogTail();
  EXPECT_LE(changed->count(), bound.count());
  EXPECT_TRUE(WaitFor([&] { return !Stat(m_.Mnt("gone.txt")); }, bound));
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("fresh/deeper/new.txt")) == "new"; }, bound));
  EXPECT_EQ(SortedNames(ListDir(m_.mnt())), (std::vector<std::string>{"fresh", "same.txt"}));
}

TEST_F(S3MountTest, RevalidateOnOpenCostsOneHeadAndSeesTheNewVersion) {
  Put("doc.txt", "first");
  ASSERT_TRUE(
      StartMount({"--poll-interval", "1h", "--full-sync-interval", "0", "--revalidate-on-open"}));
  ASSERT_EQ(ReadFile(m_.Mnt("doc.txt")), "first");
  Put("doc.txt", "second");
  EXPECT_EQ(ReadFile(m_.Mnt("doc.txt")), "second");  // no sync for an hour: the open checked
  auto scrape = Scrape();
  ASSERT_TRUE(scrape);
  // One HEAD per open; the lookup (no listing of the root: the mount
  // lists nothing) is one listing of the name.
  EXPECT_EQ(MetricSum(*scrape, "freshfs_s3_requests_total", {{"op", "head"}}), 2) << *scrape;
  EXPECT_EQ(MetricSum(*scrape, "freshfs_s3_requests_total", {{"op", "list"}}), 2)
      << "the bucket check and the lookup";
}

TEST_F(S3MountTest, MetricsOfAnS3MountPassPromtool) {
  if (access("/usr/bin/promtool", X_OK) != 0)
    GTEST_FAIL() << "promtool missing (scripts/deps.sh installs prometheus)";
  Put("a.txt", "a");
  ASSERT_TRUE(StartMount());
  ASSERT_EQ(ReadFile(m_.Mnt("a.txt")), "a");
  auto scrape = Scrape();
  ASSERT_TRUE(scrape);
  for (const char* family : {"freshfs_s3_requests_total", "freshfs_s3_skipped_keys",
                             "freshfs_store_requests_total", "freshfs_staleness_seconds"})
    EXPECT_NE(scrape->find(family), std::string::npos) << family;
  const std::string file = m_.dir() + "/scrape.txt";
  ASSERT_EQ(WriteFile(file, *scrape), 0);
  auto check = RunToCompletion({"/bin/sh", "-c", "promtool check metrics < " + file});
  EXPECT_EQ(check.exit_code, 0) << check.Describe();
  EXPECT_EQ(check.stdout_text + check.stderr_text, "") << "promtool found problems";
}

class S3EventsTest : public S3MountedTest {};

TEST_F(S3EventsTest, PostedEventsShowChangesAtOnceAndBadBodiesChangeNothing) {
  Put("doc.txt", "old!");
  // An hour between syncs: only the event can explain a quick change.
  ASSERT_TRUE(StartMount({"--poll-interval", "1h", "--events-address", "127.0.0.1:0"}));
  auto port = m_.EventsPort();
  ASSERT_TRUE(port) << m_.LogTail();
  const std::string url = "http://127.0.0.1:" + std::to_string(*port) + "/";
  ASSERT_EQ(ReadFile(m_.Mnt("doc.txt")), "old!");
  ASSERT_FALSE(Stat(m_.Mnt("later")));
  // Held open so that the kernel keeps its inode: under memory pressure it
  // may otherwise forget it, and a fresh lookup and open read what S3 holds
  // now, event or not.
  const int held = ::open(m_.Mnt("doc.txt").c_str(), O_RDONLY);
  ASSERT_GE(held, 0);

  Put("doc.txt", "new!");
  Put("later/file name.txt", "x");
  std::this_thread::sleep_for(Ms(1000));
  EXPECT_EQ(ReadFile(m_.Mnt("doc.txt")), "old!") << "cached until told";

  // Malformed and oversized bodies: 400 and 413, nothing changes.
  EXPECT_EQ(HttpRequest("POST", url, "{\"Records\": [").status, 400);
  EXPECT_EQ(HttpRequest("POST", url, std::string(2 << 20, ' ')).status, 413);
  std::this_thread::sleep_for(Ms(300));
  EXPECT_EQ(ReadFile(m_.Mnt("doc.txt")), "old!");

  auto event = [](const std::string& name, const std::string& key) {
    return "{\"eventName\":\"" + name +
           "\",\"s3\":{\"bucket\":{\"name\":\"test\"},"
           "\"object\":{\"key\":\"" +
           key + "\"}}}";
  };
  const std::string body = "{\"Records\":[" + event("s3:ObjectCreated:Put", "doc.txt") + "," +
                           event("s3:ObjectCreated:Put", "later/file+name.txt") + "]}";
  ::close(held);
  auto posted = HttpRequest("POST", url, body);
  ASSERT_EQ(posted.status, 200) << posted.body;
  auto seen = WaitFor([&] { return ReadFile(m_.Mnt("doc.txt")) == "new!"; }, Ms(5000));
  ASSERT_TRUE(seen) << m_.LogTail();
  EXPECT_LE(seen->count(), 1000);
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("later/file name.txt")) == "x"; }, Ms(1000)));

  ASSERT_EQ(s3_.Aws({"s3", "rm", "s3://test/doc.txt"}).exit_code, 0);
  ASSERT_EQ(
      HttpRequest("POST", url, "{\"Records\":[" + event("ObjectRemoved:Delete", "doc.txt") + "]}")
          .status,
      200);
  EXPECT_TRUE(WaitFor([&] { return !Stat(m_.Mnt("doc.txt")); }, Ms(1000)));
  auto scrape = Scrape();
  ASSERT_TRUE(scrape);
  EXPECT_EQ(MetricSum(*scrape, "freshfs_events_received_total", {{"result", "applied"}}), 3);
}

TEST_F(S3MountTest, ConflictingUploadKeepsBothAndFailsClose) {
  Put("shared.txt", "original");
  ASSERT_TRUE(StartMount());
  int fd = open(m_.Mnt("shared.txt").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0) << strerror(errno);
  // Someone else writes while we have it open (the aws child inherits no
  // descriptor: O_CLOEXEC is not set, but nothing is written yet either).
  Put("shared.txt", "theirs");
  ASSERT_EQ(write(fd, " + ours", 7), 7);
  errno = 0;
  EXPECT_EQ(close(fd), -1);
  EXPECT_EQ(errno, ESTALE);
  EXPECT_EQ(Get("shared.txt"), "theirs");
  std::string conflict;
  for (const std::string& key : Keys())
    if (key.rfind("shared.conflict-", 0) == 0 && key.size() > 4 &&
        key.substr(key.size() - 4) == ".txt")
      conflict = key;
  ASSERT_FALSE(conflict.empty()) << "no conflict copy in " << ::testing::PrintToString(Keys());
  EXPECT_EQ(Get(conflict), "original + ours");
  EXPECT_NE(m_.Log().find("saved as " + conflict), std::string::npos) << m_.LogTail();
}

TEST_F(S3MountTest, OverwritePolicyIsLastWriterWins) {
  Put("shared.txt", "original");
  ASSERT_TRUE(StartMount({"--conflict", "overwrite"}));
  int fd = open(m_.Mnt("shared.txt").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0) << strerror(errno);
  Put("shared.txt", "theirs");
  ASSERT_EQ(write(fd, "ours", 4), 4);
  EXPECT_EQ(close(fd), 0) << strerror(errno);
  EXPECT_EQ(Get("shared.txt"), "ours");
  EXPECT_EQ(Keys(), (std::set<std::string>{"shared.txt"}));
}

TEST_F(S3MountTest, FailedUploadKeepsTheDataLocally) {
  ASSERT_TRUE(StartMount());
  int fd = open(m_.Mnt("precious.txt").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(write(fd, "do not lose me", 14), 14);
  s3_.Stop();
  errno = 0;
  EXPECT_EQ(close(fd), -1);
  EXPECT_EQ(errno, EIO);
  // The log names the file that holds the data.
  const auto kept = KeptFiles();
  ASSERT_EQ(kept.size(), 1u) << m_.LogTail();
  EXPECT_EQ(ReadFile(kept[0]), "do not lose me") << kept[0];
  ASSERT_TRUE(s3_.Start());
}

// Failures in the same second whose keys read the same once '/' is '%', and
// a key too long for a file name: every one is kept in a file of its own,
// named in the log, the whole key beside a name that had to be cut.
TEST_F(S3MountTest, FailedUploadsNeverOverwriteEachOtherAndAlwaysFit) {
  ASSERT_TRUE(StartMount());
  const std::string deep = std::string(120, 'd') + "/" + std::string(120, 'e');
  ASSERT_EQ(::mkdir(m_.Mnt("a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(m_.Mnt(std::string(120, 'd')).c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(m_.Mnt(deep).c_str(), 0755), 0);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"a/b", "first"}, {"a%b", "second"}, {deep + "/" + std::string(100, 'f'), "third"}};
  std::vector<int> fds;
  for (const auto& [name, data] : files) {
    const int fd = ::open(m_.Mnt(name).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << name << ": " << strerror(errno);
    ASSERT_EQ(::write(fd, data.data(), data.size()), ssize_t(data.size()));
    fds.push_back(fd);
  }
  s3_.Stop();
  for (int fd : fds) EXPECT_EQ(::close(fd), -1);
  const auto kept = KeptFiles();
  ASSERT_EQ(kept.size(), 3u) << m_.LogTail();
  std::set<std::string> contents;
  for (const std::string& path : kept) {
    contents.insert(ReadFile(path).value_or("?"));
    EXPECT_LE(std::filesystem::path(path).filename().string().size(), 255u) << path;
  }
  EXPECT_EQ(contents, (std::set<std::string>{"first", "second", "third"}));
  // The cut name has the whole key beside it.
  const std::string long_key = deep + "/" + std::string(100, 'f');
  bool noted = false;
  for (const std::string& path : kept)
    if (ReadFile(path + ".key") == long_key + "\n") noted = true;
  EXPECT_TRUE(noted) << m_.LogTail();
  ASSERT_TRUE(s3_.Start());
}

TEST_F(S3MountTest, OutageServesCachedDataFailsUncachedReadsAndRecovers) {
  Put("cached.txt", "cached data");
  Put("uncached.txt", "never read before the outage");
  ASSERT_TRUE(StartMount());
  ASSERT_EQ(ReadFile(m_.Mnt("cached.txt")), "cached data");
  ASSERT_TRUE(Stat(m_.Mnt("uncached.txt")));

  s3_.Stop();
  EXPECT_EQ(ReadFile(m_.Mnt("cached.txt")), "cached data");
  const auto start = std::chrono::steady_clock::now();
  errno = 0;
  EXPECT_FALSE(ReadFile(m_.Mnt("uncached.txt")));
  EXPECT_EQ(errno, EIO);
  // Connection refused fails fast; the documented worst case (a server that
  // accepts and hangs) is the stall timeout times the attempts.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  auto stale = WaitFor(
      [&] {
        auto s = Scrape();
        return s && MetricSum(*s, "freshfs_staleness_seconds").value_or(0) > 3;
      },
      Ms(15000), Ms(200));
  EXPECT_TRUE(stale) << "staleness did not grow while S3 was down";

  ASSERT_TRUE(s3_.Start());
  Put("after.txt", "back");
  EXPECT_TRUE(WaitFor([&] { return ReadFile(m_.Mnt("after.txt")) == "back"; }, Ms(15000)))
      << m_.LogTail();
  EXPECT_EQ(ReadFile(m_.Mnt("uncached.txt")), "never read before the outage");
  // A lookup finds a new name on its own (lazily, one request), before any
  // sync has succeeded again: the staleness bound recovers with the next
  // successful sync (1 s polls).
  EXPECT_TRUE(WaitFor(
      [&] {
        auto s = Scrape();
        return s && MetricSum(*s, "freshfs_staleness_seconds").value_or(99) < 3;
      },
      Ms(15000), Ms(200)))
      << "staleness did not recover after S3 came back\n"
      << m_.LogTail();
}

// A request the mount cannot answer is logged once, at the boundary, with
// what the layer below said; a missing name (an application asking again
// and again) is not logged at the default level.
TEST_F(S3MountTest, AFailedRequestIsLoggedOnceWithItsCause) {
  Put("unreachable.txt", "never read before the outage");
  ASSERT_TRUE(StartMount());
  ASSERT_TRUE(Stat(m_.Mnt("unreachable.txt")));
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(Stat(m_.Mnt("missing-" + std::to_string(i))));

  s3_.Stop();
  errno = 0;
  EXPECT_FALSE(ReadFile(m_.Mnt("unreachable.txt")));
  EXPECT_EQ(errno, EIO);

  std::vector<std::string> failures;
  std::istringstream log(m_.Log());
  for (std::string line; std::getline(log, line);) {
    if (line.find("unreachable.txt") != std::string::npos) failures.push_back(line);
    EXPECT_EQ(line.find("missing-"), std::string::npos) << "an ENOENT was logged: " << line;
  }
  ASSERT_EQ(failures.size(), 1u) << m_.LogTail();
  const std::string& line = failures[0];
  EXPECT_NE(line.find(" warning fuse open failed: EIO: network error "), std::string::npos) << line;
  EXPECT_NE(line.find("(GET s3://test/unreachable.txt)"), std::string::npos) << line;
  ASSERT_TRUE(s3_.Start());
}

// s3rver keeps objects as files, so it cannot hold keys with empty, "." or
// ".." components or components over 255 bytes (tests/unit/store/
// s3_tree_test.cc covers those); an object that is also a prefix it can.
TEST_F(S3MountTest, AKeyThatIsAlsoAPrefixShowsAsTheDirectory) {
  PutDirect("good/file.txt", "ok");
  PutDirect("both", "object");
  PutDirect("both/child", "child");
  ASSERT_TRUE(StartMount());
  EXPECT_EQ(SortedNames(ListDir(m_.mnt())), (std::vector<std::string>{"both", "good"}));
  auto both = Stat(m_.Mnt("both"));
  ASSERT_TRUE(both);
  EXPECT_TRUE(S_ISDIR(both->st_mode)) << "a directory wins over an object";
  EXPECT_EQ(ReadFile(m_.Mnt("both/child")), "child");
  auto scrape = Scrape();
  ASSERT_TRUE(scrape);
  EXPECT_EQ(MetricSum(*scrape, "freshfs_s3_skipped_keys"), 1) << *scrape;
  EXPECT_NE(m_.Log().find("s3 key \"both\" is not shown: both an object and a directory"),
            std::string::npos)
      << m_.LogTail();
}

// Keys are remote-controlled: logged quoted, a newline in one cannot start
// a line of its own in the log.
TEST_F(S3MountTest, AKeyCannotForgeALogLine) {
  const std::string forged = "forged\n2026-01-01T00:00:00.000 error everything is on fire";
  PutDirect(forged, "object");
  PutDirect(forged + "/child", "child");  // also a prefix: not shown, so logged
  ASSERT_TRUE(StartMount());
  ASSERT_TRUE(ListDir(m_.mnt()));  // the listing that finds it
  const std::string log = m_.Log();
  EXPECT_NE(log.find("s3 key \"forged\\n2026-01-01T00:00:00.000 error everything is on fire\" "
                     "is not shown"),
            std::string::npos)
      << m_.LogTail();
  EXPECT_EQ(log.find("\n2026-01-01T00:00:00.000 error"), std::string::npos) << m_.LogTail();
}

class S3MountErrorsTest : public S3MountedTest {};

TEST_F(S3MountErrorsTest, MissingBucketAndBadCredentialsFailTheMountClearly) {
  auto missing = RunMount("s3://no-such-bucket", {});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.stderr_text.find("bucket \"no-such-bucket\" does not exist"), std::string::npos)
      << missing.Describe();
  auto denied = RunMount("s3://test", {{"AWS_ACCESS_KEY_ID", "WRONG"}});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.stderr_text.find("denied"), std::string::npos) << denied.Describe();
  auto endpoint = RunMount("s3://test", {}, "http://127.0.0.1:1");
  EXPECT_NE(endpoint.exit_code, 0);
  EXPECT_NE(endpoint.stderr_text.find("cannot reach"), std::string::npos) << endpoint.Describe();
  EXPECT_FALSE(IsFuseMountpoint(m_.mnt()));
}

}  // namespace
}  // namespace freshfs::testing
