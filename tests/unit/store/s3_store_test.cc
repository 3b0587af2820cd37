// S3Store and S3File against an in-memory bucket (fake_object_client.h):
// conflicts, failed uploads, reads and read-ahead, metadata freshness and
// rename by copy, as a user of the Store/File API sees them. The wire is
// tested against s3rver (tests/integration/s3_test.cc).
#include "store/s3_store.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fakes/fake_object_client.h"
#include "support/temp_dir.h"

namespace freshfs::store {
namespace {

using namespace std::chrono_literals;
using freshfs::testing::FakeObjectClient;
using freshfs::testing::S3Op;
namespace stdfs = std::filesystem;

constexpr size_t kBlock = 4096;

// `n` bytes that differ from block to block and within one.
std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char(seed + (i / 7) % 23 + (i / kBlock));
  return s;
}

// A UTC stamp as conflict copies and saved copies carry it, as an
// fnmatch(3) pattern: "20261122T024513Z".
const std::string kStamp = [] {
  std::string digit = "[0-9]", glob;
  for (int i = 0; i < 8; ++i) glob += digit;
  glob += 'T';
  for (int i = 0; i < 6; ++i) glob += digit;
  return glob + 'Z';
}();
const std::string kConflictName = "vol/dir/report.conflict-" + kStamp + ".csv";

class S3StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore(Settings()); }

  S3StoreSettings Settings() const {
    S3StoreSettings s;
    s.prefix = "vol/";
    s.staging_dir = (tmp_.path() / "staging").string();
    s.block_size = kBlock;
    s.readahead_blocks = 4;
    s.metadata_ttl = 1h;  // the tests that need it to run out say so
    return s;
  }

  void OpenStore(S3StoreSettings settings) {
    store_.reset();
    auto client = std::make_unique<FakeObjectClient>();
    client->set_quirks(quirks_);
    s3_ = client.get();
    std::string why;
    auto opened = S3Store::Open(std::move(client), std::move(settings), &why);
    ASSERT_TRUE(opened.ok()) << why;
    store_ = std::move(*opened);
  }

  std::unique_ptr<FileHandle> OpenFile(const std::string& path, int flags) {
    auto f = store_->Open(path, flags);
    EXPECT_TRUE(f.ok()) << path << ": " << f.error().Describe();
    return f.ok() ? std::move(*f) : nullptr;
  }
  std::unique_ptr<FileHandle> CreateFile(const std::string& path) {
    auto f = store_->Create(path, O_WRONLY | O_CREAT, 0644, Caller{});
    EXPECT_TRUE(f.ok()) << path << ": " << f.error().Describe();
    return f.ok() ? std::move(*f) : nullptr;
  }
  static void Write(FileHandle& f, std::string_view data, off_t offset = 0) {
    auto n = f.Write(data.data(), data.size(), offset);
    ASSERT_TRUE(n.ok()) << n.error().Describe();
    ASSERT_EQ(*n, data.size());
  }
  // Read() as the kernel calls it: the result, or "errno N".
  static std::string Read(FileHandle& f, size_t size, off_t offset) {
    std::string buf(size, '\0');
    auto n = f.Read(buf.data(), size, offset);
    if (!n) return "errno " + std::to_string(n.error().code);
    buf.resize(*n);
    return buf;
  }
  std::string Data(const std::string& key) const {
    auto o = s3_->GetObject(key);
    return o ? o->data : "<no object " + key + ">";
  }
  // Keys that match `pattern` (fnmatch(3)).
  std::vector<std::string> KeysMatching(const std::string& pattern) const {
    std::vector<std::string> out;
    for (const std::string& k : s3_->Keys())
      if (::fnmatch(pattern.c_str(), k.c_str(), 0) == 0) out.push_back(k);
    return out;
  }
  // The copies of failed uploads: name -> content.
  std::map<std::string, std::string> Saved() const {
    std::map<std::string, std::string> out;
    const stdfs::path dir = tmp_.path() / "staging" / "failed";
    if (!stdfs::exists(dir)) return out;
    for (const auto& e : stdfs::directory_iterator(dir)) {
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      out[e.path().filename().string()] = ss.str();
    }
    return out;
  }
  std::vector<std::string> Names(std::string_view dir) {
    auto listed = store_->List(dir);
    EXPECT_TRUE(listed.ok()) << listed.error().Describe();
    std::vector<std::string> names;
    if (listed)
      for (const auto& e : *listed) names.push_back(e.name + (e.type == S_IFDIR ? "/" : ""));
    std::sort(names.begin(), names.end());
    return names;
  }
  // `path` opened for reading, its version settled as the filesystem does
  // at open (Pin: the first block, unconditionally).
  std::unique_ptr<FileHandle> OpenPinned(const std::string& path) {
    auto f = OpenFile(path, O_RDONLY);
    if (f) {
      EXPECT_TRUE(f->Pin().ok());
    }
    return f;
  }
  // `path` created here, with `data` written to it.
  std::unique_ptr<FileHandle> CreateWritten(const std::string& path, std::string_view data) {
    auto f = CreateFile(path);
    if (f) Write(*f, data);
    return f;
  }
  // The name of the one saved copy of a failed upload, which holds `data`.
  std::string OneSaved(std::string_view data) const {
    auto saved = Saved();
    EXPECT_EQ(saved.size(), 1u);
    if (saved.empty()) return "";
    EXPECT_EQ(saved.begin()->second, data);
    return saved.begin()->first;
  }
  // dir/report.csv, written "mine" over v1 (truncated), or created new.
  std::unique_ptr<FileHandle> WriteReport(bool create = false) {
    if (!create) s3_->SetObject("vol/dir/report.csv", "v1");
    auto f = create ? CreateFile("dir/report.csv") : OpenFile("dir/report.csv", O_WRONLY | O_TRUNC);
    if (f) Write(*f, "mine");
    return f;
  }
  // After a conflict on dir/report.csv: theirs stays, ours is beside it.
  void ExpectBothKept() const {
    EXPECT_EQ(Data("vol/dir/report.csv"), "theirs");
    auto copies = KeysMatching(kConflictName);
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(Data(copies[0]), "mine");
  }
  // Until `done` or 5 s.
  template <typename F>
  static bool Eventually(F done) {
    for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(10ms);
    return done();
  }

  freshfs::testing::TempDir tmp_{"s3store"};
  FakeObjectClient::Quirks quirks_;
  FakeObjectClient* s3_ = nullptr;  // owned by the store
  std::unique_ptr<S3Store> store_;
};

