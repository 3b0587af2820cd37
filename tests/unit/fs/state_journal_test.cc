// The resume state: what a successor restores from a predecessor's journal
// is what the predecessor held (the same inode numbers for the same names,
// counts, links, versions, open handles), after any mix of changes, after
// compactions, and after a journal cut in the middle of a record.
#include "fs/state_journal.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <random>
#include <tuple>

#include "fakes/fake_store.h"
#include "fs/filesystem.h"
#include "fs/state_keeper.h"

namespace freshfs::fs {
namespace {

using freshfs::testing::FakeStore;
constexpr fuse_ino_t kRoot = InodeTable::kRoot;

UniqueFd Memfd() { return UniqueFd(::memfd_create("state-test", MFD_CLOEXEC)); }

// Everything a table says about the nodes it holds, comparable.
using NodeView = std::tuple<fuse_ino_t, std::string, uint64_t, uint64_t, bool, mode_t>;
std::vector<NodeView> View(const InodeTable& t) {
  std::vector<NodeView> out;
  for (const InodeTable::Held& h : t.HeldNodes()) {
    out.emplace_back(h.ino, t.PathOf(h.ino).value_or("<detached:" + h.name + ">"),
                     t.LookupCount(h.ino), t.VersionOf(h.ino), t.Confirmed(h.ino), t.TypeOf(h.ino));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The first node on which two views differ, for the failure message.
std::string FirstDifference(const std::vector<NodeView>& a, const std::vector<NodeView>& b) {
  auto show = [](const NodeView& v) {
    return "ino " + std::to_string(std::get<0>(v)) + " " + std::get<1>(v) + " count " +
           std::to_string(std::get<2>(v)) + " version " + std::to_string(std::get<3>(v)) +
           " confirmed " + std::to_string(std::get<4>(v)) + " type " +
           std::to_string(std::get<5>(v));
  };
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i] != b[i]) return show(a[i]) + " vs " + show(b[i]);
  return "sizes " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
}

// A successor's table: what the journal in `fd` replays to.
std::unique_ptr<InodeTable> Replayed(int fd, const std::string& owner) {
  std::string error;
  auto journal = StateJournal::Open(UniqueFd(::dup(fd)), owner, &error);
  EXPECT_NE(journal, nullptr) << error;
  auto table = std::make_unique<InodeTable>();
  if (!journal) return table;
  journal->ForEach([&](std::string_view record) {
    EXPECT_EQ(table->Replay(record), InodeTable::Replayed::kApplied);
  });
  return table;
}

class StateJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UniqueFd fd = Memfd();
    ASSERT_TRUE(fd.valid());
    fd_ = ::dup(fd.get());
    std::string error;
    journal_ = StateJournal::Create(std::move(fd), "dir:/src", &error);
    ASSERT_NE(journal_, nullptr) << error;
    KernelInit init;
    init.request = std::string(104, 'i');
    init.want = 0x1234;
    init.max_write = 1 << 20;
    init.proto_minor = 44;
    journal_->SaveInit(init);
    table_.set_journal(journal_.get());
  }
  void TearDown() override { ::close(fd_); }

