#include <cmath>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "gridgate/battery_sim/map_file.hpp"
#include "gridgate/modbus/setpoint.hpp"

namespace gridgate::modbus {
namespace {

using Words = std::vector<std::uint16_t>;

RegisterPoint pt(std::string name, std::uint16_t address, PointType type, double scale = 1) {
    RegisterPoint p;
    p.name = std::move(name);
    p.address = address;
    p.type = type;
    p.scale = scale;
    return p;
}

const AssetLimits limits{.max_charge_kw = 50, .max_discharge_kw = 40, .rated_power_kw = 100};

/// (point, address, registers) of each write, for compact expectations.
std::vector<std::tuple<std::string, std::uint16_t, Words>> summary(const SetpointPlan& plan) {
    std::vector<std::tuple<std::string, std::uint16_t, Words>> out;
    for (const auto& w : plan.writes) out.emplace_back(w.point, w.address, w.values);
    return out;
}

TEST(ModbusSetpointPlan, SignedPowerWritesChargeMinusDischarge) {
    const auto map = battery_sim::generic_battery_map();
    auto plan = plan_setpoint(map, limits, {.charge_kw = 0, .discharge_kw = 5});
    ASSERT_TRUE(plan) << plan.error();
    EXPECT_EQ(plan->net_kw, -5);
    ASSERT_EQ(plan->writes.size(), 1U);
    const auto& w = plan->writes[0];
    EXPECT_EQ(w.point, "power_setpoint");
    EXPECT_EQ(w.table, Table::holding);
    EXPECT_EQ(w.address, 100);
    EXPECT_EQ(w.values, (Words{0xFFFF, 0xEC78}));  // -5000 W, one two-register write
    EXPECT_TRUE(plan->adjustments.empty());

    plan = plan_setpoint(map, limits, {.charge_kw = 12.5, .discharge_kw = 0});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->writes[0].values, (Words{0x0000, 0x30D4}));  // 12500
}

TEST(ModbusSetpointPlan, ArrivalOrderOfChargeAndDischargeDoesNotMatter) {
    // Whatever order SET_CHARGE_RATE 0 and SET_DISCHARGE_RATE 5 arrive in, the
    // adapter plans from both latest values, so the result is the same.
    const auto map = battery_sim::generic_battery_map();
    auto a = plan_setpoint(map, limits, {.charge_kw = 0, .discharge_kw = 5});
    auto b = plan_setpoint(map, limits, {.discharge_kw = 5, .soc = std::nullopt});
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->writes, b->writes);
}

TEST(ModbusSetpointPlan, ClampsToTheAssetLimits) {
    const auto map = battery_sim::generic_battery_map();
    auto plan = plan_setpoint(map, limits, {.charge_kw = 80});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->net_kw, 50);
    EXPECT_EQ(plan->writes[0].values, (Words{0x0000, 0xC350}));  // 50000
    ASSERT_EQ(plan->adjustments.size(), 1U);
    EXPECT_EQ(plan->adjustments[0], "charge 80 kW clamped to max_charge_kw 50");

    plan = plan_setpoint(map, limits, {.discharge_kw = 45});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->net_kw, -40);

    // The limits bound what the battery does, charge - discharge: each side
    // may be above its limit while the difference is within it.
    plan = plan_setpoint(map, limits, {.charge_kw = 80, .discharge_kw = 40});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->net_kw, 40);
    EXPECT_TRUE(plan->adjustments.empty());
    plan = plan_setpoint(map, limits, {.charge_kw = 10, .discharge_kw = 70});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->net_kw, -40);
    ASSERT_EQ(plan->adjustments.size(), 1U);
    EXPECT_EQ(plan->adjustments[0], "discharge 60 kW clamped to max_discharge_kw 40");
}

