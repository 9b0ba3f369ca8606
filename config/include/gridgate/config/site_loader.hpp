// Reads a site file (TOML) into a SiteConfig and checks everything the host
// owns: its own tables and keys, unique asset ids, references between tables
// (asset -> adapter, asset_map -> asset, asset -> register map) and unique
// charge point ids per adapter. Every problem of the file is reported, as
// `FILE:LINE:COL: message`, sorted by position; a TOML syntax error is
// reported alone, since nothing after it can be trusted.
//
// The keys a plugin owns ([adapters.X] except `plugin`, an asset's keys
// except id/type/adapter) are checked afterwards, once the plugins are
// loaded, by validate_adapter_keys() (plugin_keys.hpp).
//
// Free functions without shared state: safe to call from any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/config/plugin_keys.hpp"
#include "gridgate/config/site_config.hpp"
#include "gridgate/sdk/config.hpp"

namespace gridgate::config {

struct LoadOptions {
    /// Folders searched in order for `NAME.toml` when an asset names a
    /// register map that the site file does not define.
    std::vector<std::filesystem::path> register_map_dirs;
};

struct LoadResult {
    /// Set only when `errors` is empty.
    std::optional<SiteConfig> config;
    /// What could be read, with defaults in place of wrong values; set unless
    /// the file is not TOML at all. Lets the caller load the plugins the file
    /// names and check their keys too, so one run reports all of a file's
    /// errors. Not for running anything.
    std::optional<SiteConfig> partial;
    std::vector<sdk::ConfigDiagnostic> errors;
    /// What the plugins warn of (sdk::warning()): the site is valid all the
    /// same. Filled by the gateway's plugin checks.
    std::vector<sdk::ConfigDiagnostic> warnings;

    bool ok() const noexcept { return config.has_value(); }
};

/// The register map folders of an installation: `<dir of executable>/../share/
/// gridgate/register_maps`, then this source tree's config/register_maps (so a
/// build runs without being installed).
std::vector<std::filesystem::path> default_register_map_dirs(
    const std::filesystem::path& executable);

/// Reads and checks the site file at `path`. Messages name the file as `path`
/// is written.
LoadResult load_site_file(const std::string& path, const LoadOptions& options);

/// Checks site file text; `file_name` is what messages call the file, and
/// relative plugin folders are taken relative to its folder.
LoadResult parse_site(std::string_view text, std::string_view file_name,
                      const LoadOptions& options);

/// Given what could be read of a site file, makes the plugins it names
/// available (the daemon loads them here and keeps them) and says which keys
/// each declares.
using PluginKeysProvider = std::function<PluginKeyLookup(const SiteConfig& partial)>;

/// The whole check of `gridgate --check-config`: load_site_file(), then the
/// plugin-owned keys through validate_adapter_keys() with the lookup that
/// `plugins` returns. All errors of both steps, sorted; `config` is set only
/// when there are none.
LoadResult check_site_file(const std::string& path, const LoadOptions& options,
                           const PluginKeysProvider& plugins);

/// check_site_file() for site file text, named `file_name` as in parse_site().
LoadResult check_site(std::string_view text, std::string_view file_name, const LoadOptions& options,
                      const PluginKeysProvider& plugins);

/// Orders diagnostics by file (those of `primary_file` first), line, column;
/// equal positions keep their order.
void sort_diagnostics(std::vector<sdk::ConfigDiagnostic>& diagnostics,
                      std::string_view primary_file);

}  // namespace gridgate::config