  // A random mix of every change the table journals.
  void Churn(std::mt19937_64& rng, int steps) {
    std::vector<fuse_ino_t> dirs{kRoot};
    std::vector<fuse_ino_t> all;
    for (int i = 0; i < steps; ++i) {
      const fuse_ino_t parent = dirs[rng() % dirs.size()];
      const std::string name = "n" + std::to_string(rng() % 12);
      switch (rng() % 9) {
        case 0:
        case 1: {
          const bool dir = rng() % 3 == 0;
          fuse_ino_t ino =
              table_.Lookup(parent, name, dir ? S_IFDIR : S_IFREG, dir ? 0 : rng() % 4, rng() % 3);
          if (ino == 0) break;
          all.push_back(ino);
          if (dir) dirs.push_back(ino);
          break;
        }
        case 2:
          if (!all.empty()) table_.Forget(all[rng() % all.size()], 1 + rng() % 2);
          break;
        case 3:
          table_.Detach(parent, name);
          break;
        case 4:
          table_.Retire(parent, name);
          break;
        case 5: {
          // Files only: moving a directory below itself is refused before
          // the table is asked (rename(2): EINVAL).
          const fuse_ino_t to = dirs[rng() % dirs.size()];
          const std::string to_name = "m" + std::to_string(rng() % 5);
          auto is_dir = [&](fuse_ino_t p, const std::string& n) {
            return S_ISDIR(table_.TypeOf(table_.Find(p, n)));
          };
          if (!is_dir(parent, name) && !is_dir(to, to_name))
            table_.Rename(parent, name, to, to_name, rng() % 4 == 0);
          break;
        }
        case 6:
          if (!all.empty()) table_.SetVersion(all[rng() % all.size()], rng() % 5);
          break;
        case 7:
          if (!all.empty()) table_.Confirm(all[rng() % all.size()]);
          break;
        case 8: {
          // Hard links are made to files only (link(2) refuses directories).
          const fuse_ino_t ino = all.empty() ? 0 : all[rng() % all.size()];
          if (ino != 0 && S_ISREG(table_.TypeOf(ino))) table_.AddLink(ino, parent, name, rng() % 4);
          break;
        }
      }
    }
  }

  int fd_ = -1;
  std::unique_ptr<StateJournal> journal_;
  InodeTable table_;
};

TEST_F(StateJournalTest, ASuccessorReplaysTheSameTableAfterAnyChanges) {
  std::mt19937_64 rng(7);
  Churn(rng, 5000);
  ASSERT_GT(table_.Size(), 1u);
  auto successor = Replayed(fd_, "dir:/src");
  EXPECT_TRUE(View(*successor) == View(table_)) << FirstDifference(View(*successor), View(table_));
  // New names get numbers the predecessor never gave.
  fuse_ino_t fresh = successor->Lookup(kRoot, "brand-new", S_IFREG);
  fuse_ino_t theirs = table_.Lookup(kRoot, "brand-new", S_IFREG);
  EXPECT_EQ(fresh, theirs);
}

TEST_F(StateJournalTest, CompactionKeepsTheStateAndShrinksTheJournal) {
  std::mt19937_64 rng(11);
  Churn(rng, 5000);
  const size_t before = journal_->ActiveBytes();
  table_.WithLock([&] {
    journal_->Rewrite([&](const StateJournal::Sink& sink) { table_.WriteSnapshotLocked(sink); });
  });
  EXPECT_LT(journal_->ActiveBytes(), before);
  Churn(rng, 2000);  // appends after a snapshot
  auto successor = Replayed(fd_, "dir:/src");
  EXPECT_TRUE(View(*successor) == View(table_)) << FirstDifference(View(*successor), View(table_));
}

TEST_F(StateJournalTest, AJournalCutInTheMiddleOfARecordEndsThere) {
  table_.Lookup(kRoot, "a", S_IFREG);
  const size_t whole = journal_->ActiveBytes();
  table_.Lookup(kRoot, "b", S_IFREG);
  // A daemon killed during the second append: its length (written last)
  // never arrived. (Only the length word is cleared: the payload stays.)
  const size_t header = 4096;
  const uint32_t zero = 0;
  ASSERT_EQ(::pwrite(fd_, &zero, sizeof zero, off_t(header + whole)), ssize_t(sizeof zero));
  auto successor = Replayed(fd_, "dir:/src");
  EXPECT_NE(successor->Find(kRoot, "a"), 0u);
  EXPECT_EQ(successor->Find(kRoot, "b"), 0u);
}

TEST_F(StateJournalTest, TheSavedInitComesBack) {
  std::string error;
  auto opened = StateJournal::Open(UniqueFd(::dup(fd_)), "dir:/src", &error);
  ASSERT_NE(opened, nullptr) << error;
  KernelInit init = opened->Init();
  EXPECT_EQ(init.request, std::string(104, 'i'));
  EXPECT_EQ(init.want, 0x1234u);
  EXPECT_EQ(init.max_write, 1u << 20);
  EXPECT_EQ(init.proto_minor, 44u);
}

