// Configuration as a plugin sees it: a read-only tree of values the host has
// parsed from the site file, each with the place it came from, and the
// declaration of the keys a plugin accepts so the host can validate them with
// the same FILE:LINE:COL errors as its own keys.
//
// Plain standard-library types only: no toml++ object ever crosses the
// plugin boundary.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace gridgate::sdk {

/// Where a value was written: "site.toml:12:5".
struct SourceLocation {
    std::string file;
    int line = 0;
    int column = 0;

    std::string str() const {
        if (line <= 0) return file;
        return file + ":" + std::to_string(line) + ":" + std::to_string(column);
    }
};

/// One error found in a configuration, printed as `FILE:LINE:COL: message`;
/// or a warning, whose message starts with kWarningPrefix (see warning()).
struct ConfigDiagnostic {
    SourceLocation where;
    std::string message;

    std::string str() const { return where.str() + ": " + message; }
};

/// A warning is a diagnostic whose message starts with this (plugin ABI 1.1):
/// a configuration that works but is most likely not what was meant (TLS
/// files a profile without TLS ignores, a certificate that has expired). It
/// does not make the site invalid: `gridgate --check-config` prints it and
/// exits 0, and the gateway logs it when it starts the adapter.
inline constexpr std::string_view kWarningPrefix = "warning: ";

/// The warning `message` about the value at `where`.
inline ConfigDiagnostic warning(SourceLocation where, std::string_view message) {
    return {std::move(where), std::string(kWarningPrefix) + std::string(message)};
}

/// True for a diagnostic made by warning().
inline bool is_warning(const ConfigDiagnostic& d) noexcept {
    return std::string_view(d.message).starts_with(kWarningPrefix);
}

class ConfigTable;

/// A configuration value: boolean, integer, float, string, array or table.
class ConfigValue {
  public:
    using Array = std::vector<ConfigValue>;
    using TablePtr = std::shared_ptr<const ConfigTable>;
    using Storage =
        std::variant<std::monostate, bool, std::int64_t, double, std::string, Array, TablePtr>;

    ConfigValue() = default;
    ConfigValue(Storage value, SourceLocation where)
        : value_(std::move(value)), where_(std::move(where)) {}

    const SourceLocation& where() const noexcept { return where_; }

    bool is_bool() const noexcept { return std::holds_alternative<bool>(value_); }
    bool is_integer() const noexcept { return std::holds_alternative<std::int64_t>(value_); }
    bool is_float() const noexcept { return std::holds_alternative<double>(value_); }
    /// Integer or float: TOML's `5` is a fine value for a float key.
    bool is_number() const noexcept { return is_integer() || is_float(); }
    bool is_string() const noexcept { return std::holds_alternative<std::string>(value_); }
    bool is_array() const noexcept { return std::holds_alternative<Array>(value_); }
    bool is_table() const noexcept { return std::holds_alternative<TablePtr>(value_); }

    std::optional<bool> as_bool() const noexcept {
        if (auto* b = std::get_if<bool>(&value_)) return *b;
        return std::nullopt;
    }
    std::optional<std::int64_t> as_integer() const noexcept {
        if (auto* i = std::get_if<std::int64_t>(&value_)) return *i;
        return std::nullopt;
    }
    /// A float, or an integer widened to double.
    std::optional<double> as_number() const noexcept {
        if (auto* d = std::get_if<double>(&value_)) return *d;
        if (auto* i = std::get_if<std::int64_t>(&value_)) return static_cast<double>(*i);
        return std::nullopt;
    }
    const std::string* as_string() const noexcept { return std::get_if<std::string>(&value_); }
    const Array* as_array() const noexcept { return std::get_if<Array>(&value_); }
    const ConfigTable* as_table() const noexcept {
        auto* t = std::get_if<TablePtr>(&value_);
        return t ? t->get() : nullptr;
    }

    /// "boolean", "integer", "float", "string", "array", "table".
    std::string_view type_name() const noexcept {
        constexpr std::string_view names[] = {"nothing", "boolean", "integer", "float",
                                              "string",  "array",   "table"};
        return names[value_.index()];
    }

