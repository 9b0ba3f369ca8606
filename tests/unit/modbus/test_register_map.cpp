#include <algorithm>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "gridgate/battery_sim/map_file.hpp"
#include "gridgate/modbus/register_map.hpp"
#include "gridgate/modbus/setpoint.hpp"

namespace gridgate::modbus {
namespace {

using battery_sim::parse_register_map;

RegisterPoint pt(std::string name, std::uint16_t address, PointType type,
                 Table table = Table::holding, std::string where = "") {
    RegisterPoint p;
    p.name = std::move(name);
    p.address = address;
    p.type = type;
    p.table = table;
    p.where = std::move(where);
    return p;
}

std::string all(const std::vector<MapError>& errors) {
    std::string text;
    for (const auto& e : errors) text += e.str() + "\n";
    return text;
}

TEST(ModbusMapValidation, TheGenericBatteryIsValid) {
    const auto map = battery_sim::generic_battery_map();
    EXPECT_TRUE(validate(map).empty()) << all(validate(map));
    EXPECT_EQ(map.effective_pattern(), SetpointPattern::signed_power);
}

TEST(ModbusMapValidation, OverlappingPointsAreReportedAtTheLaterPoint) {
    RegisterMap map;
    map.name = "m";
    map.points = {pt("power_setpoint", 100, PointType::int32, Table::holding, "a.toml:2:1"),
                  pt("mode", 101, PointType::uint16, Table::holding, "a.toml:3:1"),
                  // Same address in another table does not overlap.
                  pt("soc", 100, PointType::uint16, Table::input, "a.toml:4:1")};
    const auto errors = validate(map);
    ASSERT_EQ(errors.size(), 1U) << all(errors);
    EXPECT_EQ(errors[0].str(),
              "a.toml:3:1: register map 'm', point 'mode': (holding 101) overlaps point "
              "'power_setpoint' (holding 100..101)");
}

TEST(ModbusMapValidation, AThirtyTwoBitPointNeverReachesAThirdRegister) {
    RegisterMap map;
    map.name = "m";
    map.points = {pt("power_setpoint", 100, PointType::int32), pt("next", 102, PointType::uint16)};
    EXPECT_TRUE(validate(map).empty()) << all(validate(map));
}

TEST(ModbusMapValidation, TypeMustFitItsTable) {
    RegisterMap map;
    map.name = "m";
    map.points = {pt("enable", 1, PointType::int32, Table::coil, "f:1:1"),
                  pt("flag", 2, PointType::boolean, Table::holding, "f:2:1"),
                  pt("ok", 3, PointType::boolean, Table::discrete, "f:3:1")};
    const auto errors = validate(map);
    ASSERT_EQ(errors.size(), 2U) << all(errors);
    EXPECT_EQ(errors[0].where, "f:1:1");
    EXPECT_NE(errors[0].message.find("type int32 cannot live in the coil table"),
              std::string::npos);
    EXPECT_EQ(errors[1].where, "f:2:1");
    EXPECT_NE(errors[1].message.find("type bool cannot live in the holding table"),
              std::string::npos);
}

TEST(ModbusMapValidation, ADeclaredPatternNeedsItsPoints) {
    RegisterMap map;
    map.name = "m";
    map.where = "site.toml:10:1";
    map.pattern = SetpointPattern::direction_magnitude;
    map.points = {pt("direction", 10, PointType::uint16)};
    const auto errors = validate(map);
    ASSERT_EQ(errors.size(), 1U) << all(errors);
    EXPECT_EQ(errors[0].str(),
              "site.toml:10:1: register map 'm': setpoint pattern direction_magnitude needs a "
              "point 'power_magnitude'");
}

TEST(ModbusMapValidation, HalfOfATwoPointPatternIsAnError) {
    RegisterMap map;
    map.name = "m";
    map.points = {pt("charge_setpoint", 10, PointType::uint16, Table::holding, "f:4:1")};
    const auto errors = validate(map);
    ASSERT_EQ(errors.size(), 1U) << all(errors);
    EXPECT_EQ(errors[0].where, "f:4:1");
    EXPECT_NE(errors[0].message.find("needs a point 'discharge_setpoint'"), std::string::npos);
}

TEST(ModbusMapValidation, SetpointsCannotLiveInReadOnlyTables) {
    RegisterMap map;
    map.name = "m";
    map.points = {pt("power_setpoint", 10, PointType::int32, Table::input, "f:1:1"),
                  pt("soc_target", 20, PointType::uint16, Table::input, "f:2:1")};
    const auto errors = validate(map);
    ASSERT_EQ(errors.size(), 2U) << all(errors);
    EXPECT_NE(errors[0].message.find("read-only input table"), std::string::npos);
    EXPECT_EQ(errors[1].where, "f:2:1");
}

TEST(ModbusMapValidation, PointRangeScaleAndLimits) {
    RegisterMap map;
    map.name = "m";
    auto a = pt("a", 65535, PointType::int32, Table::holding, "f:1:1");
    auto b = pt("b", 1, PointType::uint16, Table::holding, "f:2:1");
    b.scale = 0;
    auto c = pt("c", 2, PointType::uint16, Table::holding, "f:3:1");
    c.min = 10;
    c.max = 5;
    map.points = {a, b, c};
    const auto errors = validate(map);
    ASSERT_EQ(errors.size(), 3U) << all(errors);
    EXPECT_NE(errors[0].message.find("runs past register 65535"), std::string::npos);
    EXPECT_NE(errors[1].message.find("scale must be a non-zero number"), std::string::npos);
    EXPECT_NE(errors[2].message.find("min is greater than max"), std::string::npos);
}

// Found by fuzz_modbus_setpoint: with charge_setpoint min = 5 %, a command
// to discharge wrote the charge side as 5 % (clamped up from 0), and the
// device saw both sides above 0. A power point's range must hold 0.
TEST(ModbusMapValidation, APowerPointsRangeMustHoldZero) {
    RegisterMap map;
    map.name = "m";
    auto charge = pt("charge_setpoint", 40, PointType::uint16, Table::holding, "f:1:1");
    charge.min = 5;
    charge.max = 100;
    auto discharge = pt("discharge_setpoint", 41, PointType::uint16, Table::holding, "f:2:1");
    discharge.min = 0;
    auto limit = pt("power_limit", 42, PointType::int16, Table::holding, "f:3:1");
    limit.max = -1;
    auto soc_target = pt("soc_target", 43, PointType::uint16, Table::holding, "f:4:1");
    soc_target.min = 10;  // not a power: a range without 0 is fine
    map.points = {charge, discharge, limit, soc_target};
    const auto errors = validate(map);
    ASSERT_EQ(errors.size(), 2U) << all(errors);
    EXPECT_EQ(errors[0].where, "f:1:1");
    EXPECT_NE(errors[0].message.find("'charge_setpoint'"), std::string::npos) << errors[0].message;
    EXPECT_NE(errors[0].message.find("its range [5, 100] leaves out 0, so the device could not be "
                                     "told to stop"),
              std::string::npos)
        << errors[0].message;
    EXPECT_EQ(errors[1].where, "f:3:1");
    EXPECT_NE(errors[1].message.find("[-inf, -1]"), std::string::npos) << errors[1].message;
}

// Found by fuzz_modbus_setpoint: a discharge_setpoint declared as a bool coil
// was written 1 for any discharge power.
TEST(ModbusMapValidation, APowerPointIsNotABit) {
    RegisterMap map;
    map.name = "m";
    map.points = {pt("charge_setpoint", 40, PointType::uint16, Table::holding, "f:1:1"),
                  pt("discharge_setpoint", 2, PointType::boolean, Table::coil, "f:2:1"),
                  pt("power_limit", 3, PointType::uint16, Table::coil, "f:3:1"),
                  pt("enable", 4, PointType::boolean, Table::coil, "f:4:1")};
    const auto errors = validate(map);
    ASSERT_EQ(errors.size(), 2U) << all(errors);
    EXPECT_EQ(errors[0].where, "f:2:1");
    EXPECT_NE(errors[0].message.find("'discharge_setpoint': a power cannot be a bit"),
              std::string::npos)
        << errors[0].message;
    EXPECT_EQ(errors[1].where, "f:3:1");
}

TEST(ModbusMapValidation, PreWritesAndHeartbeatNameWritablePoints) {
    RegisterMap map;
    map.name = "m";
    map.points = {pt("power_setpoint", 100, PointType::int32),
                  pt("status", 5, PointType::uint16, Table::input)};
    map.pre_writes = {{"remote_mode", 1, "f:7:3"}, {"status", 1, "f:7:30"}};
    map.heartbeat = Heartbeat{.point = "watchdog", .where = "f:8:1"};
    const auto errors = validate(map);
    ASSERT_EQ(errors.size(), 3U) << all(errors);
    EXPECT_EQ(errors[0].str(),
              "f:7:3: register map 'm': pre-write names unknown point 'remote_mode'");
    EXPECT_EQ(errors[1].where, "f:7:30");
    EXPECT_EQ(errors[2].str(), "f:8:1: register map 'm': the heartbeat needs a point 'watchdog'");
}

TEST(ModbusMapValidation, PatternIsInferredFromThePoints) {
    RegisterMap map;
    map.points = {pt("charge_setpoint", 1, PointType::uint16),
                  pt("discharge_setpoint", 2, PointType::uint16)};
    EXPECT_EQ(map.effective_pattern(), SetpointPattern::charge_discharge);
    map.points = {pt("direction", 1, PointType::uint16),
                  pt("power_magnitude", 2, PointType::uint16)};
    EXPECT_EQ(map.effective_pattern(), SetpointPattern::direction_magnitude);
    map.points = {pt("soc", 1, PointType::uint16, Table::input)};
    EXPECT_EQ(map.effective_pattern(), SetpointPattern::none);
}

// ---------------------------------------------------------------------------
// Map files

TEST(ModbusMapFile, TheShippedGenericBatteryEqualsTheBuiltInMap) {
    auto loaded = battery_sim::load_register_map(std::string(GRIDGATE_SOURCE_DIR) +
                                                 "/config/register_maps/generic_battery.toml");
    ASSERT_TRUE(loaded) << all(loaded.error());
    const auto builtin = battery_sim::generic_battery_map();
    EXPECT_EQ(loaded->name, "generic_battery");
    ASSERT_EQ(loaded->points.size(), builtin.points.size());
    for (const auto& expected : builtin.points) {
        const RegisterPoint* p = loaded->find(expected.name);
        ASSERT_NE(p, nullptr) << expected.name;
        EXPECT_EQ(p->address, expected.address) << expected.name;
        EXPECT_EQ(p->type, expected.type) << expected.name;
        EXPECT_EQ(p->table, expected.table) << expected.name;
        EXPECT_EQ(p->scale, expected.scale) << expected.name;
        EXPECT_EQ(p->poll, expected.poll) << expected.name;
    }
}

TEST(ModbusMapFile, EveryShippedMapLoadsAndPlansASetpoint) {
    const std::filesystem::path dir =
        std::filesystem::path(GRIDGATE_SOURCE_DIR) / "config/register_maps";
    int maps = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".toml") continue;
        ++maps;
        auto map = battery_sim::load_register_map(entry.path().string());
        ASSERT_TRUE(map) << all(map.error());
        EXPECT_EQ(map->name, entry.path().stem().string());
        EXPECT_NE(map->effective_pattern(), SetpointPattern::none) << map->name;
        auto plan = plan_setpoint(
            *map, {.max_charge_kw = 50, .max_discharge_kw = 50, .rated_power_kw = 100},
            {.charge_kw = 10});
        EXPECT_TRUE(plan) << map->name << ": " << plan.error();
    }
    EXPECT_GE(maps, 3);
}

