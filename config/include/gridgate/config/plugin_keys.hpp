// Checks the settings a site file gives to plugins against the keys each
// plugin declares: [adapters.X] tables (without `plugin`) against the
// plugin's adapter keys, each asset's keys (without id, type, adapter)
// against the asset keys of its adapter's plugin. The messages have the same
// `FILE:LINE:COL: message` form as the host's own.
//
// Decoupled from plugin loading: the caller says, per plugin name, which keys
// it declares, so this runs as well with the real plugins as with a test's
// declarations. Thread-safety: a free function; `lookup` is called on the
// calling thread only.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/config/site_config.hpp"
#include "gridgate/sdk/config.hpp"

namespace gridgate::config {

/// The keys one plugin declares. The spans point into the plugin's own
/// storage, so the plugin must stay loaded while they are used.
struct PluginKeys {
    std::span<const sdk::ConfigKey> adapter_keys;
    std::span<const sdk::ConfigKey> asset_keys;
};

struct PluginKeyLookup {
    /// The keys of the plugin called `plugin`, or nothing if no such plugin
    /// was found.
    std::function<std::optional<PluginKeys>(std::string_view plugin)> find;
    /// Names of the plugins that were found, for "did you mean".
    std::vector<std::string> available;
    /// Where plugins were looked for, named in "not found" messages.
    std::vector<std::filesystem::path> searched_dirs;
    /// Why the files that would have been plugin `plugin` were refused
    /// ("FILE was refused: REASON; ..."), or empty: a plugin that is there
    /// but refused (another compiler, another ABI) is not "not found".
    std::function<std::string(std::string_view plugin)> refusals;
};

/// Every problem with plugin-owned keys, sorted by position. An adapter whose
/// plugin is unknown is reported at its `plugin` key, and its assets' keys are
/// not checked (nothing says what they should be).
std::vector<sdk::ConfigDiagnostic> validate_adapter_keys(const SiteConfig& site,
                                                         const PluginKeyLookup& lookup);

}  // namespace gridgate::config