// --- conflicts -------------------------------------------------------------

TEST_F(S3StoreTest, AnUnchangedObjectIsReplacedWithoutConflict) {
  s3_->SetObject("vol/dir/report.csv", "old");
  auto f = OpenFile("dir/report.csv", O_RDWR);
  ASSERT_TRUE(f);
  Write(*f, "new!");
  EXPECT_TRUE(f->Flush().ok());
  EXPECT_EQ(Data("vol/dir/report.csv"), "new!");
  EXPECT_TRUE(KeysMatching(kConflictName).empty());
  EXPECT_EQ(store_->Stat("dir/report.csv")->st_size, 4);
}

TEST_F(S3StoreTest, KeepBothLeavesTheirVersionAndUploadsOursBesideIt) {
  s3_->SetObject("vol/dir/report.csv", "v1");
  auto f = OpenFile("dir/report.csv", O_RDWR);
  ASSERT_TRUE(f);
  EXPECT_EQ(Read(*f, 10, 0), "v1");  // downloaded when opened for writing
  Write(*f, "mine");
  s3_->SetObject("vol/dir/report.csv", "theirs");
  EXPECT_EQ(f->Flush().error().code, ESTALE);
  ExpectBothKept();
  // Reported once: the next close has nothing new to upload.
  EXPECT_TRUE(f->Flush().ok());
  EXPECT_EQ(KeysMatching(kConflictName).size(), 1u);
}

TEST_F(S3StoreTest, KeepBothCatchesAWriterBetweenTheCheckAndTheUpload) {
  auto f = WriteReport();
  ASSERT_TRUE(f);
  // The HEAD before the upload still sees v1; the PUT's If-Match fails.
  s3_->Inject({.op = S3Op::kPut, .key = "vol/dir/report.csv", .before = [this] {
                 s3_->SetObject("vol/dir/report.csv", "theirs");
               }});
  EXPECT_EQ(f->Flush().error().code, ESTALE);
  ExpectBothKept();
}

