#include "gridgate/gateway/adapter_registry.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "gridgate/gateway/plugin_loader.hpp"

using namespace gridgate;
using gateway::AdapterRegistry;
using gateway::HostHooks;
using gateway::PluginCatalog;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
const fs::path kDir = GRIDGATE_TEST_PLUGIN_DIR;

bool is_loaded(const fs::path& file) {
    void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (!handle) return false;
    dlclose(handle);
    return true;
}

sdk::SourceLocation at(int line, int column = 1) {
    return {"site.toml", line, column};
}

sdk::ConfigValue text(std::string v, int line) {
    return {sdk::ConfigValue::Storage{std::move(v)}, at(line, 13)};
}
sdk::ConfigValue number(double v, int line) {
    return {sdk::ConfigValue::Storage{v}, at(line, 13)};
}
sdk::ConfigValue boolean(bool v, int line) {
    return {sdk::ConfigValue::Storage{v}, at(line, 13)};
}

sdk::AssetConfig asset(std::string id, std::string type, std::string behaviour, int line) {
    sdk::AssetConfig a{id, type, sdk::ConfigTable(at(line))};
    a.table.add("id", text(id, line + 1));
    a.table.add("type", text(type, line + 2));
    a.table.add("adapter", text("test", line + 3));
    a.table.add("behaviour", text(std::move(behaviour), line + 4));
    return a;
}

sdk::AdapterConfig site() {
    sdk::AdapterConfig c{"test", "testgood", sdk::ConfigTable(at(10)), {}, {}};
    c.table.add("plugin", text("testgood", 11));
    c.assets.push_back(asset("ast_ok", "battery", "ok", 20));
    c.assets.push_back(asset("ast_fail", "battery", "fail", 30));
    c.assets.push_back(asset("ast_foreign", "battery", "foreign_thread", 40));
    c.assets.push_back(asset("ast_never", "battery", "never", 50));
    c.assets.push_back(asset("ast_throw", "battery", "throw", 60));
    c.assets.push_back(asset("ast_charger", "ev_charger", "ok", 70));
    return c;
}

sdk::Command command(std::string asset_id,
                     sdk::CommandType type = sdk::CommandType::SetChargeRate) {
    sdk::Command c;
    c.command_id = sdk::CommandId{42};
    c.asset_id = std::move(asset_id);
    c.command_type = type;
    c.parameters.power_kw = 7.5;
    return c;
}

// Collects what the adapters tell the host, from whatever thread.
struct HostRecorder {
    std::mutex mutex;
    std::vector<std::string> lines;
    std::vector<sdk::AssetEvent> events;

    HostHooks hooks(sdk::LogLevel level = sdk::LogLevel::Info) {
        return {[this](sdk::LogLevel l, std::string_view adapter, std::string_view t) {
                    std::lock_guard lock(mutex);
                    lines.push_back(std::string(to_string(l)) + " " + std::string(adapter) + ": " +
                                    std::string(t));
                },
                level,
                [this](std::string_view, sdk::AssetEvent e) {
                    std::lock_guard lock(mutex);
                    events.push_back(std::move(e));
                }};
    }
};

// The outcome of one command, awaited with a deadline.
struct Outcome {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<sdk::CommandResult> result;
    std::thread::id thread;
    int calls = 0;

    sdk::Completion completion() {
        return sdk::Completion([this](sdk::CommandResult r) {
            std::lock_guard lock(mutex);
            result = std::move(r);
            thread = std::this_thread::get_id();
            ++calls;
            cv.notify_all();
        });
    }
    bool wait(std::chrono::milliseconds limit = 5s) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, limit, [&] { return result.has_value(); });
    }
};

class Registry : public ::testing::Test {
  protected:
    void SetUp() override {
        catalog.load_file(kDir / "tp_good.so");
        plugin = catalog.find_shared("testgood");
        ASSERT_TRUE(plugin);
    }
    void add_and_start() {
        auto errors = registry.add(plugin, site(), recorder.hooks());
        ASSERT_TRUE(errors.empty()) << errors.front();
        auto started = registry.start();
        ASSERT_TRUE(started) << started.message();
    }

    PluginCatalog catalog;
    std::shared_ptr<const gateway::LoadedPlugin> plugin;
    HostRecorder recorder;
    AdapterRegistry registry;
};
}  // namespace

