// The site file as typed values: what gridgate runs (its API, engine
// settings, plugin folders, adapter instances, assets, register maps and the
// default schedule asset map). Produced by load_site_file() (site_loader.hpp)
// only for a file without errors, so every field holds a checked value.
//
// Plain value types: copy them freely, share them read-only between threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/sdk/config.hpp"

namespace gridgate::config {

/// "HOST:PORT" of a listening socket; shared with the plugins, whose listen
/// keys take the same form.
using sdk::ListenAddress;
using sdk::parse_listen_address;

/// [site]
struct SiteSettings {
    std::string name;
};

/// [api]
struct ApiSettings {
    ListenAddress listen{"127.0.0.1", 8080};
    /// When set, every /api/* request needs "Authorization: Bearer <token>".
    std::optional<std::string> token;
    /// Largest request body accepted (a schedule upload).
    std::size_t body_limit_bytes = 8 * 1024 * 1024;
};

/// [engine]
struct EngineSettings {
    int max_retries = 3;
    double timeout_seconds = 30.0;
    double retry_backoff_seconds = 5.0;
    double max_retry_backoff_seconds = 300.0;
};

/// [plugins]
struct PluginSettings {
    /// Searched after the built-in plugin folder, in this order. A relative
    /// path in the file is taken relative to the site file's folder.
    std::vector<std::filesystem::path> dirs;
};

/// One [adapters.NAME] table: an adapter instance made by a plugin.
struct AdapterConfig {
    std::string name;
    std::string plugin;
    /// Every key of the table except `plugin`: the plugin's own settings.
    sdk::ConfigTable options;
    sdk::SourceLocation where;         // the table header
    sdk::SourceLocation plugin_where;  // the `plugin` key
};

/// One [[assets]] entry.
struct AssetConfig {
    std::string id;
    /// "ev_charger", "battery", or a vendor plugin's own kind.
    std::string type;
    std::string adapter;
    /// Every key except id, type and adapter: settings of the adapter's plugin.
    sdk::ConfigTable options;
    sdk::SourceLocation where;  // the [[assets]] header
    sdk::SourceLocation id_where;
    sdk::SourceLocation adapter_where;
};

/// A register map, from [register_maps.NAME] or from a file NAME.toml in a
/// register map folder. Its points are checked by the plugin that uses it.
struct RegisterMapConfig {
    std::string name;
    sdk::ConfigTable table;
    /// The site file as given, or the path of the register map file.
    std::string source_file;
    bool defined_in_site_file = true;
};

struct SiteConfig {
    /// The site file's path as given on the command line.
    std::string source_file;

    SiteSettings site;
    ApiSettings api;
    EngineSettings engine;
    PluginSettings plugins;
    std::vector<AdapterConfig> adapters;  // in file order
    std::vector<AssetConfig> assets;      // in file order
    /// [schedule.asset_map]: column key (e.g. "ev_001", "battery") -> asset id.
    std::map<std::string, std::string> asset_map;
    /// Maps defined in the file, and those loaded from files because an asset names them.
    std::map<std::string, RegisterMapConfig, std::less<>> register_maps;

    const AdapterConfig* find_adapter(std::string_view name) const noexcept;
    const AssetConfig* find_asset(std::string_view id) const noexcept;
    const RegisterMapConfig* find_register_map(std::string_view name) const noexcept;
};

}  // namespace gridgate::config
