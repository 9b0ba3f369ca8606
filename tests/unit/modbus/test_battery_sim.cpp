// The battery simulator itself: physics, revert-without-refresh, strictness.
#include <gtest/gtest.h>

#include "gridgate/battery_sim/simulator.hpp"
#include "gridgate/modbus/connection.hpp"
#include "gridgate/modbus/setpoint.hpp"
#include "helpers.hpp"

namespace gridgate::modbus {
namespace {

using battery_sim::BatterySimulator;
using battery_sim::SimulatorOptions;
using namespace testing;

const AssetLimits limits{.max_charge_kw = 100, .max_discharge_kw = 100};

std::optional<ModbusError> write_setpoint(ModbusConnection& c, const RegisterMap& map,
                                          SetpointRequest request) {
    auto plan = plan_setpoint(map, limits, request);
    EXPECT_TRUE(plan);
    for (const auto& w : plan->writes) {
        if (auto e = write_sync(c, {1, w.table, w.address, w.values, w.write_multiple})) return e;
    }
    return std::nullopt;
}

TEST(ModbusBatterySim, PowerFollowsTheSetpointAndSocIntegratesIt) {
    SimulatorOptions options;
    options.time_scale = 3600;  // one real second is a simulated hour
    options.capacity_kwh = 100;
    options.tick = 10ms;
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c({"127.0.0.1", sim.port()}, fast_options());
    ASSERT_FALSE(write_setpoint(c, options.map, {.charge_kw = 50}));
    ASSERT_TRUE(eventually([&] { return sim.active_power_kw() == 50.0; }));
    ASSERT_TRUE(eventually([&] { return sim.soc() > 55.0; }));  // +50 %/h
    EXPECT_NEAR(*sim.point_value("active_power"), 50.0, 1e-9);

    const double before = sim.soc();
    ASSERT_FALSE(write_setpoint(c, options.map, {.discharge_kw = 80}));
    ASSERT_TRUE(eventually([&] { return sim.soc() < before - 5.0; }));
    EXPECT_DOUBLE_EQ(sim.active_power_kw(), -80.0);
    auto soc = read_sync(c, {1, Table::input, 200, 1});
    ASSERT_TRUE(soc);
    EXPECT_NEAR((*soc)[0] * 0.1, sim.soc(), 0.2);
}

TEST(ModbusBatterySim, AFullBatteryStopsCharging) {
    SimulatorOptions options;
    options.time_scale = 3600;
    options.initial_soc = 99.5;
    options.tick = 10ms;
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c({"127.0.0.1", sim.port()}, fast_options());
    ASSERT_FALSE(write_setpoint(c, options.map, {.charge_kw = 100}));
    ASSERT_TRUE(eventually([&] { return sim.soc() == 100.0; }));
    EXPECT_TRUE(eventually([&] { return sim.active_power_kw() == 0.0; }));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 100.0) << "the setpoint stays; the battery cannot follow";
}

TEST(ModbusBatterySim, RevertsWithoutARefreshButNotWithOne) {
    SimulatorOptions options;
    options.revert_after = 150ms;
    options.tick = 10ms;
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c({"127.0.0.1", sim.port()}, fast_options());

    // Refreshed every 30 ms: holds for well beyond the revert time.
    const auto until = std::chrono::steady_clock::now() + 400ms;
    while (std::chrono::steady_clock::now() < until) {
        ASSERT_FALSE(write_setpoint(c, options.map, {.charge_kw = 20}));
        EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 20.0);
        std::this_thread::sleep_for(30ms);  // the refresh period under test
    }
    // Left alone, it falls back to idle.
    EXPECT_TRUE(eventually([&] { return sim.setpoint_kw() == 0.0; }, 1s));
    EXPECT_TRUE(eventually([&] { return sim.active_power_kw() == 0.0; }));
}

