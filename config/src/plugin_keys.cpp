#include "gridgate/config/plugin_keys.hpp"

#include <map>

#include "gridgate/config/site_loader.hpp"
#include "messages.hpp"

namespace gridgate::config {

std::vector<sdk::ConfigDiagnostic> validate_adapter_keys(const SiteConfig& site,
                                                         const PluginKeyLookup& lookup) {
    // Named in "unknown key" suggestions: a misspelt host key lands among the
    // plugin's keys, and the closest name may be the host's.
    static constexpr std::string_view kAdapterHostKeys[] = {"plugin"};
    static constexpr std::string_view kAssetHostKeys[] = {"id", "type", "adapter"};

    std::vector<sdk::ConfigDiagnostic> out;
    auto append = [&out](std::vector<sdk::ConfigDiagnostic> found) {
        out.insert(out.end(), std::make_move_iterator(found.begin()),
                   std::make_move_iterator(found.end()));
    };

    std::map<std::string, std::optional<PluginKeys>, std::less<>> by_adapter;
    for (const auto& adapter : site.adapters) {
        if (adapter.plugin.empty()) continue;  // the host reported the missing plugin key
        std::optional<PluginKeys> keys = lookup.find ? lookup.find(adapter.plugin) : std::nullopt;
        by_adapter.emplace(adapter.name, keys);
        const std::string refused =
            !keys && lookup.refusals ? lookup.refusals(adapter.plugin) : std::string();
        if (!refused.empty()) {
            out.push_back({adapter.plugin_where, "adapter '" + adapter.name + "' names plugin '" +
                                                     adapter.plugin +
                                                     "', which is not available: " + refused});
            continue;
        }
        if (!keys) {
            std::vector<std::string> dirs;
            for (const auto& d : lookup.searched_dirs) dirs.push_back(d.string());
            out.push_back(
                {adapter.plugin_where,
                 "adapter '" + adapter.name + "' names plugin '" + adapter.plugin +
                     "', which was not found (searched: " +
                     (dirs.empty() ? std::string("no plugin folder") : detail::join(dirs, ", ")) +
                     ")" + detail::suggestion(adapter.plugin, lookup.available)});
            continue;
        }
        append(sdk::validate_keys(adapter.options, keys->adapter_keys,
                                  "[adapters." + adapter.name + "]", kAdapterHostKeys));
    }
    for (const auto& asset : site.assets) {
        auto it = by_adapter.find(asset.adapter);
        if (it == by_adapter.end() || !it->second) continue;
        append(sdk::validate_keys(asset.options, it->second->asset_keys,
                                  asset.id.empty() ? "[[assets]]" : "asset '" + asset.id + "'",
                                  kAssetHostKeys));
    }
    sort_diagnostics(out, site.source_file);
    return out;
}

}  // namespace gridgate::config
