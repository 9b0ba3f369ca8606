// The plugin path as the daemon drives it: the real engine hands commands to
// adapters from real plugins through the registry, and every completion,
// from whatever thread, comes back through the engine's poster (its strand).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "gridgate/engine/dispatch_engine.hpp"
#include "gridgate/gateway/adapter_registry.hpp"
#include "gridgate/gateway/plugin_loader.hpp"

using namespace gridgate;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {
const fs::path kDir = GRIDGATE_TEST_PLUGIN_DIR;

// Stands in for the daemon's strand: posts from any thread queue up, and the
// test thread runs them, so the engine is only ever touched by one thread.
class Strand {
  public:
    void post(std::function<void()> f) {
        std::lock_guard lock(mutex_);
        queue_.push_back({std::move(f), std::this_thread::get_id()});
        cv_.notify_all();
    }
    /// Runs posted work until `done()` holds or 5 s pass.
    bool run_until(const std::function<bool()>& done) {
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!done()) {
            std::unique_lock lock(mutex_);
            if (!cv_.wait_until(lock, deadline, [&] { return !queue_.empty(); })) return false;
            auto item = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            posted_from.push_back(item.second);
            item.first();
        }
        return true;
    }
    std::vector<std::thread::id> posted_from;

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::pair<std::function<void()>, std::thread::id>> queue_;
};

sdk::AssetConfig asset(const std::string& id, const std::string& type,
                       const std::string& behaviour) {
    sdk::AssetConfig a{id, type, sdk::ConfigTable({"site.toml", 20, 1})};
    a.table.add("behaviour", {sdk::ConfigValue::Storage{behaviour}, {"site.toml", 21, 13}});
    return a;
}

class EngineDispatch : public ::testing::Test {
  protected:
    void SetUp() override {
        catalog.load_file(kDir / "tp_good.so");
        ASSERT_TRUE(catalog.find("testgood")) << catalog.render_report();
        sdk::AdapterConfig config{
            "test", "testgood", sdk::ConfigTable({"site.toml", 10, 1}), {}, {}};
        for (const char* b : {"ok", "fail", "foreign_thread", "never", "throw"})
            config.assets.push_back(asset(std::string("ast_") + b, "battery", b));
        config.assets.push_back(asset("ast_charger", "ev_charger", "ok"));
        auto errors = registry.add(catalog.find_shared("testgood"), config, {});
        ASSERT_TRUE(errors.empty()) << errors.front();
        ASSERT_TRUE(registry.start());
    }
    void TearDown() override {
        // The daemon's order: stop adapters, drain the strand, destroy.
        registry.stop();
        strand.run_until([] { return true; });
        registry.clear();
    }

    sdk::CommandId add(const std::string& asset_id, sdk::CommandType type, int max_retries) {
        engine::NewCommand c;
        c.asset_id = asset_id;
        c.command_type = type;
        if (type == sdk::CommandType::SetSocTarget)
            c.parameters.soc_percent = 80.0;
        else
            c.parameters.power_kw = 11.0;
        c.scheduled_at = now;
        c.max_retries = max_retries;
        return engine.add_command(c);
    }

    // What the daemon's dispatch loop does with each due command.
    void dispatch_due() {
        engine.dispatch_due(now, [this](engine::AssetIndex asset, std::string_view asset_id,
                                        sdk::CommandType type, std::string& refusal) {
            if (asset >= bindings.size()) bindings.resize(asset + 1);
            if (!bindings[asset]) bindings[asset] = registry.binding(asset_id);
            return registry.route(*bindings[asset], asset_id, type, refusal);
        });
    }
    std::vector<std::optional<gateway::AdapterRegistry::Binding>> bindings;

    sdk::CommandStatus status(sdk::CommandId id) { return engine.get_command(id)->status; }

    sdk::TimePoint now = sdk::TimePoint{} + std::chrono::hours(24 * 20000);
    Strand strand;
    engine::DispatchEngine engine{
        engine::EngineOptions{
            .max_retries = 3, .timeout_seconds = 30.0, .retry_backoff_seconds = 5.0},
        {.clock = [this] { return now; },
         .post = [this](std::function<void()> f) { strand.post(std::move(f)); },
         .log = [](engine::LogLevel, std::string_view) {}}};
    gateway::PluginCatalog catalog;
    gateway::AdapterRegistry registry;
};
}  // namespace

