#include "gridgate/engine/schedule_parser.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "gridgate/engine/timestamp.hpp"

namespace {

using gridgate::engine::parse_schedule_csv;
using gridgate::engine::parse_schedule_json;
using gridgate::engine::parse_schedule_request_json;
using gridgate::engine::Schedule;
using gridgate::engine::ScheduleError;
using gridgate::engine::TimePoint;
using namespace std::chrono;

const TimePoint kStart = sys_days{year{2024} / January / 15} + hours{8};

TimePoint slot(int n) {
    return kStart + minutes{15 * n};
}

/// The message of the ScheduleError `parse` throws; fails the test if it throws
/// nothing or a different kind.
std::string refusal(const std::function<void()>& parse) {
    try {
        parse();
    } catch (const ScheduleError& e) {
        EXPECT_EQ(e.kind(), ScheduleError::Kind::BadInput) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "input was accepted";
    return {};
}

std::string csv_refusal(std::string_view text) {
    return refusal([&] { parse_schedule_csv(text); });
}
std::string json_refusal(std::string_view text) {
    return refusal([&] { parse_schedule_json(text); });
}
std::string request_refusal(std::string_view text) {
    return refusal([&] { parse_schedule_request_json(text); });
}

// ---------------------------------------------------------------------------
// CSV: accepted forms

TEST(ScheduleCsv, PandasToCsvOutputIsColumnMajor) {
    const Schedule s = parse_schedule_csv(
        ",ev_001_kw,battery_charge_kw\n"
        "2024-01-15 08:00:00,11.0,0.0\n"
        "2024-01-15 08:15:00,22.0,5.5\n"
        "2024-01-15 08:30:00,22.0,-1.25\n");
    ASSERT_EQ(s.rows(), 3u);
    ASSERT_EQ(s.cols(), 2u);
    EXPECT_EQ(s.columns, (std::vector<std::string>{"ev_001_kw", "battery_charge_kw"}));
    EXPECT_EQ(s.index, (std::vector<TimePoint>{slot(0), slot(1), slot(2)}));
    EXPECT_EQ(s.values, (std::vector<double>{11.0, 22.0, 22.0, 0.0, 5.5, -1.25}));
    EXPECT_EQ(s.at(2, 1), -1.25);
}

TEST(ScheduleCsv, IndexNameInFirstHeaderCell) {
    const Schedule s = parse_schedule_csv("timestamp,a\n2024-01-15T08:00:00Z,1\n");
    EXPECT_EQ(s.columns, std::vector<std::string>{"a"});
    EXPECT_EQ(s.index, std::vector<TimePoint>{slot(0)});
}

TEST(ScheduleCsv, EveryTimestampForm) {
    const Schedule s = parse_schedule_csv(
        "timestamp,a\n"
        "2024-01-15T08:00:00Z,1\n"
        "2024-01-15 09:15:00+01:00,2\n"
        "2024-01-15T03:00:00-05:30,3\n"
        "2024-01-15T08:45:00.250,4\n"
        "2024-01-15 09:00:00+0000,5\n");
    EXPECT_EQ(s.index, (std::vector<TimePoint>{slot(0), slot(1), slot(2),
                                               slot(3) + milliseconds{250}, slot(4)}));
}

TEST(ScheduleCsv, EveryMissingValueSpelling) {
    const Schedule s = parse_schedule_csv(
        ",a,b,c,d,e\n"
        "2024-01-15 08:00:00,,NaN,nan,null,  \n"
        "2024-01-15 08:15:00,1,2,3,4,5\n");
    for (std::size_t c = 0; c < 5; ++c) {
        EXPECT_TRUE(Schedule::missing(s.at(0, c))) << "column " << c;
        EXPECT_EQ(s.at(1, c), static_cast<double>(c + 1));
    }
}

TEST(ScheduleCsv, LastCellEmptyIsMissing) {
    const Schedule s = parse_schedule_csv(",a,b\n2024-01-15 08:00:00,1,\n");
    EXPECT_EQ(s.at(0, 0), 1.0);
    EXPECT_TRUE(Schedule::missing(s.at(0, 1)));
}

TEST(ScheduleCsv, NumberForms) {
    const Schedule s = parse_schedule_csv(
        ",a,b,c,d,e,f\n"
        "2024-01-15 08:00:00, 7.5 ,-3,1e3,+2.5,.5,-0.0\n");
    EXPECT_EQ(s.values, (std::vector<double>{7.5, -3.0, 1000.0, 2.5, 0.5, -0.0}));
}

TEST(ScheduleCsv, ByteOrderMarkCrlfAndNoTrailingNewline) {
    const Schedule s = parse_schedule_csv(
        "\xEF\xBB\xBFtimestamp,a\r\n"
        "2024-01-15 08:00:00,1\r\n"
        "2024-01-15 08:15:00,2");
    EXPECT_EQ(s.columns, std::vector<std::string>{"a"});
    EXPECT_EQ(s.values, (std::vector<double>{1.0, 2.0}));
}

TEST(ScheduleCsv, TrailingBlankLinesAreFine) {
    const Schedule s = parse_schedule_csv(",a\n2024-01-15 08:00:00,1\n\n\r\n");
    EXPECT_EQ(s.rows(), 1u);
}

TEST(ScheduleCsv, QuotedFieldsFollowRfc4180) {
    const Schedule s = parse_schedule_csv(
        "\"time, UTC\",\"ev_001_kw, max\",\"say \"\"hi\"\"\",plain\n"
        "\"2024-01-15 08:00:00\",\"1.5\", 2 ,\"\"\n");
    EXPECT_EQ(s.columns, (std::vector<std::string>{"ev_001_kw, max", "say \"hi\"", "plain"}));
    EXPECT_EQ(s.at(0, 0), 1.5);
    EXPECT_EQ(s.at(0, 1), 2.0);
    EXPECT_TRUE(Schedule::missing(s.at(0, 2)));
}

TEST(ScheduleCsv, UnquotedHeaderNamesAreTrimmed) {
    const Schedule s = parse_schedule_csv("timestamp, a , b\n2024-01-15 08:00:00,1,2\n");
    EXPECT_EQ(s.columns, (std::vector<std::string>{"a", "b"}));
}

TEST(ScheduleCsv, LargeGeneratedRoundTrip) {
    constexpr std::size_t kCols = 400;
    constexpr std::size_t kRows = 96;
    const auto value_of = [](std::size_t r, std::size_t c) {
        return static_cast<double>(r * kCols + c) * 0.37 - 5000.0 / static_cast<double>(c + 1);
    };
    std::string text = "timestamp";
    for (std::size_t c = 0; c < kCols; ++c) text += ",col_" + std::to_string(c);
    text += '\n';
    char number[32];
    for (std::size_t r = 0; r < kRows; ++r) {
        text += gridgate::engine::format_timestamp(slot(static_cast<int>(r)));
        for (std::size_t c = 0; c < kCols; ++c) {
            text += ',';
            if ((r + c) % 11 == 0) continue;  // a sprinkling of missing cells
            const auto end = std::to_chars(number, number + sizeof number, value_of(r, c)).ptr;
            text.append(number, end);
        }
        text += '\n';
    }

    const Schedule s = parse_schedule_csv(text);
    ASSERT_EQ(s.rows(), kRows);
    ASSERT_EQ(s.cols(), kCols);
    ASSERT_EQ(s.values.size(), kRows * kCols);
    EXPECT_EQ(s.columns[123], "col_123");
    EXPECT_EQ(s.index.back(), slot(kRows - 1));
    for (std::size_t r = 0; r < kRows; ++r) {
        for (std::size_t c = 0; c < kCols; ++c) {
            const double v = s.values[c * kRows + r];
            if ((r + c) % 11 == 0) {
                ASSERT_TRUE(Schedule::missing(v)) << r << "," << c;
            } else {
                ASSERT_EQ(v, value_of(r, c)) << r << "," << c;  // shortest repr round-trips exactly
            }
        }
    }
}

TEST(ScheduleCsv, DemoScheduleShipsValid) {
    const auto path = std::filesystem::path(__FILE__).parent_path() /
                      "../../../config/examples/demo-schedule.csv";
    std::ifstream file(path, std::ios::binary);
    ASSERT_TRUE(file) << path;
    std::stringstream text;
    text << file.rdbuf();
    const Schedule s = parse_schedule_csv(text.str());
    EXPECT_EQ(s.columns, (std::vector<std::string>{"ev_001_kw", "ev_002_kw", "battery_charge_kw",
                                                   "battery_discharge_kw", "price_eur_mwh"}));
    ASSERT_EQ(s.rows(), 8u);
    EXPECT_EQ(s.index.front(), slot(0));
    EXPECT_EQ(s.index.back(), slot(7));
    EXPECT_EQ(s.at(0, 0), s.at(1, 0));           // an unchanged value: no command for slot 1
    EXPECT_TRUE(Schedule::missing(s.at(3, 1)));  // an empty cell
}

// ---------------------------------------------------------------------------
// CSV: refusals name the line and column

TEST(ScheduleCsvErrors, EmptyInputAndHeaderOnly) {
    EXPECT_EQ(csv_refusal(""),
              "line 1: expected a header row (the index name, then the column names)");
    EXPECT_EQ(csv_refusal("\xEF\xBB\xBF\n"),
              "line 1: expected a header row (the index name, then the column names)");
    EXPECT_EQ(csv_refusal(",a,b\n"), "line 2: no data rows after the header");
    EXPECT_EQ(csv_refusal(",a,b"), "line 2: no data rows after the header");
    EXPECT_EQ(csv_refusal(",a,b\n\n"), "line 2: no data rows after the header");
}

TEST(ScheduleCsvErrors, HeaderWithoutDataColumns) {
    EXPECT_EQ(csv_refusal("timestamp\n2024-01-15 08:00:00\n"),
              "line 1: the header names no data columns (expected the index, then one column per "
              "asset and quantity)");
    // pandas' to_csv(sep=";"): the whole header is one field.
    EXPECT_EQ(csv_refusal(";ev_001_kw\n2024-01-15 08:00:00;1.0\n"),
              "line 1: the header names no data columns (expected the index, then one column per "
              "asset and quantity); fields are separated by ',' and this header by ';'");
    EXPECT_EQ(csv_refusal("\tev_001_kw\n2024-01-15 08:00:00\t1.0\n"),
              "line 1: the header names no data columns (expected the index, then one column per "
              "asset and quantity); fields are separated by ',' and this header by a tab");
}

TEST(ScheduleCsvErrors, DuplicateAndEmptyColumnNames) {
    EXPECT_EQ(csv_refusal(",a,b,a\n2024-01-15 08:00:00,1,2,3\n"),
              "line 1, column 4 (a): duplicate column name (also column 2)");
    EXPECT_EQ(csv_refusal(",a,,b\n2024-01-15 08:00:00,1,2,3\n"),
              "line 1, column 3: empty column name");
}

TEST(ScheduleCsvErrors, FieldCountNamesExpectedAndGot) {
    EXPECT_EQ(csv_refusal(",a,b\n2024-01-15 08:00:00,1,2\n2024-01-15 08:15:00,1\n"),
              "line 3: expected 3 fields like the header, got 2");
    EXPECT_EQ(csv_refusal(",a,b\n2024-01-15 08:00:00,1,2,3,4\n"),
              "line 2: expected 3 fields like the header, got 5");
    EXPECT_EQ(csv_refusal(",a,b\n2024-01-15 08:00:00,1,2,\n"),
              "line 2: expected 3 fields like the header, got 4");
    EXPECT_EQ(csv_refusal(",a,b\n2024-01-15 08:00:00\n"),
              "line 2: expected 3 fields like the header, got 1");
}

TEST(ScheduleCsvErrors, BlankLineInsideTheData) {
    EXPECT_EQ(csv_refusal(",a\n2024-01-15 08:00:00,1\n\n2024-01-15 08:15:00,2\n"),
              "line 3: blank line inside the data");
    EXPECT_EQ(csv_refusal(",a\r\n2024-01-15 08:00:00,1\r\n  \r\n2024-01-15 08:15:00,2\r\n"),
              "line 3: blank line inside the data");
}

TEST(ScheduleCsvErrors, BadNumbersNameLineColumnAndColumnName) {
    const std::string head =
        ",ev_001_kw,ev_002_kw\n2024-01-15 08:00:00,1,2\n2024-01-15 08:15:00,3,";
    EXPECT_EQ(csv_refusal(head + "12abc\n"),
              "line 3, column 3 (ev_002_kw): '12abc' is not a number");
    EXPECT_EQ(csv_refusal(head + "inf\n"),
              "line 3, column 3 (ev_002_kw): 'inf' is not a finite number");
    EXPECT_EQ(csv_refusal(head + "-Infinity\n"),
              "line 3, column 3 (ev_002_kw): '-Infinity' is not a finite number");
    EXPECT_EQ(csv_refusal(head + "1e999\n"),
              "line 3, column 3 (ev_002_kw): '1e999' is out of the range of a double");
    EXPECT_EQ(csv_refusal(head + "NAN\n"),
              "line 3, column 3 (ev_002_kw): 'NAN' is not a number; write a missing value as an "
              "empty cell, NaN, nan or null");
    EXPECT_EQ(csv_refusal(head + "1,5\n"), "line 3: expected 3 fields like the header, got 4");
    EXPECT_EQ(csv_refusal(head + "0x10\n"), "line 3, column 3 (ev_002_kw): '0x10' is not a number");
    EXPECT_EQ(csv_refusal(head + "+-1\n"), "line 3, column 3 (ev_002_kw): '+-1' is not a number");
    EXPECT_EQ(csv_refusal(head + "NA\n"), "line 3, column 3 (ev_002_kw): 'NA' is not a number");
    EXPECT_EQ(csv_refusal(head + std::string(100, '7') + "x\n"),
              "line 3, column 3 (ev_002_kw): '" + std::string(40, '7') + "...' is not a number");
}

// A column that drives no asset is reported as ignored, whatever it holds:
// pandas writes a frame's text columns too.
TEST(ScheduleCsv, ColumnsThatDriveNoAssetMayHoldAnything) {
    const auto s = parse_schedule_csv(
        ",ev_001_kw,mode,note\n2024-01-15 08:00:00,1,eco,\"a, b\"\n2024-01-15 08:15:00,2,inf,\n");
    ASSERT_EQ(s.cols(), 3U);
    EXPECT_EQ(s.at(1, 0), 2.0);
    EXPECT_TRUE(std::isnan(s.at(0, 1)));
    EXPECT_TRUE(std::isnan(s.at(1, 2)));
    // A command column still takes numbers only.
    EXPECT_EQ(csv_refusal(",ev_001_kw,mode\n2024-01-15 08:00:00,eco,1\n"),
              "line 2, column 2 (ev_001_kw): 'eco' is not a number");
}

TEST(ScheduleJson, ColumnsThatDriveNoAssetMayHoldAnything) {
    const auto s = parse_schedule_json(
        R"({"columns":["ev_001_kw","mode","flag"],"index":["2024-01-15T08:00:00"],)"
        R"("data":[[1.5,"eco",true]]})");
    ASSERT_EQ(s.cols(), 3U);
    EXPECT_EQ(s.at(0, 0), 1.5);
    EXPECT_TRUE(std::isnan(s.at(0, 1)));
    EXPECT_TRUE(std::isnan(s.at(0, 2)));
    EXPECT_EQ(json_refusal(R"({"columns":["ev_001_kw","mode"],"index":["2024-01-15T08:00:00"],)"
                           R"("data":[["1.5","eco"]]})"),
              "$.data[0][0]: expected a number or null, got string");
}

TEST(ScheduleCsvErrors, BadTimestampsNameColumnOne) {
    EXPECT_EQ(csv_refusal("timestamp,a\n2024-01-15 08:00:00,1\n2024-13-01 00:00:00,2\n"),
              "line 3, column 1 (timestamp): '2024-13-01 00:00:00' is not an ISO 8601 timestamp");
    EXPECT_EQ(csv_refusal(",a\n1705305600000,1\n"),
              "line 2, column 1 (index): '1705305600000' is not an ISO 8601 timestamp");
    EXPECT_EQ(csv_refusal(",a\n,1\n"), "line 2, column 1 (index): '' is not an ISO 8601 timestamp");
}

TEST(ScheduleCsvErrors, RowsMustStrictlyIncrease) {
    EXPECT_EQ(csv_refusal("timestamp,a\n"
                          "2024-01-15 08:00:00,1\n"
                          "2024-01-15 08:30:00,2\n"
                          "2024-01-15 08:15:00,3\n"),
              "line 4, column 1 (timestamp): 2024-01-15T08:15:00Z is not after "
              "2024-01-15T08:30:00Z on line 3; rows must be in strictly increasing time order");
    // Equal instants written differently are still a repeat.
    EXPECT_EQ(csv_refusal("timestamp,a\n"
                          "2024-01-15T08:00:00Z,1\n"
                          "2024-01-15 09:00:00+01:00,2\n"),
              "line 3, column 1 (timestamp): 2024-01-15T08:00:00Z is not after "
              "2024-01-15T08:00:00Z on line 2; rows must be in strictly increasing time order");
}

TEST(ScheduleCsvErrors, QuotingProblems) {
    EXPECT_EQ(csv_refusal(",\"a\n"), "line 1, column 2: a quoted field is never closed");
    EXPECT_EQ(csv_refusal(",\"a\"x\n"),
              "line 1, column 2: unexpected character after the closing quote of a quoted field");
    EXPECT_EQ(csv_refusal(",a,b\n2024-01-15 08:00:00,1,\"2\n"),
              "line 2, column 3 (b): a quoted field is never closed");
    EXPECT_EQ(csv_refusal(",a,b\n2024-01-15 08:00:00,\"1\"2,3\n"),
              "line 2, column 2 (a): unexpected character after the closing quote of a quoted "
              "field");
}

TEST(ScheduleCsvErrors, LinesCountPastQuotedLineBreaks) {
    // A quoted header name spanning two physical lines moves the data to line 3.
    EXPECT_EQ(csv_refusal(",\"ev_two\nlines_kw\"\n2024-01-15 08:00:00,x\n"),
              "line 3, column 2 (ev_two\nlines_kw): 'x' is not a number");
}

TEST(ScheduleCsvErrors, HugeHeaderWithFewRowsIsRefusedCheaply) {
    // Two hundred thousand columns over a body of line breaks: the row
    // reservation must follow the body's size, not rows x columns.
    std::string text;
    for (int c = 0; c < 200'000; ++c) text += ",c" + std::to_string(c);
    text += '\n';
    text += "2024-01-15 08:00:00,1\n";
    text += std::string(200'000, '\n');
    EXPECT_EQ(csv_refusal(text), "line 2: expected 200001 fields like the header, got 2");
}

TEST(ScheduleCsvErrors, CrlfLineNumbers) {
    EXPECT_EQ(csv_refusal(",ev_a_kw\r\n2024-01-15 08:00:00,1\r\n2024-01-15 08:15:00,bad\r\n"),
              "line 3, column 2 (ev_a_kw): 'bad' is not a number");
}

// ---------------------------------------------------------------------------
// JSON: accepted forms

TEST(ScheduleJson, PandasSplitWithIsoDates) {
    const Schedule s = parse_schedule_json(R"({
        "columns": ["ev_001_kw", "battery_charge_kw"],
        "index": ["2024-01-15T08:00:00.000Z", "2024-01-15T08:15:00.000Z", "2024-01-15T08:30:00.000Z"],
        "data": [[11.0, 0.0], [22, null], [22.0, -1.25]]
    })");
    EXPECT_EQ(s.columns, (std::vector<std::string>{"ev_001_kw", "battery_charge_kw"}));
    EXPECT_EQ(s.index, (std::vector<TimePoint>{slot(0), slot(1), slot(2)}));
    ASSERT_EQ(s.values.size(), 6u);
    EXPECT_EQ(s.at(0, 0), 11.0);
    EXPECT_EQ(s.at(1, 0), 22.0);
    EXPECT_EQ(s.at(2, 0), 22.0);
    EXPECT_EQ(s.at(0, 1), 0.0);
    EXPECT_TRUE(Schedule::missing(s.at(1, 1)));
    EXPECT_EQ(s.at(2, 1), -1.25);
}

TEST(ScheduleJson, EpochMillisecondIndex) {
    const auto ms = duration_cast<milliseconds>(kStart.time_since_epoch()).count();
    const Schedule s =
        parse_schedule_json(R"({"columns":["a"],"index":[)" + std::to_string(ms) + "," +
                            std::to_string(ms + 900'000) + R"(],"data":[[1],[2]]})");
    EXPECT_EQ(s.index, (std::vector<TimePoint>{slot(0), slot(1)}));
}

TEST(ScheduleJson, NaiveOffsetAndFractionalIsoStrings) {
    const Schedule s = parse_schedule_json(R"({"columns":["a"],
        "index":["2024-01-15T08:00:00", "2024-01-15T09:15:00+01:00", "2024-01-15 08:30:00.5"],
        "data":[[1],[2],[3]]})");
    EXPECT_EQ(s.index, (std::vector<TimePoint>{slot(0), slot(1), slot(2) + milliseconds{500}}));
}

TEST(ScheduleJson, NullAndBareNaNAreMissing) {
    const Schedule s =
        parse_schedule_json(R"({"columns":["a","b"],"index":["2024-01-15"],"data":[[null,NaN]]})");
    EXPECT_TRUE(Schedule::missing(s.at(0, 0)));
    EXPECT_TRUE(Schedule::missing(s.at(0, 1)));
}

TEST(ScheduleJson, SameFrameAsCsvGivesTheSameSchedule) {
    const Schedule from_csv =
        parse_schedule_csv(",a,b\n2024-01-15 08:00:00,0.1,\n2024-01-15 08:15:00,1e-3,-7\n");
    const Schedule from_json = parse_schedule_json(R"({"columns":["a","b"],
        "index":["2024-01-15T08:00:00.000Z","2024-01-15T08:15:00.000Z"],
        "data":[[0.1,null],[0.001,-7]]})");
    EXPECT_EQ(from_csv.columns, from_json.columns);
    EXPECT_EQ(from_csv.index, from_json.index);
    ASSERT_EQ(from_csv.values.size(), from_json.values.size());
    for (std::size_t i = 0; i < from_csv.values.size(); ++i) {
        if (Schedule::missing(from_csv.values[i])) {
            EXPECT_TRUE(Schedule::missing(from_json.values[i])) << i;
        } else {
            EXPECT_EQ(from_csv.values[i], from_json.values[i]) << i;
        }
    }
}

// Every number reads as from_chars reads it from a CSV cell, also where
// RapidJSON's own reading goes wrong (a zero with a large exponent).
TEST(ScheduleJson, NumbersReadAsInCsv) {
    const std::vector<std::string> numbers{"0e42",
                                           "0.0e-30",
                                           "-0e99",
                                           "0.000e23",
                                           "9.1",
                                           "0.1",
                                           "22.05",
                                           "1e-3",
                                           "5e-324",
                                           "1.7976931348623157e308",
                                           "123456789012345678901234567890",
                                           "7",
                                           "-7",
                                           "18446744073709551616"};
    std::string csv = ",a\n";
    std::string data;
    std::string index;
    for (std::size_t i = 0; i < numbers.size(); ++i) {
        const std::string day =
            "2024-01-" + std::string(i + 1 < 10 ? "0" : "") + std::to_string(i + 1);
        csv += day + "," + numbers[i] + "\n";
        index += (i ? ",\"" : "\"") + day + "\"";
        data += (i ? ",[" : "[") + numbers[i] + "]";
    }
    const Schedule from_csv = parse_schedule_csv(csv);
    const Schedule from_json = parse_schedule_json(R"({"columns":["a"],"index":[)" + index +
                                                   R"(],"data":[)" + data + "]}");
    ASSERT_EQ(from_json.values.size(), numbers.size());
    for (std::size_t i = 0; i < numbers.size(); ++i)
        EXPECT_EQ(from_json.values[i], from_csv.values[i]) << numbers[i];
    EXPECT_EQ(from_json.values[0], 0.0);
    EXPECT_EQ(from_json.values[4], 9.1);
}

TEST(ScheduleRequestJson, BareSplitHasNoAssetMap) {
    const auto request =
        parse_schedule_request_json(R"({"columns":["a"],"index":["2024-01-15"],"data":[[1]]})");
    EXPECT_EQ(request.schedule.columns, std::vector<std::string>{"a"});
    EXPECT_TRUE(request.asset_map.empty());
}

TEST(ScheduleRequestJson, WrappedWithAssetMap) {
    const auto request = parse_schedule_request_json(R"({
        "schedule": {"columns":["ev_001_kw"],"index":["2024-01-15T08:00:00Z"],"data":[[7.4]]},
        "asset_map": {"ev_001": "ast_charger_bay_1", "battery": "ast_batt_001"}
    })");
    EXPECT_EQ(request.schedule.at(0, 0), 7.4);
    EXPECT_EQ(request.asset_map,
              (std::map<std::string, std::string>{{"ev_001", "ast_charger_bay_1"},
                                                  {"battery", "ast_batt_001"}}));
}

TEST(ScheduleRequestJson, WrappedWithoutAssetMap) {
    const auto request = parse_schedule_request_json(
        R"({"schedule": {"columns":["a"],"index":["2024-01-15"],"data":[[1]]}})");
    EXPECT_EQ(request.schedule.rows(), 1u);
    EXPECT_TRUE(request.asset_map.empty());
}

// ---------------------------------------------------------------------------
// JSON: refusals name the JSON path

TEST(ScheduleJsonErrors, MalformedJsonGivesLineColumnAndOffset) {
    EXPECT_EQ(json_refusal("{\n  \"columns\": [\"a\",]\n}"),
              "invalid JSON at line 2, column 19 (offset 20): Invalid value.");
    EXPECT_EQ(json_refusal(""),
              "invalid JSON at line 1, column 1 (offset 0): The document is empty.");
    EXPECT_EQ(json_refusal(R"({"columns":["a"]} x)"),
              "invalid JSON at line 1, column 19 (offset 18): The document root must not be "
              "followed by other values.");
    EXPECT_EQ(
        json_refusal(R"({"columns":["a"],"index":["2024-01-15"],"data":[[1e999]]})"),
        "invalid JSON at line 1, column 50 (offset 49): Number too big to be stored in double.");
}

// Megabytes of brackets fit the API's body limit; the parser recurses per
// level, so they are refused before it runs, not followed off the stack.
TEST(ScheduleJsonErrors, DeepNestingIsRefusedWhereItExceedsTheLimit) {
    const std::string deep = std::string(3'000'000, '[') + std::string(3'000'000, ']');
    EXPECT_EQ(json_refusal(deep),
              "JSON nested deeper than 64 levels at line 1, column 65 (offset 64)");
    // Brackets inside strings (escaped quotes too) are not nesting.
    const std::string in_strings = R"({"columns":["a\"[[[)" + std::string(100, '[') +
                                   R"("],"index":["2024-01-15"],"data":[[1]]})";
    EXPECT_EQ(parse_schedule_json(in_strings).rows(), 1u);
    const std::string wrapped =
        R"({"schedule":)" + std::string(64, '[') + std::string(64, ']') + "}";
    EXPECT_NE(json_refusal(wrapped).find("at line 1, column 76 (offset 75)"), std::string::npos)
        << json_refusal(wrapped);
}