TEST(ModbusMapFile, ReadsEveryKey) {
    const char* text = R"(setpoint_pattern = "direction_magnitude"
direction_values = { charge = 2, discharge = 3, idle = 0 }
pre_writes = [ { point = "remote_mode", value = 1 } ]
heartbeat = { point = "watchdog", mode = "counter", interval_seconds = 2.5 }
write_multiple = true
remote_mode = { address = 9, type = "uint16" }
direction = { address = 10, type = "uint16" }
power_magnitude = { address = 11, type = "uint32", word_order = "little", byte_order = "little", scale = 0.1, unit = "percent", min = 0, max = 100 }
watchdog = { address = 20, type = "uint16" }
soc = { address = 30, type = "float32", table = "input", nan_value = -1, poll_interval_seconds = 0.5 }
temperature = { address = 40, type = "int16", table = "input", offset = -40, poll = false }
)";
    auto map = parse_register_map(text, "dir.toml", "dir");
    ASSERT_TRUE(map) << all(map.error());
    EXPECT_EQ(map->pattern, SetpointPattern::direction_magnitude);
    EXPECT_EQ(map->direction_values.charge, 2);
    EXPECT_EQ(map->direction_values.discharge, 3);
    ASSERT_EQ(map->pre_writes.size(), 1U);
    EXPECT_EQ(map->pre_writes[0].point, "remote_mode");
    EXPECT_EQ(map->pre_writes[0].where, "dir.toml:3:16");
    ASSERT_TRUE(map->heartbeat);
    EXPECT_EQ(map->heartbeat->interval, std::chrono::milliseconds(2500));
    EXPECT_TRUE(map->always_write_multiple);
    const RegisterPoint* mag = map->find("power_magnitude");
    ASSERT_NE(mag, nullptr);
    EXPECT_EQ(mag->type, PointType::uint32);
    EXPECT_EQ(mag->word_order, Order::little);
    EXPECT_EQ(mag->byte_order, Order::little);
    EXPECT_EQ(mag->unit, PowerUnit::percent);
    EXPECT_EQ(mag->max, 100);
    // A point is where its key is, as in the site file.
    EXPECT_EQ(mag->where, "dir.toml:8:1");
    EXPECT_FALSE(mag->poll);
    const RegisterPoint* soc = map->find("soc");
    ASSERT_NE(soc, nullptr);
    EXPECT_TRUE(soc->poll);
    EXPECT_EQ(soc->poll_interval, std::chrono::milliseconds(500));
    EXPECT_EQ(soc->nan_value, -1);
    EXPECT_FALSE(map->find("temperature")->poll);
    EXPECT_EQ(map->find("temperature")->offset, -40);
}

