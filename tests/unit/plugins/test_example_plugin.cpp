// The vendor example (plugins/examples/linebattery), built out of tree
// against the installed SDK by the plugins_example_build fixture, loaded from
// a plugin directory by the real loader and driven against a simulator of the
// battery's line protocol.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "command_outcome.hpp"
#include "gridgate/gateway/adapter_registry.hpp"
#include "gridgate/gateway/plugin_loader.hpp"
#include "line_battery_simulator.hpp"

using namespace gridgate;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {
const fs::path kPluginDir = GRIDGATE_EXAMPLE_PLUGIN_DIR;

using gridgate::testing::LineBatterySimulator;

sdk::ConfigValue value(sdk::ConfigValue::Storage v, int line) {
    return {std::move(v), {"site.toml", line, 8}};
}

sdk::AdapterConfig site(int port, double io_timeout_seconds = 2.0) {
    sdk::AdapterConfig c{"vendor", "linebattery", sdk::ConfigTable({"site.toml", 5, 1}), {}, {}};
    c.table.add("plugin", value(std::string("linebattery"), 6));
    c.table.add("io_timeout_seconds", value(io_timeout_seconds, 7));
    sdk::AssetConfig a{"ast_vendor_batt", "battery", sdk::ConfigTable({"site.toml", 10, 1})};
    a.table.add("id", value(std::string("ast_vendor_batt"), 11));
    a.table.add("type", value(std::string("battery"), 12));
    a.table.add("adapter", value(std::string("vendor"), 13));
    a.table.add("host", value(std::string("127.0.0.1"), 14));
    a.table.add("port", value(std::int64_t{port}, 15));
    c.assets.push_back(std::move(a));
    return c;
}

sdk::Command command(sdk::CommandType type, double kw) {
    sdk::Command c;
    c.command_id = sdk::CommandId{7};
    c.asset_id = "ast_vendor_batt";
    c.command_type = type;
    c.parameters.power_kw = kw;
    return c;
}

struct Events {
    std::mutex mutex;
    std::vector<sdk::AssetEvent> seen;

    gateway::HostHooks hooks() {
        return {[](sdk::LogLevel, std::string_view, std::string_view) {}, sdk::LogLevel::Info,
                [this](std::string_view, sdk::AssetEvent e) {
                    std::lock_guard lock(mutex);
                    seen.push_back(std::move(e));
                }};
    }
    std::vector<sdk::AssetEventType> types() {
        std::lock_guard lock(mutex);
        std::vector<sdk::AssetEventType> out;
        for (const auto& e : seen) out.push_back(e.type);
        return out;
    }
};

class ExamplePlugin : public ::testing::Test {
  protected:
    void SetUp() override {
        catalog.load_directory(kPluginDir);
        plugin = catalog.find_shared("linebattery");
        ASSERT_TRUE(plugin) << catalog.render_report();
    }
    gateway::PluginCatalog catalog;
    std::shared_ptr<const gateway::LoadedPlugin> plugin;
};
}  // namespace

TEST_F(ExamplePlugin, BuiltAgainstTheInstalledSdkItLoadsFromThePluginDirectory) {
    ASSERT_EQ(catalog.reports().size(), 1u);
    EXPECT_TRUE(catalog.reports()[0].loaded);
    EXPECT_EQ(plugin->version(), "1.0.0");
    EXPECT_EQ(plugin->file(), kPluginDir / "linebattery.so");
    EXPECT_TRUE(plugin->can_carry(sdk::CommandType::SetDischargeRate));
    EXPECT_FALSE(plugin->can_carry(sdk::CommandType::StartCharging));
}

TEST_F(ExamplePlugin, ItsDeclaredKeysCatchAVendorTypo) {
    sdk::AdapterConfig c = site(502);
    c.assets[0].table.add("prot", value(std::int64_t{503}, 16));
    c.assets[0].table.add("port", value(std::int64_t{70000}, 17));
    gateway::AdapterRegistry registry;
    Events events;
    auto errors = registry.add(plugin, c, events.hooks());
    ASSERT_EQ(errors.size(), 2u);
    EXPECT_EQ(
        errors[0],
        "site.toml:16:8: unknown key 'prot' in asset 'ast_vendor_batt' (did you mean 'port'?)");
    EXPECT_EQ(errors[1], "site.toml:17:8: 'port' must be between 1 and 65535");
}

