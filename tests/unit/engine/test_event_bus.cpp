#include "gridgate/engine/event_bus.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace gridgate::engine;

namespace {

struct CapturedLog {
    std::vector<std::pair<LogLevel, std::string>> lines;
    LogSink sink() {
        return [this](LogLevel level, std::string_view m) { lines.emplace_back(level, m); };
    }
};

Event event_of(EventType type, std::string asset = {}) {
    Event e;
    e.type = type;
    e.asset_id = std::move(asset);
    return e;
}

}  // namespace

TEST(EventType, NamesRoundTrip) {
    EXPECT_EQ(to_string(EventType::CommandDispatched), "COMMAND_DISPATCHED");
    EXPECT_EQ(to_string(EventType::ScheduleReceived), "SCHEDULE_RECEIVED");
    EXPECT_EQ(to_string(EventType::CommandTimedOut), "COMMAND_TIMED_OUT");
    EXPECT_EQ(to_string(EventType::Telemetry), "TELEMETRY");
    for (std::size_t i = 0; i < kEventTypeCount; ++i) {
        auto t = static_cast<EventType>(i);
        EXPECT_EQ(event_type_from_string(to_string(t)), t);
    }
    EXPECT_FALSE(event_type_from_string("command_dispatched"));
}

TEST(EventBus, TypedSubscriberSeesOnlyItsType) {
    EventBus bus;
    std::vector<EventType> seen;
    auto sub =
        bus.subscribe(EventType::CommandFailed, [&](const Event& e) { seen.push_back(e.type); });
    bus.publish(event_of(EventType::CommandDispatched));
    bus.publish(event_of(EventType::CommandFailed));
    bus.publish(event_of(EventType::CommandCompleted));
    EXPECT_EQ(seen, std::vector<EventType>{EventType::CommandFailed});
}

TEST(EventBus, HandlersRunSynchronouslyInSubscriptionOrder) {
    EventBus bus;
    std::vector<std::string> calls;
    auto a = bus.subscribe_all([&](const Event& e) { calls.push_back("all:" + e.asset_id); });
    auto b = bus.subscribe(EventType::Telemetry,
                           [&](const Event& e) { calls.push_back("tel:" + e.asset_id); });
    auto c = bus.subscribe_all([&](const Event& e) { calls.push_back("all2:" + e.asset_id); });
    bus.publish(event_of(EventType::Telemetry, "x"));
    // Everything ran before publish() returned.
    EXPECT_EQ(calls, (std::vector<std::string>{"all:x", "tel:x", "all2:x"}));
}

TEST(EventBus, DestroyingTheSubscriptionUnsubscribes) {
    EventBus bus;
    int calls = 0;
    {
        auto sub = bus.subscribe_all([&](const Event&) { ++calls; });
        bus.publish(event_of(EventType::AssetConnected));
        EXPECT_EQ(bus.subscriber_count(), 1u);
    }
    bus.publish(event_of(EventType::AssetConnected));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(bus.subscriber_count(), 0u);
    EXPECT_FALSE(bus.has_subscribers(EventType::AssetConnected));
}

TEST(EventBus, SubscriptionMovesAndResets) {
    EventBus bus;
    int calls = 0;
    EventBus::Subscription outer;
    EXPECT_FALSE(outer.active());
    {
        auto inner = bus.subscribe(EventType::CommandRetry, [&](const Event&) { ++calls; });
        outer = std::move(inner);
        EXPECT_FALSE(inner.active());  // NOLINT(bugprone-use-after-move): moved-from is empty
    }
    EXPECT_TRUE(outer.active());
    bus.publish(event_of(EventType::CommandRetry));
    EXPECT_EQ(calls, 1);
    outer.reset();
    EXPECT_FALSE(outer.active());
    bus.publish(event_of(EventType::CommandRetry));
    EXPECT_EQ(calls, 1);
}

TEST(EventBus, SubscriptionMayOutliveTheBus) {
    EventBus::Subscription sub;
    {
        EventBus bus;
        sub = bus.subscribe_all([](const Event&) {});
        EXPECT_TRUE(sub.active());
    }
    EXPECT_FALSE(sub.active());
    sub.reset();  // nothing left to unsubscribe from; must not crash
}

