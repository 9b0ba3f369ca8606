// Test plugins for the loader: one source, built once per variant
// (TEST_PLUGIN_VARIANT_*), each broken in one deliberate way, plus the good
// one whose adapter behaves per asset as its `behaviour` key says.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gridgate/sdk/plugin_entry.hpp"

namespace sdk = gridgate::sdk;

#if defined(TEST_PLUGIN_VARIANT_GOOD) || defined(TEST_PLUGIN_VARIANT_DUPLICATE) || \
    defined(TEST_PLUGIN_VARIANT_NULL_FACTORY) || defined(TEST_PLUGIN_VARIANT_OLD_MINOR)
namespace {

const std::vector<sdk::ConfigKey> kAdapterKeys = {
    {.name = "site_limit_kw",
     .type = sdk::ConfigType::Float,
     .default_value = "100.0",
     .description = "no asset's limit_kw may exceed it",
     .min = 0.0},
    {.name = "fail_start",
     .type = sdk::ConfigType::Boolean,
     .default_value = "false",
     .description = "start() fails (tests the host's start-up path)"},
    {.name = "start_delay_seconds",
     .type = sdk::ConfigType::Float,
     .default_value = "0",
     .description = "start() takes this long (tests signals while the host starts)",
     .min = 0.0},
    {.name = "refuse_create",
     .type = sdk::ConfigType::Boolean,
     .default_value = "false",
     .description = "create_adapter() fails"},
    {.name = "warn",
     .type = sdk::ConfigType::String,
     .default_value = "",
     .description = "validate() warns (sdk::warning()) with this text"},
};
const std::vector<sdk::ConfigKey> kAssetKeys = {
    {.name = "behaviour",
     .type = sdk::ConfigType::String,
     .default_value = "ok",
     .description = "how execute() answers",
     .one_of = {"ok", "fail", "foreign_thread", "never", "throw", "stray_events", "block"}},
    {.name = "limit_kw", .type = sdk::ConfigType::Float, .description = "the asset's limit"},
};
constexpr std::string_view kAssetTypes[] = {"battery", "ev_charger"};

std::string text_of(const sdk::ConfigTable& t, std::string_view key, std::string fallback) {
    auto* v = t.find(key);
    return v && v->as_string() ? *v->as_string() : fallback;
}
bool flag_of(const sdk::ConfigTable& t, std::string_view key) {
    auto* v = t.find(key);
    return v && v->as_bool().value_or(false);
}

// Answers each command as its asset's `behaviour` says. Thread-safe: one
// mutex guards the queue, the held completions and the per-asset state.
class TestAdapter final : public sdk::Adapter {
  public:
    explicit TestAdapter(sdk::HostContext& host) : host_(host) {}
    ~TestAdapter() override { stop(); }

    sdk::Status start() noexcept override {
        return sdk::guarded("start", [&]() -> sdk::Status {
            if (flag_of(host_.config().table, "fail_start"))
                return sdk::Status::failure("fail_start is set");
            if (auto* delay = host_.config().table.find("start_delay_seconds")) {
                const double seconds = delay->as_number().value_or(0);
                host_.log(sdk::LogLevel::Info,
                          "start takes " + std::to_string(seconds) + " s (start_delay_seconds)");
                std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
            }
            worker_ = std::thread([this] { run(); });
            for (const auto& asset : host_.config().assets)
                host_.publish({.type = sdk::AssetEventType::Connected,
                               .asset_id = asset.id,
                               .at = sdk::Clock::now()});
            host_.log(sdk::LogLevel::Info,
                      "started with " + std::to_string(host_.config().assets.size()) + " assets");
            host_.log(sdk::LogLevel::Debug, "debug detail");
            return sdk::Status::ok();
        });
    }

