#include "gridgate/gateway/gateway.hpp"

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/system_timer.hpp>

#include "engine_api.hpp"
#include "event_log.hpp"
#include "gridgate/engine/dispatch_engine.hpp"
#include "gridgate/gateway/adapter_registry.hpp"
#include "gridgate/http/api_server.hpp"
#include "gridgate/http/metrics.hpp"
#include "gridgate/sdk/string_map.hpp"
#include "retention.hpp"

namespace gridgate::gateway {

namespace asio = boost::asio;
using sdk::TimePoint;

sdk::AdapterConfig adapter_config_for(const config::SiteConfig& site,
                                      const config::AdapterConfig& adapter,
                                      const LoadedPlugin& plugin) {
    sdk::AdapterConfig out;
    out.name = adapter.name;
    out.plugin = adapter.plugin;
    out.table = adapter.options;
    for (const auto& asset : site.assets)
        if (asset.adapter == adapter.name)
            out.assets.push_back({asset.id, asset.type, asset.options});
    for (std::string_view wanted : plugin.plugin().shared_tables()) {
        if (wanted != "register_maps") continue;  // the only site-wide table there is
        sdk::ConfigTable maps;
        for (const auto& [name, map] : site.register_maps) {
            maps.add(name, sdk::ConfigValue(sdk::ConfigValue::TablePtr(
                                                std::make_shared<sdk::ConfigTable>(map.table)),
                                            map.table.where()));
        }
        out.shared_tables.emplace_back(std::string(wanted), std::move(maps));
    }
    return out;
}

namespace {

spdlog::level::level_enum to_spdlog(sdk::LogLevel level) {
    switch (level) {
        case sdk::LogLevel::Trace:
            return spdlog::level::trace;
        case sdk::LogLevel::Debug:
            return spdlog::level::debug;
        case sdk::LogLevel::Info:
            return spdlog::level::info;
        case sdk::LogLevel::Warn:
            return spdlog::level::warn;
        case sdk::LogLevel::Error:
            return spdlog::level::err;
    }
    return spdlog::level::info;
}

spdlog::level::level_enum to_spdlog(engine::LogLevel level) {
    switch (level) {
        case engine::LogLevel::Debug:
            return spdlog::level::debug;
        case engine::LogLevel::Info:
            return spdlog::level::info;
        case engine::LogLevel::Warning:
            return spdlog::level::warn;
        case engine::LogLevel::Error:
            return spdlog::level::err;
    }
    return spdlog::level::info;
}

engine::EventType to_engine(sdk::AssetEventType type) {
    switch (type) {
        case sdk::AssetEventType::Connected:
            return engine::EventType::AssetConnected;
        case sdk::AssetEventType::Disconnected:
            return engine::EventType::AssetDisconnected;
        case sdk::AssetEventType::Telemetry:
            return engine::EventType::Telemetry;
    }
    return engine::EventType::Telemetry;
}

}  // namespace

class Gateway::Impl {
  public:
    Impl(config::SiteConfig site, const PluginCatalog& catalog, GatewayOptions options)
        : site_(std::move(site)),
          catalog_(catalog),
          options_(options),
          ioc_(static_cast<int>(std::max<std::size_t>(1, options.threads))),
          strand_(asio::make_strand(ioc_)),
          timer_(strand_),
          drain_timer_(strand_),
          retention_timer_(strand_),
          watchdog_timer_(ioc_),
          signals_(ioc_) {
        if (options_.handle_signals) {
            // Registered before anything starts, so no signal finds the
            // default action (death) while the adapters and the API come up.
            signals_.add(SIGINT);
            signals_.add(SIGTERM);
            signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
                if (ec) return;
                spdlog::info("signal {}: stopping", signal);
                stop();
            });
        }
        engine::EngineOptions eo;
        eo.max_retries = site_.engine.max_retries;
        eo.timeout_seconds = site_.engine.timeout_seconds;
        eo.retry_backoff_seconds = site_.engine.retry_backoff_seconds;
        eo.max_retry_backoff_seconds = site_.engine.max_retry_backoff_seconds;
        engine::DispatchEngine::Hooks hooks;
        hooks.clock = [] { return sdk::Clock::now(); };
        // Completions arrive on adapter threads; the engine sees them on its
        // strand, after which the dispatch timer may need to move.
        hooks.post = [this](std::function<void()> work) { to_strand(std::move(work)); };
        hooks.log = [](engine::LogLevel level, std::string_view text) {
            spdlog::log(to_spdlog(level), "engine: {}", text);
        };
        engine_ = std::make_unique<engine::DispatchEngine>(eo, std::move(hooks));

