#include "gridgate/engine/command_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <set>
#include <stdexcept>
#include <vector>

using namespace gridgate::engine;
using gridgate::sdk::CommandId;
using gridgate::sdk::CommandStatus;
using gridgate::sdk::CommandType;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = TimePoint{} + std::chrono::hours(24 * 19723);  // 2024-01-01T00:00:00Z
constexpr CommandStore::Limits kLimits{3, 30'000};

}  // namespace

TEST(CommandStore, AddedSetpointMaterializesWithItsFields) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("ast_a");
    const Slot s = store.add_setpoint(a, CommandType::SetDischargeRate, t0 + 1h, 7.5, kLimits);
    auto c = store.materialize(s);
    EXPECT_EQ(c.asset_id, "ast_a");
    EXPECT_EQ(c.command_type, CommandType::SetDischargeRate);
    EXPECT_EQ(c.parameters.power_kw, 7.5);
    EXPECT_FALSE(c.parameters.soc_percent);
    EXPECT_EQ(c.scheduled_at, t0 + 1h);
    EXPECT_EQ(c.status, CommandStatus::Pending);
    EXPECT_EQ(c.retry_count, 0);
    EXPECT_EQ(c.max_retries, 3);
    EXPECT_DOUBLE_EQ(c.timeout_seconds, 30.0);
    EXPECT_FALSE(c.dispatched_at);
    EXPECT_FALSE(c.completed_at);
    EXPECT_TRUE(c.error.empty());
    EXPECT_EQ(store.find(c.command_id), s);
}

TEST(CommandStore, IdsAreUniqueNonZeroAndFoundAfterGrowth) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("ast_a");
    std::set<std::uint64_t> ids;
    constexpr int n = 50'000;
    for (int i = 0; i < n; ++i) {
        const Slot s = store.add_setpoint(a, CommandType::SetChargeRate,
                                          t0 + std::chrono::seconds(i), i, kLimits);
        ids.insert(store.record(s).id);
    }
    EXPECT_EQ(ids.size(), std::size_t{n});
    EXPECT_EQ(ids.count(0), 0u);
    for (Slot s = 0; s < n; s += 97) {
        EXPECT_EQ(store.find(CommandId{store.record(s).id}), s);
        EXPECT_EQ(CommandId{store.record(s).id}.str().size(), 16u);
    }
    std::uint64_t absent = 1;
    while (ids.count(absent)) ++absent;
    EXPECT_FALSE(store.find(CommandId{absent}));
}

TEST(CommandStore, AssetsAreInternedOnce) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("ast_a");
    const AssetIndex b = store.intern_asset("ast_b");
    EXPECT_NE(a, b);
    EXPECT_EQ(store.intern_asset("ast_a"), a);
    EXPECT_EQ(store.find_asset("ast_b"), b);
    EXPECT_FALSE(store.find_asset("ast_c"));
    EXPECT_EQ(store.asset_name(b), "ast_b");
    EXPECT_EQ(store.asset_count(), 2u);
    const Slot s1 = store.add_setpoint(a, CommandType::SetChargeRate, t0, 1, kLimits);
    store.add_setpoint(b, CommandType::SetChargeRate, t0, 1, kLimits);
    const Slot s3 = store.add_setpoint(a, CommandType::SetChargeRate, t0 + 1h, 2, kLimits);
    auto of_a = store.asset_commands(a);
    ASSERT_EQ(of_a.size(), 2u);
    EXPECT_EQ(of_a[0], s1);
    EXPECT_EQ(of_a[1], s3);
}

TEST(CommandStore, RareParametersAndErrorsLiveOutOfLine) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("cp");
    gridgate::sdk::Parameters p;
    p.id_tag = "TAG1";
    p.connector_id = 2;
    const Slot s = store.add(a, CommandType::StartCharging, t0, p, kLimits);
    auto c = store.materialize(s);
    EXPECT_EQ(c.parameters.id_tag, "TAG1");
    EXPECT_EQ(c.parameters.connector_id, 2);
    EXPECT_FALSE(c.parameters.power_kw);
    store.set_error(s, "Rejected");
    EXPECT_EQ(store.error(s), "Rejected");
    EXPECT_EQ(store.materialize(s).error, "Rejected");
}

