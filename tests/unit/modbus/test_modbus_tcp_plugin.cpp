// The modbus_tcp plugin as the gateway uses it: the real .so through the
// real loader and registry, against the battery simulator over 127.0.0.1.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "command_outcome.hpp"
#include "gateway_process.hpp"
#include "gridgate/battery_sim/map_file.hpp"
#include "gridgate/battery_sim/simulator.hpp"
#include "gridgate/config/site_loader.hpp"
#include "gridgate/gateway/adapter_registry.hpp"
#include "gridgate/gateway/gateway.hpp"
#include "gridgate/gateway/plugin_loader.hpp"
#include "helpers.hpp"

namespace gridgate {
namespace {

using battery_sim::BatterySimulator;
using modbus::testing::eventually;
using namespace std::chrono_literals;

sdk::ConfigValue value(sdk::ConfigValue::Storage v, int line, int column = 8) {
    return {std::move(v), {"site.toml", line, column}};
}

/// A point as the site file's inline table would give it.
sdk::ConfigValue point(int line,
                       std::vector<std::pair<std::string, sdk::ConfigValue::Storage>> keys) {
    auto t = std::make_shared<sdk::ConfigTable>(sdk::SourceLocation{"site.toml", line, 18});
    int column = 20;
    for (auto& [k, v] : keys) t->add(k, value(std::move(v), line, column += 12));
    return value(sdk::ConfigValue::TablePtr(t), line, 18);
}

sdk::ConfigTable generic_battery_map() {
    sdk::ConfigTable map({"site.toml", 40, 1});
    map.add("power_setpoint", point(41, {{"address", std::int64_t{100}},
                                         {"type", std::string("int32")},
                                         {"scale", 0.001}}));
    map.add("soc", point(42, {{"address", std::int64_t{200}},
                              {"type", std::string("uint16")},
                              {"scale", 0.1},
                              {"table", std::string("input")}}));
    map.add("active_power", point(43, {{"address", std::int64_t{202}},
                                       {"type", std::string("int32")},
                                       {"scale", 0.001},
                                       {"table", std::string("input")}}));
    return map;
}

sdk::AdapterConfig site(std::uint16_t port, sdk::ConfigTable map = generic_battery_map(),
                        double poll_interval_seconds = 0.02) {
    sdk::AdapterConfig c{"modbus", "modbus_tcp", sdk::ConfigTable({"site.toml", 5, 1}), {}, {}};
    c.table.add("plugin", value(std::string("modbus_tcp"), 6));
    c.table.add("poll_interval_seconds", value(poll_interval_seconds, 7));
    sdk::AssetConfig a{"ast_batt_001", "battery", sdk::ConfigTable({"site.toml", 10, 1})};
    a.table.add("host", value(std::string("127.0.0.1"), 11));
    a.table.add("port", value(std::int64_t{port}, 12));
    a.table.add("unit_id", value(std::int64_t{1}, 13));
    a.table.add("register_map", value(std::string("generic_battery"), 14));
    a.table.add("max_charge_kw", value(50.0, 15));
    a.table.add("max_discharge_kw", value(50.0, 16));
    a.table.add("response_timeout_seconds", value(0.3, 17));
    c.assets.push_back(std::move(a));
    sdk::ConfigTable maps({"site.toml", 39, 1});
    maps.add("generic_battery",
             value(sdk::ConfigValue::TablePtr(std::make_shared<sdk::ConfigTable>(std::move(map))),
                   40, 1));
    c.shared_tables.emplace_back("register_maps", std::move(maps));
    return c;
}

sdk::Command command(sdk::CommandType type, double kw) {
    sdk::Command c;
    c.command_id = sdk::CommandId{42};
    c.asset_id = "ast_batt_001";
    c.command_type = type;
    c.parameters.power_kw = kw;
    return c;
}

/// Replaces the value of `key` in `t`.
void set_key(sdk::ConfigTable& t, const std::string& key, const sdk::ConfigValue& v) {
    sdk::ConfigTable out(t.where());
    for (const auto& [k, old] : t.entries()) out.add(k, k == key ? v : old);
    t = std::move(out);
}

sdk::CommandResult run(const gateway::AdapterRegistry& registry, const sdk::Command& c) {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<sdk::CommandResult> result;
    registry.dispatch(c, sdk::Completion([&](sdk::CommandResult r) {
                          std::lock_guard lock(mutex);
                          result = std::move(r);
                          cv.notify_all();
                      }));
    std::unique_lock lock(mutex);
    if (!cv.wait_for(lock, 5s, [&] { return result.has_value(); })) {
        return sdk::CommandResult::failure("test: no completion");
    }
    return *result;
}

struct Events {
    std::mutex mutex;
    std::vector<sdk::AssetEvent> seen;
    std::vector<std::string> log;