TEST(EventBus, HasSubscribersFollowsTypedAndGlobalSubscriptions) {
    EventBus bus;
    EXPECT_FALSE(bus.has_subscribers(EventType::CommandCancelled));
    auto typed = bus.subscribe(EventType::CommandCancelled, [](const Event&) {});
    EXPECT_TRUE(bus.has_subscribers(EventType::CommandCancelled));
    EXPECT_FALSE(bus.has_subscribers(EventType::CommandRetry));
    auto all = bus.subscribe_all([](const Event&) {});
    EXPECT_TRUE(bus.has_subscribers(EventType::CommandRetry));
    EXPECT_EQ(bus.subscriber_count(), 2u);
}

TEST(EventBus, ThrowingHandlerIsLoggedAndOthersStillRun) {
    CapturedLog log;
    EventBus bus(log.sink());
    int after = 0;
    auto a = bus.subscribe_all([](const Event&) { throw std::runtime_error("boom"); });
    auto b = bus.subscribe_all([](const Event&) { throw 42; });
    auto c = bus.subscribe_all([&](const Event&) { ++after; });
    EXPECT_NO_THROW(bus.publish(event_of(EventType::CommandCompleted)));
    EXPECT_EQ(after, 1);
    ASSERT_EQ(log.lines.size(), 2u);
    EXPECT_EQ(log.lines[0].first, LogLevel::Error);
    EXPECT_NE(log.lines[0].second.find("COMMAND_COMPLETED"), std::string::npos);
    EXPECT_NE(log.lines[0].second.find("boom"), std::string::npos);
    EXPECT_NE(log.lines[1].second.find("non-standard"), std::string::npos);
}

TEST(EventBus, HandlerMayUnsubscribeItselfDuringPublish) {
    EventBus bus;
    int calls = 0;
    EventBus::Subscription self;
    self = bus.subscribe_all([&](const Event&) {
        ++calls;
        self.reset();
    });
    bus.publish(event_of(EventType::Telemetry));
    bus.publish(event_of(EventType::Telemetry));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(bus.subscriber_count(), 0u);
}

TEST(EventBus, HandlerRemovedDuringPublishIsNotCalled) {
    EventBus bus;
    int second_calls = 0;
    EventBus::Subscription second;
    auto first = bus.subscribe_all([&](const Event&) { second.reset(); });
    second = bus.subscribe_all([&](const Event&) { ++second_calls; });
    bus.publish(event_of(EventType::Telemetry));
    EXPECT_EQ(second_calls, 0);
}

TEST(EventBus, HandlerAddedDuringPublishSeesOnlyLaterEvents) {
    EventBus bus;
    std::vector<EventBus::Subscription> added;
    std::vector<EventType> late_seen;
    auto adder = bus.subscribe(EventType::AssetConnected, [&](const Event&) {
        // Enough subscriptions to make the bus grow its storage mid-publish.
        for (int i = 0; i < 64; ++i) {
            added.push_back(
                bus.subscribe_all([&](const Event& e) { late_seen.push_back(e.type); }));
        }
    });
    bus.publish(event_of(EventType::AssetConnected));
    EXPECT_TRUE(late_seen.empty());
    bus.publish(event_of(EventType::AssetDisconnected));
    EXPECT_EQ(late_seen.size(), 64u);
}

TEST(EventBus, NestedPublishFromAHandler) {
    EventBus bus;
    std::vector<EventType> order;
    auto relay = bus.subscribe(EventType::AssetConnected, [&](const Event&) {
        order.push_back(EventType::AssetConnected);
        bus.publish(event_of(EventType::Telemetry));
    });
    auto tel = bus.subscribe(EventType::Telemetry,
                             [&](const Event&) { order.push_back(EventType::Telemetry); });
    bus.publish(event_of(EventType::AssetConnected));
    EXPECT_EQ(order, (std::vector<EventType>{EventType::AssetConnected, EventType::Telemetry}));
}

TEST(EventBus, CarriesTelemetryPayload) {
    EventBus bus;
    Event received;
    auto sub = bus.subscribe(EventType::Telemetry, [&](const Event& e) { received = e; });
    Event e = event_of(EventType::Telemetry, "ast_batt_001");
    e.telemetry = {{"soc", 55.0}, {"active_power", -3.2}};
    bus.publish(e);
    EXPECT_EQ(received.asset_id, "ast_batt_001");
    ASSERT_EQ(received.telemetry.size(), 2u);
    EXPECT_EQ(received.telemetry[1].first, "active_power");
    EXPECT_DOUBLE_EQ(received.telemetry[1].second, -3.2);
}
