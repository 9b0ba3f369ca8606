#include "gridgate/engine/timestamp.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using gridgate::engine::format_timestamp;
using gridgate::engine::parse_timestamp;
using gridgate::engine::TimePoint;
using namespace std::chrono;

// 2024-01-15T08:00:00Z, computed independently of the parser via the standard calendar.
const TimePoint kMorning = sys_days{year{2024} / January / 15} + hours{8};

TimePoint parsed(std::string_view text) {
    const auto t = parse_timestamp(text);
    EXPECT_TRUE(t.has_value()) << text;
    return t.value_or(TimePoint{});
}

TEST(ParseTimestamp, UtcWithZ) {
    EXPECT_EQ(parsed("2024-01-15T08:00:00Z"), kMorning);
    EXPECT_EQ(parsed("2024-01-15t08:00:00z"), kMorning);
}

TEST(ParseTimestamp, NaiveIsUtc) {
    EXPECT_EQ(parsed("2024-01-15T08:00:00"), kMorning);
    EXPECT_EQ(parsed("2024-01-15 08:00:00"), kMorning);  // pandas to_csv writes a space
}

TEST(ParseTimestamp, DateOnlyIsMidnightUtc) {
    EXPECT_EQ(parsed("2024-01-15"), TimePoint{sys_days{year{2024} / January / 15}});
}

TEST(ParseTimestamp, MinutesWithoutSeconds) {
    EXPECT_EQ(parsed("2024-01-15T08:00Z"), kMorning);
}

TEST(ParseTimestamp, NumericOffsetsInEveryForm) {
    EXPECT_EQ(parsed("2024-01-15T09:00:00+01:00"), kMorning);
    EXPECT_EQ(parsed("2024-01-15T09:00:00+0100"), kMorning);
    EXPECT_EQ(parsed("2024-01-15T09:00:00+01"), kMorning);
    EXPECT_EQ(parsed("2024-01-15 08:00:00+00:00"), kMorning);  // pandas, tz-aware UTC
    EXPECT_EQ(parsed("2024-01-15T02:30:00-05:30"), kMorning);
    EXPECT_EQ(parsed("2024-01-15T02:30:00-0530"), kMorning);
}

TEST(ParseTimestamp, OffsetCrossesDayMonthAndYear) {
    EXPECT_EQ(parsed("2024-01-01T00:30:00+01:00"),
              TimePoint{sys_days{year{2023} / December / 31} + hours{23} + minutes{30}});
    EXPECT_EQ(parsed("2023-12-31T20:00:00-05:00"),
              TimePoint{sys_days{year{2024} / January / 1} + hours{1}});
}

TEST(ParseTimestamp, FractionalSecondsOfAnyLength) {
    EXPECT_EQ(parsed("2024-01-15T08:00:00.5Z"), kMorning + milliseconds{500});
    EXPECT_EQ(parsed("2024-01-15T08:00:00.123Z"), kMorning + milliseconds{123});
    EXPECT_EQ(parsed("2024-01-15T08:00:00.000Z"), kMorning);  // pandas to_json iso
    EXPECT_EQ(parsed("2024-01-15 08:00:00.123456"), kMorning + microseconds{123456});
    EXPECT_EQ(parsed("2024-01-15T08:00:00.123456789Z"), kMorning + nanoseconds{123456789});
    // Digits past nanoseconds are truncated, not refused.
    EXPECT_EQ(parsed("2024-01-15T08:00:00.1234567891234Z"), kMorning + nanoseconds{123456789});
    EXPECT_EQ(parsed("2024-01-15T09:00:00.25+01:00"), kMorning + milliseconds{250});
}

TEST(ParseTimestamp, LeapDays) {
    EXPECT_EQ(parsed("2024-02-29T00:00:00Z"), TimePoint{sys_days{year{2024} / February / 29}});
    EXPECT_EQ(parsed("2000-02-29"), TimePoint{sys_days{year{2000} / February / 29}});
    EXPECT_FALSE(parse_timestamp("2023-02-29"));
    EXPECT_FALSE(parse_timestamp("1900-02-29"));  // divisible by 100, not by 400
}

TEST(ParseTimestamp, BeforeTheEpoch) {
    EXPECT_EQ(parsed("1969-12-31T23:59:59.5Z"), TimePoint{} - milliseconds{500});
}

TEST(ParseTimestamp, RefusesOutOfRangeFields) {
    for (const char* text : {"2024-00-15T08:00:00Z", "2024-13-15T08:00:00Z", "2024-01-00T08:00:00Z",
                             "2024-01-32T08:00:00Z", "2024-04-31T08:00:00Z", "2024-01-15T24:00:00Z",
                             "2024-01-15T08:60:00Z", "2024-01-15T08:00:60Z",
                             "2024-01-15T08:00:00+24:00", "2024-01-15T08:00:00+01:60"}) {
        EXPECT_FALSE(parse_timestamp(text)) << text;
    }
}

