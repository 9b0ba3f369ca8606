#include "settings.hpp"

#include <filesystem>
#include <map>
#include <string_view>
#include <utility>

#include "gridgate/ocpp/central_system.hpp"
#include "gridgate/ocpp/central_system_core.hpp"

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

// A path from the site file: a relative one is relative to the file's folder,
// as [plugins] dirs are, so the answer does not depend on where the gateway
// was started from.
std::string from_site_file(const std::string& path, const sdk::SourceLocation& where) {
    const std::filesystem::path p(path);
    if (p.is_absolute()) return path;
    return (std::filesystem::path(where.file).parent_path() / p).lexically_normal().string();
}

// The certificate and key of profile 2, read as the server will read them.
void read_tls_files(const sdk::ConfigTable& table, ListenerSettings& l,
                    std::vector<sdk::ConfigDiagnostic>& problems,
                    std::vector<sdk::ConfigDiagnostic>& warnings) {
    const sdk::ConfigValue* given[2] = {table.find("tls_certificate"),
                                        table.find("tls_private_key")};
    std::string* paths[2] = {&l.tls_certificate, &l.tls_private_key};
    constexpr const char* keys[2] = {"tls_certificate", "tls_private_key"};
    bool both = true;
    for (int i = 0; i < 2; ++i) {
        const std::string* path = given[i] ? given[i]->as_string() : nullptr;
        if (!path || path->empty()) {
            problems.push_back(
                {table.where(), std::string("security_profile 2 needs '") + keys[i] + "'"});
            both = false;
            continue;
        }
        *paths[i] = from_site_file(*path, given[i]->where());
    }
    if (!both) return;
    if (auto problem = ocpp::check_tls_files(l.tls_certificate, l.tls_private_key)) {
        const int i = problem->file == ocpp::TlsFilesProblem::File::Certificate ? 0 : 1;
        problems.push_back(
            {given[i]->where(), "'" + std::string(keys[i]) + "': " + problem->message});
        return;
    }
    if (auto problem = ocpp::certificate_date_problem(l.tls_certificate))
        warnings.push_back(sdk::warning(given[0]->where(), "'tls_certificate': " + *problem));
}

// TLS files under a profile without TLS: most likely a forgotten
// `security_profile = 2`, which leaves Basic auth passwords in clear text.
void warn_unused_tls_files(const sdk::ConfigTable& table, int profile,
                           std::vector<sdk::ConfigDiagnostic>& warnings) {
    std::string named;
    const sdk::ConfigValue* first = nullptr;
    for (const char* key : {"tls_certificate", "tls_private_key"}) {
        const auto* v = table.find(key);
        if (!v) continue;
        if (!first) first = v;
        named += (named.empty() ? "'" : " and '") + std::string(key) + "'";
    }
    if (!first) return;
    warnings.push_back(sdk::warning(
        first->where(), named + " ignored under security_profile " + std::to_string(profile) +
                            ": only security_profile 2 uses TLS" +
                            (profile == 1 ? " (Basic auth passwords go in clear)" : "")));
}

// OCPP's IdToken: a CiString20Type, and a tag of no characters names no one.
bool check_id_tag(std::string_view tag, std::string_view what, const sdk::SourceLocation& where,
                  std::vector<sdk::ConfigDiagnostic>& problems) {
    if (!tag.empty() && tag.size() <= 20) return true;
    problems.push_back({where, std::string(what) +
                                   " must be 1 to 20 characters (OCPP's "
                                   "idTag), not " +
                                   std::to_string(tag.size())});
    return false;
}

}  // namespace