// Rounding to the register's resolution must not carry the clamped value
// past the asset limit: 10.06 kW at 0.1 kW per step is 100 (10.0 kW), not
// 101 (10.1 kW). Below the limit, values still round to nearest.
TEST(ModbusSetpointPlan, RoundingNeverCarriesPastTheAssetLimit) {
    RegisterMap map;
    map.name = "coarse";
    map.points = {pt("power_setpoint", 100, PointType::int16, 0.1)};
    const AssetLimits odd{.max_charge_kw = 10.06, .max_discharge_kw = 7.26};
    auto plan = plan_setpoint(map, odd, {.charge_kw = 11});
    ASSERT_TRUE(plan) << plan.error();
    EXPECT_EQ(plan->writes[0].values, Words{100});
    EXPECT_DOUBLE_EQ(plan->writes[0].value, 10.0);
    plan = plan_setpoint(map, odd, {.charge_kw = 10.06});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->writes[0].values, Words{100});
    plan = plan_setpoint(map, odd, {.discharge_kw = 9});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->writes[0].values, Words{static_cast<std::uint16_t>(-72)});
    plan = plan_setpoint(map, odd, {.charge_kw = 9.96});  // 100: up, within the limit
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->writes[0].values, Words{100});
    plan = plan_setpoint(map, odd, {.discharge_kw = 7.04});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->writes[0].values, Words{static_cast<std::uint16_t>(-70)});

    // The same for a magnitude and for separate charge / discharge points.
    map.direction_values = {.charge = 1, .discharge = 2, .idle = 0};
    map.points = {pt("direction", 20, PointType::uint16),
                  pt("power_magnitude", 21, PointType::uint16, 0.1)};
    plan = plan_setpoint(map, odd, {.charge_kw = 11, .direction = 1});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->writes.back().values, Words{100});
    map.points = {pt("charge_setpoint", 10, PointType::uint16, 0.1),
                  pt("discharge_setpoint", 11, PointType::uint16, 0.1)};
    plan = plan_setpoint(map, odd, {.discharge_kw = 9});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->writes.back().values, Words{72});
}

TEST(ModbusSetpointPlan, SocLimitsStopChargingAndDischarging) {
    const auto map = battery_sim::generic_battery_map();
    AssetLimits l = limits;
    l.min_soc = 10;
    l.max_soc = 90;
    auto full = plan_setpoint(map, l, {.charge_kw = 20, .soc = 90.0});
    ASSERT_TRUE(full);
    EXPECT_EQ(full->net_kw, 0);
    EXPECT_EQ(full->writes[0].values, (Words{0, 0}));
    EXPECT_EQ(full->adjustments.back(), "charging stopped: SoC 90% at max_soc 90%");

    // A full battery may still discharge; an empty one may still charge.
    auto discharge_full = plan_setpoint(map, l, {.discharge_kw = 20, .soc = 95.0});
    ASSERT_TRUE(discharge_full);
    EXPECT_EQ(discharge_full->net_kw, -20);
    auto empty = plan_setpoint(map, l, {.discharge_kw = 20, .soc = 10.0});
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->net_kw, 0);
    auto charge_empty = plan_setpoint(map, l, {.charge_kw = 20, .soc = 5.0});
    ASSERT_TRUE(charge_empty);
    EXPECT_EQ(charge_empty->net_kw, 20);
    // Without a fresh SoC reading, no SoC limit applies.
    auto unknown = plan_setpoint(map, l, {.charge_kw = 20});
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->net_kw, 20);
}

TEST(ModbusSetpointPlan, SeparateChargeAndDischargePointsZeroTheOtherSideFirst) {
    RegisterMap map;
    map.name = "split";
    map.points = {pt("charge_setpoint", 10, PointType::uint16, 0.1),
                  pt("discharge_setpoint", 11, PointType::uint16, 0.1)};
    auto plan = plan_setpoint(map, limits, {.charge_kw = 7.5});
    ASSERT_TRUE(plan) << plan.error();
    using Row = std::tuple<std::string, std::uint16_t, Words>;
    EXPECT_EQ(summary(*plan),
              (std::vector<Row>{{"discharge_setpoint", 11, {0}}, {"charge_setpoint", 10, {75}}}));
    plan = plan_setpoint(map, limits, {.discharge_kw = 3});
    ASSERT_TRUE(plan);
    EXPECT_EQ(summary(*plan),
              (std::vector<Row>{{"charge_setpoint", 10, {0}}, {"discharge_setpoint", 11, {30}}}));
}

TEST(ModbusSetpointPlan, AnUnchangedDirectionIsWrittenWithItsMagnitude) {
    RegisterMap map;
    map.name = "dir";
    map.direction_values = {.charge = 1, .discharge = 2, .idle = 0};
    map.points = {pt("direction", 20, PointType::uint16),
                  pt("power_magnitude", 21, PointType::uint32, 0.01)};
    using Row = std::tuple<std::string, std::uint16_t, Words>;
    auto plan = plan_setpoint(map, limits, {.discharge_kw = 12.34, .direction = 2});
    ASSERT_TRUE(plan) << plan.error();
    EXPECT_EQ(plan->direction, 2.0);
    EXPECT_EQ(summary(*plan),
              (std::vector<Row>{{"direction", 20, {2}}, {"power_magnitude", 21, {0, 1234}}}));
    plan = plan_setpoint(map, limits, {.charge_kw = 1, .direction = 1});
    ASSERT_TRUE(plan);
    EXPECT_EQ(summary(*plan),
              (std::vector<Row>{{"direction", 20, {1}}, {"power_magnitude", 21, {0, 100}}}));
}