TEST_F(Registry, BindsEveryAssetAndReportsStartThroughTheHost) {
    add_and_start();
    EXPECT_EQ(registry.adapter_count(), 1u);
    ASSERT_EQ(registry.bindings().size(), 6u);
    EXPECT_EQ(registry.bindings()[5].asset_id, "ast_charger");
    EXPECT_EQ(registry.bindings()[5].asset_type, "ev_charger");
    EXPECT_EQ(registry.bindings()[5].adapter_name, "test");
    EXPECT_NE(registry.get("ast_ok"), nullptr);
    EXPECT_EQ(registry.get("ast_ok"), registry.get("ast_fail"));
    EXPECT_EQ(registry.get("nope"), nullptr);

    std::lock_guard lock(recorder.mutex);
    ASSERT_EQ(recorder.events.size(), 6u);
    EXPECT_EQ(recorder.events[0].type, sdk::AssetEventType::Connected);
    EXPECT_EQ(recorder.events[0].asset_id, "ast_ok");
    // Info passes the host's level, debug does not.
    ASSERT_EQ(recorder.lines.size(), 1u);
    EXPECT_EQ(recorder.lines[0], "info test: started with 6 assets");
}

TEST_F(Registry, DispatchReportsSuccessAndFailureExactlyOnce) {
    add_and_start();
    Outcome ok, fail;
    registry.dispatch(command("ast_ok"), ok.completion());
    registry.dispatch(command("ast_fail"), fail.completion());
    ASSERT_TRUE(ok.wait());
    ASSERT_TRUE(fail.wait());
    EXPECT_TRUE(ok.result->success);
    EXPECT_FALSE(fail.result->success);
    EXPECT_FALSE(fail.result->retryable);
    EXPECT_EQ(fail.result->error, "Rejected");
    EXPECT_EQ(ok.calls, 1);

    auto state = registry.state("ast_ok");
    ASSERT_TRUE(state);
    EXPECT_TRUE(state->connected);
    ASSERT_NE(state->find("power_kw"), nullptr);
    EXPECT_EQ(state->find("power_kw")->value, 7.5);
    EXPECT_FALSE(registry.state("nope"));
}

TEST_F(Registry, CompletionFromTheAdaptersOwnThreadArrives) {
    add_and_start();
    Outcome outcome;
    registry.dispatch(command("ast_foreign"), outcome.completion());
    ASSERT_TRUE(outcome.wait());
    EXPECT_TRUE(outcome.result->success);
    EXPECT_NE(outcome.thread, std::this_thread::get_id());
}

TEST_F(Registry, AThrowingExecuteBecomesANonRetryableFailure) {
    add_and_start();
    Outcome outcome;
    registry.dispatch(command("ast_throw"), outcome.completion());
    ASSERT_TRUE(outcome.wait());
    EXPECT_FALSE(outcome.result->success);
    EXPECT_FALSE(outcome.result->retryable);
    EXPECT_EQ(outcome.result->error, "adapter error: boom from execute");
}

TEST_F(Registry, AnAdapterThatNeverCompletesLeavesTheCommandOpenAndStopsCleanly) {
    add_and_start();
    Outcome outcome;
    auto done = outcome.completion();
    registry.dispatch(command("ast_never"), done);
    // The command reached the adapter, which holds on to it...
    EXPECT_EQ(registry.state("ast_never")->find("commands_received")->value, 1.0);
    EXPECT_FALSE(done.completed());
    // ...and drops it at stop: only the engine's timeout ends such a command.
    registry.clear();
    EXPECT_FALSE(done.completed());
    EXPECT_EQ(outcome.calls, 0);
}

TEST_F(Registry, AnAdapterSpeaksOnlyForItsOwnAssets) {
    auto config = site();
    config.assets.push_back(asset("ast_stray", "battery", "stray_events", 80));
    auto errors = registry.add(plugin, std::move(config), recorder.hooks());
    ASSERT_TRUE(errors.empty()) << errors.front();
    ASSERT_TRUE(registry.start());
    {
        std::lock_guard lock(recorder.mutex);
        recorder.events.clear();  // start()'s ASSET_CONNECTED of every asset
        recorder.lines.clear();
    }
    Outcome out;
    registry.dispatch(command("ast_stray"), out.completion());
    ASSERT_TRUE(out.wait());
    EXPECT_TRUE(out.result->success);

    std::lock_guard lock(recorder.mutex);
    // The empty, unknown and mangled ids and the unknown type are dropped;
    // ast_ok is bound to this adapter, so that one passes.
    ASSERT_EQ(recorder.events.size(), 2u);
    EXPECT_EQ(recorder.events[0].asset_id, "ast_ok");
    EXPECT_EQ(recorder.events[1].asset_id, "ast_stray");
    EXPECT_EQ(recorder.events[1].type, sdk::AssetEventType::Telemetry);
    // Warnings at the 1st, 2nd and 4th drop, each naming what was dropped.
    std::vector<std::string> warnings;
    for (const auto& l : recorder.lines)
        if (l.rfind("warn test: dropped", 0) == 0) warnings.push_back(l);
    ASSERT_EQ(warnings.size(), 3u);
    EXPECT_EQ(warnings[0],
              "warn test: dropped ASSET_CONNECTED for asset '': it names no asset (1 dropped so "
              "far)");
    EXPECT_EQ(warnings[1],
              "warn test: dropped ASSET_CONNECTED for asset 'ast_elsewhere': this adapter drives "
              "no such asset (2 dropped so far)");
    EXPECT_EQ(warnings[2],
              "warn test: dropped an event of unknown type 9 for asset 'ast_stray' (4 dropped so "
              "far)");
}

