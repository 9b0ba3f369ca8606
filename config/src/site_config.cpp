#include "gridgate/config/site_config.hpp"

#include <algorithm>
#include <charconv>

namespace gridgate::config {

std::string ListenAddress::str() const {
    std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return out + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string* why) {
    auto fail = [&](std::string reason) -> std::optional<ListenAddress> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos)
            return fail("the ']' after the IPv6 address is missing");
        host = text.substr(1, close - 1);
        auto rest = text.substr(close + 1);
        if (!rest.starts_with(':')) return fail("the port is missing");
        port = rest.substr(1);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return fail("the port is missing");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return fail("an IPv6 address is written in brackets, e.g. [::1]:8080");
    }
    if (host.empty()) return fail("the host is missing (0.0.0.0 listens on every interface)");
    if (std::any_of(host.begin(), host.end(),
                    [](char c) { return c == ' ' || c == '\t' || c == '/' || c == '['; }))
        return fail("the host contains a character that no host name or address has");
    if (port.empty()) return fail("the port is missing");
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value > 65535)
        return fail("the port must be a number from 0 to 65535");
    return ListenAddress{std::string(host), static_cast<std::uint16_t>(value)};
}

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