    void stop() noexcept override {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) return;
            stopping_ = true;
        }
        wake_.notify_all();
        if (worker_.joinable()) worker_.join();
        std::lock_guard lock(mutex_);
        held_.clear();  // "never" means never: these are dropped, not completed
    }

    void execute(const sdk::Command& command, sdk::Completion done) noexcept override {
        sdk::guarded_execute(done, [&] {
            const auto* asset = host_.config().asset(command.asset_id);
            if (!asset) {
                done(sdk::CommandResult::failure("unknown asset " + command.asset_id, false));
                return;
            }
            std::string behaviour = text_of(asset->table, "behaviour", "ok");
            {
                std::lock_guard lock(mutex_);
                ++received_[command.asset_id];
                if (command.parameters.power_kw)
                    last_power_[command.asset_id] = *command.parameters.power_kw;
            }
            if (behaviour == "throw") throw std::runtime_error("boom from execute");
            if (behaviour == "stray_events") {
                // Events the adapter has no business publishing, then its own.
                const auto now = sdk::Clock::now();
                for (std::string id : {"", "ast_elsewhere", "two\nlines", "ast_ok"})
                    host_.publish({.type = sdk::AssetEventType::Connected,
                                   .asset_id = std::move(id),
                                   .at = now});
                host_.publish({.type = static_cast<sdk::AssetEventType>(9),
                               .asset_id = command.asset_id,
                               .at = now});
                host_.publish({.type = sdk::AssetEventType::Telemetry,
                               .asset_id = command.asset_id,
                               .at = now,
                               .telemetry = {{"soc", 50.0, false}}});
            }
            if (behaviour == "block") {
                // What the SDK forbids: blocking in execute() (for 3 s).
                std::this_thread::sleep_for(std::chrono::seconds(3));
                done(sdk::CommandResult::ok());
            } else if (behaviour == "fail") {
                done(sdk::CommandResult::failure("Rejected", false));
            } else if (behaviour == "never") {
                std::lock_guard lock(mutex_);
                held_.push_back(std::move(done));
            } else if (behaviour == "foreign_thread") {
                {
                    std::lock_guard lock(mutex_);
                    queue_.push_back(std::move(done));
                }
                wake_.notify_one();
            } else {
                done(sdk::CommandResult::ok());
            }
        });
    }

    bool supports(std::string_view asset_id, sdk::CommandType type) const noexcept override {
        const auto* asset = host_.config().asset(asset_id);
        if (!asset) return false;
        // A charger has no state of charge to aim for.
        return !(type == sdk::CommandType::SetSocTarget && asset->type != "battery");
    }

    sdk::AssetState state(std::string_view asset_id) const noexcept override {
        std::lock_guard lock(mutex_);
        sdk::AssetState s;
        std::string id(asset_id);
        auto it = received_.find(id);
        s.connected = !stopping_;
        s.telemetry.push_back({"commands_received", it == received_.end() ? 0.0 : it->second});
        if (auto p = last_power_.find(id); p != last_power_.end())
            s.telemetry.push_back({"power_kw", p->second});
        return s;
    }

  private:
    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, nothing in flight
            sdk::Completion done = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            done(sdk::CommandResult::ok());
            lock.lock();
        }
    }

    sdk::HostContext& host_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<sdk::Completion> queue_;
    std::vector<sdk::Completion> held_;
    std::map<std::string, double> received_;
    std::map<std::string, double> last_power_;
    bool stopping_ = false;
    std::thread worker_;
};

class TestPlugin final : public sdk::Plugin {
  public:
    TestPlugin() {
#if defined(TEST_PLUGIN_VARIANT_NULL_FACTORY)
        throw std::runtime_error("licence file missing");
#endif
    }
    std::span<const sdk::ConfigKey> adapter_keys() const noexcept override {
        return kAdapterKeys;
    }
    std::span<const sdk::ConfigKey> asset_keys() const noexcept override {
        return kAssetKeys;
    }
    std::span<const std::string_view> asset_types() const noexcept override {
        return kAssetTypes;
    }

    std::vector<sdk::ConfigDiagnostic> validate(
        const sdk::AdapterConfig& config) const noexcept override {
        std::vector<sdk::ConfigDiagnostic> out;
        if (auto* warn = config.table.find("warn"); warn && warn->as_string())
            out.push_back(sdk::warning(warn->where(), *warn->as_string()));
        auto* site = config.table.find("site_limit_kw");
        double site_limit = site ? site->as_number().value_or(100.0) : 100.0;
        for (const auto& asset : config.assets) {
            auto* limit = asset.table.find("limit_kw");
            if (limit && limit->as_number().value_or(0.0) > site_limit)
                out.push_back(
                    {limit->where(), "asset '" + asset.id + "': limit_kw exceeds site_limit_kw"});
        }
        return out;
    }

    sdk::AdapterCreation create_adapter(sdk::HostContext& host) noexcept override {
        if (flag_of(host.config().table, "refuse_create"))
            return {nullptr, sdk::Status::failure("refuse_create is set")};
        try {
            return {std::make_unique<TestAdapter>(host), sdk::Status::ok()};
        } catch (const std::exception& e) {
            return {nullptr, sdk::Status::failure(e.what())};
        }
    }
};

}  // namespace

#if defined(TEST_PLUGIN_VARIANT_GOOD)
GRIDGATE_PLUGIN(TestPlugin, "testgood", "1.2.3", "Answers commands as each asset's behaviour says",
                sdk::capabilities(sdk::CommandType::SetChargeRate,
                                  sdk::CommandType::SetDischargeRate,
                                  sdk::CommandType::SetSocTarget))
#elif defined(TEST_PLUGIN_VARIANT_DUPLICATE)
GRIDGATE_PLUGIN(TestPlugin, "testgood", "9.9.9", "Same name as the good one",
                sdk::capabilities(sdk::CommandType::SetChargeRate))
