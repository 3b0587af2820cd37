#include "watch/snapshot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "fakes/fake_store.h"
#include "fakes/synthetic_store.h"

namespace freshfs::watch {
namespace {

EntryState File(off_t size, int64_t mtime = 1, ino_t ino = 10) {
  EntryState e;
  e.mode = S_IFREG | 0644;
  e.size = size;
  e.mtime_ns = mtime;
  e.ino = ino;
  e.nlink = 1;
  return e;
}

EntryState Dir(ino_t ino = 20) {
  EntryState e;
  e.mode = S_IFDIR | 0755;
  e.ino = ino;
  e.nlink = 2;
  return e;
}

struct stat StatOf(const EntryState& e) {
  struct stat st {};
  st.st_mode = e.mode;
  st.st_uid = e.uid;
  st.st_gid = e.gid;
  st.st_nlink = e.nlink;
  st.st_size = e.size;
  st.st_mtim.tv_sec = e.mtime_ns / 1'000'000'000;
  st.st_mtim.tv_nsec = e.mtime_ns % 1'000'000'000;
  st.st_ino = e.ino;
  return st;
}

// Path -> state, the root ("") included: the plain model of a source.
using Model = std::map<std::string, EntryState>;

// A ListTree()-style listing of everything in `model` below `root`.
Listing ListingOf(const Model& model, const std::string& root = "") {
  std::vector<store::Store::DetailedEntry> entries;
  for (const auto& [path, state] : model) {
    if (path == root || !IsWithin(path, root)) continue;
    std::string rel = root.empty() ? path : path.substr(root.size() + 1);
    entries.push_back({rel, StatOf(state)});
  }
  Listing listing;
  listing.AddTree(std::move(entries));
  listing.Finish();
  return listing;
}

// A full sync of `snapshot` against `model`; returns what it reported.
std::vector<Change> Sync(Snapshot* snapshot, const Model& model, const KeepSet& keep = {}) {
  Listing listing = ListingOf(model);
  std::vector<Change> changes;
  EXPECT_TRUE(snapshot->Reconcile("", &model.at(""), &listing, keep, &changes));
  return changes;
}

Snapshot SnapshotOf(const Model& model) {
  Snapshot s;
  Sync(&s, model);
  return s;
}

Model ModelOf(const Snapshot& s) {
  Model out;
  s.ForEach([&](const std::string& path, const EntryState& e) { out[path] = e; });
  return out;
}

std::vector<std::pair<ChangeKind, std::string>> Kinds(const std::vector<Change>& changes) {
  std::vector<std::pair<ChangeKind, std::string>> out;
  for (const auto& c : changes) out.emplace_back(c.kind, c.path);
  return out;
}

TEST(Reconcile, FirstSyncRecordsEverythingAsCreated) {
  Model m{{"", Dir(1)}, {"a", Dir()}, {"a/f", File(1)}, {"g", File(2)}};
  Snapshot s;
  auto kinds = Kinds(Sync(&s, m));
  std::vector<std::pair<ChangeKind, std::string>> want = {{ChangeKind::kCreated, ""},
                                                          {ChangeKind::kCreated, "a"},
                                                          {ChangeKind::kCreated, "a/f"},
                                                          {ChangeKind::kCreated, "g"}};
  EXPECT_EQ(kinds, want);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(ModelOf(s), m);
}

TEST(Reconcile, IdenticalListingHasNoChanges) {
  Model m{{"", Dir(1)}, {"a", File(1)}};
  Snapshot s = SnapshotOf(m);
  EXPECT_TRUE(Sync(&s, m).empty());
}

TEST(Reconcile, CreatedDeletedModified) {
  Model before{{"", Dir(1)}, {"gone", File(1)}, {"same", File(1)}, {"grown", File(1)}};
  Model after{{"", Dir(1)}, {"new", File(1)}, {"same", File(1)}, {"grown", File(2)}};
  Snapshot s = SnapshotOf(before);
  auto kinds = Kinds(Sync(&s, after));
  std::vector<std::pair<ChangeKind, std::string>> want = {
      {ChangeKind::kDeleted, "gone"},
      {ChangeKind::kModified, "grown"},
      {ChangeKind::kCreated, "new"},
  };
  EXPECT_EQ(kinds, want);
  EXPECT_EQ(ModelOf(s), after);
}

TEST(Reconcile, SameSizeNewMtimeIsAContentChange) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"f", File(5, 100)}});
  auto changes = Sync(&s, {{"", Dir(1)}, {"f", File(5, 200)}});
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, ChangeKind::kModified);
  EXPECT_EQ(changes[0].remote_mtime_ns, 200);
}

