#include "retention.hpp"

#include <gtest/gtest.h>

namespace gridgate::gateway {
namespace {

using namespace std::chrono_literals;
const sdk::TimePoint kNow = sdk::TimePoint{} + 24h * 20000;

TEST(Retention, RunsAtOnceWhenNothingIsPending) {
    RetentionPolicy policy;
    auto plan = policy.plan(kNow, std::nullopt, kNow, 0s);
    EXPECT_TRUE(plan.run_now);
    EXPECT_FALSE(plan.forced);
}

TEST(Retention, RunsAtOnceWhenTheNextDueCommandIsFarEnough) {
    RetentionPolicy policy;
    EXPECT_TRUE(policy.plan(kNow, kNow + 10min, kNow, 0s).run_now);
    EXPECT_TRUE(policy.plan(kNow, kNow + policy.quiet, kNow, 0s).run_now);
}

TEST(Retention, WaitsUntilJustAfterACommandAboutToFallDue) {
    RetentionPolicy policy;
    auto plan = policy.plan(kNow, kNow + 500ms, kNow, 0s);
    EXPECT_FALSE(plan.run_now);
    EXPECT_EQ(plan.retry_at, kNow + 500ms + policy.settle);
}

TEST(Retention, ACommandAlreadyDueCountsFromNow) {
    RetentionPolicy policy;
    auto plan = policy.plan(kNow, kNow - 5s, kNow, 0s);
    EXPECT_FALSE(plan.run_now);
    EXPECT_EQ(plan.retry_at, kNow + policy.settle);
}

TEST(Retention, TheQuietGapGrowsWithTheLastPass) {
    RetentionPolicy policy;
    // Far enough for a pass of nothing, not for one that took 3 s.
    EXPECT_TRUE(policy.plan(kNow, kNow + 5s, kNow, 0s).run_now);
    EXPECT_FALSE(policy.plan(kNow, kNow + 5s, kNow, 3s).run_now);
    EXPECT_TRUE(policy.plan(kNow, kNow + 7s, kNow, 3s).run_now);
}

TEST(Retention, RunsAllTheSameOnceItWaitedLongEnough) {
    RetentionPolicy policy;
    const sdk::TimePoint first = kNow - policy.max_wait;
    auto plan = policy.plan(kNow, kNow + 100ms, first, 0s);
    EXPECT_TRUE(plan.run_now);
    EXPECT_TRUE(plan.forced);
    EXPECT_FALSE(policy.plan(kNow - 1s, kNow - 900ms, first, 0s).run_now);
}

}  // namespace
}  // namespace gridgate::gateway