    gateway::HostHooks hooks() {
        return {[this](sdk::LogLevel, std::string_view, std::string_view text) {
                    std::lock_guard lock(mutex);
                    log.emplace_back(text);
                },
                sdk::LogLevel::Info,
                [this](std::string_view, sdk::AssetEvent e) {
                    std::lock_guard lock(mutex);
                    seen.push_back(std::move(e));
                }};
    }
    bool has(sdk::AssetEventType type) { return count(type) > 0; }
    int count(sdk::AssetEventType type) {
        std::lock_guard lock(mutex);
        int n = 0;
        for (const auto& e : seen) n += e.type == type;
        return n;
    }
    /// The reason of the latest event of `type`.
    std::string reason(sdk::AssetEventType type) {
        std::lock_guard lock(mutex);
        for (auto it = seen.rbegin(); it != seen.rend(); ++it) {
            if (it->type == type) return it->reason;
        }
        return {};
    }
    bool logged(const std::string& text) {
        std::lock_guard lock(mutex);
        for (const auto& l : log) {
            if (l.find(text) != std::string::npos) return true;
        }
        return false;
    }
};

/// A device that accepts TCP (the kernel completes the handshake on the
/// listening socket) and never answers a request.
class SilentDevice {
  public:
    SilentDevice() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 64) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            ADD_FAILURE() << "cannot listen";
            return;
        }
        port_ = ntohs(addr.sin_port);
    }
    ~SilentDevice() {
        if (fd_ >= 0) ::close(fd_);
    }
    SilentDevice(const SilentDevice&) = delete;
    SilentDevice& operator=(const SilentDevice&) = delete;
    std::uint16_t port() const { return port_; }

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

class ModbusTcpPlugin : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto& report = catalog.load_file(GRIDGATE_MODBUS_TCP_PLUGIN);
        ASSERT_TRUE(report.loaded) << report.reason;
        plugin = catalog.find_shared("modbus_tcp");
        ASSERT_TRUE(plugin);
    }
    // Starts `sim` and the adapter driving it, polled once at start so that
    // nothing but the commands reaches the device afterwards.
    void start_polled_once(BatterySimulator& sim, gateway::AdapterRegistry& registry,
                           Events& events) {
        sim.start();
        ASSERT_TRUE(
            registry.add(plugin, site(sim.port(), generic_battery_map(), 3600), events.hooks())
                .empty());
        ASSERT_TRUE(registry.start());
        ASSERT_TRUE(eventually([&] { return sim.requests_served() > 0; }));
    }

    gateway::PluginCatalog catalog;
    std::shared_ptr<const gateway::LoadedPlugin> plugin;
};

TEST_F(ModbusTcpPlugin, DeclaresWhatItCarries) {
    EXPECT_TRUE(plugin->can_carry(sdk::CommandType::SetChargeRate));
    EXPECT_TRUE(plugin->can_carry(sdk::CommandType::SetDischargeRate));
    EXPECT_TRUE(plugin->can_carry(sdk::CommandType::SetSocTarget));
    EXPECT_FALSE(plugin->can_carry(sdk::CommandType::StartCharging));
}

TEST_F(ModbusTcpPlugin, RefusesABadRegisterMapAtItsPlace) {
    auto map = generic_battery_map();
    map.add("mode", point(44, {{"address", std::int64_t{101}}, {"type", std::string("uint16")}}));
    map.add("flag", point(45, {{"address", std::int64_t{7}},
                               {"type", std::string("int32")},
                               {"table", std::string("coil")}}));
    gateway::AdapterRegistry registry;
    Events events;
    const auto errors = registry.add(plugin, site(502, std::move(map)), events.hooks());
    ASSERT_EQ(errors.size(), 2U);
    EXPECT_EQ(errors[0],
              "site.toml:44:18: register map 'generic_battery', point 'mode': (holding 101) "
              "overlaps point 'power_setpoint' (holding 100..101)");
    EXPECT_EQ(errors[1].rfind("site.toml:45:18: register map 'generic_battery', point 'flag': "
                              "type int32 cannot live in the coil table",
                              0),
              0U)
        << errors[1];
}