TEST(ModbusMapFile, ErrorsCarryFileLineAndColumn) {
    const char* text = R"(power_setpoint = { address = 100, type = "int32", scale = 0.001 }
soc = { address = 200, type = "uint128", table = "input" }
mode = { address = 101, type = "uint16", colour = "red" }
stray = 5
)";
    auto map = parse_register_map(text, "maps/x.toml", "x");
    ASSERT_FALSE(map);
    const auto text_of = all(map.error());
    // Each problem is at the key that holds it, in file order.
    ASSERT_EQ(map.error().size(), 3U) << text_of;
    EXPECT_EQ(
        map.error()[0].str().rfind(
            "maps/x.toml:2:24: register map 'x': point 'soc': type 'uint128' is not one of", 0),
        0U)
        << text_of;
    EXPECT_EQ(map.error()[1].str(),
              "maps/x.toml:3:42: register map 'x': point 'mode': unknown key 'colour'");
    EXPECT_EQ(map.error()[2].str().rfind(
                  "maps/x.toml:4:1: register map 'x': 'stray' is neither a point", 0),
              0U)
        << text_of;
}

TEST(ModbusMapFile, AWrongTypeIsNamedWithItsArticle) {
    const char* text = R"(setpoint_pattern = 3
power_setpoint = { address = 100, type = "int32", scale = "big", poll = [1] }
)";
    auto map = parse_register_map(text, "t.toml", "t");
    ASSERT_FALSE(map);
    ASSERT_EQ(map.error().size(), 3U) << all(map.error());
    EXPECT_EQ(map.error()[0].str(),
              "t.toml:1:1: register map 't': setpoint_pattern must be a string, not an integer");
    EXPECT_EQ(map.error()[1].str(),
              "t.toml:2:51: register map 't': point 'power_setpoint': scale must be a number, "
              "not a string");
    EXPECT_EQ(map.error()[2].str(),
              "t.toml:2:66: register map 't': point 'power_setpoint': poll must be true or "
              "false, not an array");
}