TEST_F(Registry, UnsupportedCommandFailsWithAClearErrorWithoutReachingTheAdapter) {
    add_and_start();
    // Not among the plugin's capabilities at all.
    Outcome stop;
    registry.dispatch(command("ast_ok", sdk::CommandType::StopCharging), stop.completion());
    ASSERT_TRUE(stop.wait());
    EXPECT_FALSE(stop.result->retryable);
    EXPECT_EQ(stop.result->error,
              "adapter 'test' (plugin testgood) does not support STOP_CHARGING for asset 'ast_ok'");
    // Among them, but the adapter says not for this asset.
    Outcome soc;
    registry.dispatch(command("ast_charger", sdk::CommandType::SetSocTarget), soc.completion());
    ASSERT_TRUE(soc.wait());
    EXPECT_EQ(soc.result->error,
              "adapter 'test' (plugin testgood) does not support "
              "SET_SOC_TARGET for asset 'ast_charger'");
    EXPECT_FALSE(registry.supports("ast_charger", sdk::CommandType::SetSocTarget));
    EXPECT_TRUE(registry.supports("ast_ok", sdk::CommandType::SetSocTarget));
    EXPECT_EQ(registry.state("ast_ok")->find("commands_received")->value, 0.0);
    EXPECT_EQ(registry.state("ast_charger")->find("commands_received")->value, 0.0);
    // The dispatch loop's one lookup says the same.
    std::string why;
    EXPECT_NE(registry.route("ast_ok", sdk::CommandType::SetSocTarget, why), nullptr);
    EXPECT_EQ(why, "");
    EXPECT_EQ(registry.route("ast_charger", sdk::CommandType::SetSocTarget, why), nullptr);
    EXPECT_EQ(why, soc.result->error);
    EXPECT_EQ(registry.route("ast_ghost", sdk::CommandType::SetChargeRate, why), nullptr);
    EXPECT_EQ(why, "no adapter is bound to asset 'ast_ghost'");
    // And with the binding found once.
    auto ok = registry.binding("ast_ok"), charger = registry.binding("ast_charger");
    ASSERT_TRUE(ok);
    ASSERT_TRUE(charger);
    EXPECT_FALSE(registry.binding("ast_ghost"));
    why.clear();
    EXPECT_EQ(registry.route(ok, "ast_ok", sdk::CommandType::SetSocTarget, why),
              registry.get("ast_ok").get());
    EXPECT_EQ(why, "");
    EXPECT_EQ(registry.route(charger, "ast_charger", sdk::CommandType::SetSocTarget, why), nullptr);
    EXPECT_EQ(why, soc.result->error);
    EXPECT_EQ(registry.route(registry.binding("ast_ghost"), "ast_ghost",
                             sdk::CommandType::SetChargeRate, why),
              nullptr);
    EXPECT_EQ(why, "no adapter is bound to asset 'ast_ghost'");

    Outcome unknown;
    registry.dispatch(command("ast_ghost"), unknown.completion());
    ASSERT_TRUE(unknown.wait());
    EXPECT_EQ(unknown.result->error, "no adapter is bound to asset 'ast_ghost'");
}

