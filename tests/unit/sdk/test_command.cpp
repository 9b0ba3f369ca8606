#include "gridgate/sdk/command.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "gridgate/sdk/adapter.hpp"

using namespace gridgate::sdk;

TEST(CommandId, FormatsAsCmdAndTwelveLowercaseHexDigits) {
    EXPECT_EQ(CommandId{0}.str(), "cmd_000000000000");
    EXPECT_EQ(CommandId{0xabcdef123456}.str(), "cmd_abcdef123456");
    // Only 48 bits are kept.
    EXPECT_EQ(CommandId{0xff0000000000001}.str(), "cmd_000000000001");
}

TEST(CommandId, ParsesOnlyTheExactForm) {
    EXPECT_EQ(CommandId::parse("cmd_abcdef123456"), CommandId{0xabcdef123456});
    EXPECT_FALSE(CommandId::parse("cmd_ABCDEF123456"));
    EXPECT_FALSE(CommandId::parse("cmd_abcdef12345"));
    EXPECT_FALSE(CommandId::parse("cmx_abcdef123456"));
    EXPECT_FALSE(CommandId::parse("cmd_abcdef12345g"));
}

TEST(CommandType, RoundTripsEveryName) {
    for (std::size_t i = 0; i < kCommandTypeCount; ++i) {
        auto t = static_cast<CommandType>(i);
        EXPECT_EQ(command_type_from_string(to_string(t)), t);
    }
    EXPECT_EQ(to_string(CommandType::SetDischargeRate), "SET_DISCHARGE_RATE");
    EXPECT_FALSE(command_type_from_string("set_charge_rate"));
}

TEST(CommandStatus, TerminalStatuses) {
    EXPECT_FALSE(is_terminal(CommandStatus::Pending));
    EXPECT_FALSE(is_terminal(CommandStatus::Dispatched));
    EXPECT_TRUE(is_terminal(CommandStatus::Completed));
    EXPECT_TRUE(is_terminal(CommandStatus::Failed));
    EXPECT_TRUE(is_terminal(CommandStatus::TimedOut));
    EXPECT_TRUE(is_terminal(CommandStatus::Cancelled));
    EXPECT_EQ(command_status_from_string("TIMED_OUT"), CommandStatus::TimedOut);
}

TEST(Command, DefaultsMatchTheReferenceDesign) {
    Command c;
    EXPECT_EQ(c.status, CommandStatus::Pending);
    EXPECT_EQ(c.retry_count, 0);
    EXPECT_EQ(c.max_retries, 3);
    EXPECT_DOUBLE_EQ(c.timeout_seconds, 30.0);
    EXPECT_FALSE(c.dispatched_at);
    EXPECT_FALSE(c.completed_at);
}

TEST(Completion, DeliversExactlyOnceAcrossThreads) {
    std::atomic<int> calls{0};
    Completion done([&](CommandResult) { calls.fetch_add(1); });
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([done, &winners] {
            if (done(CommandResult::ok())) winners.fetch_add(1);
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(calls.load(), 1);
    EXPECT_EQ(winners.load(), 1);
    EXPECT_TRUE(done.completed());
}

TEST(Completion, SwallowsAThrowingHandler) {
    Completion done([](CommandResult) { throw std::runtime_error("boom"); });
    EXPECT_TRUE(done(CommandResult::failure("x")));
    EXPECT_FALSE(done(CommandResult::ok()));
}