TEST(Reconcile, ReplacedFileWithSameSizeAndMtimeIsAContentChange) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"f", File(5, 100, 1)}});
  EXPECT_EQ(Sync(&s, {{"", Dir(1)}, {"f", File(5, 100, 2)}}).at(0).kind, ChangeKind::kModified);
}

TEST(Reconcile, ChmodIsAnAttributeChange) {
  EntryState e = File(5);
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"f", e}});
  e.mode = S_IFREG | 0600;
  EXPECT_EQ(Sync(&s, {{"", Dir(1)}, {"f", e}}).at(0).kind, ChangeKind::kAttributes);
  EXPECT_EQ(s.Find("f")->mode, S_IFREG | 0600);
}

TEST(Reconcile, TypeChangeRecordsBothTypesAndDropsTheOldChildren) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"x", Dir()}, {"x/a", File(1)}});
  auto changes = Sync(&s, {{"", Dir(1)}, {"x", File(1)}});
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind, ChangeKind::kTypeChanged);
  EXPECT_TRUE(changes[0].was_dir);
  EXPECT_FALSE(changes[0].is_dir);
  EXPECT_EQ(changes[1].kind, ChangeKind::kDeleted);
  EXPECT_EQ(changes[1].path, "x/a");
  EXPECT_FALSE(s.Contains("x/a"));
  EXPECT_EQ(s.size(), 2u);
}

TEST(Reconcile, DirectoryMtimeAloneIsNotAChange) {
  EntryState d = Dir();
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"d", d}});
  d.mtime_ns = 999;
  d.size = 8192;
  EXPECT_TRUE(Sync(&s, {{"", Dir(1)}, {"d", d}}).empty());
}

TEST(Reconcile, ADeletedDirectoryComesBeforeEverythingUnderIt) {
  Snapshot s = SnapshotOf(
      {{"", Dir(1)}, {"d", Dir()}, {"d/e", Dir()}, {"d/e/f", File(1)}, {"d/g", File(1)}});
  auto kinds = Kinds(Sync(&s, {{"", Dir(1)}}));
  std::vector<std::pair<ChangeKind, std::string>> want = {{ChangeKind::kDeleted, "d"},
                                                          {ChangeKind::kDeleted, "d/e"},
                                                          {ChangeKind::kDeleted, "d/e/f"},
                                                          {ChangeKind::kDeleted, "d/g"}};
  EXPECT_EQ(kinds, want);
  EXPECT_EQ(s.size(), 1u);
}

TEST(Reconcile, ASubtreeScanLeavesSiblingsThatSortInsideAlone) {
  Model m{{"", Dir(1)},   {"a", Dir()},       {"a.txt", File(1)}, {"a/x", File(1)},
          {"a/y", Dir()}, {"a/y/z", File(1)}, {"a0", File(1)},    {"b", File(1)}};
  Snapshot s = SnapshotOf(m);
  Model sub{{"a", Dir()}, {"a/x", File(2)}, {"a/w", File(1)}};  // a/y went, a/w came
  Listing listing = ListingOf(sub, "a");
  std::vector<Change> changes;
  EntryState a = Dir();
  ASSERT_TRUE(s.Reconcile("a", &a, &listing, {}, &changes));
  auto kinds = Kinds(changes);
  std::vector<std::pair<ChangeKind, std::string>> want = {{ChangeKind::kCreated, "a/w"},
                                                          {ChangeKind::kModified, "a/x"},
                                                          {ChangeKind::kDeleted, "a/y"},
                                                          {ChangeKind::kDeleted, "a/y/z"}};
  EXPECT_EQ(kinds, want);
  EXPECT_TRUE(s.Contains("a.txt"));
  EXPECT_TRUE(s.Contains("a0"));
  EXPECT_TRUE(s.Contains("b"));
  EXPECT_EQ(s.size(), 7u);
}

