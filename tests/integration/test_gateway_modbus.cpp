// The gridgate daemon with the built-in modbus_tcp plugin against a simulated
// battery (a real libmodbus server on loopback): a schedule posted over HTTP
// ends as exact register writes, telemetry comes back through the API, and a
// clean stop leaves the battery idle.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <string>
#include <thread>

#include "gateway_process.hpp"
#include "gridgate/battery_sim/simulator.hpp"
#include "gridgate/engine/timestamp.hpp"
#include "http_client.hpp"

using namespace gridgate;
using namespace gridgate::testing;
using namespace gridgate::tools;
using namespace std::chrono_literals;

namespace {

std::string site(unsigned short api_port, unsigned short battery_port) {
    return R"([site]
name = "modbus-e2e"

[api]
listen = "127.0.0.1:)" +
           std::to_string(api_port) + R"("

[adapters.modbus]
plugin = "modbus_tcp"
poll_interval_seconds = 0.2

[[assets]]
id = "ast_batt_001"
type = "battery"
adapter = "modbus"
host = "127.0.0.1"
port = )" + std::to_string(battery_port) +
           R"(
unit_id = 1
register_map = "generic_battery"
max_charge_kw = 50.0
max_discharge_kw = 50.0

[register_maps.generic_battery]
power_setpoint = { address = 100, type = "int32", scale = 0.001 }
soc            = { address = 200, type = "uint16", scale = 0.1, table = "input" }
active_power   = { address = 202, type = "int32", scale = 0.001, table = "input" }

[schedule.asset_map]
battery = "ast_batt_001"
)";
}

// The kW an FC16 write of the int32 power_setpoint (big-endian words) carries.
double kw_of(const battery_sim::ReceivedWrite& w) {
    auto raw = static_cast<std::int32_t>((std::uint32_t{w.values[0]} << 16) | w.values[1]);
    return raw * 0.001;
}

}  // namespace

TEST(GatewayModbus, AScheduleBecomesRegisterWritesAndTelemetryComesBack) {
    battery_sim::BatterySimulator battery;
    battery.start();
    auto api_port = free_tcp_port();
    auto file = write_temp_file("site.toml", site(api_port, battery.port()));
    ChildProcess gw(GRIDGATE_BINARY, {"--config", file.string()});
    ASSERT_TRUE(gw.wait_for_output("HTTP API on")) << gw.output();

    // Charge 20 kW, hold, then discharge 60 kW (clamped to the asset's 50).
    auto t0 = std::chrono::time_point_cast<std::chrono::milliseconds>(sdk::Clock::now()) + 400ms;
    std::string csv = "timestamp,battery_charge_kw,battery_discharge_kw\n";
    const char* rows[] = {"20,0", "20,0", "0,60"};
    for (int i = 0; i < 3; ++i)
        csv += engine::format_timestamp(t0 + i * 300ms) + "," + rows[i] + "\n";
    auto r = http_request(api_port, "POST", "/api/v1/schedules", csv, "text/csv");
    ASSERT_EQ(r.status, 201u) << r.body;

    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline &&
           (battery.writes().empty() || kw_of(battery.writes().back()) > -49.0))
        std::this_thread::sleep_for(20ms);
    auto writes = battery.writes();
    ASSERT_FALSE(writes.empty()) << gw.output();
    for (const auto& w : writes) {
        // A 32-bit point is written in one FC16 request, never touching a third register.
        EXPECT_EQ(w.function, 16);
        EXPECT_EQ(w.address, 100);
        ASSERT_EQ(w.values.size(), 2u);
    }
    EXPECT_DOUBLE_EQ(kw_of(writes.front()), 20.0);
    EXPECT_DOUBLE_EQ(kw_of(writes.back()), -50.0);
    EXPECT_DOUBLE_EQ(battery.setpoint_kw(), -50.0);

    // Every command completed; telemetry reaches the API.
    rapidjson::Document all;
    all.Parse(http_request(api_port, "GET", "/api/v1/commands").body.c_str());
    ASSERT_EQ(all["commands"].Size(), 4u);  // charge 20, 0; discharge 0, 60
    for (const auto& c : all["commands"].GetArray()) {
        std::string id = c["command_id"].GetString();
        std::string status;
        for (auto until = std::chrono::steady_clock::now() + 3s;
             status != "COMPLETED" && std::chrono::steady_clock::now() < until;
             std::this_thread::sleep_for(20ms)) {
            rapidjson::Document one;
            one.Parse(http_request(api_port, "GET", "/api/v1/commands/" + id).body.c_str());
            status = one["status"].GetString();
        }
        EXPECT_EQ(status, "COMPLETED") << id;
    }
    bool telemetry = false;
    for (auto until = std::chrono::steady_clock::now() + 3s;
         !telemetry && std::chrono::steady_clock::now() < until;
         std::this_thread::sleep_for(50ms)) {
        rapidjson::Document assets;
        assets.Parse(http_request(api_port, "GET", "/api/v1/assets").body.c_str());
        const auto& a = assets["assets"][0];
        telemetry = a["connected"].GetBool() && a["telemetry"].HasMember("soc") &&
                    a["telemetry"].HasMember("active_power") &&
                    a["telemetry"]["active_power"].GetDouble() < -49.0;
    }
    EXPECT_TRUE(telemetry) << http_request(api_port, "GET", "/api/v1/assets").body;

    // A clean stop writes the idle setpoint (on_shutdown = "idle" by default).
    EXPECT_EQ(gw.stop(SIGTERM), 0) << gw.output();
    EXPECT_DOUBLE_EQ(battery.setpoint_kw(), 0.0);
}

// A battery that goes away is an adapter error in /metrics, though no
// command was sent to it.
TEST(GatewayModbus, ALostBatteryCountsAsAnAdapterError) {
    auto battery = std::make_unique<battery_sim::BatterySimulator>();
    battery->start();
    auto api_port = free_tcp_port();
    auto file = write_temp_file("site.toml", site(api_port, battery->port()));
    ChildProcess gw(GRIDGATE_BINARY, {"--config", file.string()});
    ASSERT_TRUE(gw.wait_for_output("ASSET_CONNECTED")) << gw.output();
    EXPECT_NE(http_request(api_port, "GET", "/metrics")
                  .body.find("gridgate_adapter_errors_total{adapter=\"modbus\"} 0\n"),
              std::string::npos);

    battery.reset();  // the device is gone
    ASSERT_TRUE(gw.wait_for_output("ASSET_DISCONNECTED")) << gw.output();
    const auto metrics = http_request(api_port, "GET", "/metrics").body;
    EXPECT_NE(metrics.find("gridgate_adapter_errors_total{adapter=\"modbus\"} 1\n"),
              std::string::npos)
        << metrics;
    EXPECT_EQ(gw.stop(SIGTERM), 0) << gw.output();
}
