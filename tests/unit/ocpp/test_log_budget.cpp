// The log budget a charger's faults are held to, on a clock the test moves.
#include "gridgate/ocpp/log_budget.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace gridgate::ocpp {
namespace {

using namespace std::chrono_literals;

class LogBudgetTest : public ::testing::Test {
  protected:
    // Offers line `text` at `at` after the start; returns what was written.
    std::vector<std::string> offer(LogBudget::Clock::duration at, std::string text) {
        std::vector<std::string> written;
        write_within(budget, start + at, "CP1", "warnings about its messages", std::move(text),
                     [&written](std::string line) { written.push_back(std::move(line)); });
        return written;
    }

    LogBudget budget;
    const LogBudget::Clock::time_point start = LogBudget::Clock::now();
};

TEST_F(LogBudgetTest, TheFirstTenOfAMinuteAreWrittenTheRestCountedAndReportedWithTheNext) {
    for (int i = 1; i <= 9; ++i)
        EXPECT_EQ(offer(std::chrono::seconds(i), "line " + std::to_string(i)),
                  std::vector<std::string>{"line " + std::to_string(i)});
    EXPECT_EQ(offer(10s, "line 10"),
              std::vector<std::string>{
                  "line 10 (10 warnings about its messages this minute: the rest of the minute's "
                  "are counted, not logged)"});
    for (int i = 11; i <= 30; ++i) EXPECT_TRUE(offer(std::chrono::seconds(i), "held").empty());
    // The minute runs from its first line (at 1 s).
    EXPECT_TRUE(offer(60s, "still held").empty());
    EXPECT_EQ(offer(61s, "next minute"),
              (std::vector<std::string>{
                  "CP1: 21 warnings about its messages were not logged (over 10 a minute)",
                  "next minute"}));
    // Reported once: the count starts again.
    EXPECT_EQ(budget.take_unwritten(), 0u);
}

TEST_F(LogBudgetTest, ACountNotYetReportedIsTakenOnce) {
    for (int i = 0; i < 13; ++i) offer(0s, "x");
    EXPECT_EQ(budget.take_unwritten(), 3u);
    EXPECT_EQ(budget.take_unwritten(), 0u);
    // Taken, it is not reported again with the next minute's first line.
    EXPECT_EQ(offer(2min, "later"), std::vector<std::string>{"later"});
}

TEST_F(LogBudgetTest, AQuietChargerNeverReachesTheLimit) {
    // One line every 7 s is under ten a minute: all written, none counted.
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(offer(std::chrono::seconds(7 * i), "ok").size(), 1u) << i;
    EXPECT_EQ(budget.take_unwritten(), 0u);
}

}  // namespace
}  // namespace gridgate::ocpp