TEST_F(S3StoreTest, ANewFileSomeoneElseCreatedMeanwhileIsAConflict) {
  auto f = WriteReport(/*create=*/true);
  ASSERT_TRUE(f);
  s3_->SetObject("vol/dir/report.csv", "theirs");
  EXPECT_EQ(f->Flush().error().code, ESTALE);
  ExpectBothKept();
}

TEST_F(S3StoreTest, ConflictCopiesOfDotFilesAndNamesWithoutExtensionKeepTheWholeName) {
  s3_->SetObject("vol/.env", "a");
  s3_->SetObject("vol/dir/Makefile", "a");
  for (const char* path : {".env", "dir/Makefile"}) {
    auto f = OpenFile(path, O_WRONLY | O_TRUNC);
    ASSERT_TRUE(f);
    Write(*f, "mine");
    s3_->SetObject(std::string("vol/") + path, "theirs");
    EXPECT_EQ(f->Flush().error().code, ESTALE) << path;
  }
  EXPECT_EQ(KeysMatching("vol/.env.conflict-" + kStamp).size(), 1u);
  EXPECT_EQ(KeysMatching("vol/dir/Makefile.conflict-" + kStamp).size(), 1u);
}

TEST_F(S3StoreTest, OverwritePolicyLetsTheLastWriterWin) {
  S3StoreSettings s = Settings();
  s.conflict = ConflictPolicy::kOverwrite;
  OpenStore(s);
  auto f = WriteReport();
  ASSERT_TRUE(f);
  s3_->SetObject("vol/dir/report.csv", "theirs");
  EXPECT_TRUE(f->Flush().ok());
  EXPECT_EQ(Data("vol/dir/report.csv"), "mine");
  EXPECT_TRUE(KeysMatching(kConflictName).empty());
}

// Servers that ignore conditional writes (s3rver; docs/s3.md, "Writes"):
// the HEAD before the upload still catches a change made since the open.
TEST_F(S3StoreTest, AServerIgnoringConditionsStillGetsTheCheckBeforeUpload) {
  quirks_.if_match_on_put = FakeObjectClient::Conditional::kIgnored;
  quirks_.if_none_match_on_put = FakeObjectClient::Conditional::kIgnored;
  OpenStore(Settings());
  auto f = WriteReport();
  ASSERT_TRUE(f);
  s3_->SetObject("vol/dir/report.csv", "theirs");
  EXPECT_EQ(f->Flush().error().code, ESTALE);
  ExpectBothKept();
}

// A server that refuses conditional writes with 501 (some do): the upload
// goes without them, checked by the HEAD before it, and later uploads do
// not ask again.
TEST_F(S3StoreTest, AServerRefusingConditionalWritesGetsThemWithoutAndOnlyOnce) {
  quirks_.if_none_match_on_put = FakeObjectClient::Conditional::kNotImplemented;
  quirks_.if_match_on_put = FakeObjectClient::Conditional::kNotImplemented;
  OpenStore(Settings());
  auto f = CreateWritten("dir/new.txt", "data");
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->Flush().ok());
  EXPECT_EQ(Data("vol/dir/new.txt"), "data");
  EXPECT_EQ(s3_->Requests(S3Op::kPut, "vol/dir/new.txt"), 2u);  // refused, then without
  EXPECT_TRUE(Saved().empty());

  auto g = WriteReport();  // an existing object: If-Match, refused too
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->Flush().ok());
  EXPECT_EQ(Data("vol/dir/report.csv"), "mine");
  EXPECT_EQ(s3_->Requests(S3Op::kPut, "vol/dir/report.csv"), 1u);

  // The check before the upload still catches another writer.
  Write(*g, "mine 2");
  s3_->SetObject("vol/dir/report.csv", "theirs");
  EXPECT_EQ(g->Flush().error().code, ESTALE);
  EXPECT_EQ(Data("vol/dir/report.csv"), "theirs");
  auto copies = KeysMatching(kConflictName);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(Data(copies[0]), "mine 2");
}