Settings read_settings(const sdk::AdapterConfig& config,
                       std::vector<sdk::ConfigDiagnostic>& problems) {
    Settings out;
    ListenerSettings& l = out.listener;
    const auto& t = config.table;
    if (const auto* listen = t.find("listen")) {
        std::string why;
        if (const auto* s = listen->as_string()) {
            if (auto address = sdk::parse_listen_address(*s, &why)) {
                l.host = address->host;
                l.port = address->port;
            } else {
                problems.push_back({listen->where(), "'listen' must be \"HOST:PORT\": " + why +
                                                         "; got \"" + *s + "\""});
            }
        }
    }
    if (const auto* s = string_of(t, "path")) {
        l.path = *s;
        if (l.path.empty() || l.path.front() != '/')
            problems.push_back({t.find("path")->where(), "'path' must start with '/'"});
    }
    if (auto n = number_of(t, "heartbeat_interval_seconds"))
        l.heartbeat_interval_seconds = static_cast<int>(*n);
    if (auto n = number_of(t, "security_profile")) l.security_profile = static_cast<int>(*n);
    if (auto n = number_of(t, "call_timeout_seconds")) l.call_timeout_seconds = *n;
    if (auto n = number_of(t, "ping_interval_seconds")) l.ping_interval_seconds = *n;
    if (auto n = number_of(t, "max_frame_bytes")) l.max_frame_bytes = static_cast<std::size_t>(*n);
    if (auto n = number_of(t, "io_threads")) l.io_threads = static_cast<int>(*n);
    if (auto b = bool_of(t, "accept_all_id_tags")) l.accept_all_id_tags = *b;
    if (const auto* v = t.find("id_tags"); v && v->as_array()) {
        // Each tag in ASCII lower case, with where it first appears: the
        // core matches tags in any case, so "TAG1" and "tag1" are one card.
        std::map<std::string, std::pair<std::string, sdk::SourceLocation>, std::less<>> seen;
        for (const auto& item : *v->as_array()) {
            if (const auto* s = item.as_string()) {
                if (!check_id_tag(*s, "an id tag in 'id_tags'", item.where(), problems)) continue;
                auto [first, fresh] = seen.try_emplace(ocpp::fold_id_tag(*s), *s, item.where());
                if (!fresh) {
                    problems.push_back({item.where(), "duplicate id tag '" + *s +
                                                          "' in 'id_tags' (first as '" +
                                                          first->second.first + "' at " +
                                                          first->second.second.str() +
                                                          "; id tags match in any case)"});
                    continue;
                }
                l.id_tags.insert(*s);
            } else {
                problems.push_back({item.where(), "'id_tags' holds strings, not " +
                                                      sdk::detail::with_article(item.type_name())});
            }
        }
    }
    if (l.security_profile == 2) {
        read_tls_files(t, l, problems, out.warnings);
    } else {
        warn_unused_tls_files(t, l.security_profile, out.warnings);
    }

    for (const auto& asset : config.assets) {
        const auto& a = asset.table;
        ChargerSettings c;
        c.asset_id = asset.id;
        if (const auto* s = string_of(a, "charge_point_id")) {
            c.charge_point_id = *s;
            const auto where = a.find("charge_point_id")->where();
            // The host refuses two assets of one adapter with one identity.
            if (c.charge_point_id.empty())
                problems.push_back({where, "'charge_point_id' must not be empty"});
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
        if (const auto* s = string_of(a, "id_tag")) {
            c.id_tag = *s;
            check_id_tag(*s, "'id_tag'", a.find("id_tag")->where(), problems);
        }
        if (l.security_profile >= 1 && !c.password) {
            problems.push_back({a.where(), "asset '" + asset.id + "': security_profile " +
                                               std::to_string(l.security_profile) +
                                               " needs the charger's 'password'"});
        } else if (l.security_profile >= 1 && c.password->empty()) {
            // Basic auth with no secret lets anyone who knows the id in.
            problems.push_back(
                {a.find("password")->where(), "asset '" + asset.id +
                                                  "': 'password' must not be empty under "
                                                  "security_profile " +
                                                  std::to_string(l.security_profile)});
        }
        out.chargers.push_back(std::move(c));
    }
    return out;
}

}  // namespace gridgate::ocpp16
