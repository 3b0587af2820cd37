#include "util/small_string.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/slab_pool.h"

namespace freshfs {
namespace {

TEST(SmallString, KeepsNamesOfEveryLengthAcrossCopiesAndMoves) {
  for (size_t n : {0u, 1u, 14u, 15u, 16u, 17u, 255u}) {
    const std::string name(n, 'x');
    SmallString s(name);
    EXPECT_EQ(s.view(), name) << n;
    SmallString copy = s;
    SmallString moved = std::move(s);
    EXPECT_EQ(copy, name);
    EXPECT_EQ(moved, name);
    EXPECT_TRUE(s.empty());  // NOLINT: a moved-from name is empty
    copy = "other";
    EXPECT_EQ(copy, std::string_view("other"));
    EXPECT_EQ(moved.size(), n);
  }
}

TEST(SmallString, AssignsAPartOfItself) {
  SmallString s(std::string(40, 'a') + "tail");
  s.assign(s.view().substr(40));
  EXPECT_EQ(s, std::string_view("tail"));
  SmallString t(std::string(20, 'b') + std::string(20, 'c'));
  t.assign(t.view().substr(10));
  EXPECT_EQ(t, std::string(10, 'b') + std::string(20, 'c'));
}

TEST(SmallString, OrdersAsItsBytes) {
  EXPECT_LT(SmallString("a"), std::string_view("b"));
  EXPECT_LT(SmallString("abc"), SmallString("abcd"));
  EXPECT_LT(SmallString(std::string(20, 'a')), SmallString(std::string(20, 'a') + "\xff"));
  EXPECT_EQ(SmallString("same"), SmallString("same"));
}

struct Counted {
  explicit Counted(int v) : value(v) { ++alive; }
  ~Counted() { --alive; }
  int value;
  std::string payload = std::string(32, 'p');  // on the heap: a leak shows in ASan
  static inline int alive = 0;
};

TEST(SlabPool, ObjectsSurviveOtherSlabsComingAndGoing) {
  SlabPool<Counted, 4> pool;
  std::vector<Counted*> objects;
  for (int i = 0; i < 20; ++i) objects.push_back(pool.New(i));
  EXPECT_EQ(Counted::alive, 20);
  // Free all but every fifth (slabs empty out and go), then refill.
  for (int i = 0; i < 20; ++i)
    if (i % 5 != 0) pool.Delete(objects[size_t(i)]);
  for (int i = 0; i < 20; i += 5) EXPECT_EQ(objects[size_t(i)]->value, i);
  std::vector<Counted*> more;
  for (int i = 100; i < 140; ++i) more.push_back(pool.New(i));
  for (int i = 0; i < 20; i += 5) EXPECT_EQ(objects[size_t(i)]->value, i);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(more[size_t(i)]->value, 100 + i);
  for (Counted* c : more) pool.Delete(c);
  for (int i = 0; i < 20; i += 5) pool.Delete(objects[size_t(i)]);
  EXPECT_EQ(Counted::alive, 0);
}

}  // namespace
}  // namespace freshfs
