#include "gridgate/http/json.hpp"

#include <chrono>
#include <vector>

#include <gtest/gtest.h>

namespace gridgate::http {
namespace {

using namespace std::chrono;
using sdk::TimePoint;

TimePoint at(int y, unsigned m, unsigned d, int hh, int mm, int ss) {
    return TimePoint{sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss}};
}

TEST(FormatUtc, WholeSecondsHaveNoFraction) {
    EXPECT_EQ(format_utc(at(2024, 1, 15, 8, 0, 0)), "2024-01-15T08:00:00Z");
    EXPECT_EQ(format_utc(TimePoint{}), "1970-01-01T00:00:00Z");
    EXPECT_EQ(format_utc(at(2024, 2, 29, 23, 59, 59)), "2024-02-29T23:59:59Z");
}

TEST(FormatUtc, FractionUsesTheFewestOfThreeSixOrNineDigits) {
    auto base = at(2024, 1, 15, 8, 0, 0);
    EXPECT_EQ(format_utc(base + milliseconds(250)), "2024-01-15T08:00:00.250Z");
    EXPECT_EQ(format_utc(base + microseconds(1)), "2024-01-15T08:00:00.000001Z");
    // Nanoseconds are cut to microseconds, which every ISO 8601 reader takes.
    EXPECT_EQ(format_utc(base + nanoseconds(123456789)), "2024-01-15T08:00:00.123456Z");
    EXPECT_EQ(format_utc(base + nanoseconds(999)), "2024-01-15T08:00:00Z");
}

TEST(FormatUtc, InstantsBeforeTheEpoch) {
    EXPECT_EQ(format_utc(TimePoint{} - milliseconds(500)), "1969-12-31T23:59:59.500Z");
}

TEST(FormatUtc, EveryFieldKeepsItsWidth) {
    EXPECT_EQ(format_utc(at(2038, 11, 9, 13, 5, 7) + microseconds(120'034)),
              "2038-11-09T13:05:07.120034Z");
    EXPECT_EQ(format_utc(at(1700, 3, 1, 0, 0, 0)), "1700-03-01T00:00:00Z");
    EXPECT_EQ(format_utc(at(2261, 12, 31, 23, 59, 59) + milliseconds(999)),
              "2261-12-31T23:59:59.999Z");
    EXPECT_EQ(format_utc(at(2024, 1, 1, 0, 0, 0) + microseconds(999'999)),
              "2024-01-01T00:00:00.999999Z");
}

sdk::Command sample_command() {
    sdk::Command c;
    c.command_id = sdk::CommandId{0xabcdef012345};
    c.asset_id = "ast_charger_bay_1";
    c.command_type = sdk::CommandType::SetChargeRate;
    c.parameters.power_kw = 22.0;
    c.scheduled_at = at(2024, 1, 15, 8, 0, 0);
    return c;
}

TEST(CommandJson, PendingCommandHasNullTimesAndError) {
    EXPECT_EQ(command_to_json(sample_command()),
              R"({"command_id":"cmd_abcdef012345","asset_id":"ast_charger_bay_1",)"
              R"("command_type":"SET_CHARGE_RATE","parameters":{"power_kw":22.0},)"
              R"("scheduled_at":"2024-01-15T08:00:00Z","status":"PENDING","retry_count":0,)"
              R"("max_retries":3,"timeout_seconds":30.0,"dispatched_at":null,)"
              R"("completed_at":null,"error":null})");
}

TEST(CommandJson, FinishedCommandShowsItsTimesAndErrorEscaped) {
    sdk::Command c = sample_command();
    c.command_type = sdk::CommandType::StartCharging;
    c.parameters = {};
    c.parameters.connector_id = 2;
    c.parameters.id_tag = "TAG\"1";
    c.status = sdk::CommandStatus::Failed;
    c.retry_count = 3;
    c.timeout_seconds = 12.5;
    c.dispatched_at = at(2024, 1, 15, 8, 0, 0) + milliseconds(12);
    c.completed_at = at(2024, 1, 15, 8, 0, 1);
    c.error = "CALLERROR NotSupported: \"remote start\"\nline2\t\\";
    EXPECT_EQ(
        command_to_json(c),
        R"({"command_id":"cmd_abcdef012345","asset_id":"ast_charger_bay_1",)"
        R"("command_type":"START_CHARGING","parameters":{"connector_id":2,"id_tag":"TAG\"1"},)"
        R"("scheduled_at":"2024-01-15T08:00:00Z","status":"FAILED","retry_count":3,)"
        R"("max_retries":3,"timeout_seconds":12.5,)"
        R"("dispatched_at":"2024-01-15T08:00:00.012Z","completed_at":"2024-01-15T08:00:01Z",)"
        R"("error":"CALLERROR NotSupported: \"remote start\"\nline2\t\\"})");
}

TEST(CommandJson, AllParameterKindsInAFixedOrder) {
    sdk::Command c = sample_command();
    c.parameters.soc_percent = 80.5;
    c.parameters.operative = false;
    std::string json = command_to_json(c);
    EXPECT_NE(json.find(R"("parameters":{"power_kw":22.0,"soc_percent":80.5,"operative":false})"),
              std::string::npos)
        << json;
}

TEST(CommandJson, ListWrapsCommands) {
    EXPECT_EQ(commands_to_json({}), R"({"commands":[]})");
    std::vector<sdk::Command> two{sample_command(), sample_command()};
    two[1].command_id = sdk::CommandId{1};
    std::string json = commands_to_json(two);
    EXPECT_EQ(json,
              R"({"commands":[)" + command_to_json(two[0]) + "," + command_to_json(two[1]) + "]}");
}

TEST(ErrorJson, EscapesControlCharactersAndQuotes) {
    EXPECT_EQ(error_json("line 3, column 2: bad \"x\"\x01"),
              R"({"error":"line 3, column 2: bad \"x\"\u0001"})");
}

TEST(ErrorJson, ReplacesInvalidUtf8SoTheOutputStaysJson) {
    // A CSV column name quoted byte for byte: a stray Latin-1 byte and an
    // overlong encoding each become U+FFFD; valid multi-byte text is kept.
    EXPECT_EQ(error_json("column 'caf\xE9' \xC0\xAF \xE2\x82\xAC"),
              "{\"error\":\"column 'caf\xEF\xBF\xBD' \xEF\xBF\xBD\xEF\xBF\xBD \xE2\x82\xAC\"}");
}

TEST(AssetsJson, RendersEveryFieldWithNullLastSeenAndNonFiniteTelemetry) {
    std::vector<AssetStatus> assets(2);
    assets[0] = {"ast_batt_001",
                 "battery",
                 "modbus",
                 true,
                 at(2024, 1, 15, 8, 0, 5),
                 {{"soc", 55.0}, {"active_power", -3.2}},
                 {"soc"}};
    assets[1] = {"ast_charger_bay_1",
                 "ev_charger",
                 "ocpp",
                 false,
                 std::nullopt,
                 {{"power", std::numeric_limits<double>::quiet_NaN()}}};
    EXPECT_EQ(assets_to_json(assets),
              R"({"assets":[)"
              R"({"id":"ast_batt_001","type":"battery","adapter":"modbus","connected":true,)"
              R"("last_seen":"2024-01-15T08:00:05Z","telemetry":{"soc":55.0,"active_power":-3.2},)"
              R"("stale_telemetry":["soc"]},)"
              R"({"id":"ast_charger_bay_1","type":"ev_charger","adapter":"ocpp","connected":false,)"
              R"("last_seen":null,"telemetry":{"power":null},"stale_telemetry":[]}]})");
    EXPECT_EQ(assets_to_json({}), R"({"assets":[]})");
}

TEST(ScheduleAcceptedJson, ListsCommandIdsAndIgnoredColumns) {
    std::vector<sdk::CommandId> ids{sdk::CommandId{1}, sdk::CommandId{0xffffffffffff}};
    std::vector<std::string> ignored{"price_eur", "pv_\"kw\""};
    EXPECT_EQ(schedule_accepted_json("sch_0001", ids, ignored),
              R"({"schedule_id":"sch_0001","commands":["cmd_000000000001","cmd_ffffffffffff"],)"
              R"("ignored_columns":["price_eur","pv_\"kw\""]})");
    EXPECT_EQ(schedule_accepted_json("s", {}, {}),
              R"({"schedule_id":"s","commands":[],"ignored_columns":[]})");
}

}  // namespace
}  // namespace gridgate::http