TEST(ModbusBatterySim, DirectionMapsAreFollowedToo) {
    SimulatorOptions options;
    RegisterMap map;
    map.name = "dir";
    RegisterPoint dir{.name = "direction", .address = 10, .type = PointType::uint16};
    RegisterPoint mag{
        .name = "power_magnitude", .address = 11, .type = PointType::uint16, .scale = 0.1};
    RegisterPoint power{.name = "active_power",
                        .address = 20,
                        .type = PointType::float32,
                        .table = Table::input,
                        .poll = true};
    map.points = {dir, mag, power};
    options.map = map;
    options.tick = 10ms;
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c({"127.0.0.1", sim.port()}, fast_options());
    ASSERT_FALSE(write_setpoint(c, map, {.discharge_kw = 12.5}));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -12.5);
    EXPECT_TRUE(eventually([&] { return sim.point_value("active_power") == -12.5; }));
}

TEST(ModbusBatterySim, RefusesAddressesOutsideItsMapUnlessLenient) {
    BatterySimulator strict;
    strict.start();
    ModbusConnection c({"127.0.0.1", strict.port()}, fast_options());
    auto hole = read_sync(c, {1, Table::input, 200, 4});  // 201 is not in the map
    ASSERT_FALSE(hole);
    EXPECT_EQ(hole.error().exception_code, 2);

    SimulatorOptions options;
    options.strict_addresses = false;
    BatterySimulator lenient(options);
    lenient.start();
    ModbusConnection l({"127.0.0.1", lenient.port()}, fast_options());
    EXPECT_TRUE(read_sync(l, {1, Table::input, 200, 4}));
}

TEST(ModbusBatterySim, ClosedConnectionsDoNotKeepTheirThreads) {
    // A gateway reconnecting for days must not run the simulator out of
    // memory maps: each accept joins the threads of closed connections.
    BatterySimulator sim{SimulatorOptions{}};
    sim.start();
    for (int i = 0; i < 20; ++i) {
        ModbusConnection c({"127.0.0.1", sim.port()}, fast_options());
        ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
    }
    ASSERT_TRUE(eventually([&] { return sim.open_connections() == 0; }));
    ModbusConnection last({"127.0.0.1", sim.port()}, fast_options());
    ASSERT_TRUE(read_sync(last, {1, Table::input, 200, 1}));
    EXPECT_EQ(sim.connections_accepted(), 21u);
    EXPECT_EQ(sim.server_threads(), 1u);
}

TEST(ModbusBatterySim, KeepsOnlyTheLatestWrites) {
    // A simulator under a gateway's heartbeat for days must not keep every
    // write it was sent: it keeps the latest max_recorded_writes.
    SimulatorOptions options;
    options.max_recorded_writes = 3;
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c({"127.0.0.1", sim.port()}, fast_options());
    for (std::uint16_t v = 1; v <= 5; ++v)
        ASSERT_FALSE(write_sync(c, {1, Table::holding, 100, {0, v}, true}));
    const auto writes = sim.writes();
    ASSERT_EQ(writes.size(), 3u);
    EXPECT_EQ(writes.front().values, (std::vector<std::uint16_t>{0, 3}));
    EXPECT_EQ(writes.back().values, (std::vector<std::uint16_t>{0, 5}));

    options.max_recorded_writes = 0;
    BatterySimulator none(options);
    none.start();
    ModbusConnection n({"127.0.0.1", none.port()}, fast_options());
    ASSERT_FALSE(write_sync(n, {1, Table::holding, 100, {0, 7000}, true}));
    EXPECT_TRUE(none.writes().empty());
    EXPECT_DOUBLE_EQ(none.setpoint_kw(), 7.0);  // the write itself was taken
}

TEST(ModbusBatterySim, RefusesAnInvalidMap) {
    SimulatorOptions options;
    options.map.points.push_back(RegisterPoint{.name = "clash", .address = 101});
    EXPECT_THROW(BatterySimulator{options}, std::invalid_argument);
}

}  // namespace
}  // namespace gridgate::modbus