TEST(ModbusMapFile, NanAndInfinityAreRefusedWhereANumberIsRead) {
    const char* text = R"(power_setpoint = { address = 100, type = "int32", min = nan, max = inf }
soc = { address = 200, type = "uint16", table = "input", scale = -inf, nan_value = nan }
)";
    auto map = parse_register_map(text, "t.toml", "t");
    ASSERT_FALSE(map);
    ASSERT_EQ(map.error().size(), 4U) << all(map.error());
    EXPECT_EQ(map.error()[0].str(),
              "t.toml:1:51: register map 't': point 'power_setpoint': min must be a finite number");
    EXPECT_EQ(map.error()[1].str(),
              "t.toml:1:62: register map 't': point 'power_setpoint': max must be a finite number");
    EXPECT_EQ(map.error()[2].str(),
              "t.toml:2:58: register map 't': point 'soc': scale must be a finite number");
    EXPECT_EQ(map.error()[3].str(),
              "t.toml:2:72: register map 't': point 'soc': nan_value must be a finite number");
}

TEST(ModbusMapFile, MisspeltSettingsAndHalfPreWritesAreNamedForWhatTheyAre) {
    const char* text = R"(setpoint_patern = "signed_power"
power_setpoint = { address = 100, type = "int32" }
mode = { address = 101, type = "uint16" }
pre_writes = [ { point = "mode", value = "x" }, { pont = "mode", value = 1 }, { value = 1 } ]
heartbeat = { point = "mode", intervall_seconds = 5 }
)";
    auto map = parse_register_map(text, "t.toml", "t");
    ASSERT_FALSE(map);
    const auto text_of = all(map.error());
    ASSERT_EQ(map.error().size(), 6U) << text_of;
    // The string value has its own message, and no claim that it is missing.
    EXPECT_EQ(map.error()[0].str(),
              "t.toml:1:1: register map 't': 'setpoint_patern' is neither a point (an inline "
              "table with an address) nor a map setting (setpoint_pattern, direction_values, "
              "pre_writes, heartbeat, write_multiple); did you mean 'setpoint_pattern'?");
    EXPECT_EQ(map.error()[1].str(),
              "t.toml:4:34: register map 't': pre-write value must be a number, not a string");
    EXPECT_EQ(map.error()[2].str(), "t.toml:4:49: register map 't': a pre-write needs a point");
    EXPECT_EQ(map.error()[3].str(),
              "t.toml:4:51: register map 't': pre-write: unknown key 'pont' (did you mean "
              "'point'?)");
    EXPECT_EQ(map.error()[4].str(), "t.toml:4:79: register map 't': a pre-write needs a point");
    EXPECT_EQ(map.error()[5].str(),
              "t.toml:5:31: register map 't': heartbeat: unknown key 'intervall_seconds' (did "
              "you mean 'interval_seconds'?)");
}