TEST_F(StateJournalTest, AnotherSourceOrFormatOrNoStateIsRefusedSayingWhy) {
  std::string error;
  EXPECT_EQ(StateJournal::Open(UniqueFd(::dup(fd_)), "dir:/other", &error), nullptr);
  EXPECT_NE(error.find("another source"), std::string::npos) << error;

  const uint32_t future = kStateFormat + 1;
  ASSERT_EQ(::pwrite(fd_, &future, sizeof future, 8), ssize_t(sizeof future));
  EXPECT_EQ(StateJournal::Open(UniqueFd(::dup(fd_)), "dir:/src", &error), nullptr);
  EXPECT_NE(error.find("format " + std::to_string(future)), std::string::npos) << error;

  EXPECT_EQ(StateJournal::Open(Memfd(), "dir:/src", &error), nullptr);
  EXPECT_NE(error.find("holds no state"), std::string::npos) << error;
}

TEST(StateKeeperTest, OpenFilesComeBackUnderTheirNumbersAndUnsavedOnesAreLost) {
  UniqueFd fd = Memfd();
  const int raw = ::dup(fd.get());
  std::string error;
  auto journal = StateJournal::Create(std::move(fd), "src", &error);
  ASSERT_NE(journal, nullptr) << error;
  journal->SaveInit(KernelInit{.request = "init"});
  auto store = std::make_unique<FakeStore>();
  store->Put("kept", S_IFREG | 0644, "kept data");
  store->Put("written", S_IFREG | 0644, "old");
  store->Put("d", S_IFDIR | 0755, "");
  FileSystem fs(std::move(store), FsSettings{});
  StateKeeper keeper(journal.get(), &fs);
  keeper.Start();
  auto kept = fs.Lookup(kRoot, "kept");
  auto written = fs.Lookup(kRoot, "written");
  auto dir = fs.Lookup(kRoot, "d");
  ASSERT_TRUE(kept && written && dir);
  auto reading = fs.Open(kept->ino, O_RDONLY);
  auto writing = fs.Open(written->ino, O_RDONLY);  // (the fake store takes no writes)
  auto listing = fs.OpenDir(dir->ino);
  ASSERT_TRUE(reading) << reading.error().Describe();
  ASSERT_TRUE(writing) << writing.error().Describe();
  ASSERT_TRUE(listing) << listing.error().Describe();
  // Data the source does not hold yet (as S3 stages it until the upload).
  fs.handles().MarkUnsaved((*writing)->fh, true);
  const uint64_t reading_fh = (*reading)->fh, writing_fh = (*writing)->fh;
  const uint64_t listing_fh = (*listing)->fh;
  keeper.Stop();

  auto reopened = StateJournal::Open(UniqueFd(raw), "src", &error);
  ASSERT_NE(reopened, nullptr) << error;
  auto store2 = std::make_unique<FakeStore>();
  store2->Put("kept", S_IFREG | 0644, "kept data");
  store2->Put("written", S_IFREG | 0644, "old");
  store2->Put("d", S_IFDIR | 0755, "");
  FileSystem successor(std::move(store2), FsSettings{});
  RestoreReport report;
  ASSERT_TRUE(StateKeeper::Restore(*reopened, successor, &report, &error)) << error;
  EXPECT_EQ(report.files, 2u);
  EXPECT_EQ(report.dirs, 1u);
  EXPECT_EQ(report.lost, 1u);
  EXPECT_EQ(successor.inodes().Find(kRoot, "kept"), kept->ino);
  OpenFile* file = successor.handles().File(reading_fh);
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(file->lost);
  char buf[16] = {};
  auto n = file->handle->Read(buf, sizeof buf, 0);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "kept data");
  ASSERT_NE(successor.handles().File(writing_fh), nullptr);
  EXPECT_TRUE(successor.handles().File(writing_fh)->lost);
  ASSERT_NE(successor.handles().Dir(listing_fh), nullptr);
  // Numbers handed out from now on are new.
  auto again = successor.Open(kept->ino, O_RDONLY);
  ASSERT_TRUE(again);
  EXPECT_GT((*again)->fh, std::max({reading_fh, writing_fh, listing_fh}));
  successor.Release(*again);
}

}  // namespace
}  // namespace freshfs::fs