TEST(Reconcile, WithoutAListingADirectoryKeepsItsChildren) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"d", Dir()}, {"d/f", File(1)}});
  EntryState d = Dir();
  d.mode = S_IFDIR | 0700;
  std::vector<Change> changes;
  ASSERT_TRUE(s.Reconcile("d", &d, nullptr, {}, &changes));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, ChangeKind::kAttributes);
  EXPECT_TRUE(s.Contains("d/f"));
}

TEST(Reconcile, AGoneEntryGoesWithItsSubtreeAndAnUnknownParentChangesNothing) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"d", Dir()}, {"d/f", File(1)}});
  std::vector<Change> changes;
  EntryState f = File(1);
  EXPECT_FALSE(s.Reconcile("nodir/f", &f, nullptr, {}, &changes));
  EXPECT_FALSE(s.Reconcile("d/f/g", &f, nullptr, {}, &changes));  // parent is a file
  EXPECT_TRUE(changes.empty());
  ASSERT_TRUE(s.Reconcile("d", nullptr, nullptr, {}, &changes));
  EXPECT_EQ(changes.size(), 2u);
  EXPECT_EQ(s.size(), 1u);
  ASSERT_TRUE(s.Reconcile("d", nullptr, nullptr, {}, &changes));  // gone is gone
  EXPECT_EQ(changes.size(), 2u);
}

TEST(Reconcile, KeptPathsStayAsRecordedAndHoldTheirParents) {
  Model before{{"", Dir(1)}, {"d", Dir()}, {"d/mine", File(1)}, {"d/theirs", File(1)}};
  Snapshot s = SnapshotOf(before);
  KeepSet keep;
  keep.Add("d/mine");
  keep.Add("new");  // not recorded: stays absent
  // The listing shows "d" gone entirely and "new" present.
  auto changes = Sync(&s, {{"", Dir(1)}, {"new", File(1)}}, keep);
  EXPECT_TRUE(changes.empty());
  EXPECT_TRUE(s.Contains("d"));
  EXPECT_TRUE(s.Contains("d/mine"));
  EXPECT_FALSE(s.Contains("new"));
  // Once no longer kept, the next sync reports all of it.
  changes = Sync(&s, {{"", Dir(1)}, {"new", File(1)}});
  EXPECT_EQ(changes.size(), 4u);
}

TEST(Reconcile, AKeptPathInsideAListedDirectoryIsNotReported) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"d", Dir()}, {"d/mine", File(1)}});
  KeepSet keep;
  keep.Add("d/mine");
  auto kinds =
      Kinds(Sync(&s, {{"", Dir(1)}, {"d", Dir()}, {"d/mine", File(9)}, {"d/x", File(1)}}, keep));
  std::vector<std::pair<ChangeKind, std::string>> want = {{ChangeKind::kCreated, "d/x"}};
  EXPECT_EQ(kinds, want);
  EXPECT_EQ(s.Find("d/mine")->size, 1);
}

TEST(Reconcile, AnUnreadableDirectoryKeepsWhatWasKnownOfItsContents) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"locked", Dir()}, {"locked/f", File(1)}});
  Listing listing;
  listing.AddDir("", {{"locked", StatOf(Dir())}, {"n", StatOf(File(1))}});
  listing.MarkUnreadable("locked");
  listing.Finish();
  std::vector<Change> changes;
  EntryState root = Dir(1);
  ASSERT_TRUE(s.Reconcile("", &root, &listing, {}, &changes));
  auto kinds = Kinds(changes);
  std::vector<std::pair<ChangeKind, std::string>> want = {{ChangeKind::kCreated, "n"}};
  EXPECT_EQ(kinds, want);
  EXPECT_TRUE(s.Contains("locked/f"));
}

// A one-level listing of directory `dir` of `model` (what a cached sync reads).
Listing DirListingOf(const Model& model, const std::string& dir) {
  std::vector<store::Store::DetailedEntry> entries;
  for (const auto& [path, state] : model) {
    if (path.empty() || path == dir || !IsWithin(path, dir)) continue;
    std::string rel = dir.empty() ? path : path.substr(dir.size() + 1);
    if (rel.find('/') == std::string::npos) entries.push_back({rel, StatOf(state)});
  }
  Listing listing;
  listing.AddDir("", std::move(entries));
  listing.Finish();
  return listing;
}