// Another writer deletes the object between the HEAD before the upload
// and the PUT (If-Match answers 404): as when the HEAD finds it gone, the
// file is created anew, not reported as a failed upload.
TEST_F(S3StoreTest, AnObjectDeletedBetweenTheCheckAndTheUploadIsCreatedAnew) {
  auto f = WriteReport();
  ASSERT_TRUE(f);
  s3_->Inject({.op = S3Op::kPut, .key = "vol/dir/report.csv", .before = [this] {
                 s3_->RemoveObject("vol/dir/report.csv");
               }});
  EXPECT_TRUE(f->Flush().ok());
  EXPECT_EQ(Data("vol/dir/report.csv"), "mine");
  EXPECT_TRUE(Saved().empty());
  EXPECT_TRUE(KeysMatching(kConflictName).empty());
}

// --- failed uploads ----------------------------------------------------------

// The saved copy is what failed: writing on, and a later upload that
// succeeds, leave it as it was.
TEST_F(S3StoreTest, TheSavedCopyOfAFailedUploadStaysWhatFailed) {
  s3_->Inject({.op = S3Op::kPut,
               .key = "vol/a/b.txt",
               .error = FakeObjectClient::HttpError(500, "InternalError")});
  auto f = CreateWritten("a/b.txt", "first");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->Flush().error().code, EIO);
  const std::string saved = OneSaved("first");
  Write(*f, "second");
  EXPECT_TRUE(f->Flush().ok());
  EXPECT_EQ(Data("vol/a/b.txt"), "second");
  EXPECT_EQ(Saved(), (std::map<std::string, std::string>{{saved, "first"}}));
}

TEST_F(S3StoreTest, AFailedUploadKeepsTheDataAndALaterCloseRetries) {
  s3_->Inject({.op = S3Op::kPut,
               .key = "vol/a/b.txt",
               .error = FakeObjectClient::HttpError(500, "InternalError")});
  auto f = CreateWritten("a/b.txt", "data");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->Flush().error().code, EIO);
  EXPECT_FALSE(s3_->GetObject("vol/a/b.txt"));
  // <staging>/failed/<UTC time>-<n>-<key with / as %> (docs/s3.md, "Writes").
  const std::string saved = OneSaved("data");
  EXPECT_EQ(::fnmatch((kStamp + "-0-vol%a%b.txt").c_str(), saved.c_str(), 0), 0) << saved;
  // Meanwhile this mount shows the file as written.
  EXPECT_EQ(store_->Stat("a/b.txt")->st_size, 4);
  EXPECT_TRUE(f->Flush().ok());
  EXPECT_EQ(Data("vol/a/b.txt"), "data");
}

TEST_F(S3StoreTest, TheSameDataFailingAgainIsNotSavedTwice) {
  s3_->Inject({.op = S3Op::kPut, .times = -1, .error = FakeObjectClient::NetworkError()});
  auto f = CreateWritten("f.txt", "one");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->Flush().error().code, EIO);
  EXPECT_EQ(f->Fsync(false).error().code, EIO);
  EXPECT_EQ(Saved().size(), 1u);
  Write(*f, "two", 3);
  EXPECT_EQ(f->Flush().error().code, EIO);
  // Changed data failing is kept again; the newest name holds the newest
  // data. (The earlier name is a hard link to the staging file where the
  // filesystem allows one, so it shows the newest data too; else a copy.)
  auto saved = Saved();
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_EQ(saved.rbegin()->second, "onetwo");
}

TEST_F(S3StoreTest, AFailedCheckBeforeTheUploadIsAFailedUpload) {
  s3_->SetObject("vol/f.txt", "v1");
  auto f = OpenFile("f.txt", O_WRONLY | O_TRUNC);
  ASSERT_TRUE(f);
  Write(*f, "mine");
  s3_->Inject({.op = S3Op::kHead,
               .key = "vol/f.txt",
               .error = FakeObjectClient::HttpError(403, "AccessDenied")});
  EXPECT_EQ(f->Flush().error().code, EIO);
  EXPECT_EQ(Data("vol/f.txt"), "v1");
  OneSaved("mine");
}