        for (const auto& a : site_.assets) {
            adapter_of_asset_.emplace(a.id, a.adapter);
            asset_connected_.emplace(a.id, false);
        }
        for (const auto& a : site_.adapters) {
            metrics_.declare_adapter(a.name);
            connected_per_adapter_.emplace(a.name, 0);
        }

        event_log_ = engine_->events().subscribe_all([this](const engine::Event& e) {
            auto level = e.type == engine::EventType::Telemetry ? spdlog::level::debug
                         : e.type == engine::EventType::CommandFailed ||
                                 e.type == engine::EventType::CommandTimedOut
                             ? spdlog::level::warn
                             : spdlog::level::info;
            if (spdlog::should_log(level)) spdlog::log(level, "{}", format_event(e));
            if (e.type == engine::EventType::AssetConnected ||
                e.type == engine::EventType::AssetDisconnected)
                note_connection(e.asset_id, e.type == engine::EventType::AssetConnected);
            count_event(e, metrics_, [this](std::string_view asset) -> std::string_view {
                auto it = adapter_of_asset_.find(asset);
                return it == adapter_of_asset_.end() ? std::string_view{} : it->second;
            });
        });
    }

    std::vector<std::string> start() {
        std::vector<std::string> errors;
        HostHooks hooks;
        hooks.log_level = options_.plugin_log_level;
        hooks.log = [](sdk::LogLevel level, std::string_view adapter, std::string_view text) {
            spdlog::log(to_spdlog(level), "[{}] {}", adapter, text);
        };
        hooks.publish = [this](std::string_view, sdk::AssetEvent event) {
            asio::post(strand_, [this, event = std::move(event)] { publish_asset_event(event); });
        };
        for (const auto& adapter : site_.adapters) {
            auto plugin = catalog_.find_shared(adapter.plugin);
            if (!plugin) {
                errors.push_back(
                    adapter.plugin_where.str() + ": adapter '" + adapter.name + "' needs plugin '" +
                    adapter.plugin +
                    "', which is not available: " + catalog_.why_unavailable(adapter.plugin));
                continue;
            }
            auto config = adapter_config_for(site_, adapter, *plugin);
            for (auto& e : registry_.add(plugin, std::move(config), hooks))
                errors.push_back("adapter '" + adapter.name + "': " + e);
        }
        if (!errors.empty()) {
            registry_.clear();
            return errors;
        }
        if (auto status = registry_.start(); !status) {
            registry_.stop();
            registry_.clear();
            return {status.message()};
        }

        http::ApiServerOptions api;
        api.host = site_.api.listen.host;
        api.port = site_.api.listen.port;
        api.token = site_.api.token.value_or("");
        api.body_limit = site_.api.body_limit_bytes;
        backend_ = std::make_unique<EngineApi>(
            EngineApi::Parts{strand_, *engine_, site_, registry_, metrics_, [this] { arm(); }});
        api_ = std::make_unique<http::ApiServer>(ioc_, api, *backend_);
        if (auto ec = api_->start()) {
            api_.reset();
            registry_.stop();
            registry_.clear();
            return {"cannot listen for the HTTP API on " + site_.api.listen.str() + ": " +
                    ec.message()};
        }
        asio::post(strand_, [this] { forget_old_commands(); });
        watch_execute();
        spdlog::info("site '{}': HTTP API on {}:{}, {} adapter(s), {} asset(s)", site_.site.name,
                     api.host, api_->port(), registry_.adapter_count(), site_.assets.size());
        return {};
    }

    void run() {
        auto work = asio::make_work_guard(ioc_);
        work_ = &work;
        std::vector<std::thread> threads;
        for (std::size_t i = 1; i < options_.threads; ++i) {
            threads.emplace_back([this] {
                pthread_setname_np(pthread_self(), "gridgate-io");
                ioc_.run();
            });
        }
        ioc_.run();
        for (auto& t : threads) t.join();
        work_ = nullptr;

        // Adapters stop after the loop: their threads may still report, and
        // those reports are dropped with the io_context's queue.
        registry_.stop();
        api_.reset();
        registry_.clear();
        spdlog::info("stopped");
    }

    void stop() {
        if (stop_requested_.exchange(true)) return;
        stop_now_requested();
    }

    std::uint16_t api_port() const { return api_ ? api_->port() : 0; }

  private:
    void stop_now_requested() {
        asio::post(strand_, [this] {
            if (shutting_down_) return;
            shutting_down_ = true;
            signals_.cancel();
            if (backend_) backend_->stop();
            if (api_) {
                api_->stop([this] { asio::post(strand_, [this] { api_stopped_ = true; }); });
            } else {
                api_stopped_ = true;
            }
            ++timer_generation_;
            timer_.cancel();
            retention_timer_.cancel();
            drain_deadline_ = std::chrono::steady_clock::now() + options_.drain_timeout;
            drain();
        });
    }

    // Hands work from an adapter thread to the strand: the engine's hops
    // for batches of completions (DispatchEngine::Mailbox), asset events.
    // What arrives together queues here and one strand hop runs it all,
    // instead of one hop (a wake-up) and one timer re-arm each.
    //
    // While completions keep coming, the strand collects them every
    // kCoalesce instead of being woken for each (a wake-up costs the
    // adapter's thread a futex call and the kernel an inter-processor
    // interrupt): a lone completion is handled at once, a storm's in
    // batches at most kCoalesce late. A storm's answers come at tens of
    // thousands a second: 1 ms makes batches of dozens, and a millisecond
    // is nothing to a command's acknowledgement (200 us cost the engine
    // thread ~0.5-1 us more per call in wake-ups, bench-ocpp).
    static constexpr auto kCoalesce = std::chrono::milliseconds(1);

    void to_strand(std::function<void()> work) {
        {
            std::lock_guard lock(inbox_mutex_);
            inbox_.push_back(std::move(work));
            if (inbox_collecting_) return;  // the strand comes for it
            inbox_collecting_ = true;
        }
        asio::post(strand_, [this] { drain_inbox(); });
    }

    // On the strand: runs what has arrived, then looks again after
    // kCoalesce; stops looking once a look finds nothing.
    void drain_inbox() {
        std::vector<std::function<void()>> batch;
        {
            std::lock_guard lock(inbox_mutex_);
            if (inbox_.empty() || shutting_down_) inbox_collecting_ = false;
            if (inbox_.empty()) return;
            batch.swap(inbox_);
            inbox_.swap(inbox_spare_);  // the next batch fills the last one's room
        }
        for (auto& work : batch) work();
        batch.clear();
        {
            std::lock_guard lock(inbox_mutex_);
            if (inbox_spare_.capacity() < batch.capacity()) inbox_spare_.swap(batch);
        }
        arm();
        if (shutting_down_) return;
        inbox_timer_.expires_after(kCoalesce);
        inbox_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec) {
                std::lock_guard lock(inbox_mutex_);
                inbox_collecting_ = false;
                if (inbox_.empty()) return;
            }
            drain_inbox();
        });
    }

    // Waits on the strand until no command is DISPATCHED, no schedule is
    // half applied and every API connection has closed (a schedule's client
    // gets its answer), or the bound passes.
    void drain() {
        auto in_flight = engine_->count(sdk::CommandStatus::Dispatched);
        const bool applying = backend_ && backend_->applying();
        if ((in_flight == 0 && !applying && api_stopped_) ||
            std::chrono::steady_clock::now() >= drain_deadline_) {
            if (in_flight) spdlog::warn("stopping with {} command(s) still in flight", in_flight);
            if (applying) spdlog::warn("stopping with a schedule applied only in part");
            if (work_) work_->reset();
            ioc_.stop();
            return;
        }
        drain_timer_.expires_after(std::chrono::milliseconds(20));
        drain_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) drain();
        });
    }

    // Sleeps until the engine's next wake-up: the next due command or timeout
    // deadline. No polling tick. Runs on the strand.
    void arm() {
        if (shutting_down_) return;
        auto next = engine_->next_wakeup();
        if (!next) {
            if (armed_at_) {
                ++timer_generation_;
                timer_.cancel();
                armed_at_.reset();
            }
            return;
        }
        // A timer armed earlier than needed fires, finds nothing due and re-arms:
        // cheaper than moving it on every completion of a storm.
        if (armed_at_ && *armed_at_ <= *next) return;
        armed_at_ = next;
        auto generation = ++timer_generation_;
        timer_.expires_at(*next);
        timer_.async_wait([this, generation](const boost::system::error_code& ec) {
            if (ec || generation != timer_generation_) return;
            armed_at_.reset();
            tick();
        });
    }

    void tick() {
        TimePoint now = sdk::Clock::now();
        engine_->dispatch_due(now, [this](engine::AssetIndex asset, std::string_view asset_id,
                                          sdk::CommandType type, std::string& refusal) {
            if (asset >= bindings_.size()) bindings_.resize(asset + 1);
            auto& binding = bindings_[asset];
            if (!binding) binding = registry_.binding(asset_id);
            return registry_.route(*binding, asset_id, type, refusal);
        });
        engine_->check_timeouts(now);
        arm();
    }

    // An adapter that blocks in execute() (the SDK forbids it) holds up
    // dispatch, timeouts and the API alike. Off the strand, once a second,
    // this names it in the log, once per command.
    void watch_execute() {
        watchdog_timer_.expires_after(std::chrono::seconds(1));
        watchdog_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec || stop_requested_.load()) return;
            const auto stall = backend_->stall(std::chrono::seconds(1));
            if (stall && stall->command_id != last_stall_) {
                last_stall_ = stall->command_id;
                spdlog::warn(
                    "engine: {}; nothing else is dispatched, timed out or answered until it "
                    "returns",
                    stall->text);
            }
            watch_execute();
        });
    }

    // Finished commands are kept for the API for options_.retention, then
    // dropped, so a gateway that runs for months holds bounded memory. Once
    // an hour, at a moment when no command is about to fall due (see
    // retention.hpp).
    void forget_old_commands() {
        if (shutting_down_) return;
        const TimePoint now = sdk::Clock::now();
        if (!retention_first_try_) retention_first_try_ = now;
        const auto plan = retention_policy_.plan(now, engine_->next_due(), *retention_first_try_,
                                                 retention_last_pass_);
        if (!plan.run_now) return forget_old_commands_after(plan.retry_at - now);
        if (plan.forced)
            spdlog::info(
                "retention: no quiet moment in {} min; forgetting now",
                std::chrono::duration_cast<std::chrono::minutes>(retention_policy_.max_wait)
                    .count());
        retention_first_try_.reset();
        const auto t0 = std::chrono::steady_clock::now();
        auto dropped = engine_->forget_finished_before(now - options_.retention);
        retention_last_pass_ = std::chrono::steady_clock::now() - t0;
        if (dropped)
            spdlog::info("forgot {} finished command(s) older than the retention in {} ms", dropped,
                         std::chrono::duration_cast<std::chrono::milliseconds>(retention_last_pass_)
                             .count());
        forget_old_commands_after(std::chrono::hours(1));
    }
    void forget_old_commands_after(sdk::Clock::duration delay) {
        retention_timer_.expires_after(delay);
        retention_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) forget_old_commands();
        });
    }

    // gridgate_assets_connected follows the adapters' ASSET_CONNECTED /
    // ASSET_DISCONNECTED events, so a scrape costs nothing per asset. An
    // adapter may repeat an event (a charger replacing its own connection):
    // only a change of state moves the count. Runs on the strand.
    void note_connection(const std::string& asset_id, bool connected) {
        auto asset = asset_connected_.find(asset_id);
        auto adapter = adapter_of_asset_.find(asset_id);
        if (asset == asset_connected_.end() || adapter == adapter_of_asset_.end() ||
            asset->second == connected)
            return;
        asset->second = connected;
        auto& count = connected_per_adapter_[adapter->second];
        count += connected ? 1 : -1;
        metrics_.set_assets_connected(adapter->second, count);
    }

    void publish_asset_event(const sdk::AssetEvent& a) {
        engine::Event e;
        e.type = to_engine(a.type);
        e.timestamp = a.at == TimePoint{} ? sdk::Clock::now() : a.at;
        e.asset_id = a.asset_id;
        for (const auto& t : a.telemetry) {
            e.telemetry.emplace_back(t.name, t.value);
            if (t.stale) e.stale_telemetry.push_back(t.name);
        }
        e.message = a.reason;
        engine_->events().publish(e);
    }

    config::SiteConfig site_;
    const PluginCatalog& catalog_;
    GatewayOptions options_;
    sdk::StringMap<std::string> adapter_of_asset_;
    // Strand-only: each asset's connection as its adapter last reported it.
    std::unordered_map<std::string, bool> asset_connected_;
    std::unordered_map<std::string, std::int64_t> connected_per_adapter_;

    asio::io_context ioc_;
    EngineStrand strand_;
    asio::system_timer timer_;
    asio::steady_timer drain_timer_;
    asio::steady_timer retention_timer_;
    RetentionPolicy retention_policy_;
    std::optional<TimePoint> retention_first_try_;  // this hour's pass, waiting
    sdk::Clock::duration retention_last_pass_{};
    asio::steady_timer watchdog_timer_;  // watch_execute(), off the strand
    sdk::CommandId last_stall_;          // touched by watch_execute() only
    asio::signal_set signals_;
    asio::executor_work_guard<asio::io_context::executor_type>* work_ = nullptr;

    http::Metrics metrics_;
    std::unique_ptr<engine::DispatchEngine> engine_;
    AdapterRegistry registry_;
    // Strand-only: each asset's binding by the engine's number for it, found
    // at its first dispatch (nullopt: not looked up yet).
    std::vector<std::optional<AdapterRegistry::Binding>> bindings_;
    std::unique_ptr<EngineApi> backend_;
    std::unique_ptr<http::ApiServer> api_;
    engine::EventBus::Subscription event_log_;

    std::mutex inbox_mutex_;
    std::vector<std::function<void()>> inbox_;        // work on its way to the strand
    std::vector<std::function<void()>> inbox_spare_;  // empty: the room of a batch run before
    bool inbox_collecting_ = false;                   // the strand will drain inbox_ (guarded)
    asio::steady_timer inbox_timer_{strand_};

    // Strand-only state.
    std::optional<TimePoint> armed_at_;
    std::uint64_t timer_generation_ = 0;
    bool shutting_down_ = false;
    bool api_stopped_ = false;  // every API connection has closed (on the strand)
    std::chrono::steady_clock::time_point drain_deadline_{};
    std::atomic<bool> stop_requested_{false};
};

Gateway::Gateway(config::SiteConfig site, const PluginCatalog& catalog, GatewayOptions options)
    : impl_(std::make_unique<Impl>(std::move(site), catalog, options)) {}
Gateway::~Gateway() = default;
std::vector<std::string> Gateway::start() {
    return impl_->start();
}
void Gateway::run() {
    impl_->run();
}
void Gateway::stop() {
    impl_->stop();
}
std::uint16_t Gateway::api_port() const {
    return impl_->api_port();
}

}  // namespace gridgate::gateway