  private:
    Storage value_;
    SourceLocation where_;
};

/// A table in file order. Lookups are linear: tables are small.
class ConfigTable {
  public:
    using Entry = std::pair<std::string, ConfigValue>;

    ConfigTable() = default;
    explicit ConfigTable(SourceLocation where) : where_(std::move(where)) {}

    const SourceLocation& where() const noexcept { return where_; }
    const std::vector<Entry>& entries() const noexcept { return entries_; }
    bool empty() const noexcept { return entries_.empty(); }

    const ConfigValue* find(std::string_view key) const noexcept {
        for (const auto& [k, v] : entries_)
            if (k == key) return &v;
        return nullptr;
    }

    void add(std::string key, ConfigValue value) {
        entries_.emplace_back(std::move(key), std::move(value));
    }

  private:
    SourceLocation where_;
    std::vector<Entry> entries_;
};

/// The type a declared key accepts.
enum class ConfigType : std::uint8_t { Boolean, Integer, Float, String, Array, Table, Any };

constexpr std::string_view to_string(ConfigType t) noexcept {
    constexpr std::string_view names[] = {"boolean", "integer", "float",    "string",
                                          "array",   "table",   "any value"};
    return names[static_cast<std::size_t>(t)];
}

/// One configuration key a plugin accepts.
struct ConfigKey {
    std::string_view name;
    ConfigType type = ConfigType::String;
    std::string_view default_value;  // as text, for documentation and --list-plugins
    bool required = false;
    std::string_view description;
    /// For strings: the accepted values (empty: any string).
    std::vector<std::string_view> one_of;
    /// For numbers: the accepted range, inclusive.
    std::optional<double> min;
    std::optional<double> max;
};

namespace detail {
/// "a float", "an integer": the article a type name takes.
inline std::string with_article(std::string_view noun) {
    bool vowel = !noun.empty() && std::string_view("aeiou").find(noun[0]) != std::string_view::npos;
    return (vowel ? "an " : "a ") + std::string(noun);
}
/// 5, 0.5, 1e+06: the shortest text that reads back as the same number.
inline std::string number_text(double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

inline std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t prev = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cur = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
            prev = cur;
        }
    }
    return row[b.size()];
}
}  // namespace detail

/// The closest of `candidates` to `word`, if one is close enough to be a typo.
inline std::optional<std::string_view> did_you_mean(std::string_view word,
                                                    std::span<const std::string_view> candidates) {
    std::optional<std::string_view> best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (auto c : candidates) {
        std::size_t d = detail::edit_distance(word, c);
        if (d < best_distance) {
            best_distance = d;
            best = c;
        }
    }
    return best;
}

/// "HOST:PORT" of a listening socket: a host name, an IPv4 address, or an
/// IPv6 address in brackets ("[::1]:8080", kept here without them).
struct ListenAddress {
    std::string host;
    std::uint16_t port = 0;  // 0: the operating system chooses

    /// Back to "HOST:PORT" (brackets around an IPv6 host).
    std::string str() const {
        std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
        return out + ":" + std::to_string(port);
    }

    friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

/// Parses a listen key's "HOST:PORT" / "[V6HOST]:PORT", as the host's own
/// [api] listen does. On failure returns nothing and, when `why` is given,
/// says what is wrong. A host of digits and dots must be an IPv4 address; a
/// host name is resolved when the socket opens.
inline std::optional<ListenAddress> parse_listen_address(std::string_view text,
                                                         std::string* why = nullptr) {
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
    if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
        // Four numbers 0..255: anything else of digits and dots is a typo.
        int parts = 0;
        bool ok = true;
        for (std::size_t at = 0; ok && at <= host.size(); ++parts) {
            const auto dot = std::min(host.find('.', at), host.size());
            unsigned n = 0;
            auto [end, ec] = std::from_chars(host.data() + at, host.data() + dot, n);
            ok = dot > at && dot - at <= 3 && ec == std::errc() && end == host.data() + dot &&
                 n <= 255;
            at = dot + 1;
        }
        if (!ok || parts != 4) return fail("'" + std::string(host) + "' is not an IPv4 address");
    }
    if (port.empty()) return fail("the port is missing");
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value > 65535)
        return fail("the port must be a number from 0 to 65535");
    return ListenAddress{std::string(host), static_cast<std::uint16_t>(value)};
}