// A map file refused by the gateway (the host reads the file into a table,
// then the plugin reads the map, as `gridgate --check-config` does) is refused
// by battery-sim --map with the same messages in the same order.
TEST_F(ModbusTcpPlugin, BatterySimRefusesAMapFileWithTheGatewaysMessages) {
    struct Case {
        std::string name;
        std::string text;
        std::size_t errors;
    };
    const Case cases[] = {
        {"read_errors",
         "power_setpoint = { address = 100, type = \"int32\", scale = \"0.001\" }\n"
         "soc = { type = \"uint128\", address = 200, table = \"input\", colour = \"red\" }\n"
         "stray = 5\n"
         // The plugin finds the pre-write's own problem after its point's.
         "pre_writes = [ { point = 7 } ]\n",
         6},
        {"invalid_map",
         "pre_writes = [ { point = \"remote_mode\", value = 1 } ]\n"
         "setpoint_pattern = \"charge_discharge\"\n"
         "power_setpoint = { address = 100, type = \"int32\" }\n"
         "mode = { address = 101, type = \"uint16\" }\n",
         4},
        {"dated", "soc = { address = 1979-05-27, type = \"uint16\", table = \"input\" }\n", 1},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto map_path = gridgate::testing::write_temp_file(c.name + ".toml", c.text);
        const std::string site =
            "[site]\nname = \"t\"\n[adapters.modbus]\nplugin = \"modbus_tcp\"\n"
            "[[assets]]\nid = \"b1\"\ntype = \"battery\"\nadapter = \"modbus\"\n"
            "host = \"127.0.0.1\"\nregister_map = \"" +
            c.name + "\"\nmax_charge_kw = 50.0\nmax_discharge_kw = 50.0\n";

        std::vector<std::string> gateway_says;
        auto loaded =
            config::parse_site(site, "site.toml", {.register_map_dirs = {map_path.parent_path()}});
        auto diagnostics = std::move(loaded.errors);
        if (loaded.ok()) {
            diagnostics = plugin->validate(
                gateway::adapter_config_for(*loaded.config, loaded.config->adapters[0], *plugin));
        }
        config::sort_diagnostics(diagnostics, "site.toml");
        for (const auto& d : diagnostics) gateway_says.push_back(d.str());

        std::vector<std::string> simulator_says;
        auto map = battery_sim::load_register_map(map_path.string());
        ASSERT_FALSE(map);
        for (const auto& e : map.error()) simulator_says.push_back(e.str());

        EXPECT_EQ(gateway_says.size(), c.errors) << ::testing::PrintToString(gateway_says);
        EXPECT_EQ(simulator_says, gateway_says);
        for (const auto& line : simulator_says)
            EXPECT_EQ(line.rfind(map_path.string() + ":", 0), 0U) << line;
        std::filesystem::remove_all(map_path.parent_path());
    }
}

// An empty map would leave its battery silently without a setpoint or a
// reading; it is refused where it is defined.
TEST_F(ModbusTcpPlugin, RefusesAMapWithNoPoints) {
    gateway::AdapterRegistry registry;
    Events events;
    const auto errors =
        registry.add(plugin, site(502, sdk::ConfigTable({"site.toml", 40, 1})), events.hooks());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:40:1: register map 'generic_battery' defines no points (at least a "
              "setpoint or a point to poll)");
}

// A map that no asset uses is checked as well.
TEST_F(ModbusTcpPlugin, RefusesABadMapThatNoAssetUses) {
    auto config = site(502);
    sdk::ConfigTable unused({"site.toml", 60, 1});
    unused.add("power_setpoint", point(61, {{"adress", std::int64_t{100}}}));
    config.shared_tables[0].second.add(
        "unused",
        value(sdk::ConfigValue::TablePtr(std::make_shared<sdk::ConfigTable>(std::move(unused))), 60,
              1));
    gateway::AdapterRegistry registry;
    Events events;
    const auto errors = registry.add(plugin, config, events.hooks());
    ASSERT_FALSE(errors.empty());
    EXPECT_EQ(errors[0].rfind("site.toml:61:", 0), 0U) << errors[0];
    EXPECT_NE(errors[0].find("register map 'unused'"), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find("unknown key 'adress' (did you mean 'address'?)"), std::string::npos)
        << errors[0];
}