TEST_F(EngineDispatch, ACompletionFromTheAdaptersThreadReachesTheEngineThroughItsStrand) {
    auto id = add("ast_foreign_thread", sdk::CommandType::SetChargeRate, 3);
    dispatch_due();
    // Nothing touches the engine until the strand runs the posted completion.
    EXPECT_EQ(status(id), sdk::CommandStatus::Dispatched);
    ASSERT_TRUE(strand.run_until([&] { return status(id) == sdk::CommandStatus::Completed; }));
    ASSERT_FALSE(strand.posted_from.empty());
    EXPECT_NE(strand.posted_from.back(), std::this_thread::get_id());
}

TEST_F(EngineDispatch, AnAdapterThatNeverCompletesIsEndedByTheEnginesTimeout) {
    auto id = add("ast_never", sdk::CommandType::SetChargeRate, 1);
    dispatch_due();
    EXPECT_EQ(status(id), sdk::CommandStatus::Dispatched);
    now += 29s;
    EXPECT_EQ(engine.check_timeouts(now), 0u);
    now += 1s;
    EXPECT_EQ(engine.check_timeouts(now), 1u);
    EXPECT_EQ(status(id), sdk::CommandStatus::Pending);  // one retry left
    now += 5s;
    dispatch_due();
    EXPECT_EQ(status(id), sdk::CommandStatus::Dispatched);
    now += 30s;
    EXPECT_EQ(engine.check_timeouts(now), 1u);
    auto c = engine.get_command(id);
    EXPECT_EQ(c->status, sdk::CommandStatus::TimedOut);
    EXPECT_EQ(c->retry_count, 1);
    EXPECT_EQ(c->error, "timeout");
    EXPECT_EQ(registry.state("ast_never")->find("commands_received")->value, 2.0);
}

TEST_F(EngineDispatch, AThrowingExecuteEndsTheCommandAtOnceInsteadOfRetrying) {
    auto id = add("ast_throw", sdk::CommandType::SetChargeRate, 3);
    dispatch_due();
    ASSERT_TRUE(strand.run_until([&] { return status(id) != sdk::CommandStatus::Dispatched; }));
    auto c = engine.get_command(id);
    EXPECT_EQ(c->status, sdk::CommandStatus::Failed);
    EXPECT_EQ(c->retry_count, 0);
    EXPECT_EQ(c->error, "adapter error: boom from execute");
}

TEST_F(EngineDispatch, ARefusalTheDeviceGivesIsNotRetried) {
    auto id = add("ast_fail", sdk::CommandType::SetDischargeRate, 3);
    dispatch_due();
    ASSERT_TRUE(strand.run_until([&] { return status(id) != sdk::CommandStatus::Dispatched; }));
    EXPECT_EQ(status(id), sdk::CommandStatus::Failed);
    EXPECT_EQ(engine.get_command(id)->error, "Rejected");
}

TEST_F(EngineDispatch, AnUnsupportedCommandFailsWithAClearErrorAndIsNeverSent) {
    auto id = add("ast_charger", sdk::CommandType::SetSocTarget, 3);
    dispatch_due();
    auto c = engine.get_command(id);
    EXPECT_EQ(c->status, sdk::CommandStatus::Failed);
    EXPECT_EQ(c->retry_count, 0);
    EXPECT_EQ(c->error,
              "adapter 'test' (plugin testgood) does not support SET_SOC_TARGET for "
              "asset 'ast_charger'");
    EXPECT_EQ(registry.state("ast_charger")->find("commands_received")->value, 0.0);
}

TEST_F(EngineDispatch, SuccessCompletesTheCommand) {
    auto id = add("ast_ok", sdk::CommandType::SetChargeRate, 3);
    dispatch_due();
    ASSERT_TRUE(strand.run_until([&] { return status(id) == sdk::CommandStatus::Completed; }));
    EXPECT_TRUE(engine.get_command(id)->error.empty());
}