TEST_F(S3StoreTest, AFailedMultipartUploadIsSavedToo) {
  quirks_.multipart_threshold = 100;
  OpenStore(Settings());
  s3_->Inject({.op = S3Op::kMultipart, .error = FakeObjectClient::HttpError(503, "SlowDown")});
  const std::string big = Pattern(300, 'a');
  auto f = CreateWritten("big.bin", big);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->Flush().error().code, EIO);
  OneSaved(big);
  EXPECT_TRUE(f->Flush().ok());
  f.reset();
  EXPECT_EQ(Data("vol/big.bin"), big);
  // Multipart ETags are no MD5: the metadata keeps them as they are.
  EXPECT_EQ(store_->StatFresh("big.bin")->st_size, 300);
  auto r = OpenPinned("big.bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(Read(*r, 1000, 0), big);
}

TEST_F(S3StoreTest, AFileUnlinkedWhileOpenForWritingIsNeverUploaded) {
  auto f = CreateWritten("d/tmp.txt", "scratch");
  ASSERT_TRUE(f);
  ASSERT_TRUE(store_->Unlink("d/tmp.txt").ok());
  EXPECT_TRUE(f->Flush().ok());
  f.reset();
  EXPECT_FALSE(s3_->GetObject("vol/d/tmp.txt"));
  EXPECT_TRUE(Saved().empty());
}

// --- reads ------------------------------------------------------------------

TEST_F(S3StoreTest, SequentialReadsFetchEachBlockOnceAndReadAhead) {
  const std::string data = Pattern(10 * kBlock, 'a');
  s3_->SetObject("vol/data.bin", data);
  auto f = OpenPinned("data.bin");  // block 0, unconditionally
  ASSERT_TRUE(f);
  EXPECT_EQ(s3_->Requests(S3Op::kGet), 1u);
  EXPECT_EQ(Read(*f, kBlock, 0), data.substr(0, kBlock));
  EXPECT_EQ(Read(*f, kBlock, kBlock), data.substr(kBlock, kBlock));
  // The window doubled twice: blocks 2..5 are fetched before they are read.
  EXPECT_TRUE(Eventually([&] { return s3_->Requests(S3Op::kGet) == 6; }))
      << s3_->Requests(S3Op::kGet);
  std::string all = data.substr(0, 2 * kBlock);
  for (off_t off = 2 * kBlock; off < off_t(data.size()); off += kBlock)
    all += Read(*f, kBlock, off);
  EXPECT_EQ(all, data);
  EXPECT_EQ(Read(*f, kBlock, off_t(data.size())), "");
  EXPECT_EQ(s3_->Requests(S3Op::kGet), 10u);
}

TEST_F(S3StoreTest, AReadElsewhereFetchesOnlyWhatItAsks) {
  const std::string data = Pattern(10 * kBlock, 'a');
  s3_->SetObject("vol/data.bin", data);
  auto f = OpenPinned("data.bin");
  ASSERT_TRUE(f);
  const off_t at = 7 * kBlock + 100;
  EXPECT_EQ(Read(*f, 50, at), data.substr(at, 50));
  EXPECT_EQ(Read(*f, 50, 3 * kBlock), data.substr(3 * kBlock, 50));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(s3_->Requests(S3Op::kGet), 3u);  // Pin and the two ranges: no read-ahead
}

TEST_F(S3StoreTest, AnOpenFileReadsOneVersionAndFailsRatherThanMixTwo) {
  const std::string v1 = Pattern(4 * kBlock, 'a'), v2 = Pattern(4 * kBlock, 'A');
  s3_->SetObject("vol/data.bin", v1);
  auto f = OpenPinned("data.bin");
  ASSERT_TRUE(f);
  s3_->SetObject("vol/data.bin", v2);
  EXPECT_EQ(Read(*f, kBlock, 0), v1.substr(0, kBlock));  // fetched at open
  EXPECT_EQ(Read(*f, 10, 3 * kBlock), "errno " + std::to_string(EIO));
  auto g = OpenPinned("data.bin");  // a new open reads the new version
  ASSERT_TRUE(g);
  EXPECT_EQ(Read(*g, 10, 3 * kBlock), v2.substr(3 * kBlock, 10));
}