TEST(CommandStore, LanesOrderBySchedulingTimeAndDropCancelled) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("a");
    const Slot late = store.add_setpoint(a, CommandType::SetChargeRate, t0 + 2h, 1, kLimits);
    const Slot early = store.add_setpoint(a, CommandType::SetChargeRate, t0, 2, kLimits);
    const Slot mid = store.add_setpoint(a, CommandType::SetChargeRate, t0 + 1h, 3, kLimits);
    const Slot other_type =
        store.add_setpoint(a, CommandType::SetDischargeRate, t0 + 1h, 3, kLimits);
    EXPECT_EQ(store.next_in_lane(early)->slot, mid);
    EXPECT_EQ(store.next_in_lane(mid)->slot, late);
    EXPECT_FALSE(store.next_in_lane(late));
    EXPECT_FALSE(store.next_in_lane(other_type));
    // Same time: the newer command comes after.
    const Slot twin = store.add_setpoint(a, CommandType::SetChargeRate, t0 + 1h, 4, kLimits);
    EXPECT_EQ(store.next_in_lane(mid)->slot, twin);
    EXPECT_EQ(store.next_in_lane(twin)->slot, late);

    store.mark_finished(twin, CommandStatus::Cancelled, t0);
    EXPECT_EQ(store.next_in_lane(mid)->slot, late);
    EXPECT_EQ(store.pending_in_lane_from(a, CommandType::SetChargeRate, t0 + 1h),
              (std::vector<Slot>{mid, late}));
    store.mark_dispatched(mid, t0);
    EXPECT_EQ(store.pending_in_lane_from(a, CommandType::SetChargeRate, t0 + 1h),
              (std::vector<Slot>{late}));
    EXPECT_TRUE(store.pending_in_lane_from(a, CommandType::StartCharging, t0).empty());
}

TEST(CommandStore, ActionsHaveNoLane) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("cp");
    const Slot first = store.add(a, CommandType::StopCharging, t0, {}, kLimits);
    store.add(a, CommandType::StopCharging, t0 + 1h, {}, kLimits);
    EXPECT_FALSE(store.next_in_lane(first));
}

TEST(CommandStore, DueIndexFollowsPendingRecords) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("a");
    EXPECT_FALSE(store.next_due());
    const Slot s1 = store.add_setpoint(a, CommandType::SetChargeRate, t0 + 1h, 1, kLimits);
    const Slot s2 = store.add_setpoint(a, CommandType::SetDischargeRate, t0, 1, kLimits);
    const Slot s3 = store.add_setpoint(a, CommandType::SetPowerLimit, t0, 1, kLimits);
    EXPECT_EQ(store.next_due(), t0);
    EXPECT_TRUE(store.due(t0 - 1ns).empty());
    EXPECT_EQ(store.due(t0), (std::vector<Slot>{s2, s3}));
    EXPECT_EQ(store.due(t0 + 1h).size(), 3u);

    store.mark_dispatched(s2, t0);
    EXPECT_EQ(store.due(t0), (std::vector<Slot>{s3}));
    EXPECT_EQ(store.record(s2).status, CommandStatus::Dispatched);
    EXPECT_EQ(store.next_deadline(), t0 + 30s);
    EXPECT_EQ(store.indexed(CommandStatus::Dispatched), (std::vector<Slot>{s2}));

    store.mark_retry(s2, t0 + 45s);
    EXPECT_EQ(store.record(s2).retry_count, 1);
    EXPECT_FALSE(store.next_deadline());
    EXPECT_EQ(store.due(t0 + 45s), (std::vector<Slot>{s3, s2}));

    store.mark_finished(s3, CommandStatus::Cancelled, t0);
    store.mark_finished(s1, CommandStatus::Cancelled, t0);
    EXPECT_EQ(store.due(t0 + 2h), (std::vector<Slot>{s2}));
    EXPECT_EQ(store.next_due(), t0 + 45s);
}