TEST(ScheduleJsonErrors, TopLevelShape) {
    EXPECT_EQ(json_refusal("[]"),
              "$: expected an object with \"columns\", \"index\" and \"data\" (pandas "
              "orient=\"split\"), got array");
    EXPECT_EQ(
        json_refusal(R"({"columns":["a"],"index":["2024-01-15"],"data":[[1]],"name":"x","foo":1})"),
        "$: unknown key(s) \"name\", \"foo\"; pandas orient=\"split\" has only \"columns\", "
        "\"index\" and \"data\"");
    EXPECT_EQ(json_refusal(R"({"columns":["a"],"data":[[1]]})"), "$: missing \"index\"");
    EXPECT_EQ(json_refusal(R"({"index":[],"data":[]})"), "$: missing \"columns\"");
    EXPECT_EQ(json_refusal(R"({"columns":["a"],"index":["2024-01-15"]})"), "$: missing \"data\"");
    EXPECT_EQ(
        json_refusal(R"({"columns":["a"],"columns":["b"],"index":["2024-01-15"],"data":[[1]]})"),
        "$: duplicate key \"columns\"");
}

TEST(ScheduleJsonErrors, Columns) {
    EXPECT_EQ(json_refusal(R"({"columns":"a","index":["2024-01-15"],"data":[[1]]})"),
              "$.columns: expected an array of column names, got string");
    EXPECT_EQ(json_refusal(R"({"columns":[],"index":["2024-01-15"],"data":[[]]})"),
              "$.columns: no data columns");
    EXPECT_EQ(json_refusal(R"({"columns":["a",2],"index":["2024-01-15"],"data":[[1,2]]})"),
              "$.columns[1]: expected a string, got number");
    EXPECT_EQ(json_refusal(R"({"columns":["a","b","a"],"index":["2024-01-15"],"data":[[1,2,3]]})"),
              "$.columns[2]: duplicate column name \"a\" (also $.columns[0])");
    EXPECT_EQ(json_refusal(R"({"columns":["a",""],"index":["2024-01-15"],"data":[[1,2]]})"),
              "$.columns[1]: empty column name");
}

