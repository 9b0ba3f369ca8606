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

}  // namespace
}  // namespace gridgate::gateway
