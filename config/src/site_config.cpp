#include "gridgate/config/site_config.hpp"

#include <algorithm>
#include <charconv>

namespace gridgate::config {

const AdapterConfig* SiteConfig::find_adapter(std::string_view name) const noexcept {
    auto it = std::find_if(adapters.begin(), adapters.end(),
                           [&](const AdapterConfig& a) { return a.name == name; });
    return it == adapters.end() ? nullptr : &*it;
}

const AssetConfig* SiteConfig::find_asset(std::string_view id) const noexcept {
    auto it = std::find_if(assets.begin(), assets.end(),
                           [&](const AssetConfig& a) { return a.id == id; });
    return it == assets.end() ? nullptr : &*it;
}

const RegisterMapConfig* SiteConfig::find_register_map(std::string_view name) const noexcept {
    auto it = register_maps.find(name);
    return it == register_maps.end() ? nullptr : &it->second;
}

}  // namespace gridgate::config
