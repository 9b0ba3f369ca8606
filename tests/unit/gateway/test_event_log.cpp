#include "event_log.hpp"

#include <gtest/gtest.h>

namespace gridgate::gateway {
namespace {

TEST(EventLog, TelemetryNamesTheValuesThatAreStale) {
    engine::Event e;
    e.type = engine::EventType::Telemetry;
    e.asset_id = "ast_batt_001";
    e.telemetry = {{"soc", 55.5}, {"active_power", -3.2}};
    EXPECT_EQ(format_event(e), "TELEMETRY asset_id=ast_batt_001 soc=55.5 active_power=-3.2");
    // The device stopped answering: the values are its last, and say so.
    e.stale_telemetry = {"soc", "active_power"};
    EXPECT_EQ(format_event(e),
              "TELEMETRY asset_id=ast_batt_001 soc=55.5 active_power=-3.2 "
              "stale=soc,active_power");
}

// Column names are the schedule sender's: one that holds a blank, '=', ','
// or a quote cannot pass for fields of its own.
TEST(EventLog, IgnoredColumnsThatCouldForgeFieldsAreQuoted) {
    engine::Event e;
    e.type = engine::EventType::ScheduleReceived;
    e.schedule_id = "sch_0123456789ab";
    e.command_count = 2;
    e.ignored_columns = {"price_eur", "pv_forecast.kw", "x commands=9", "a,b", "say \"hi\"", ""};
    EXPECT_EQ(format_event(e),
              "SCHEDULE_RECEIVED schedule_id=sch_0123456789ab commands=2 cancelled=0 "
              "ignored_columns=price_eur,pv_forecast.kw,\"x commands=9\",\"a,b\","
              "\"say \\\"hi\\\"\",\"\"");
}

}  // namespace
}  // namespace gridgate::gateway