TEST(ParseTimestamp, RefusesMalformedText) {
    for (const char* text : {"",
                             " ",
                             "2024",
                             "2024-01",
                             "2024-1-15",
                             "24-01-15",
                             "2024/01/15",
                             "2024-01-15T",
                             "2024-01-15T8:00:00Z",
                             "2024-01-15T08",
                             "2024-01-15T08:00:00.Z",
                             "2024-01-15T08:00:00ZZ",
                             "2024-01-15T08:00:00+1",
                             "2024-01-15T08:00:00+01:0",
                             "2024-01-15T08:00:00 UTC",
                             "2024-01-15X08:00:00",
                             "2024-01-15T08:00:00Z ",
                             " 2024-01-15T08:00:00Z",
                             "1705305600000",
                             "2024-01-15T08:00:00+01:00:00",
                             "abc"}) {
        EXPECT_FALSE(parse_timestamp(text)) << "'" << text << "'";
    }
}

TEST(ParseTimestamp, RefusesInstantsTimePointCannotHold) {
    EXPECT_FALSE(parse_timestamp("9999-12-31T23:59:59Z"));
    EXPECT_FALSE(parse_timestamp("0001-01-01T00:00:00Z"));
    EXPECT_TRUE(parse_timestamp("2262-04-11T00:00:00Z"));
    EXPECT_TRUE(parse_timestamp("1678-01-01T00:00:00Z"));
}

TEST(FormatTimestamp, WholeSecondsHaveNoFraction) {
    EXPECT_EQ(format_timestamp(kMorning), "2024-01-15T08:00:00Z");
    EXPECT_EQ(format_timestamp(TimePoint{}), "1970-01-01T00:00:00Z");
}

TEST(FormatTimestamp, FractionUsesFewestExactDigits) {
    EXPECT_EQ(format_timestamp(kMorning + milliseconds{123}), "2024-01-15T08:00:00.123Z");
    EXPECT_EQ(format_timestamp(kMorning + milliseconds{100}), "2024-01-15T08:00:00.100Z");
    EXPECT_EQ(format_timestamp(kMorning + microseconds{123456}), "2024-01-15T08:00:00.123456Z");
    EXPECT_EQ(format_timestamp(kMorning + microseconds{1}), "2024-01-15T08:00:00.000001Z");
    EXPECT_EQ(format_timestamp(kMorning + nanoseconds{123456789}),
              "2024-01-15T08:00:00.123456789Z");
}

TEST(FormatTimestamp, BeforeTheEpochAndLeapDay) {
    EXPECT_EQ(format_timestamp(TimePoint{} - milliseconds{500}), "1969-12-31T23:59:59.500Z");
    EXPECT_EQ(format_timestamp(TimePoint{sys_days{year{2024} / February / 29} + hours{23}}),
              "2024-02-29T23:00:00Z");
}

TEST(FormatTimestamp, RoundTripsThroughParse) {
    std::vector<TimePoint> samples = {kMorning, TimePoint{}, TimePoint{} - nanoseconds{1},
                                      TimePoint{sys_days{year{1700} / March / 1}},
                                      TimePoint{sys_days{year{2262} / April / 10}} + hours{23}};
    // Walk across several years in uneven steps so every month, leap day and
    // fraction length is hit.
    for (TimePoint t = kMorning - years{5}; t < kMorning + years{5};
         t += hours{397} + minutes{13} + seconds{7} + nanoseconds{123'456'789}) {
        samples.push_back(t);
        samples.push_back(floor<milliseconds>(t));
        samples.push_back(floor<microseconds>(t));
    }
    for (const TimePoint t : samples) {
        const std::string text = format_timestamp(t);
        const auto back = parse_timestamp(text);
        ASSERT_TRUE(back.has_value()) << text;
        EXPECT_EQ(*back, t) << text;
    }
}

TEST(FormatTimestamp, AgreesWithTheStandardCalendar) {
    for (int d = -800; d < 800; d += 7) {
        const sys_days day = sys_days{year{2024} / January / 1} + days{d * 13};
        const year_month_day ymd{day};
        char expected[32];
        std::snprintf(expected, sizeof expected, "%04d-%02u-%02uT00:00:00Z", int(ymd.year()),
                      unsigned(ymd.month()), unsigned(ymd.day()));
        EXPECT_EQ(format_timestamp(TimePoint{day}), expected);
    }
}

}  // namespace
