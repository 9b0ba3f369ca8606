// A vendor's drop-in plugin through the real daemon: the linebattery example,
// built against the installed SDK, found in a [plugins] directory, driven by a
// schedule posted over HTTP, talking to its battery over loopback.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <string>
#include <thread>

#include "gateway_process.hpp"
#include "gridgate/engine/timestamp.hpp"
#include "http_client.hpp"
#include "line_battery_simulator.hpp"

using namespace gridgate;
using namespace gridgate::testing;
using namespace gridgate::tools;
using namespace std::chrono_literals;

TEST(VendorPlugin, ADroppedInPluginIsDrivenByAScheduleThroughTheGateway) {
    LineBatterySimulator battery;
    auto api_port = free_tcp_port();
    auto site = write_temp_file("site.toml", R"([site]
name = "vendor-e2e"

[api]
listen = "127.0.0.1:)" + std::to_string(api_port) +
                                                 R"("

[plugins]
dirs = [")" + std::string(GRIDGATE_EXAMPLE_PLUGIN_DIR) +
                                                 R"("]

[adapters.vendor]
plugin = "linebattery"
io_timeout_seconds = 2.0

[[assets]]
id = "ast_vendor_batt"
type = "battery"
adapter = "vendor"
host = "127.0.0.1"
port = )" + std::to_string(battery.port()) + R"(

[schedule.asset_map]
battery = "ast_vendor_batt"
)");
    ChildProcess gw(GRIDGATE_BINARY, {"--config", site.string()});
    ASSERT_TRUE(gw.wait_for_output("HTTP API on")) << gw.output();

    auto t0 = std::chrono::time_point_cast<std::chrono::milliseconds>(sdk::Clock::now()) + 300ms;
    std::string csv = "timestamp,battery_charge_kw\n" + engine::format_timestamp(t0) + ",12.5\n" +
                      engine::format_timestamp(t0 + 200ms) + ",12.5\n" +
                      engine::format_timestamp(t0 + 400ms) + ",20\n";
    auto r = http_request(api_port, "POST", "/api/v1/schedules", csv, "text/csv");
    ASSERT_EQ(r.status, 201u) << r.body;
    rapidjson::Document answer;
    answer.Parse(r.body.c_str());
    ASSERT_EQ(answer["commands"].Size(), 2u);  // 12.5 once, then 20

    // The battery receives exactly the two setpoints, in order.
    std::vector<std::string> sets;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (sets.size() < 2 && std::chrono::steady_clock::now() < deadline) {
        sets.clear();
        for (const auto& line : battery.await_lines(1))
            if (line.rfind("SET ", 0) == 0) sets.push_back(line);
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(sets, (std::vector<std::string>{"SET 12.5", "SET 20"}));

    // ... and the gateway reports both commands COMPLETED.
    for (const auto& id : answer["commands"].GetArray()) {
        std::string status;
        for (auto until = std::chrono::steady_clock::now() + 5s;
             status != "COMPLETED" && std::chrono::steady_clock::now() < until;) {
            rapidjson::Document c;
            c.Parse(http_request(api_port, "GET", std::string("/api/v1/commands/") + id.GetString())
                        .body.c_str());
            status = c["status"].GetString();
            if (status != "COMPLETED") std::this_thread::sleep_for(20ms);
        }
        EXPECT_EQ(status, "COMPLETED") << id.GetString() << "\n" << gw.output();
    }
    EXPECT_EQ(gw.stop(SIGTERM), 0) << gw.output();
}