// Direction first would run the old magnitude in the new direction (50 kW of
// discharge becoming 50 kW of charge under a 5 kW max_charge_kw), and leave
// it so if the magnitude write failed: the magnitude goes to 0 first.
TEST(ModbusSetpointPlan, AChangeOfDirectionStopsBeforeItTurns) {
    RegisterMap map;
    map.name = "dir";
    map.direction_values = {.charge = 1, .discharge = 2, .idle = 0};
    map.points = {pt("direction", 20, PointType::uint16),
                  pt("power_magnitude", 21, PointType::uint32, 0.01)};
    using Row = std::tuple<std::string, std::uint16_t, Words>;
    auto plan = plan_setpoint(map, limits, {.charge_kw = 5, .direction = 2});
    ASSERT_TRUE(plan) << plan.error();
    EXPECT_EQ(plan->direction, 1.0);
    EXPECT_EQ(summary(*plan), (std::vector<Row>{{"power_magnitude", 21, {0, 0}},
                                                {"direction", 20, {1}},
                                                {"power_magnitude", 21, {0, 500}}}));
    // An unknown direction (never written, a failed write, a reconnect) is a change.
    plan = plan_setpoint(map, limits, {.discharge_kw = 12.34});
    ASSERT_TRUE(plan);
    EXPECT_EQ(summary(*plan), (std::vector<Row>{{"power_magnitude", 21, {0, 0}},
                                                {"direction", 20, {2}},
                                                {"power_magnitude", 21, {0, 1234}}}));
    plan = plan_setpoint(map, limits, {.direction = 2});
    ASSERT_TRUE(plan);
    EXPECT_EQ(summary(*plan),
              (std::vector<Row>{{"power_magnitude", 21, {0, 0}}, {"direction", 20, {0}}}));
    plan = plan_idle(map, limits);
    ASSERT_TRUE(plan);
    EXPECT_EQ(summary(*plan),
              (std::vector<Row>{{"power_magnitude", 21, {0, 0}}, {"direction", 20, {0}}}));
}

TEST(ModbusSetpointPlan, PercentOfRatedPower) {
    RegisterMap map;
    map.name = "pct";
    auto p = pt("power_setpoint", 40, PointType::int16, 0.1);
    p.unit = PowerUnit::percent;
    map.points = {p};
    auto plan = plan_setpoint(map, limits, {.discharge_kw = 25});  // 25 % of 100 kW
    ASSERT_TRUE(plan) << plan.error();
    EXPECT_EQ(plan->writes[0].values, Words{static_cast<std::uint16_t>(-250)});
    EXPECT_DOUBLE_EQ(plan->writes[0].value, -25.0);

    AssetLimits no_rating = limits;
    no_rating.rated_power_kw.reset();
    auto refused = plan_setpoint(map, no_rating, {.charge_kw = 1});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("percent of rated power, but the asset has no rated power"),
              std::string::npos);
}

TEST(ModbusSetpointPlan, PreWritesComeFirstInMapOrder) {
    RegisterMap map = battery_sim::generic_battery_map();
    map.points.push_back(pt("remote_mode", 90, PointType::uint16));
    map.points.push_back(pt("unlock", 91, PointType::uint16));
    map.pre_writes = {{"unlock", 0xA5A5, ""}, {"remote_mode", 1, ""}};
    auto plan = plan_setpoint(map, limits, {.charge_kw = 1});
    ASSERT_TRUE(plan) << plan.error();
    using Row = std::tuple<std::string, std::uint16_t, Words>;
    EXPECT_EQ(summary(*plan), (std::vector<Row>{{"unlock", 91, {0xA5A5}},
                                                {"remote_mode", 90, {1}},
                                                {"power_setpoint", 100, {0, 1000}}}));
}

TEST(ModbusSetpointPlan, ThePointsOwnRangeClampsLast) {
    RegisterMap map;
    map.name = "r";
    auto p = pt("power_setpoint", 1, PointType::int16, 0.1);
    p.min = -20;
    p.max = 30;
    map.points = {p};
    auto plan = plan_setpoint(map, limits, {.charge_kw = 45});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->writes[0].values, Words{300});
    EXPECT_EQ(plan->adjustments.back(), "'power_setpoint' 45 clamped to the point's max 30");
}