TEST_F(ModbusTcpPlugin, RefusesAnUnknownMapAndAWrongKey) {
    auto config = site(502);
    config.assets[0].table = sdk::ConfigTable({"site.toml", 10, 1});
    config.assets[0].table.add("host", value(std::string("127.0.0.1"), 11));
    config.assets[0].table.add("register_map", value(std::string("nope"), 14));
    config.assets[0].table.add("max_charge_kw", value(50.0, 15));
    config.assets[0].table.add("max_discharge_kw", value(50.0, 16));
    config.assets[0].table.add("on_shutdown", value(std::string("panic"), 17));
    gateway::AdapterRegistry registry;
    Events events;
    const auto errors = registry.add(plugin, config, events.hooks());
    ASSERT_FALSE(errors.empty());
    EXPECT_EQ(
        errors[0].rfind("site.toml:17:8: 'on_shutdown' must be one of \"idle\", \"leave\"", 0), 0U)
        << errors[0];
}

TEST_F(ModbusTcpPlugin, DevicesBehindOneAddressShareTheirConnectionOptions) {
    auto config = site(1502);
    sdk::AssetConfig second{"ast_batt_002", "battery", sdk::ConfigTable({"site.toml", 20, 1})};
    second.table.add("host", value(std::string("127.0.0.1"), 21));
    second.table.add("port", value(std::int64_t{1502}, 22));
    second.table.add("unit_id", value(std::int64_t{2}, 23));
    second.table.add("register_map", value(std::string("generic_battery"), 24));
    second.table.add("max_charge_kw", value(50.0, 25));
    second.table.add("max_discharge_kw", value(50.0, 26));
    second.table.add("response_timeout_seconds", value(2.0, 27));
    config.assets.push_back(std::move(second));
    gateway::AdapterRegistry registry;
    Events events;
    const auto errors = registry.add(plugin, config, events.hooks());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:21:8: asset 'ast_batt_002' shares 127.0.0.1:1502 with asset "
              "'ast_batt_001' but not its response_timeout_seconds, delay_after_connect_seconds "
              "and inter_request_delay_seconds");
}

TEST_F(ModbusTcpPlugin, TwoUnitIdsBehindOneGateway) {
    battery_sim::SimulatorOptions options;
    options.units = {1, 2};
    BatterySimulator sim(options);
    sim.start();
    auto config = site(sim.port());
    sdk::AssetConfig second{"ast_batt_002", "battery", sdk::ConfigTable({"site.toml", 20, 1})};
    second.table.add("host", value(std::string("127.0.0.1"), 21));
    second.table.add("port", value(std::int64_t{sim.port()}, 22));
    second.table.add("unit_id", value(std::int64_t{2}, 23));
    second.table.add("register_map", value(std::string("generic_battery"), 24));
    second.table.add("max_charge_kw", value(50.0, 25));
    second.table.add("max_discharge_kw", value(50.0, 26));
    second.table.add("response_timeout_seconds", value(0.3, 27));
    config.assets.push_back(std::move(second));
    gateway::AdapterRegistry registry;
    Events events;
    auto errors = registry.add(plugin, config, events.hooks());
    ASSERT_TRUE(errors.empty()) << errors.front();
    ASSERT_TRUE(registry.start());
    EXPECT_TRUE(run(registry, command(sdk::CommandType::SetChargeRate, 4)).success);
    auto to_second = command(sdk::CommandType::SetDischargeRate, 6);
    to_second.asset_id = "ast_batt_002";
    EXPECT_TRUE(run(registry, to_second).success);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(1), 4.0);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(2), -6.0);
    EXPECT_EQ(sim.connections_accepted(), 1U);
    registry.clear();
}