/// Checks `table` against the declared keys, skipping keys in `ignore` (the
/// host's own keys in a shared table). Returns every problem found: unknown
/// keys (with a suggestion), wrong types, values out of range or not among the
/// accepted ones, missing required keys. `what` names the table in messages,
/// e.g. "[adapters.ocpp]".
inline std::vector<ConfigDiagnostic> validate_keys(const ConfigTable& table,
                                                   std::span<const ConfigKey> keys,
                                                   std::string_view what,
                                                   std::span<const std::string_view> ignore = {}) {
    std::vector<ConfigDiagnostic> out;
    std::vector<std::string_view> names;
    for (const auto& k : keys) names.push_back(k.name);
    for (auto n : ignore) names.push_back(n);

    for (const auto& entry : table.entries()) {
        // Named references, not a structured binding: the lambda below
        // captures `key`, which clang before 16 refuses for a binding.
        const std::string& key = entry.first;
        const ConfigValue& value = entry.second;
        if (std::find(ignore.begin(), ignore.end(), key) != ignore.end()) continue;
        auto it = std::find_if(keys.begin(), keys.end(),
                               [&](const ConfigKey& k) { return k.name == key; });
        if (it == keys.end()) {
            std::string msg = "unknown key '" + key + "' in " + std::string(what);
            if (auto s = did_you_mean(key, names))
                msg += " (did you mean '" + std::string(*s) + "'?)";
            out.push_back({value.where(), std::move(msg)});
            continue;
        }
        const ConfigKey& k = *it;
        bool type_ok = true;
        switch (k.type) {
            case ConfigType::Boolean:
                type_ok = value.is_bool();
                break;
            case ConfigType::Integer:
                type_ok = value.is_integer();
                break;
            case ConfigType::Float:
                type_ok = value.is_number();
                break;
            case ConfigType::String:
                type_ok = value.is_string();
                break;
            case ConfigType::Array:
                type_ok = value.is_array();
                break;
            case ConfigType::Table:
                type_ok = value.is_table();
                break;
            case ConfigType::Any:
                break;
        }
        if (!type_ok) {
            out.push_back({value.where(), "'" + key + "' must be " +
                                              detail::with_article(to_string(k.type)) + ", not " +
                                              detail::with_article(value.type_name())});
            continue;
        }
        if (auto s = value.as_string();
            s && !k.one_of.empty() &&
            std::find(k.one_of.begin(), k.one_of.end(), *s) == k.one_of.end()) {
            std::string msg = "'" + key + "' must be one of";
            for (std::size_t i = 0; i < k.one_of.size(); ++i)
                msg += (i ? ", \"" : " \"") + std::string(k.one_of[i]) + "\"";
            out.push_back({value.where(), msg + "; got \"" + *s + "\""});
        }
        if (auto n = value.as_number();
            n && (k.type == ConfigType::Integer || k.type == ConfigType::Float)) {
            // TOML spells nan and inf; no key of a site means either, and a
            // nan would slip past every range check below.
            if (!std::isfinite(*n)) {
                out.push_back({value.where(), "'" + key + "' must be a finite number"});
            } else if ((k.min && *n < *k.min) || (k.max && *n > *k.max)) {
                std::string range = k.min && k.max ? "between " + detail::number_text(*k.min) +
                                                         " and " + detail::number_text(*k.max)
                                    : k.min ? "at least " + detail::number_text(*k.min)
                                            : "at most " + detail::number_text(*k.max);
                out.push_back({value.where(), "'" + key + "' must be " + range});
            }
        }
    }
    for (const auto& k : keys) {
        if (k.required && !table.find(k.name))
            out.push_back({table.where(), "missing required key '" + std::string(k.name) + "' in " +
                                              std::string(what)});
    }
    return out;
}

}  // namespace gridgate::sdk