TEST(ModbusSetpointPlan, RefusesWhatCannotBePlanned) {
    RegisterMap telemetry_only;
    telemetry_only.name = "meter";
    telemetry_only.points = {pt("soc", 1, PointType::uint16)};
    telemetry_only.points[0].table = Table::input;
    auto plan = plan_setpoint(telemetry_only, limits, {.charge_kw = 1});
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().find("register map 'meter': no setpoint point"), std::string::npos);

    const auto map = battery_sim::generic_battery_map();
    EXPECT_FALSE(plan_setpoint(map, limits, {.charge_kw = -1}));
    EXPECT_FALSE(plan_setpoint(map, limits, {.discharge_kw = std::nan("")}));
}

TEST(ModbusSetpointPlan, NamedPointWrites) {
    RegisterMap map = battery_sim::generic_battery_map();
    auto enable = pt("enable", 5, PointType::boolean);
    enable.table = Table::coil;
    auto limit = pt("power_limit", 110, PointType::uint16);
    limit.unit = PowerUnit::percent;
    map.points.push_back(enable);
    map.points.push_back(limit);

    auto w = plan_point_write(map, "enable", 1);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->table, Table::coil);
    EXPECT_EQ(w->values, Words{1});

    auto l = plan_power_limit(map, limits, 50);  // 50 kW of 100 kW rated
    ASSERT_TRUE(l);
    EXPECT_EQ(l->values, Words{50});

    auto missing = plan_point_write(map, "soc_target", 80);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error(), "register map 'generic_battery': no point 'soc_target'");
    auto read_only = plan_point_write(map, "soc", 80);
    ASSERT_FALSE(read_only);
    EXPECT_NE(read_only.error().find("read-only input table"), std::string::npos);
}

TEST(ModbusSetpointPlan, HeartbeatCountsAndWraps) {
    RegisterMap map = battery_sim::generic_battery_map();
    map.points.push_back(pt("watchdog", 300, PointType::uint16));
    map.heartbeat = Heartbeat{.point = "watchdog", .mode = Heartbeat::Mode::counter};
    EXPECT_EQ(plan_heartbeat(map, 0)->values, Words{0});
    EXPECT_EQ(plan_heartbeat(map, 7)->values, Words{7});
    EXPECT_EQ(plan_heartbeat(map, 65536 + 3)->values, Words{3});
    // Within the point's own range: max = 20 counts 0..20, then 0 again.
    map.points.back().max = 20;
    EXPECT_EQ(plan_heartbeat(map, 20)->values, Words{20});
    EXPECT_EQ(plan_heartbeat(map, 21)->values, Words{0});
    map.points.back().min = 1;
    map.points.back().max = 3;
    std::vector<Words> beats;
    for (std::uint64_t beat = 0; beat < 5; ++beat)
        beats.push_back(plan_heartbeat(map, beat)->values);
    EXPECT_EQ(beats, (std::vector<Words>{{1}, {2}, {3}, {1}, {2}}));
    // Scaled: 0.1 per step up to 2.0 is raw 0..20.
    map.points.back() = pt("watchdog", 300, PointType::uint16, 0.1);
    map.points.back().max = 2.0;
    EXPECT_EQ(plan_heartbeat(map, 20)->values, Words{20});
    EXPECT_EQ(plan_heartbeat(map, 21)->values, Words{0});
    map.points.back().max = -1;
    auto none = plan_heartbeat(map, 0);
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().find("has no counter value within its range"), std::string::npos);
    map.points.back() = pt("watchdog", 300, PointType::uint16);
    map.heartbeat->mode = Heartbeat::Mode::constant;
    map.heartbeat->value = 0x55;
    EXPECT_EQ(plan_heartbeat(map, 9)->values, Words{0x55});
}

TEST(ModbusSetpointPlan, MultipleWriteFunctionOnRequest) {
    RegisterMap map;
    map.name = "fc16";
    map.always_write_multiple = true;
    map.points = {pt("power_setpoint", 1, PointType::int16)};
    auto plan = plan_setpoint(map, limits, {.charge_kw = 3});
    ASSERT_TRUE(plan);
    EXPECT_TRUE(plan->writes[0].write_multiple);
}

}  // namespace
}  // namespace gridgate::modbus