TEST(CommandStore, TakeExpiredRemovesOnlyWhatIsPastItsDeadline) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("a");
    std::vector<Slot> slots;
    for (int i = 0; i < 5; ++i) {
        slots.push_back(store.add_setpoint(a, CommandType::SetChargeRate, t0, i, kLimits));
        store.mark_dispatched(slots.back(), t0 + std::chrono::seconds(i));
    }
    EXPECT_TRUE(store.take_expired(t0 + 29s).empty());
    auto expired = store.take_expired(t0 + 31s);
    EXPECT_EQ(expired, (std::vector<Slot>{slots[0], slots[1]}));
    // Ending a record already taken out must not disturb the remaining index.
    store.mark_finished(slots[0], CommandStatus::TimedOut, t0 + 31s);
    store.mark_finished(slots[3], CommandStatus::Completed, t0 + 31s);
    EXPECT_EQ(store.next_deadline(), t0 + 32s);
    EXPECT_EQ(store.take_expired(t0 + 1h), (std::vector<Slot>{slots[2], slots[4]}));
    EXPECT_FALSE(store.next_deadline());
}

// Deadlines share a bucket per millisecond: one within a millisecond is
// handed out at that millisecond's end, never before the deadline itself,
// and a record in a shared bucket leaves it alone when it ends.
TEST(CommandStore, ADeadlineWithinAMillisecondExpiresAtItsEndNeverBefore) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("a");
    const Slot s1 = store.add_setpoint(a, CommandType::SetChargeRate, t0, 1, kLimits);
    const Slot s2 = store.add_setpoint(a, CommandType::SetChargeRate, t0, 2, kLimits);
    const Slot s3 = store.add_setpoint(a, CommandType::SetChargeRate, t0, 3, kLimits);
    store.mark_dispatched(s1, t0 + 100us);
    store.mark_dispatched(s2, t0 + 900us);
    store.mark_dispatched(s3, t0 + 400us);
    EXPECT_EQ(store.next_deadline(), t0 + 30s + 1ms);
    EXPECT_TRUE(store.take_expired(t0 + 30s + 999us).empty());
    store.mark_finished(s3, CommandStatus::Completed, t0 + 1s);
    EXPECT_EQ(store.take_expired(t0 + 30s + 1ms), (std::vector<Slot>{s1, s2}));
    EXPECT_FALSE(store.next_deadline());
}

TEST(CommandStore, CountsFollowEveryTransition) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("a");
    const Slot s1 = store.add_setpoint(a, CommandType::SetChargeRate, t0, 1, kLimits);
    const Slot s2 = store.add_setpoint(a, CommandType::SetChargeRate, t0 + 1h, 2, kLimits);
    store.add(a, CommandType::StopCharging, t0, {}, kLimits);
    EXPECT_EQ(store.count(CommandType::SetChargeRate, CommandStatus::Pending), 2u);
    EXPECT_EQ(store.count(CommandStatus::Pending), 3u);
    store.mark_dispatched(s1, t0);
    store.mark_finished(s1, CommandStatus::Completed, t0 + 1s);
    store.mark_finished(s2, CommandStatus::Cancelled, t0 + 1s);
    EXPECT_EQ(store.count(CommandType::SetChargeRate, CommandStatus::Pending), 0u);
    EXPECT_EQ(store.count(CommandType::SetChargeRate, CommandStatus::Completed), 1u);
    EXPECT_EQ(store.count(CommandStatus::Cancelled), 1u);
    EXPECT_EQ(store.count(CommandStatus::Pending), 1u);
    EXPECT_EQ(store.materialize(s1).completed_at, t0 + 1s);
    EXPECT_EQ(store.materialize(s1).dispatched_at, t0);
}

