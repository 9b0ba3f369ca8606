#include "settings.hpp"

#include <charconv>
#include <filesystem>
#include <map>
#include <string_view>

namespace gridgate::ocpp16 {
namespace {

const std::string* string_of(const sdk::ConfigTable& table, std::string_view key) {
    const auto* v = table.find(key);
    return v ? v->as_string() : nullptr;
}

std::optional<double> number_of(const sdk::ConfigTable& table, std::string_view key) {
    const auto* v = table.find(key);
    return v ? v->as_number() : std::nullopt;
}

std::optional<bool> bool_of(const sdk::ConfigTable& table, std::string_view key) {
    const auto* v = table.find(key);
    return v ? v->as_bool() : std::nullopt;
}

// "HOST:PORT"; IPv6 hosts in brackets ("[::]:9000").
bool parse_listen(std::string_view text, ListenerSettings& out) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    std::string_view host = text.substr(0, colon);
    std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value > 65535 || host.empty())
        return false;
    out.host = std::string(host);
    out.port = static_cast<std::uint16_t>(value);
    return true;
}

void require_file(const sdk::ConfigTable& table, std::string_view key, int profile,
                  std::vector<sdk::ConfigDiagnostic>& problems) {
    const auto* v = table.find(key);
    const auto* path = v ? v->as_string() : nullptr;
    if (!path || path->empty()) {
        problems.push_back({table.where(), "security_profile " + std::to_string(profile) +
                                               " needs '" + std::string(key) + "'"});
        return;
    }
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*path, ec))
        problems.push_back({v->where(), "'" + std::string(key) + "': no such file: " + *path});
}

}  // namespace

Settings read_settings(const sdk::AdapterConfig& config,
                       std::vector<sdk::ConfigDiagnostic>& problems) {
    Settings out;
    ListenerSettings& l = out.listener;
    const auto& t = config.table;
    if (const auto* listen = t.find("listen")) {
        if (const auto* s = listen->as_string(); s && !parse_listen(*s, l))
            problems.push_back({listen->where(),
                                "'listen' must be HOST:PORT with a port from 0 "
                                "to 65535, e.g. \"0.0.0.0:9000\"; got \"" +
                                    *s + "\""});
    }
    if (const auto* s = string_of(t, "path")) {
        l.path = *s;
        if (l.path.empty() || l.path.front() != '/')
            problems.push_back({t.find("path")->where(), "'path' must start with '/'"});
    }
    if (auto n = number_of(t, "heartbeat_interval_seconds"))
        l.heartbeat_interval_seconds = static_cast<int>(*n);
    if (auto n = number_of(t, "security_profile")) l.security_profile = static_cast<int>(*n);
    if (const auto* s = string_of(t, "tls_certificate")) l.tls_certificate = *s;
    if (const auto* s = string_of(t, "tls_private_key")) l.tls_private_key = *s;
    if (auto n = number_of(t, "call_timeout_seconds")) l.call_timeout_seconds = *n;
    if (auto n = number_of(t, "ping_interval_seconds")) l.ping_interval_seconds = *n;
    if (auto n = number_of(t, "max_frame_bytes")) l.max_frame_bytes = static_cast<std::size_t>(*n);
    if (auto n = number_of(t, "io_threads")) l.io_threads = static_cast<int>(*n);
    if (auto b = bool_of(t, "accept_all_id_tags")) l.accept_all_id_tags = *b;
    if (const auto* v = t.find("id_tags"); v && v->as_array()) {
        for (const auto& item : *v->as_array()) {
            if (const auto* s = item.as_string())
                l.id_tags.insert(*s);
            else
                problems.push_back({item.where(), "'id_tags' holds strings, not " +
                                                      sdk::detail::with_article(item.type_name())});
        }
    }
    if (l.security_profile == 2) {
        require_file(t, "tls_certificate", 2, problems);
        require_file(t, "tls_private_key", 2, problems);
    }

    std::map<std::string, std::string, std::less<>> owner_of_identity;
    for (const auto& asset : config.assets) {
        const auto& a = asset.table;
        ChargerSettings c;
        c.asset_id = asset.id;
        if (const auto* s = string_of(a, "charge_point_id")) {
            c.charge_point_id = *s;
            const auto where = a.find("charge_point_id")->where();
            if (c.charge_point_id.empty()) {
                problems.push_back({where, "'charge_point_id' must not be empty"});
            } else if (auto [it, fresh] = owner_of_identity.emplace(c.charge_point_id, asset.id);
                       !fresh) {
                problems.push_back({where, "asset '" + asset.id + "': charge point '" +
                                               c.charge_point_id + "' is already asset '" +
                                               it->second + "'"});
            }
        }
        auto& p = c.profile;
        if (auto n = number_of(a, "connector_id")) p.connector_id = static_cast<std::int32_t>(*n);
        if (const auto* s = string_of(a, "charging_rate_unit"))
            p.charging_rate_unit = *s == "A"      ? RateUnitSetting::A
                                   : *s == "auto" ? RateUnitSetting::Auto
                                                  : RateUnitSetting::W;
        if (auto n = number_of(a, "phases")) p.phases = static_cast<std::int32_t>(*n);
        if (auto n = number_of(a, "voltage")) p.voltage = *n;
        if (const auto* s = string_of(a, "profile_kind"))
            p.profile_kind = *s == "relative" ? ocpp::ChargingProfileKind::Relative
                                              : ocpp::ChargingProfileKind::Absolute;
        if (auto n = number_of(a, "stack_level")) p.stack_level = static_cast<std::int32_t>(*n);
        if (auto n = number_of(a, "min_current_a")) p.min_current_a = *n;
        if (const auto* s = string_of(a, "profile_purpose"))
            p.profile_purpose =
                *s == "tx_default" ? PurposeSetting::TxDefault : PurposeSetting::Auto;
        if (const auto* s = string_of(a, "password")) c.password = *s;
        if (const auto* s = string_of(a, "id_tag")) c.id_tag = *s;
        if (l.security_profile >= 1 && !c.password)
            problems.push_back({a.where(), "asset '" + asset.id + "': security_profile " +
                                               std::to_string(l.security_profile) +
                                               " needs the charger's 'password'"});
        out.chargers.push_back(std::move(c));
    }
    return out;
}

}  // namespace gridgate::ocpp16
