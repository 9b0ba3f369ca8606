// The whole check of a site file, as `gridgate --check-config` makes it and
// the daemon before it starts: the host's own tables and keys, the keys each
// plugin declares, then each plugin's own checks of what its adapters are
// given (register maps, TLS files, option combinations).
//
// Thread-safety: free functions; the catalog is used on the calling thread.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/config/plugin_keys.hpp"
#include "gridgate/config/site_loader.hpp"
#include "gridgate/gateway/plugin_loader.hpp"

namespace gridgate::gateway {

/// Loads the plugins a site can use into `catalog`: the built-in folder
/// (PluginCatalog::default_directory()), then `site`'s [plugins] dirs.
void load_plugins(PluginCatalog& catalog, const config::SiteConfig* site);

/// What validate_adapter_keys() needs to know of the plugins in `catalog`,
/// which must outlive the lookup; `searched` is named in "not found" messages.
config::PluginKeyLookup key_lookup(const PluginCatalog& catalog,
                                   std::vector<std::filesystem::path> searched);

/// Adds to `result`, the host's and the declared keys' check of a site file
/// (config::check_site_file() or config::check_site()), what each adapter's
/// plugin finds in its own check, sorted with the rest (`primary_file` first).
/// The plugins check what the file could give them even when the host found
/// errors, so that one run reports all of a file's problems; a problem
/// already reported is not repeated. Leaves `result.config` set only when
/// there are no errors at all.
void add_plugin_checks(config::LoadResult& result, const PluginCatalog& catalog,
                       std::string_view primary_file);

/// The whole check of the site file at `path`: config::check_site_file()
/// with the plugins load_plugins() finds for it, then add_plugin_checks().
config::LoadResult check_site_file(const std::string& path, const config::LoadOptions& options,
                                   PluginCatalog& catalog);

}  // namespace gridgate::gateway
