// The host side of sdk::HostContext: what one adapter instance may call on
// the gateway. It forwards log lines and asset events to functions the daemon
// supplies (spdlog, the engine's event bus), so this library depends on
// neither.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "gridgate/sdk/host.hpp"
#include "gridgate/sdk/string_map.hpp"

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
/// An adapter speaks only for the assets bound to it: an event for any other
/// id (empty, unknown to the site, another adapter's) or of a type the SDK
/// does not define is dropped with a warning naming it, so a faulty plugin
/// cannot mark another adapter's asset connected or feed the event bus ids
/// no one configured. The warnings thin out as drops repeat (the 1st, 2nd,
/// 4th, 8th, ...), so a plugin doing it on every poll cannot flood the log.
///
/// Thread-safety: every member may be called from any thread (the hooks must
/// be thread-safe, see HostHooks); apart from the drop counter, the object is
/// immutable after construction.
class AdapterHost final : public sdk::HostContext {
  public:
    AdapterHost(sdk::AdapterConfig config, HostHooks hooks)
        : config_(std::move(config)), hooks_(std::move(hooks)) {
        for (const auto& asset : config_.assets) assets_.insert(asset.id);
    }
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
            if (!acceptable(event)) return;
            hooks_.publish(config_.name, std::move(event));
        } catch (...) {
            // Same: the event is lost, the adapter keeps running.
        }
    }
    const sdk::AdapterConfig& config() const noexcept override { return config_; }

    /// Events dropped so far because they named no asset of this adapter or
    /// had no known type.
    std::uint64_t dropped_events() const noexcept {
        return dropped_.load(std::memory_order_relaxed);
    }

  private:
    static constexpr auto kLastEventType = sdk::AssetEventType::Telemetry;

    bool acceptable(const sdk::AssetEvent& event) {
        const bool known_type =
            static_cast<unsigned>(event.type) <= static_cast<unsigned>(kLastEventType);
        if (known_type && assets_.contains(event.asset_id)) return true;
        const std::uint64_t n = dropped_.fetch_add(1, std::memory_order_relaxed) + 1;
        if ((n & (n - 1)) == 0 && enabled(sdk::LogLevel::Warn)) {
            std::string what = known_type ? std::string(sdk::to_string(event.type))
                                          : "an event of unknown type " +
                                                std::to_string(static_cast<unsigned>(event.type));
            std::string why = !known_type              ? ""
                              : event.asset_id.empty() ? ": it names no asset"
                                                       : ": this adapter drives no such asset";
            log(sdk::LogLevel::Warn, "dropped " + what + " for asset '" +
                                         printable(event.asset_id) + "'" + why + " (" +
                                         std::to_string(n) + " dropped so far)");
        }
        return false;
    }

    // An id fit for a log line: control characters as '?', at most 64 characters.
    static std::string printable(std::string_view id) {
        std::string out(id.substr(0, 64));
        for (char& c : out)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
        if (id.size() > 64) out += "...";
        return out;
    }

    const sdk::AdapterConfig config_;
    const HostHooks hooks_;
    std::unordered_set<std::string, sdk::StringHash, std::equal_to<>> assets_;
    std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace gridgate::gateway