TEST(ReconcileDir, RecordsTheChildrenOnlyAndANewDirectoryStartsEmpty) {
  Model before{{"", Dir(1)},  {"a", Dir(2)},    {"a/x", File(1)},
               {"b", Dir(3)}, {"b/y", File(1)}, {"f", File(1)}};
  Model after{{"", Dir(1)},  {"a", Dir(2)},    {"a/x", File(5)},
              {"c", Dir(4)}, {"c/z", File(1)}, {"f", File(2)}};
  Snapshot s = SnapshotOf(before);
  std::vector<Change> changes;
  ASSERT_TRUE(s.ReconcileDir("", DirListingOf(after, ""), {}, &changes));
  std::vector<std::pair<ChangeKind, std::string>> want = {{ChangeKind::kDeleted, "b"},
                                                          {ChangeKind::kDeleted, "b/y"},
                                                          {ChangeKind::kCreated, "c"},
                                                          {ChangeKind::kModified, "f"}};
  EXPECT_EQ(Kinds(changes), want);
  EXPECT_EQ(s.Find("a/x")->size, 1);  // one level: a's children are a's listing's business
  EXPECT_EQ(s.ChildCount("c"), 0u);
  EXPECT_EQ(s.ChildCount(""), 3u);

  changes.clear();
  ASSERT_TRUE(s.ReconcileDir("a", DirListingOf(after, "a"), {}, &changes));
  ASSERT_TRUE(s.ReconcileDir("c", DirListingOf(after, "c"), {}, &changes));
  want = {{ChangeKind::kModified, "a/x"}, {ChangeKind::kCreated, "c/z"}};
  EXPECT_EQ(Kinds(changes), want);
  EXPECT_EQ(ModelOf(s), after);
  EXPECT_EQ(s.size(), after.size());

  changes.clear();  // the same listings again: nothing
  for (const char* dir : {"", "a", "c"})
    ASSERT_TRUE(s.ReconcileDir(dir, DirListingOf(after, dir), {}, &changes));
  EXPECT_TRUE(changes.empty());
}

TEST(ReconcileDir, UnknownOrNotADirectoryChangesNothingAndKeptPathsStay) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"d", Dir()}, {"d/mine", File(1)}, {"f", File(1)}});
  std::vector<Change> changes;
  Listing empty;
  empty.Finish();
  EXPECT_FALSE(s.ReconcileDir("nodir", empty, {}, &changes));
  EXPECT_FALSE(s.ReconcileDir("f", empty, {}, &changes));
  KeepSet keep;
  keep.Add("d/mine");
  ASSERT_TRUE(s.ReconcileDir("d", empty, keep, &changes));
  EXPECT_TRUE(changes.empty());
  EXPECT_TRUE(s.Contains("d/mine"));
  ASSERT_TRUE(s.ReconcileDir("d", empty, {}, &changes));
  EXPECT_EQ(Kinds(changes),
            (std::vector<std::pair<ChangeKind, std::string>>{{ChangeKind::kDeleted, "d/mine"}}));
}

TEST(Listing, UnsortedDirectoriesAreSortedAndADuplicateNameKeepsItsLastEntry) {
  Listing listing;
  listing.AddDir("", {{"c", StatOf(File(1))},
                      {"a", StatOf(File(1))},
                      {"c", StatOf(File(3))},
                      {"b", StatOf(File(1))}});
  listing.Finish();
  auto children = listing.ChildrenOf("");
  ASSERT_EQ(children.size(), 3u);
  EXPECT_EQ(children[0].name, "a");
  EXPECT_EQ(children[2].name, "c");
  EXPECT_EQ(children[2].state.size, 3);
  EXPECT_TRUE(listing.ChildrenOf("nowhere").empty());
}

TEST(Listing, ATreeListingIsGroupedByDirectory) {
  // Key order puts "a.txt" between "a" and "a/x"; the groups do not care.
  Listing listing;
  listing.AddTree({{"a", StatOf(Dir())},
                   {"a.txt", StatOf(File(1))},
                   {"a/x", StatOf(File(1))},
                   {"a/y", StatOf(Dir())},
                   {"a/y/z", StatOf(File(1))},
                   {"b", StatOf(File(1))}});
  listing.Finish();
  EXPECT_EQ(listing.ChildrenOf("").size(), 3u);
  EXPECT_EQ(listing.ChildrenOf("a").size(), 2u);
  ASSERT_EQ(listing.ChildrenOf("a/y").size(), 1u);
  EXPECT_EQ(listing.ChildrenOf("a/y")[0].name, "z");
}

