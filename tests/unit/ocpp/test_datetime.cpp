#include <gtest/gtest.h>

#include "gridgate/ocpp/datetime.hpp"

namespace gridgate::ocpp {
namespace {

using namespace std::chrono;

TEST(DateTime, ParsesRfc3339) {
    const Timestamp expected = Timestamp{sys_days{2026y / 11 / 26}} + 10h + 30min;
    EXPECT_EQ(parse_timestamp("2026-11-26T10:30:00Z"), expected);
    EXPECT_EQ(parse_timestamp("2026-11-26T11:30:00+01:00"), expected);
    EXPECT_EQ(parse_timestamp("2026-11-26T10:30:00"), expected);  // zone-less taken as UTC
    EXPECT_EQ(parse_timestamp("2026-11-26T10:30:00.250Z"), expected + 250ms);
}

TEST(DateTime, RefusesNonsense) {
    for (auto text : {"", "2026-11-26", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                      "2026-11-26T24:00:00Z", "2026-11-26T10:30:00Q", "2026-11-26T10:30:00Zjunk",
                      // An offset carrying the time out of the years 0000-9999.
                      "0000-01-01T00:01:00+05:10", "9999-12-31T23:59:59-05:00"}) {
        EXPECT_FALSE(parse_timestamp(text)) << text;
    }
}

// The first and last times RFC 3339 can write, with and without an offset.
TEST(DateTime, ReadsTheEdgesOfTheYears0000To9999) {
    for (auto text : {"0000-01-01T00:00:00Z", "0000-01-01T05:10:00+05:10",
                      "9999-12-31T23:59:59.999Z", "9999-12-31T18:59:59.999-05:00"}) {
        const auto t = parse_timestamp(text);
        ASSERT_TRUE(t) << text;
        EXPECT_EQ(parse_timestamp(format_timestamp(*t)), t) << text;
    }
}

TEST(DateTime, FormatsUtcWithZ) {
    const Timestamp t = Timestamp{sys_days{2026y / 1 / 2}} + 3h + 4min + 5s;
    EXPECT_EQ(format_timestamp(t), "2026-01-02T03:04:05Z");
    EXPECT_EQ(format_timestamp(t + 7ms), "2026-01-02T03:04:05.007Z");
    EXPECT_EQ(format_timestamp(Timestamp{sys_days{2024y / 2 / 29}} + 23h + 59min + 59s + 999ms),
              "2024-02-29T23:59:59.999Z");
    EXPECT_EQ(format_timestamp(Timestamp{sys_days{999y / 12 / 31}} + 120ms),
              "0999-12-31T00:00:00.120Z");
    EXPECT_EQ(format_timestamp(Timestamp{sys_days{10000y / 1 / 1}} + 1s), "10000-01-01T00:00:01Z");
}

// Every field of a formatted time reads back as the time it came from.
TEST(DateTime, FormatReadsBack) {
    Timestamp t = Timestamp{sys_days{1970y / 1 / 1}};
    for (int i = 0; i < 20000; ++i) {
        t += 1h + 7min + 13s + 389ms;
        const std::string text = format_timestamp(t);
        EXPECT_EQ(parse_timestamp(text), t) << text;
    }
}

}  // namespace
}  // namespace gridgate::ocpp