TEST(ScheduleJsonErrors, Index) {
    EXPECT_EQ(json_refusal(R"({"columns":["a"],"index":{},"data":[]})"),
              "$.index: expected an array of timestamps, got object");
    EXPECT_EQ(json_refusal(R"({"columns":["a"],"index":[],"data":[]})"), "$.index: no rows");
    EXPECT_EQ(
        json_refusal(
            R"({"columns":["a"],"index":["2024-01-15","2024-01-16","2024-01-17","2024-02-30"],"data":[[1],[2],[3],[4]]})"),
        "$.index[3]: '2024-02-30' is not an ISO 8601 timestamp");
    EXPECT_EQ(json_refusal(R"({"columns":["a"],"index":["2024-01-15",true],"data":[[1],[2]]})"),
              "$.index[1]: expected an ISO 8601 string or integer epoch milliseconds, got boolean");
    EXPECT_EQ(json_refusal(R"({"columns":["a"],"index":[1705305600000.5],"data":[[1]]})"),
              "$.index[0]: expected an ISO 8601 string or integer epoch milliseconds, got a "
              "non-integer number");
    EXPECT_EQ(json_refusal(R"({"columns":["a"],"index":[9223372036854775807],"data":[[1]]})"),
              "$.index[0]: 9223372036854775807 epoch milliseconds is out of the representable "
              "range");
    EXPECT_EQ(json_refusal(R"({"columns":["a"],"index":[18446744073709551615],"data":[[1]]})"),
              "$.index[0]: 18446744073709551615 epoch milliseconds is out of the representable "
              "range");
    EXPECT_EQ(
        json_refusal(
            R"({"columns":["a"],"index":["2024-01-15T08:00:00Z","2024-01-15T07:00:00Z"],"data":[[1],[2]]})"),
        "$.index[1]: 2024-01-15T07:00:00Z is not after $.index[0] (2024-01-15T08:00:00Z); "
        "the index must be strictly increasing");
    EXPECT_EQ(
        json_refusal(R"({"columns":["a"],"index":[1705305600000,1705305600000],"data":[[1],[2]]})"),
        "$.index[1]: 2024-01-15T08:00:00Z is not after $.index[0] (2024-01-15T08:00:00Z); "
        "the index must be strictly increasing");
}