TEST(CommandStore, RefusesImpossibleTransitions) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("a");
    const Slot s = store.add_setpoint(a, CommandType::SetChargeRate, t0, 1, kLimits);
    EXPECT_THROW(store.mark_finished(s, CommandStatus::Dispatched, t0), std::logic_error);
    store.mark_finished(s, CommandStatus::Cancelled, t0);
    EXPECT_THROW(store.mark_dispatched(s, t0), std::logic_error);
    EXPECT_THROW(store.mark_retry(s, t0), std::logic_error);
    EXPECT_THROW(store.mark_finished(s, CommandStatus::Completed, t0), std::logic_error);
}

TEST(CommandStore, SupersedeFromCancelsPendingAndEmptiesTheLaneFromThere) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("a");
    std::vector<Slot> s;
    for (int h = 0; h < 6; ++h) {
        s.push_back(store.add_setpoint(a, CommandType::SetChargeRate, t0 + std::chrono::hours(h), h,
                                       kLimits));
    }
    const Slot other = store.add_setpoint(a, CommandType::SetDischargeRate, t0 + 3h, 1, kLimits);
    store.mark_dispatched(s[3], t0);
    store.mark_dispatched(s[5], t0);
    store.mark_finished(s[5], CommandStatus::Completed, t0);
    auto cancelled = store.supersede_from(a, CommandType::SetChargeRate, t0 + 2h, t0 + 1s);
    EXPECT_EQ(cancelled, (std::vector<Slot>{s[2], s[4]}));
    EXPECT_EQ(store.record(s[2]).status, CommandStatus::Cancelled);
    EXPECT_EQ(store.materialize(s[4]).completed_at, t0 + 1s);
    EXPECT_EQ(store.record(s[1]).status, CommandStatus::Pending);
    EXPECT_EQ(store.record(s[3]).status, CommandStatus::Dispatched);
    EXPECT_EQ(store.record(s[5]).status, CommandStatus::Completed);
    EXPECT_EQ(store.record(other).status, CommandStatus::Pending);
    // In flight when the new schedule took over its time: not to be retried.
    EXPECT_TRUE(store.superseded(s[3]));
    EXPECT_FALSE(store.superseded(s[1]));
    EXPECT_FALSE(store.superseded(other));
    // The lane ends before `from`, whatever the status; the due index lost
    // the cancelled ones.
    EXPECT_FALSE(store.next_in_lane(s[1]));
    EXPECT_EQ(store.next_in_lane(s[0])->slot, s[1]);
    EXPECT_EQ(store.due(t0 + 10h), (std::vector<Slot>{s[0], s[1], other}));
    EXPECT_EQ(store.count(CommandStatus::Cancelled), 2u);
    // A record added for the same time afterwards is the lane's new tail.
    const Slot fresh = store.add_setpoint(a, CommandType::SetChargeRate, t0 + 2h, 9, kLimits);
    EXPECT_EQ(store.next_in_lane(s[1])->slot, fresh);
    EXPECT_FALSE(store.next_in_lane(fresh));
}

