#include "gridgate/gateway/site_check.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "gridgate/gateway/gateway.hpp"

namespace gridgate::gateway {

void load_plugins(PluginCatalog& catalog, const config::SiteConfig* site) {
    catalog.load_directory(PluginCatalog::default_directory());
    if (site)
        for (const auto& dir : site->plugins.dirs) catalog.load_directory(dir);
}

config::PluginKeyLookup key_lookup(const PluginCatalog& catalog,
                                   std::vector<std::filesystem::path> searched) {
    config::PluginKeyLookup lookup;
    lookup.find = [&catalog](std::string_view name) -> std::optional<config::PluginKeys> {
        const auto* plugin = catalog.find(name);
        if (!plugin) return std::nullopt;
        return config::PluginKeys{plugin->plugin().adapter_keys(), plugin->plugin().asset_keys()};
    };
    for (const auto& p : catalog.plugins()) lookup.available.push_back(p->name());
    lookup.searched_dirs = std::move(searched);
    lookup.refusals = [&catalog](std::string_view name) { return catalog.refusals(name); };
    return lookup;
}

void add_plugin_checks(config::LoadResult& result, const PluginCatalog& catalog,
                       std::string_view primary_file) {
    const config::SiteConfig* site = result.config ? &*result.config : nullptr;
    if (!site && result.partial) site = &*result.partial;
    if (!site) return;
    // LoadedPlugin::validate() checks the declared keys again, which the
    // host reported already; and two adapters of one plugin may both see a
    // site-wide table.
    const auto reported = [](const std::vector<sdk::ConfigDiagnostic>& in,
                             const sdk::ConfigDiagnostic& d) {
        return std::any_of(in.begin(), in.end(), [&](const auto& e) {
            return e.where.str() == d.where.str() && e.message == d.message;
        });
    };
    bool added = false;
    for (const auto& adapter : site->adapters) {
        const auto* plugin = catalog.find(adapter.plugin);
        if (!plugin) continue;  // reported by the key check
        auto cfg = adapter_config_for(*site, adapter, *plugin);
        for (auto& d : plugin->validate(cfg)) {
            const bool warning = plugin->is_warning(d);
            auto& into = warning ? result.warnings : result.errors;
            if (reported(into, d)) continue;
            into.push_back(std::move(d));
            added = added || !warning;
        }
    }
    config::sort_diagnostics(result.warnings, primary_file);
    if (!added) return;
    config::sort_diagnostics(result.errors, primary_file);
    if (result.config) result.partial = std::move(result.config);
    result.config.reset();
}

config::LoadResult check_site_file(const std::string& path, const config::LoadOptions& options,
                                   PluginCatalog& catalog) {
    auto result = config::check_site_file(path, options, [&](const config::SiteConfig& partial) {
        load_plugins(catalog, &partial);
        std::vector<std::filesystem::path> searched{PluginCatalog::default_directory()};
        for (const auto& d : partial.plugins.dirs) searched.push_back(d);
        return key_lookup(catalog, std::move(searched));
    });
    add_plugin_checks(result, catalog, path);
    return result;
}

}  // namespace gridgate::gateway