TEST(ModbusMapFile, DirectionValueProblemsAreAtTheirOwnLine) {
    const char* text = R"(setpoint_pattern = "direction_magnitude"
direction = { address = 10, type = "uint16" }
power_magnitude = { address = 11, type = "uint16" }
direction_values = { charge = 1, discharge = 1, idle = 70000 }
)";
    auto map = parse_register_map(text, "t.toml", "t");
    ASSERT_FALSE(map);
    const auto text_of = all(map.error());
    ASSERT_EQ(map.error().size(), 2U) << text_of;
    EXPECT_EQ(map.error()[0].where, "t.toml:4:1") << text_of;
    EXPECT_NE(map.error()[0].message.find("direction value 'idle'"), std::string::npos);
    EXPECT_EQ(map.error()[1].str(),
              "t.toml:4:1: register map 't': direction values for charge and discharge are "
              "equal");
}

TEST(ModbusMapFile, ValidationErrorsPointAtTheOffendingPoint) {
    const char* text = R"(power_setpoint = { address = 100, type = "int32" }
mode = { address = 101, type = "uint16" }
)";
    auto map = parse_register_map(text, "o.toml", "o");
    ASSERT_FALSE(map);
    ASSERT_EQ(map.error().size(), 1U);
    EXPECT_EQ(map.error()[0].str(),
              "o.toml:2:1: register map 'o', point 'mode': (holding 101) overlaps point "
              "'power_setpoint' (holding 100..101)");
}

TEST(ModbusMapFile, SyntaxErrorsCarryTheirPlace) {
    auto map = parse_register_map("soc = { address = }\n", "bad.toml", "bad");
    ASSERT_FALSE(map);
    ASSERT_EQ(map.error().size(), 1U);
    EXPECT_EQ(map.error()[0].where.rfind("bad.toml:1:", 0), 0U) << map.error()[0].str();
}

}  // namespace
}  // namespace gridgate::modbus