TEST(Snapshot, CopiesAreDeep) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"d", Dir()}, {"d/f", File(1)}});
  Snapshot copy = s;
  Sync(&s, {{"", Dir(1)}});
  EXPECT_TRUE(copy.Contains("d/f"));
  EXPECT_EQ(copy.size(), 3u);
  EXPECT_FALSE(s.Contains("d/f"));
}

TEST(IsWithin, Basics) {
  EXPECT_TRUE(IsWithin("a/b", "a"));
  EXPECT_TRUE(IsWithin("a", "a"));
  EXPECT_TRUE(IsWithin("a", ""));
  EXPECT_FALSE(IsWithin("ab", "a"));
  EXPECT_FALSE(IsWithin("a", "a/b"));
}

TEST(ReadTree, ListsDirectoryByDirectoryWithoutListTree) {
  freshfs::testing::FakeStore store;
  store.Put("d", S_IFDIR | 0755);
  store.Put("d/f", S_IFREG | 0644, "abc");
  store.Put("g", S_IFREG | 0644);
  Listing listing;
  ASSERT_TRUE(ReadTree(store, "", &listing).ok());
  EXPECT_EQ(listing.size(), 3u);
  ASSERT_EQ(listing.ChildrenOf("d").size(), 1u);
  EXPECT_EQ(listing.ChildrenOf("d")[0].state.size, 3);
  Listing below;
  ASSERT_TRUE(ReadTree(store, "d", &below).ok());
  EXPECT_EQ(below.ChildrenOf("").size(), 1u);
}

// The reference the reconciliation must agree with: a plain comparison of
// two path-keyed maps (what the watcher did before it kept a tree).
std::vector<std::tuple<ChangeKind, std::string, bool, bool>> ReferenceDiff(const Model& before,
                                                                           const Model& after) {
  std::vector<std::tuple<ChangeKind, std::string, bool, bool>> out;
  for (const auto& [path, b] : before) {
    auto a = after.find(path);
    if (a == after.end()) {
      out.emplace_back(ChangeKind::kDeleted, path, b.is_dir(), false);
      continue;
    }
    ChangeKind kind;
    if (Classify(b, a->second, &kind)) out.emplace_back(kind, path, b.is_dir(), a->second.is_dir());
  }
  for (const auto& [path, a] : after)
    if (!before.count(path)) out.emplace_back(ChangeKind::kCreated, path, false, a.is_dir());
  std::sort(out.begin(), out.end());
  return out;
}