// s3rver ignores If-Match on GET: the ETag of the answer is checked instead.
TEST_F(S3StoreTest, AServerIgnoringIfMatchOnReadsStillNeverMixesVersions) {
  quirks_.get_ignores_if_match = true;
  OpenStore(Settings());
  const std::string v1 = Pattern(4 * kBlock, 'a'), v2 = Pattern(4 * kBlock, 'A');
  s3_->SetObject("vol/data.bin", v1);
  auto f = OpenPinned("data.bin");
  ASSERT_TRUE(f);
  s3_->SetObject("vol/data.bin", v2);
  EXPECT_EQ(Read(*f, 10, 3 * kBlock), "errno " + std::to_string(EIO));
  EXPECT_EQ(Read(*f, kBlock, 0), v1.substr(0, kBlock));
  EXPECT_EQ(Read(*f, kBlock, kBlock), "errno " + std::to_string(EIO));
}

// A read-ahead that failed once (an outage, throttling) must not fail the
// reads of that block for as long as the file stays open.
TEST_F(S3StoreTest, AFailedReadAheadIsFetchedAgainWhenRead) {
  S3StoreSettings s = Settings();
  s.readahead_blocks = 1;  // only the next block, so the fault hits block 1
  OpenStore(s);
  const std::string data = Pattern(4 * kBlock, 'a');
  s3_->SetObject("vol/data.bin", data);
  auto f = OpenPinned("data.bin");
  ASSERT_TRUE(f);
  s3_->Inject({.op = S3Op::kGet, .error = FakeObjectClient::HttpError(503, "SlowDown")});
  EXPECT_EQ(Read(*f, kBlock, 0), data.substr(0, kBlock));
  ASSERT_TRUE(Eventually([&] { return s3_->Requests(S3Op::kGet) == 2; }));
  const std::string first_try = Read(*f, kBlock, kBlock);
  EXPECT_TRUE(first_try == data.substr(kBlock, kBlock) ||
              first_try == "errno " + std::to_string(EIO))
      << first_try;
  EXPECT_EQ(Read(*f, kBlock, kBlock), data.substr(kBlock, kBlock));
}

// --- metadata ---------------------------------------------------------------

TEST_F(S3StoreTest, AListedDirectoryAnswersLookupsUntilItIsListedAgain) {
  s3_->SetObject("vol/d/a", "1");
  s3_->SetObject("vol/d/b", "22");
  ASSERT_TRUE(store_->Stat("d").ok());  // the kernel looks a directory up before reading it
  EXPECT_EQ(Names("d"), (std::vector<std::string>{"a", "b"}));
  const size_t lists = s3_->Requests(S3Op::kList), heads = s3_->Requests(S3Op::kHead);
  EXPECT_EQ(store_->Stat("d/b")->st_size, 2);
  EXPECT_EQ(store_->Stat("d/missing").error().code, ENOENT);
  EXPECT_EQ(s3_->Requests(S3Op::kList), lists);  // answered from the listing
  EXPECT_EQ(s3_->Requests(S3Op::kHead), heads);
  // Another writer: seen once the directory is listed again (a sync), or
  // asked about directly.
  s3_->SetObject("vol/d/b", "333");
  s3_->SetObject("vol/d/c", "c");
  EXPECT_EQ(store_->Stat("d/b")->st_size, 2);
  EXPECT_EQ(store_->Stat("d/c").error().code, ENOENT);
  EXPECT_EQ(store_->StatFresh("d/b")->st_size, 3);
  EXPECT_EQ(store_->Stat("d/b")->st_size, 3);
  ASSERT_TRUE(store_->ListFresh("d").ok());
  EXPECT_EQ(store_->Stat("d/c")->st_size, 1);
  s3_->RemoveObject("vol/d/a");
  ASSERT_TRUE(store_->ListFresh("d").ok());
  EXPECT_EQ(store_->Stat("d/a").error().code, ENOENT);
  EXPECT_EQ(Names("d"), (std::vector<std::string>{"b", "c"}));
}

TEST_F(S3StoreTest, WhatAListingSaidRunsOutWithTheTtl) {
  S3StoreSettings s = Settings();
  s.metadata_ttl = 300ms;
  OpenStore(s);
  s3_->SetObject("vol/d/a", "1");
  EXPECT_EQ(Names("d"), (std::vector<std::string>{"a"}));
  s3_->SetObject("vol/d/new", "n");
  EXPECT_EQ(store_->Stat("d/new").error().code, ENOENT);
  std::this_thread::sleep_for(700ms);
  auto st = store_->Stat("d/new");
  ASSERT_TRUE(st.ok()) << st.error().Describe();
  EXPECT_EQ(st->st_size, 1);
}