TEST(ScheduleJsonErrors, Data) {
    const std::string head =
        R"({"columns":["ev_a_kw","ev_b_kw"],"index":["2024-01-15","2024-01-16","2024-01-17"],"data":)";
    EXPECT_EQ(json_refusal(head + "{}}"), "$.data: expected an array of rows, got object");
    EXPECT_EQ(json_refusal(head + "[[1,2],[3,4]]}"),
              "$.data: 2 rows, but the index has 3 timestamps");
    EXPECT_EQ(json_refusal(head + "[[1,2],5,[3,4]]}"),
              "$.data[1]: expected an array (one row), got number");
    EXPECT_EQ(json_refusal(head + "[[1,2],[3,4],[5]]}"),
              "$.data[2]: expected 2 values (one per column), got 1");
    EXPECT_EQ(json_refusal(head + R"([[1,2],[3,4],[5,"6"]]})"),
              "$.data[2][1]: expected a number or null, got string");
    EXPECT_EQ(json_refusal(head + "[[1,2],[3,4],[true,6]]}"),
              "$.data[2][0]: expected a number or null, got boolean");
    EXPECT_EQ(json_refusal(head + "[[1,2],[3,Infinity],[5,6]]}"),
              "$.data[1][1]: infinite value; a missing value is null");
    EXPECT_EQ(json_refusal(head + "[[1,2],[3,4],[5,-Infinity]]}"),
              "$.data[2][1]: infinite value; a missing value is null");
    EXPECT_EQ(json_refusal(head + "[[1,2],[3,4],[5,2e308]]}"),
              "invalid JSON at line 1, column 106 (offset 105): the number 2e308 is out of the "
              "range of a double");
}

