// The host side of sdk::HostContext: what one adapter instance may call on
// the gateway. It forwards log lines and asset events to functions the daemon
// supplies (spdlog, the engine's event bus), so this library depends on
// neither.
#pragma once

#include <functional>
#include <string_view>

#include "gridgate/sdk/host.hpp"

namespace gridgate::gateway {

/// Where an adapter's log lines and events go. Both functions are called from
/// the adapters' own threads, concurrently: they must be thread-safe and must
/// not block (post to a strand, append to a thread-safe logger).
struct HostHooks {
    std::function<void(sdk::LogLevel, std::string_view adapter, std::string_view text)> log;
    sdk::LogLevel log_level = sdk::LogLevel::Info;
    std::function<void(std::string_view adapter, sdk::AssetEvent)> publish;
};

/// One adapter's view of the host.
///
/// Thread-safety: every member may be called from any thread (the hooks must
/// be thread-safe, see HostHooks); the object is immutable after construction.
class AdapterHost final : public sdk::HostContext {
  public:
    AdapterHost(sdk::AdapterConfig config, HostHooks hooks)
        : config_(std::move(config)), hooks_(std::move(hooks)) {}
    AdapterHost(const AdapterHost&) = delete;
    AdapterHost& operator=(const AdapterHost&) = delete;
    ~AdapterHost() = default;

    void log(sdk::LogLevel level, std::string_view text) noexcept override {
        if (!enabled(level)) return;
        try {
            hooks_.log(level, config_.name, text);
        } catch (...) {
            // A logger that fails must not take the adapter's thread down.
        }
    }
    bool enabled(sdk::LogLevel level) const noexcept override {
        return hooks_.log && level >= hooks_.log_level;
    }
    void publish(sdk::AssetEvent event) noexcept override {
        if (!hooks_.publish) return;
        try {
            hooks_.publish(config_.name, std::move(event));
        } catch (...) {
            // Same: the event is lost, the adapter keeps running.
        }
    }
    const sdk::AdapterConfig& config() const noexcept override { return config_; }

  private:
    const sdk::AdapterConfig config_;
    const HostHooks hooks_;
};

}  // namespace gridgate::gateway