#elif defined(TEST_PLUGIN_VARIANT_OLD_MINOR)
// The good plugin as built against ABI 1.0, before warnings: what its
// validate() returns is all errors to the host, "warning: " or not.
namespace {
constexpr sdk::PluginDescriptor abi_1_0() {
    auto d = sdk::make_descriptor("testold", "1.0.0", "The good one, of ABI 1.0",
                                  sdk::capabilities(sdk::CommandType::SetChargeRate));
    d.abi_minor = 0;
    return d;
}
sdk::Plugin* make_old(std::string&) {
    return new TestPlugin();
}
}  // namespace
GRIDGATE_PLUGIN_DESCRIPTOR(abi_1_0())
GRIDGATE_PLUGIN_FACTORY(make_old)
#else
GRIDGATE_PLUGIN(TestPlugin, "tp_null_factory", "1.0.0", "Its constructor throws",
                sdk::capabilities(sdk::CommandType::SetChargeRate))
#endif

#else  // the broken variants: no adapter needed

namespace {
class EmptyPlugin final : public sdk::Plugin {
  public:
    std::span<const sdk::ConfigKey> adapter_keys() const noexcept override { return {}; }
    std::span<const sdk::ConfigKey> asset_keys() const noexcept override { return {}; }
    sdk::AdapterCreation create_adapter(sdk::HostContext&) noexcept override {
        return {nullptr, sdk::Status::failure("this plugin makes no adapters")};
    }
};

[[maybe_unused]] sdk::Plugin* make_empty(std::string&) {
    return new EmptyPlugin();
}

[[maybe_unused]] constexpr sdk::PluginDescriptor with_name(const char* name) {
    return sdk::make_descriptor(name, "1.0.0", "deliberately broken", 0);
}
constexpr sdk::PluginDescriptor tampered(sdk::PluginDescriptor d, int major_delta, int minor_delta,
                                         const char* fingerprint) {
    d.abi_major = static_cast<std::uint16_t>(d.abi_major + major_delta);
    d.abi_minor = static_cast<std::uint16_t>(d.abi_minor + minor_delta);
    if (fingerprint) d.fingerprint = fingerprint;
    return d;
}
}  // namespace

#if defined(TEST_PLUGIN_VARIANT_WRONG_MAJOR)
GRIDGATE_PLUGIN_DESCRIPTOR(tampered(with_name("tp_wrong_major"), 1, 0, nullptr))
GRIDGATE_PLUGIN_FACTORY(make_empty)
#elif defined(TEST_PLUGIN_VARIANT_NEWER_MINOR)
GRIDGATE_PLUGIN_DESCRIPTOR(tampered(with_name("tp_newer_minor"), 0, 1, nullptr))
GRIDGATE_PLUGIN_FACTORY(make_empty)
#elif defined(TEST_PLUGIN_VARIANT_BAD_FINGERPRINT)
GRIDGATE_PLUGIN_DESCRIPTOR(
    tampered(with_name("tp_bad_fingerprint"), 0, 0,
             "gcc-4.8.5 libstdc++-cxx11abi0 c++201103 boost-105300 sdk-0.0.1"))
GRIDGATE_PLUGIN_FACTORY(make_empty)
#elif defined(TEST_PLUGIN_VARIANT_TINY_DESCRIPTOR)
// The right name on the wrong thing: two bytes, where the ABI version would
// start to be read past the end.
extern "C" BOOST_SYMBOL_EXPORT constinit const std::uint16_t gridgate_plugin_descriptor = 1;
GRIDGATE_PLUGIN_FACTORY(make_empty)
#elif defined(TEST_PLUGIN_VARIANT_NO_DESCRIPTOR)
GRIDGATE_PLUGIN_FACTORY(make_empty)
#elif defined(TEST_PLUGIN_VARIANT_NO_FACTORY)
GRIDGATE_PLUGIN_DESCRIPTOR(with_name("tp_no_factory"))
// An unexported helper: the library has code, but no entry point.
[[maybe_unused]] sdk::Plugin* not_exported(std::string& e) {
    return make_empty(e);
}
#elif defined(TEST_PLUGIN_VARIANT_THROWING_FACTORY)
namespace {
sdk::Plugin* throwing_factory(std::string&) {
    throw std::runtime_error("factory exploded");
}
}  // namespace
GRIDGATE_PLUGIN_DESCRIPTOR(with_name("tp_throwing_factory"))
GRIDGATE_PLUGIN_FACTORY(throwing_factory)
#elif defined(TEST_PLUGIN_VARIANT_ASAN_RUNTIME)
GRIDGATE_PLUGIN_DESCRIPTOR(with_name("tp_asan_runtime"))
GRIDGATE_PLUGIN_FACTORY(make_empty)
#elif defined(TEST_PLUGIN_VARIANT_EMPTY_FACTORY)
namespace {
sdk::Plugin* empty_factory(std::string&) {
    return nullptr;
}
}  // namespace
GRIDGATE_PLUGIN_DESCRIPTOR(with_name("tp_empty_factory"))
GRIDGATE_PLUGIN_FACTORY(empty_factory)
#else
#error "define one TEST_PLUGIN_VARIANT_*"
#endif

#endif
