#include "lookup_cache.h"

#include <gtest/gtest.h>

namespace ossa::emr {
namespace {

using namespace std::chrono_literals;
using Outcome = LookupResult::Outcome;

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  LookupCache::Clock fn() {
    return [this] { return now; };
  }
};

LookupResult found(const std::string& name) {
  Demographics d;
  d.patient_name = name;
  return LookupResult::found(d);
}

TEST(LookupCache, KeepsFoundAndNotFoundForTheirOwnTtl) {
  FakeClock clock;
  LookupCache cache(10s, 2s, 100, clock.fn());
  cache.put("a", found("A"));
  cache.put("b", LookupResult::not_found("none"));
  ASSERT_TRUE(cache.get("a"));
  EXPECT_EQ(cache.get("a")->demographics.patient_name, "A");
  ASSERT_TRUE(cache.get("b"));
  EXPECT_EQ(cache.get("b")->outcome, Outcome::kNotFound);
  clock.now += 3s;
  EXPECT_TRUE(cache.get("a"));
  EXPECT_FALSE(cache.get("b"));  // the negative entry expired
  clock.now += 7s;
  EXPECT_FALSE(cache.get("a"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(LookupCache, NeverKeepsUnreachableAnswers) {
  LookupCache cache(10s, 10s, 100);
  cache.put("a", LookupResult::unreachable("down"));
  EXPECT_FALSE(cache.get("a"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(LookupCache, EvictsTheLeastRecentlyUsedBeyondItsSize) {
  FakeClock clock;
  LookupCache cache(1h, 1h, 2, clock.fn());
  cache.put("a", found("A"));
  cache.put("b", found("B"));
  ASSERT_TRUE(cache.get("a"));  // a is now more recent than b
  cache.put("c", found("C"));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.get("a"));
  EXPECT_FALSE(cache.get("b"));
  EXPECT_TRUE(cache.get("c"));
}

TEST(LookupCache, ReplacingAnEntryRenewsItsValueAndTtl) {
  FakeClock clock;
  LookupCache cache(10s, 10s, 5, clock.fn());
  cache.put("a", found("OLD"));
  clock.now += 8s;
  cache.put("a", found("NEW"));
  clock.now += 8s;
  ASSERT_TRUE(cache.get("a"));
  EXPECT_EQ(cache.get("a")->demographics.patient_name, "NEW");
  EXPECT_EQ(cache.size(), 1u);
}

TEST(LookupCache, ZeroTtlOrZeroSizeKeepsNothing) {
  LookupCache no_negative(10s, 0s, 5);
  no_negative.put("a", LookupResult::not_found("x"));
  EXPECT_FALSE(no_negative.get("a"));
  LookupCache no_room(10s, 10s, 0);
  no_room.put("a", found("A"));
  EXPECT_FALSE(no_room.get("a"));
}

}  // namespace
}  // namespace ossa::emr