TEST_F(ExamplePlugin, DrivesTheSimulatedBatteryEndToEnd) {
    LineBatterySimulator battery;
    gateway::AdapterRegistry registry;
    Events events;
    auto errors = registry.add(plugin, site(battery.port()), events.hooks());
    ASSERT_TRUE(errors.empty()) << errors.front();
    ASSERT_TRUE(registry.start());

    test::CommandOutcome charge;
    registry.dispatch(command(sdk::CommandType::SetChargeRate, 12.5), charge.completion());
    auto result = charge.await();
    EXPECT_TRUE(result.success) << result.error;

    test::CommandOutcome discharge;
    registry.dispatch(command(sdk::CommandType::SetDischargeRate, 3), discharge.completion());
    EXPECT_TRUE(discharge.await().success);

    test::CommandOutcome too_much;
    registry.dispatch(command(sdk::CommandType::SetChargeRate, 250), too_much.completion());
    result = too_much.await();
    EXPECT_FALSE(result.success);
    EXPECT_FALSE(result.retryable);
    EXPECT_EQ(result.error, "out_of_range");

    EXPECT_EQ(battery.await_lines(5),
              (std::vector<std::string>{"SET 12.5", "GET SOC", "SET -3", "GET SOC", "SET 250"}));
    auto state = registry.state("ast_vendor_batt");
    ASSERT_TRUE(state);
    EXPECT_TRUE(state->connected);
    EXPECT_TRUE(state->last_seen.has_value());
    ASSERT_NE(state->find("soc"), nullptr);
    EXPECT_EQ(state->find("soc")->value, 55.5);
    EXPECT_EQ(events.types(), (std::vector<sdk::AssetEventType>{sdk::AssetEventType::Connected,
                                                                sdk::AssetEventType::Telemetry,
                                                                sdk::AssetEventType::Telemetry}));
    registry.clear();
}

TEST_F(ExamplePlugin, AnUnreachableBatteryIsARetryableFailure) {
    int port;
    {
        LineBatterySimulator gone;
        port = gone.port();
    }  // the port is now closed
    gateway::AdapterRegistry registry;
    Events events;
    ASSERT_TRUE(registry.add(plugin, site(port), events.hooks()).empty());
    ASSERT_TRUE(registry.start());
    test::CommandOutcome outcome;
    registry.dispatch(command(sdk::CommandType::SetChargeRate, 5), outcome.completion());
    auto result = outcome.await();
    EXPECT_FALSE(result.success);
    EXPECT_TRUE(result.retryable);
    EXPECT_EQ(result.error, "not connected: Connection refused");
    EXPECT_FALSE(registry.state("ast_vendor_batt")->connected);
}

TEST_F(ExamplePlugin, ALateAnswerDoesNotBecomeTheNextCommandsReply) {
    LineBatterySimulator battery;
    gateway::AdapterRegistry registry;
    Events events;
    ASSERT_TRUE(registry.add(plugin, site(battery.port(), 0.2), events.hooks()).empty());
    ASSERT_TRUE(registry.start());

    // The SOC reading after the first setpoint times out; its answer comes
    // later, while nobody waits for it.
    battery.delay_soc_answers(400ms);
    test::CommandOutcome first;
    registry.dispatch(command(sdk::CommandType::SetChargeRate, 10), first.completion());
    EXPECT_TRUE(first.await().success);
    battery.await_lines(2);
    battery.delay_soc_answers(0ms);
    std::this_thread::sleep_for(500ms);  // the late "SOC 55.5" has arrived by now

    test::CommandOutcome second;
    registry.dispatch(command(sdk::CommandType::SetChargeRate, 20), second.completion());
    auto result = second.await();
    EXPECT_TRUE(result.success) << result.error;
    test::CommandOutcome refused;
    registry.dispatch(command(sdk::CommandType::SetChargeRate, 500), refused.completion());
    result = refused.await();
    EXPECT_FALSE(result.success);
    EXPECT_EQ(result.error, "out_of_range");
    registry.clear();
}