TEST_F(S3StoreTest, AKeyThatIsAlsoAPrefixIsADirectory) {
  s3_->SetObject("vol/a", "object");
  s3_->SetObject("vol/a/b", "below");
  auto st = store_->Stat("a");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(S_ISDIR(st->st_mode));
  EXPECT_EQ(Names(""), (std::vector<std::string>{"a/"}));
  EXPECT_EQ(Names("a"), (std::vector<std::string>{"b"}));
  EXPECT_EQ(store_->skipped_keys(), 1u);  // the object "a", hidden
  auto f = store_->Open("a", O_RDONLY);
  EXPECT_EQ(f.error().code, EISDIR);
}

TEST_F(S3StoreTest, ListingsOfManyPagesAreWhole) {
  quirks_.page_size = 2;
  OpenStore(Settings());
  for (char c : std::string("abcde")) s3_->SetObject(std::string("vol/d/") + c, "x");
  s3_->SetObject("vol/d/sub/f", "x");
  const size_t before = s3_->Requests(S3Op::kList, "vol/d/");
  EXPECT_EQ(Names("d"), (std::vector<std::string>{"a", "b", "c", "d", "e", "sub/"}));
  EXPECT_EQ(s3_->Requests(S3Op::kList, "vol/d/") - before, 3u);
  auto tree = store_->ListTree("");
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->size(), 8u);  // d, d/a..d/e, d/sub, d/sub/f
}

// s3rver leaves a prefix out of a delimiter listing when all its keys lie
// two levels deeper (s3_store.h, AddMissingButThere).
TEST_F(S3StoreTest, ASubdirectoryTheServerLeavesOutOfAListingStays) {
  s3_->SetObject("vol/d/x/y/f", "x");
  EXPECT_EQ(Names(""), (std::vector<std::string>{"d/"}));
  quirks_.hide_deep_prefixes = true;
  s3_->set_quirks(quirks_);
  ASSERT_TRUE(store_->ListFresh("").ok());
  EXPECT_EQ(Names(""), (std::vector<std::string>{"d/"}));
  s3_->RemoveObject("vol/d/x/y/f");
  ASSERT_TRUE(store_->ListFresh("").ok());
  EXPECT_EQ(Names(""), (std::vector<std::string>{}));
}

// A lookup probes 16 keys from the name on; a server that does not list in
// key order may leave the object out of them (s3_store.cc, FetchNode).
TEST_F(S3StoreTest, ALookupFindsTheObjectOnAServerThatListsOutOfOrder) {
  quirks_.unordered = true;
  OpenStore(Settings());
  s3_->SetObject("vol/f", "object");
  for (int i = 0; i < 20; ++i) s3_->SetObject("vol/f-" + std::to_string(100 + i), "sibling");
  auto st = store_->Stat("f");
  ASSERT_TRUE(st.ok()) << st.error().Describe();
  EXPECT_TRUE(S_ISREG(st->st_mode));
  EXPECT_EQ(st->st_size, 6);
  EXPECT_EQ(store_->Stat("f-1").error().code, ENOENT);
}

TEST_F(S3StoreTest, AFailingServerFailsLookupsWithEioAndRecovers) {
  s3_->SetObject("vol/f", "x");
  s3_->Inject({.op = S3Op::kList, .times = 2, .error = FakeObjectClient::NetworkError()});
  EXPECT_EQ(store_->Stat("f").error().code, EIO);
  EXPECT_EQ(store_->List("").error().code, EIO);
  EXPECT_EQ(store_->Stat("f")->st_size, 1);
}

TEST_F(S3StoreTest, AFileBeingWrittenIsListedBeforeItIsUploaded) {
  s3_->SetObject("vol/d/old", "x");
  auto f = CreateWritten("d/new", "12345");
  ASSERT_TRUE(f);
  EXPECT_EQ(Names("d"), (std::vector<std::string>{"new", "old"}));
  EXPECT_EQ(store_->Stat("d/new")->st_size, 5);
  EXPECT_FALSE(s3_->GetObject("vol/d/new"));
}

// --- rename -----------------------------------------------------------------