TEST(ScheduleRequestJsonErrors, WrappedPathsStartAtSchedule) {
    EXPECT_EQ(
        request_refusal(
            R"({"schedule":{"columns":["ev_a_kw"],"index":["2024-01-15"],"data":[["x"]]},"asset_map":{}})"),
        "$.schedule.data[0][0]: expected a number or null, got string");
    EXPECT_EQ(request_refusal(R"({"schedule":[],"asset_map":{}})"),
              "$.schedule: expected an object with \"columns\", \"index\" and \"data\" (pandas "
              "orient=\"split\"), got array");
}

TEST(ScheduleRequestJsonErrors, WrapperShape) {
    EXPECT_EQ(request_refusal("[1]"), "$: expected an object, got array");
    EXPECT_EQ(request_refusal(R"({"asset_map":{"ev_001":"x"}})"),
              "$: missing \"schedule\" (the pandas orient=\"split\" object) beside \"asset_map\"");
    EXPECT_EQ(
        request_refusal(
            R"({"schedule":{"columns":["a"],"index":["2024-01-15"],"data":[[1]]},"site":"x"})"),
        "$: unknown key \"site\"; a wrapped body has only \"schedule\" and \"asset_map\"");
}

TEST(ScheduleRequestJsonErrors, AssetMap) {
    const std::string schedule =
        R"("schedule":{"columns":["a"],"index":["2024-01-15"],"data":[[1]]})";
    EXPECT_EQ(request_refusal("{" + schedule + R"(,"asset_map":["ev_001"]})"),
              "$.asset_map: expected an object of column key -> asset id, got array");
    EXPECT_EQ(request_refusal("{" + schedule + R"(,"asset_map":{"battery":"b","ev_001":1}})"),
              "$.asset_map.ev_001: expected a string, got number");
    EXPECT_EQ(request_refusal("{" + schedule + R"(,"asset_map":{"ev 0\"1":null}})"),
              "$.asset_map[\"ev 0\\\"1\"]: expected a string, got null");
    EXPECT_EQ(request_refusal("{" + schedule + R"(,"asset_map":{"ev_001":"a","ev_001":"b"}})"),
              "$.asset_map: duplicate key \"ev_001\"");
}

}  // namespace