// Random trees with a directory far larger than a chunk, random changes of
// every kind, the reconciled snapshot checked against the model, the
// reported changes against the reference, and their order (parents first).
TEST(Reconcile, AgreesWithAPlainDiffOfRandomTrees) {
  std::mt19937 rng(42);
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  const std::vector<std::string> dirs = {"", "big", "a", "a/b", "a-b", "a/b/c"};
  auto random_model = [&] {
    Model m{{"", Dir(1)}};
    for (const auto& d : dirs)
      if (!d.empty()) m[d] = Dir(100 + d.size());
    for (int i = 0; i < 1500; ++i) {
      std::string dir = i < 1200 ? "big" : dirs[pick(dirs.size())];
      std::string name = "f" + std::to_string(pick(2000));
      m[dir.empty() ? name : dir + "/" + name] = File(off_t(pick(3)), int64_t(pick(2)), 7);
    }
    return m;
  };
  auto mutate = [&](Model m) {
    std::vector<std::string> paths;
    for (const auto& [p, e] : m)
      if (!p.empty()) paths.push_back(p);
    for (int i = 0; i < 300; ++i) {
      const std::string& p = paths[pick(paths.size())];
      switch (pick(6)) {
        case 0:
          m.erase(p);
          break;  // deleted
        case 1:
          m[p + "x"] = File(1);
          break;  // created
        case 2:
          if (m.count(p)) m[p].size += 1;
          break;  // modified
        case 3:
          if (m.count(p)) m[p].mode ^= 0044;
          break;  // attributes
        case 4:
          m[p] = m.count(p) && m[p].is_dir() ? File(1) : Dir();
          break;  // type
        case 5:
          m["big/n" + std::to_string(pick(5000))] = File(2);
          break;
      }
    }
    // What a listing can show: nothing under a path that is not a directory.
    for (auto it = m.begin(); it != m.end();) {
      std::string_view p = it->first;
      bool orphan = false;
      while (!p.empty()) {
        size_t slash = p.rfind('/');
        p = slash == std::string_view::npos ? std::string_view() : p.substr(0, slash);
        auto parent = m.find(std::string(p));
        if (parent == m.end() || !parent->second.is_dir()) orphan = true;
      }
      it = orphan ? m.erase(it) : std::next(it);
    }
    return m;
  };
  for (int round = 0; round < 20; ++round) {
    Model before = mutate(random_model());
    Snapshot s = SnapshotOf(before);
    ASSERT_EQ(ModelOf(s), before);
    for (int step = 0; step < 3; ++step) {
      Model after = mutate(before);
      std::vector<Change> changes = Sync(&s, after);
      std::vector<std::tuple<ChangeKind, std::string, bool, bool>> got;
      for (const auto& c : changes) got.emplace_back(c.kind, c.path, c.was_dir, c.is_dir);
      for (size_t i = 0; i < changes.size(); ++i)
        for (size_t k = 0; k < i; ++k)
          ASSERT_FALSE(IsWithin(changes[k].path, changes[i].path) &&
                       changes[k].path != changes[i].path)
              << changes[k].path << " reported before its parent " << changes[i].path;
      std::sort(got.begin(), got.end());
      ASSERT_EQ(got, ReferenceDiff(before, after)) << "round " << round << " step " << step;
      ASSERT_EQ(ModelOf(s), after);
      ASSERT_EQ(s.size(), after.size());
      before = std::move(after);
    }
  }
}

TEST(Reconcile, OneByOneIntoAHugeDirectoryStaysSortedAndFindable) {
  Snapshot s = SnapshotOf({{"", Dir(1)}, {"d", Dir()}});
  Model want{{"", Dir(1)}, {"d", Dir()}};
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string path = "d/" + std::to_string(rng() % 100000);
    EntryState f = File(i);
    ASSERT_TRUE(s.Reconcile(path, &f, nullptr, {}, nullptr));
    want[path] = f;
  }
  for (int i = 0; i < 1000; ++i) {
    auto it = std::next(want.begin(), std::ptrdiff_t(2 + rng() % (want.size() - 2)));
    ASSERT_TRUE(s.Reconcile(it->first, nullptr, nullptr, {}, nullptr));
    want.erase(it);
  }
  EXPECT_EQ(ModelOf(s), want);  // ForEach visits in name order
  for (const auto& [path, e] : want) ASSERT_TRUE(s.Contains(path)) << path;
  EXPECT_TRUE(Sync(&s, want).empty());
}

TEST(Reconcile, SyntheticStoreMutationsAreReportedExactly) {
  for (bool tree : {true, false}) {
    freshfs::testing::SyntheticStore store(freshfs::testing::SyntheticStore::Layout::kDeep, 5000,
                                           tree);
    auto sync = [&](Snapshot* s, std::vector<Change>* changes) {
      Listing listing;
      ASSERT_TRUE(ReadTree(store, "", &listing).ok());
      EntryState root = EntryState::From(*store.Stat(""));
      ASSERT_TRUE(s->Reconcile("", &root, &listing, {}, changes));
    };
    Snapshot s;
    sync(&s, nullptr);
    EXPECT_EQ(s.size(), store.entries() + 1);
    auto m = store.Mutate(300);
    std::vector<Change> changes;
    sync(&s, &changes);
    std::map<ChangeKind, size_t> counts;
    for (const auto& c : changes) ++counts[c.kind];
    EXPECT_EQ(counts[ChangeKind::kModified], m.modified);
    EXPECT_EQ(counts[ChangeKind::kDeleted], m.deleted);
    EXPECT_EQ(counts[ChangeKind::kCreated], m.created);
    EXPECT_EQ(changes.size(), 300u);
    EXPECT_EQ(s.size(), store.entries() + 1);
    changes.clear();
    sync(&s, &changes);
    EXPECT_TRUE(changes.empty());
  }
}

}  // namespace
}  // namespace freshfs::watch