TEST_F(ModbusTcpPlugin, DrivesTheSimulatedBatteryEndToEnd) {
    BatterySimulator sim;
    sim.start();
    gateway::AdapterRegistry registry;
    Events events;
    auto errors = registry.add(plugin, site(sim.port()), events.hooks());
    ASSERT_TRUE(errors.empty()) << errors.front();
    ASSERT_TRUE(registry.start());

    // One slot: SET_CHARGE_RATE 0 and SET_DISCHARGE_RATE 5, in either order.
    EXPECT_TRUE(run(registry, command(sdk::CommandType::SetDischargeRate, 5)).success);
    EXPECT_TRUE(run(registry, command(sdk::CommandType::SetChargeRate, 0)).success);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -5.0);

    auto clamped = run(registry, command(sdk::CommandType::SetDischargeRate, 80));
    EXPECT_TRUE(clamped.success);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -50.0);
    EXPECT_TRUE(events.logged("discharge 80 kW clamped to max_discharge_kw 50"));

    sim.inject_exception(100, 2, 1);
    auto refused = run(registry, command(sdk::CommandType::SetChargeRate, 1));
    EXPECT_FALSE(refused.success);
    EXPECT_FALSE(refused.retryable);
    EXPECT_EQ(refused.error, "Illegal data address");
    EXPECT_TRUE(
        events.logged("command cmd_00000000002a (SET_CHARGE_RATE to asset "
                      "'ast_batt_001') failed: 127.0.0.1:" +
                      std::to_string(sim.port()) +
                      " unit 1 write holding 100..101: Illegal data address (exception "
                      "2); retrying will not help"));

    auto missing = run(registry, command(sdk::CommandType::SetPowerLimit, 10));
    EXPECT_FALSE(missing.success);
    EXPECT_FALSE(missing.retryable);

    ASSERT_TRUE(eventually([&] {
        auto s = registry.state("ast_batt_001");
        return s && s->connected && s->find("soc") && s->find("active_power");
    }));
    auto state = registry.state("ast_batt_001");
    EXPECT_DOUBLE_EQ(state->find("soc")->value, 50.0);
    EXPECT_TRUE(state->last_seen.has_value());
    EXPECT_TRUE(events.has(sdk::AssetEventType::Connected));
    EXPECT_TRUE(events.has(sdk::AssetEventType::Telemetry));

    registry.stop();  // on_shutdown = "idle"
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 0.0);
    registry.clear();
}

// A battery whose device nothing reaches between commands (no polled
// point, no heartbeat, no refresh) would not notice a reboot that lost its
// setpoint until the next write: the adapter says so at start, once per
// such asset, and not for an asset that any of the three keeps watched.
TEST_F(ModbusTcpPlugin, WarnsAtStartAboutABatteryNothingWatches) {
    sdk::ConfigTable unwatched({"site.toml", 40, 1});
    unwatched.add("power_setpoint", point(41, {{"address", std::int64_t{100}},
                                               {"type", std::string("int32")},
                                               {"scale", 0.001}}));
    unwatched.add("soc", point(42, {{"address", std::int64_t{200}},
                                    {"type", std::string("uint16")},
                                    {"table", std::string("input")},
                                    {"poll", false}}));
    const std::string warning =
        "asset 'ast_batt_001': register map 'generic_battery' polls no point and has no "
        "heartbeat, and refresh_seconds is not set: a lost connection, or a device that "
        "rebooted and lost its setpoint, is noticed only at the next write";
    struct Case {
        std::string name;
        sdk::AdapterConfig config;
        bool warned;
    };
    std::vector<Case> cases;
    cases.push_back({"nothing watches", site(1, unwatched), true});
    cases.push_back({"soc polled", site(1), false});
    auto refreshed = site(1, unwatched);
    refreshed.assets[0].table.add("refresh_seconds", value(60.0, 18));
    cases.push_back({"refresh_seconds", std::move(refreshed), false});
    auto fed = unwatched;
    auto heartbeat = std::make_shared<sdk::ConfigTable>(sdk::SourceLocation{"site.toml", 44, 13});
    heartbeat->add("point", value(std::string("power_setpoint"), 44, 20));
    heartbeat->add("mode", value(std::string("constant"), 44, 40));
    heartbeat->add("value", value(0.0, 44, 60));
    fed.add("heartbeat", value(sdk::ConfigValue::TablePtr(heartbeat), 44, 13));
    cases.push_back({"heartbeat", site(1, fed), false});
    for (auto& c : cases) {
        SCOPED_TRACE(c.name);
        gateway::AdapterRegistry registry;
        Events events;
        auto errors = registry.add(plugin, std::move(c.config), events.hooks());
        ASSERT_TRUE(errors.empty()) << errors.front();
        ASSERT_TRUE(registry.start());
        EXPECT_EQ(events.logged(warning), c.warned);
        registry.stop();
        registry.clear();
    }
}

