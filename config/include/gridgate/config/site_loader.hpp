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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
    std::vector<sdk::ConfigDiagnostic> errors;

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

/// Orders diagnostics by file (those of `primary_file` first), line, column;
/// equal positions keep their order.
void sort_diagnostics(std::vector<sdk::ConfigDiagnostic>& diagnostics,
                      std::string_view primary_file);

}  // namespace gridgate::config