TEST(CommandStore, ForgetFinishedBeforeCompactsAndKeepsEveryIndexRight) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("a");
    const AssetIndex b = store.intern_asset("b");
    std::vector<Slot> s;
    for (int h = 0; h < 6; ++h) {
        s.push_back(store.add_setpoint(h % 2 ? b : a, CommandType::SetChargeRate,
                                       t0 + std::chrono::hours(h), h, kLimits));
    }
    const CommandId completed_old{store.record(s[0]).id}, failed_recent{store.record(s[1]).id},
        cancelled_old{store.record(s[2]).id}, dispatched{store.record(s[3]).id},
        pending{store.record(s[5]).id};
    store.mark_dispatched(s[0], t0);
    store.mark_finished(s[0], CommandStatus::Completed, t0 + 1s);
    store.mark_dispatched(s[1], t0);
    store.set_error(s[1], "Rejected");
    store.mark_finished(s[1], CommandStatus::Failed, t0 + 2h);
    store.mark_finished(s[2], CommandStatus::Cancelled, t0 + 2s);
    store.mark_dispatched(s[3], t0 + 3h);
    store.set_error(s[4], "kept");

    EXPECT_EQ(store.forget_finished_before(t0 + 1h), 2u);
    EXPECT_EQ(store.size(), 4u);
    EXPECT_FALSE(store.find(completed_old));
    EXPECT_FALSE(store.find(cancelled_old));
    ASSERT_TRUE(store.find(failed_recent));
    EXPECT_EQ(store.materialize(*store.find(failed_recent)).error, "Rejected");
    EXPECT_EQ(store.count(CommandStatus::Completed), 0u);
    EXPECT_EQ(store.count(CommandStatus::Cancelled), 0u);
    EXPECT_EQ(store.count(CommandStatus::Failed), 1u);

    const Slot d = *store.find(dispatched);
    const Slot p = *store.find(pending);
    EXPECT_EQ(store.take_expired(t0 + 4h), (std::vector<Slot>{d}));
    auto due = store.due(t0 + 10h);
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(store.record(due[1]).id, pending.value());
    EXPECT_EQ(store.error(due[0]), "kept");
    EXPECT_EQ(store.asset_commands(a).size(), 1u);
    EXPECT_EQ(store.asset_commands(b).size(), 3u);
    EXPECT_EQ(store.next_in_lane(d)->slot, p);
    EXPECT_EQ(store.forget_finished_before(t0 + 1h), 0u);
    // New records still get fresh slots and ids.
    const Slot fresh = store.add_setpoint(a, CommandType::SetChargeRate, t0 + 9h, 1, kLimits);
    EXPECT_EQ(store.find(CommandId{store.record(fresh).id}), fresh);
}

// Growing copies nothing that is held: a large schedule applied in pieces
// has no piece that pays for moving the whole store.
TEST(CommandStore, RecordsStayInPlaceAsTheStoreGrows) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("ast_a");
    store.add_setpoint(a, CommandType::SetChargeRate, t0, 1, kLimits);
    const CommandRecord* first = &store.record(0);
    for (int i = 1; i < 100'000; ++i)
        store.add_setpoint(a, CommandType::SetChargeRate, t0 + std::chrono::seconds(i), 1, kLimits);
    store.reserve(1'000'000);
    EXPECT_EQ(&store.record(0), first);
    EXPECT_EQ(store.find(CommandId{first->id}), Slot{0});
}

// While the id table grows, the entries it has not moved yet are found in
// the old one: every id is found at every moment, and no absent one.
TEST(CommandStore, EveryIdIsFoundWhileTheIdTableGrows) {
    CommandStore store;
    const AssetIndex a = store.intern_asset("ast_a");
    auto add = [&](int i) {
        return store.add_setpoint(a, CommandType::SetChargeRate, t0 + std::chrono::seconds(i), i,
                                  kLimits);
    };
    auto found = [&](Slot s) { return store.find(CommandId{store.record(s).id}) == s; };
    int i = 0;
    for (; i < 3000; ++i) {
        const Slot s = add(i);
        ASSERT_TRUE(found(s)) << i;
        ASSERT_TRUE(found(s / 2)) << i;
        ASSERT_TRUE(found(s / 3 * 2)) << i;
        ASSERT_TRUE(found(0)) << i;
    }
    store.reserve(20'000);  // a larger table, filled as the next records come
    for (; i < 6000; ++i) {
        const Slot s = add(i);
        ASSERT_TRUE(found(s)) << i;
        ASSERT_TRUE(found(static_cast<Slot>(i % 3000))) << i;
        ASSERT_TRUE(found(static_cast<Slot>(2999 - i % 3000))) << i;
    }
    for (Slot s = 0; s < 6000; ++s) ASSERT_TRUE(found(s)) << s;
    std::set<std::uint64_t> ids;
    for (Slot s = 0; s < 6000; ++s) ids.insert(store.record(s).id);
    int absent = 0;
    for (std::uint64_t id = 1; absent < 1000; ++id) {
        if (ids.count(id)) continue;
        ++absent;
        ASSERT_FALSE(store.find(CommandId{id}));
    }
}