TEST_F(S3StoreTest, RenameCopiesThenDeletes) {
  s3_->SetObject("vol/a.txt", "abc");
  ASSERT_TRUE(store_->Rename("a.txt", "b.txt", 0, Caller{}).ok());
  EXPECT_EQ(Data("vol/b.txt"), "abc");
  EXPECT_FALSE(s3_->GetObject("vol/a.txt"));
  EXPECT_EQ(store_->Stat("a.txt").error().code, ENOENT);
  EXPECT_EQ(store_->Stat("b.txt")->st_size, 3);
  EXPECT_EQ(s3_->Requests(S3Op::kCopy), 1u);
}

TEST_F(S3StoreTest, RenameOfAnObjectChangedDuringItFailsAndMovesNothing) {
  s3_->SetObject("vol/a.txt", "abc");
  s3_->Inject({.op = S3Op::kCopy, .key = "vol/a.txt", .before = [this] {
                 s3_->SetObject("vol/a.txt", "changed");
               }});
  EXPECT_EQ(store_->Rename("a.txt", "b.txt", 0, Caller{}).error().code, ESTALE);
  EXPECT_EQ(Data("vol/a.txt"), "changed");
  EXPECT_FALSE(s3_->GetObject("vol/b.txt"));
}

TEST_F(S3StoreTest, AFailedCopyLeavesTheSource) {
  s3_->SetObject("vol/a.txt", "abc");
  s3_->Inject({.op = S3Op::kCopy, .error = FakeObjectClient::HttpError(500, "InternalError")});
  EXPECT_EQ(store_->Rename("a.txt", "b.txt", 0, Caller{}).error().code, EIO);
  EXPECT_EQ(Data("vol/a.txt"), "abc");
  EXPECT_FALSE(s3_->GetObject("vol/b.txt"));
}

TEST_F(S3StoreTest, RenamingTheLastFileAwayKeepsItsDirectory) {
  s3_->SetObject("vol/d/f", "x");
  ASSERT_TRUE(store_->Rename("d/f", "g", 0, Caller{}).ok());
  EXPECT_TRUE(s3_->GetObject("vol/d/"));  // the marker
  auto st = store_->StatFresh("d");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(S_ISDIR(st->st_mode));
  EXPECT_EQ(Names("d"), (std::vector<std::string>{}));
}

TEST_F(S3StoreTest, ADirectoryIsRenamedObjectByObject) {
  s3_->SetObject("vol/d/a", "1");
  s3_->SetObject("vol/d/s/b", "2");
  ASSERT_TRUE(store_->Rename("d", "e", 0, Caller{}).ok());
  EXPECT_EQ(s3_->Keys(), (std::vector<std::string>{"vol/e/a", "vol/e/s/b"}));
  EXPECT_EQ(Data("vol/e/s/b"), "2");
  EXPECT_EQ(store_->Stat("d").error().code, ENOENT);
  EXPECT_EQ(Names("e"), (std::vector<std::string>{"a", "s/"}));
}

TEST_F(S3StoreTest, ADirectoryWithTooManyObjectsIsNotRenamed) {
  S3StoreSettings s = Settings();
  s.max_dir_rename_objects = 2;
  OpenStore(s);
  for (const char* k : {"vol/d/a", "vol/d/b", "vol/d/c"}) s3_->SetObject(k, "x");
  EXPECT_EQ(store_->Rename("d", "e", 0, Caller{}).error().code, EXDEV);
  EXPECT_EQ(s3_->Keys(), (std::vector<std::string>{"vol/d/a", "vol/d/b", "vol/d/c"}));
  EXPECT_EQ(s3_->Requests(S3Op::kCopy), 0u);
}

TEST_F(S3StoreTest, AFileRenamedWhileBeingWrittenIsUploadedUnderItsNewName) {
  auto f = CreateWritten("a.txt", "data");
  ASSERT_TRUE(f);
  ASSERT_TRUE(store_->Rename("a.txt", "b.txt", 0, Caller{}).ok());
  EXPECT_TRUE(f->Flush().ok());
  EXPECT_EQ(Data("vol/b.txt"), "data");
  EXPECT_FALSE(s3_->GetObject("vol/a.txt"));
}

}  // namespace
}  // namespace freshfs::store