TEST_F(Registry, RefusesConfigurationAgainstThePluginsDeclaredKeys) {
    sdk::AdapterConfig c = site();
    c.table.add("site_limt_kw", number(50, 12));
    c.table.add("fail_start", text("yes", 13));
    c.assets[0].table.add("limit_kw", number(20, 25));
    c.assets[5].type = "heat_pump";
    auto errors = registry.add(plugin, c, recorder.hooks());
    ASSERT_EQ(errors.size(), 3u);
    EXPECT_EQ(errors[0],
              "site.toml:12:13: unknown key 'site_limt_kw' in [adapters.test] (did you "
              "mean 'site_limit_kw'?)");
    EXPECT_EQ(errors[1], "site.toml:13:13: 'fail_start' must be a boolean, not a string");
    EXPECT_EQ(errors[2],
              "site.toml:72:13: asset 'ast_charger' has type \"heat_pump\", but adapter "
              "'test' (plugin testgood) drives only \"battery\", \"ev_charger\"");
    EXPECT_EQ(registry.adapter_count(), 0u);
    EXPECT_EQ(registry.get("ast_ok"), nullptr);
}

TEST_F(Registry, AnAssetWithoutAValidTypeIsNotAlsoCalledTheWrongType) {
    // The host refuses a missing or unknown type itself and hands on "".
    sdk::AdapterConfig c = site();
    c.assets[5].type.clear();
    EXPECT_TRUE(registry.add(plugin, c, recorder.hooks()).empty());
}

TEST_F(Registry, RunsThePluginsOwnValidationAfterTheKeys) {
    sdk::AdapterConfig c = site();
    c.table.add("site_limit_kw", number(50, 12));
    c.assets[1].table.add("limit_kw", number(80, 35));
    auto errors = registry.add(plugin, c, recorder.hooks());
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "site.toml:35:13: asset 'ast_fail': limit_kw exceeds site_limit_kw");
}

// A warning (sdk::warning()) does not refuse the configuration; the host
// logs it, under the adapter's name, when it makes the adapter. From a
// plugin built before ABI 1.1 the same message is an error.
TEST_F(Registry, APluginsWarningIsLoggedNotRefused) {
    sdk::AdapterConfig c = site();
    c.table.add("warn", text("check the wiring", 12));
    auto errors = registry.add(plugin, c, recorder.hooks());
    ASSERT_TRUE(errors.empty()) << errors.front();
    EXPECT_EQ(registry.adapter_count(), 1u);
    {
        std::lock_guard lock(recorder.mutex);
        EXPECT_EQ(recorder.lines, std::vector<std::string>{
                                      "warn test: site.toml:12:13: warning: check the wiring"});
    }

    catalog.load_file(kDir / "tp_old_minor.so");
    auto old = catalog.find_shared("testold");
    ASSERT_TRUE(old);
    AdapterRegistry other;
    c.name = "old";
    c.plugin = "testold";
    for (auto& a : c.assets) a.id += "_old";
    EXPECT_EQ(other.add(old, c, recorder.hooks()),
              std::vector<std::string>{"site.toml:12:13: warning: check the wiring"});
    EXPECT_EQ(other.adapter_count(), 0u);
}

TEST_F(Registry, ReportsAnAdapterThatCannotBeCreatedOrStarted) {
    sdk::AdapterConfig refused = site();
    refused.table.add("refuse_create", boolean(true, 12));
    auto errors = registry.add(plugin, refused, recorder.hooks());
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "plugin testgood could not create adapter 'test': refuse_create is set");

    sdk::AdapterConfig failing = site();
    failing.table.add("fail_start", boolean(true, 12));
    ASSERT_TRUE(registry.add(plugin, failing, recorder.hooks()).empty());
    auto started = registry.start();
    EXPECT_FALSE(started);
    EXPECT_EQ(started.message(), "adapter 'test' did not start: fail_start is set");
}

TEST_F(Registry, RefusesAnAssetBoundTwice) {
    ASSERT_TRUE(registry.add(plugin, site(), recorder.hooks()).empty());
    sdk::AdapterConfig second = site();
    second.name = "other";
    auto errors = registry.add(plugin, second, recorder.hooks());
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "asset 'ast_ok' is bound to adapter 'test' and to 'other'");
}

TEST_F(Registry, AdaptersKeepTheLibraryLoadedUntilTheyAreDestroyed) {
    add_and_start();
    std::shared_ptr<sdk::Adapter> adapter = registry.get("ast_foreign");
    registry.stop();
    catalog = PluginCatalog{};
    plugin.reset();
    // Only the adapter holds the library now; its code must still run.
    EXPECT_TRUE(is_loaded(kDir / "tp_good.so"));
    EXPECT_EQ(adapter->state("ast_ok").find("commands_received")->value, 0.0);
    registry.clear();
    EXPECT_TRUE(is_loaded(kDir / "tp_good.so"));
    adapter.reset();
    EXPECT_FALSE(is_loaded(kDir / "tp_good.so"));
}