TEST_F(ModbusTcpPlugin, ReportsTheLostConnection) {
    auto sim = std::make_unique<BatterySimulator>();
    sim->start();
    gateway::AdapterRegistry registry;
    Events events;
    ASSERT_TRUE(registry.add(plugin, site(sim->port()), events.hooks()).empty());
    ASSERT_TRUE(registry.start());
    ASSERT_TRUE(eventually([&] { return events.has(sdk::AssetEventType::Connected); }));
    sim.reset();
    EXPECT_TRUE(eventually([&] { return events.has(sdk::AssetEventType::Disconnected); }));
    auto offline = run(registry, command(sdk::CommandType::SetChargeRate, 1));
    EXPECT_FALSE(offline.success);
    EXPECT_TRUE(offline.retryable);
    EXPECT_EQ(offline.error, "not connected");
    EXPECT_TRUE(
        events.logged("command cmd_00000000002a (SET_CHARGE_RATE to asset "
                      "'ast_batt_001') failed: 127.0.0.1:"));
    EXPECT_FALSE(registry.state("ast_batt_001")->connected);
    registry.clear();
}

// Going from (charge 40, discharge 0) to (10, 30) in one slot must never
// leave the battery at +10 kW, whatever the device answers: the two commands,
// waiting together behind a slow request, go out as one write of -20 kW and
// share its outcome. `busy_after` setpoint writes pass before the device
// answers one with "busy" (exception 6).
void change_slot_with_busy_device(const gateway::AdapterRegistry& registry, BatterySimulator& sim,
                                  int busy_after, sdk::CommandResult& charge,
                                  sdk::CommandResult& discharge) {
    const auto t0 = sdk::Clock::now();
    const auto t1 = t0 + 1min;
    auto first = command(sdk::CommandType::SetChargeRate, 40);
    first.scheduled_at = t0;
    ASSERT_TRUE(run(registry, first).success);
    ASSERT_DOUBLE_EQ(sim.setpoint_kw(), 40.0);
    sim.clear_writes();

    // Something slow is on the wire when the slot's commands arrive (the
    // slow write is the first the busy rule lets pass).
    sim.inject_exception(100, 6, 1, busy_after + 1);
    sim.delay_replies(150ms, 1);
    const auto served = sim.requests_served();
    auto slow = command(sdk::CommandType::SetChargeRate, 40);
    slow.scheduled_at = t0;
    test::CommandOutcome slow_result;
    registry.dispatch(slow, slow_result.completion());
    ASSERT_TRUE(eventually([&] { return sim.requests_served() > served; }));
    auto to_charge = command(sdk::CommandType::SetChargeRate, 10);
    auto to_discharge = command(sdk::CommandType::SetDischargeRate, 30);
    to_charge.scheduled_at = to_discharge.scheduled_at = t1;
    test::CommandOutcome a;
    test::CommandOutcome b;
    registry.dispatch(to_charge, a.completion());
    registry.dispatch(to_discharge, b.completion());
    EXPECT_TRUE(slow_result.await().success);
    charge = a.await();
    discharge = b.await();
    sim.clear_faults();
}

std::vector<battery_sim::ReceivedWrite> setpoint_writes(const BatterySimulator& sim) {
    std::vector<battery_sim::ReceivedWrite> out;
    for (const auto& w : sim.writes()) {
        if (w.address == 100) out.push_back(w);
    }
    return out;
}

TEST_F(ModbusTcpPlugin, OneSlotsChargeAndDischargeGoOutAsOneWrite) {
    BatterySimulator sim;
    gateway::AdapterRegistry registry;
    Events events;
    ASSERT_NO_FATAL_FAILURE(start_polled_once(sim, registry, events));

    // The device is busy for the second setpoint write after the slow one:
    // with one write per command that was the discharge, after the charge
    // had put the battery at +10 kW.
    sdk::CommandResult charge;
    sdk::CommandResult discharge;
    change_slot_with_busy_device(registry, sim, 1, charge, discharge);
    EXPECT_TRUE(charge.success) << charge.error;
    EXPECT_TRUE(discharge.success) << discharge.error;
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -20.0);
    // The slow write, then the slot's one write.
    EXPECT_EQ(setpoint_writes(sim).size(), 2U);
    registry.clear();
}

TEST_F(ModbusTcpPlugin, ABusyAnswerFailsBothCommandsOfTheSlotAndKeepsTheOldValues) {
    BatterySimulator sim;
    gateway::AdapterRegistry registry;
    Events events;
    ASSERT_NO_FATAL_FAILURE(start_polled_once(sim, registry, events));

    sdk::CommandResult charge;
    sdk::CommandResult discharge;
    change_slot_with_busy_device(registry, sim, 0, charge, discharge);
    EXPECT_FALSE(charge.success);
    EXPECT_FALSE(discharge.success);
    EXPECT_TRUE(charge.retryable);
    EXPECT_EQ(charge.error, "Server device busy");
    EXPECT_EQ(discharge.error, "Server device busy");
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 40.0) << "the battery stays where it was";

    // Neither failed command changed the kept values: a new charge value
    // combines with discharge 0, not 30.
    auto next = command(sdk::CommandType::SetChargeRate, 5);
    next.scheduled_at = sdk::Clock::now() + 2min;
    ASSERT_TRUE(run(registry, next).success);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 5.0);
    registry.clear();
}

