// What the host gives each adapter: a logger, a sink for asset events, and the
// adapter's configuration as a read-only view.
//
// Only standard-library types cross here: the host keeps its spdlog, toml++
// and Asio objects to itself, and a plugin keeps its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gridgate/sdk/adapter.hpp"
#include "gridgate/sdk/command.hpp"
#include "gridgate/sdk/config.hpp"

namespace gridgate::sdk {

enum class LogLevel : std::uint8_t { Trace, Debug, Info, Warn, Error };

constexpr std::string_view to_string(LogLevel level) noexcept {
    constexpr std::string_view names[] = {"trace", "debug", "info", "warn", "error"};
    return names[static_cast<std::size_t>(level)];
}

enum class AssetEventType : std::uint8_t { Connected, Disconnected, Telemetry };

/// "ASSET_CONNECTED", "ASSET_DISCONNECTED", "TELEMETRY": the engine's event names.
constexpr std::string_view to_string(AssetEventType type) noexcept {
    constexpr std::string_view names[] = {"ASSET_CONNECTED", "ASSET_DISCONNECTED", "TELEMETRY"};
    return names[static_cast<std::size_t>(type)];
}

/// Something an adapter learned about an asset.
struct AssetEvent {
    AssetEventType type = AssetEventType::Telemetry;
    std::string asset_id;
    TimePoint at{};
    /// TELEMETRY: the values read, by name ("soc", "active_power", ...).
    std::vector<TelemetryValue> telemetry;
    /// ASSET_DISCONNECTED: why, in the peer's or the OS's words.
    std::string reason;
};

/// One `[[assets]]` entry bound to this adapter. `table` holds the plugin's
/// keys of the entry; the host's own (id, type, adapter) may be left out.
struct AssetConfig {
    std::string id;
    std::string type;  // "ev_charger", "battery", ...
    ConfigTable table;
};

/// An adapter's configuration: its `[adapters.NAME]` table, its assets, and
/// the site-wide tables its plugin asked for (Plugin::shared_tables(), e.g.
/// "register_maps", whose entries are the maps as tables).
struct AdapterConfig {
    std::string name;    // NAME of [adapters.NAME]
    std::string plugin;  // the plugin that makes it
    ConfigTable table;   // the plugin's keys; the host's `plugin` may be left out
    std::vector<AssetConfig> assets;
    std::vector<std::pair<std::string, ConfigTable>> shared_tables;

    const AssetConfig* asset(std::string_view id) const noexcept {
        for (const auto& a : assets)
            if (a.id == id) return &a;
        return nullptr;
    }
    const ConfigTable* shared_table(std::string_view table_name) const noexcept {
        for (const auto& [n, t] : shared_tables)
            if (n == table_name) return &t;
        return nullptr;
    }
};

/// The host as one adapter sees it. The host keeps it alive until after the
/// adapter is destroyed.
///
/// Thread-safety: every member may be called from any thread, concurrently.
class HostContext {
  public:
    /// Writes a line to the gateway's log, tagged with the adapter's name.
    virtual void log(LogLevel level, std::string_view text) noexcept = 0;
    /// Whether log(level, ...) would write anything: check it before
    /// formatting an expensive message.
    virtual bool enabled(LogLevel level) const noexcept = 0;
    /// Hands an event to the engine's event bus (ASSET_CONNECTED,
    /// ASSET_DISCONNECTED, TELEMETRY). Returns at once.
    virtual void publish(AssetEvent event) noexcept = 0;
    /// This adapter's configuration, validated against the plugin's keys.
    virtual const AdapterConfig& config() const noexcept = 0;

  protected:
    ~HostContext() = default;  // the host owns it; a plugin never deletes it
};

}  // namespace gridgate::sdk