// An asset whose full power its map's setpoint point cannot hold is refused
// at --check-config, at the asset's key, naming the map and the point.
TEST_F(ModbusTcpPlugin, RefusesLimitsTheSetpointPointCannotHold) {
    sdk::ConfigTable map({"site.toml", 40, 1});
    map.add("power_setpoint", point(41, {{"address", std::int64_t{100}},
                                         {"type", std::string("int16")},
                                         {"scale", 0.01}}));
    auto config = site(1502, std::move(map));
    auto& asset = config.assets.front().table;
    asset = sdk::ConfigTable({"site.toml", 10, 1});
    asset.add("host", value(std::string("127.0.0.1"), 11));
    asset.add("register_map", value(std::string("generic_battery"), 14));
    asset.add("max_charge_kw", value(500.0, 15));
    asset.add("max_discharge_kw", value(300.0, 16));
    gateway::AdapterRegistry registry;
    Events events;
    const auto errors = registry.add(plugin, config, events.hooks());
    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0],
              "site.toml:15:8: asset 'ast_batt_001': max_charge_kw 500 cannot be written: "
              "register map 'generic_battery': value 500 does not fit point 'power_setpoint' "
              "(int16, raw 50000)");
}

// ARCHITECTURE.md: connected means the TCP connection is up and the last
// request succeeded. A device that accepts TCP but never answers is never
// connected, and its timeouts (each re-opens the connection) give no
// ASSET_DISCONNECTED / ASSET_CONNECTED pairs.
TEST_F(ModbusTcpPlugin, ADeviceThatNeverAnswersIsNeverConnected) {
    SilentDevice device;
    gateway::AdapterRegistry registry;
    Events events;
    auto config = site(device.port());
    set_key(config.assets.front().table, "response_timeout_seconds", value(0.1, 17));
    ASSERT_TRUE(registry.add(plugin, config, events.hooks()).empty());
    ASSERT_TRUE(registry.start());
    for (int i = 0; i < 20; ++i) {  // several timeouts and reconnects
        EXPECT_FALSE(registry.state("ast_batt_001")->connected);
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(events.count(sdk::AssetEventType::Connected), 0);
    EXPECT_EQ(events.count(sdk::AssetEventType::Disconnected), 0);
    registry.clear();
}

// systemd kills the gateway TimeoutStopSec (30 s) after SIGTERM. Every
// battery gets its idle write at once at shutdown, however many dead devices
// come before it in the site file (one at a time, each cost up to two
// response timeouts), and stop returns within its bound: two response
// timeouts and 250 ms for the idle writes, one more to close the connections.
TEST_F(ModbusTcpPlugin, EveryBatteryIsIdledAtOnceAtShutdown) {
    constexpr double timeout_seconds = 0.5;
    BatterySimulator sim;
    sim.start();
    auto config = site(sim.port());
    set_key(config.assets.front().table, "response_timeout_seconds", value(timeout_seconds, 17));
    std::vector<std::unique_ptr<SilentDevice>> dead;
    std::vector<sdk::AssetConfig> assets;
    for (int i = 0; i < 8; ++i) {
        dead.push_back(std::make_unique<SilentDevice>());
        const int line = 20 + 10 * i;
        sdk::AssetConfig a{"ast_dead_" + std::to_string(i), "battery",
                           sdk::ConfigTable({"site.toml", line, 1})};
        a.table.add("host", value(std::string("127.0.0.1"), line + 1));
        a.table.add("port", value(std::int64_t{dead.back()->port()}, line + 2));
        a.table.add("register_map", value(std::string("generic_battery"), line + 3));
        a.table.add("max_charge_kw", value(50.0, line + 4));
        a.table.add("max_discharge_kw", value(50.0, line + 5));
        a.table.add("response_timeout_seconds", value(timeout_seconds, line + 6));
        assets.push_back(std::move(a));
    }
    assets.push_back(std::move(config.assets.front()));  // the live one last
    config.assets = std::move(assets);
    gateway::AdapterRegistry registry;
    Events events;
    auto errors = registry.add(plugin, config, events.hooks());
    ASSERT_TRUE(errors.empty()) << errors.front();
    ASSERT_TRUE(registry.start());
    ASSERT_TRUE(run(registry, command(sdk::CommandType::SetChargeRate, 25)).success);
    ASSERT_DOUBLE_EQ(sim.setpoint_kw(), 25.0);
    std::this_thread::sleep_for(300ms);  // the dead devices' poll reads are on the wire

    std::atomic<bool> stopped{false};
    std::optional<std::chrono::steady_clock::duration> idled_after;
    const auto t0 = std::chrono::steady_clock::now();
    std::thread watch([&] {
        for (;;) {
            const bool last_look = stopped.load();
            if (sim.setpoint_kw() == 0.0) {
                idled_after = std::chrono::steady_clock::now() - t0;
                return;
            }
            if (last_look) return;
            std::this_thread::sleep_for(2ms);
        }
    });
    registry.stop();
    const auto stop_took = std::chrono::steady_clock::now() - t0;
    stopped = true;
    watch.join();

    ASSERT_TRUE(idled_after.has_value()) << "the live battery was never idled";
    EXPECT_LT(*idled_after, 1500ms)
        << std::chrono::duration<double>(*idled_after).count() << " s after the stop began";
    EXPECT_LT(stop_took, std::chrono::duration<double>(3 * timeout_seconds + 0.25 + 0.25))
        << std::chrono::duration<double>(stop_took).count() << " s";
    EXPECT_TRUE(events.logged("asset 'ast_dead_0': idle on shutdown"));
    registry.clear();
}

// A unit behind a TCP gateway that answers every request with exception 11
// is not connected, and a reconnect does not make it so.
TEST_F(ModbusTcpPlugin, AUnitThatOnlyAnswersExceptionsIsNotConnected) {
    BatterySimulator sim;  // serves unit 1 only: unit 2 gets exception 11
    sim.start();
    auto config = site(sim.port());
    set_key(config.assets.front().table, "unit_id", value(std::int64_t{2}, 13));
    gateway::AdapterRegistry registry;
    Events events;
    ASSERT_TRUE(registry.add(plugin, config, events.hooks()).empty());
    ASSERT_TRUE(registry.start());
    ASSERT_TRUE(eventually([&] { return sim.requests_served() > 3; }));
    EXPECT_FALSE(registry.state("ast_batt_001")->connected);
    sim.drop_connections(1);  // a reconnect
    const auto accepted = sim.connections_accepted();
    ASSERT_TRUE(eventually([&] { return sim.connections_accepted() > accepted; }));
    for (int i = 0; i < 10; ++i) {
        EXPECT_FALSE(registry.state("ast_batt_001")->connected);
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(events.count(sdk::AssetEventType::Connected), 0);
    registry.clear();
}

// A unit whose SoC read always fails is not connected, even right after a
// successful write, and the reason is the exception, not a lost connection.
TEST_F(ModbusTcpPlugin, AnExceptionAnswerDisconnectsWithItsName) {
    BatterySimulator sim;
    sim.start();
    gateway::AdapterRegistry registry;
    Events events;
    ASSERT_TRUE(registry.add(plugin, site(sim.port()), events.hooks()).empty());
    ASSERT_TRUE(registry.start());
    ASSERT_TRUE(eventually([&] { return events.has(sdk::AssetEventType::Connected); }));
    sim.inject_exception(200, 4);  // the SoC read
    ASSERT_TRUE(eventually([&] { return events.has(sdk::AssetEventType::Disconnected); }));
    EXPECT_NE(events.reason(sdk::AssetEventType::Disconnected)
                  .find("unit 1 read input 200: Server device failure (exception 4)"),
              std::string::npos)
        << events.reason(sdk::AssetEventType::Disconnected);
    EXPECT_FALSE(registry.state("ast_batt_001")->connected);

    ASSERT_TRUE(run(registry, command(sdk::CommandType::SetChargeRate, 3)).success);
    for (int i = 0; i < 10; ++i) {  // several poll rounds
        EXPECT_FALSE(registry.state("ast_batt_001")->connected);
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(events.count(sdk::AssetEventType::Connected), 1);
    EXPECT_EQ(events.count(sdk::AssetEventType::Disconnected), 1);

    sim.clear_faults();
    EXPECT_TRUE(eventually([&] { return registry.state("ast_batt_001")->connected; }));
    registry.clear();
}

}  // namespace
}  // namespace gridgate
