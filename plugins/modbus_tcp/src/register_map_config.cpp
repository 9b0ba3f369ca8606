#include "gridgate/modbus_tcp/register_map_config.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <string_view>
#include <tuple>

namespace gridgate::modbus_tcp {
namespace {

using modbus::RegisterMap;
using modbus::RegisterPoint;
using sdk::ConfigDiagnostic;
using sdk::ConfigTable;
using sdk::ConfigValue;

class MapReader {
  public:
    MapReader(const std::string& name, const ConfigTable& table) : table_(table) {
        map_.name = name;
        map_.where = table.where().str();
    }

    MapReading read() {
        for (const auto& [key, value] : table_.entries()) read_entry(key, value);
        if (errors_.empty() && map_.points.empty()) {
            // Nothing to write or poll: a battery on it could do nothing.
            errors_.push_back({table_.where(), "register map '" + map_.name +
                                                   "' defines no points (at least a setpoint "
                                                   "or a point to poll)"});
        }
        if (!errors_.empty()) return MapReading::failure(std::move(errors_));
        // The library reports at the caller-supplied `where` of each point.
        for (const auto& e : modbus::validate(map_))
            errors_.push_back({locate(e.where), e.message});
        if (!errors_.empty()) {
            // In file order, as a reader of the file meets them.
            std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
                return std::tie(a.where.line, a.where.column) <
                       std::tie(b.where.line, b.where.column);
            });
            return MapReading::failure(std::move(errors_));
        }
        return std::move(map_);
    }

  private:
    /// Maps a `where` string back to a SourceLocation ("file:line:col").
    static sdk::SourceLocation locate(const std::string& where) {
        sdk::SourceLocation at;
        const auto last = where.rfind(':');
        const auto middle = last == std::string::npos ? last : where.rfind(':', last - 1);
        if (middle == std::string::npos) {
            at.file = where;
            return at;
        }
        try {
            at.line = std::stoi(where.substr(middle + 1, last - middle - 1));
            at.column = std::stoi(where.substr(last + 1));
            at.file = where.substr(0, middle);
        } catch (const std::exception&) {
            at = {where, 0, 0};
        }
        return at;
    }

    void error(const ConfigValue& v, std::string message) {
        errors_.push_back({v.where(), "register map '" + map_.name + "': " + std::move(message)});
    }

    /// "`context`: unknown key 'k' (did you mean 'x'?)", or with the keys
    /// it takes when none is close.
    void unknown_key(const ConfigValue& v, const std::string& context, const std::string& key,
                     std::span<const std::string_view> keys) {
        std::string message = context + ": unknown key '" + key + "' (";
        if (auto near = sdk::did_you_mean(key, keys)) {
            message += "did you mean '" + std::string(*near) + "'?)";
        } else {
            for (std::size_t i = 0; i < keys.size(); ++i)
                message += (i ? ", " : "") + std::string(keys[i]);
            message += ")";
        }
        error(v, std::move(message));
    }

    std::optional<double> number(const ConfigValue& v, const std::string& what) {
        auto n = v.as_number();
        if (!n) {
            error(v, what + " must be a number, not " + sdk::detail::with_article(v.type_name()));
        } else if (!std::isfinite(*n)) {
            // TOML's nan and inf: a nan limit would pass every comparison.
            error(v, what + " must be a finite number");
            n.reset();
        }
        return n;
    }
    const std::string* text(const ConfigValue& v, const std::string& what) {
        if (const auto* s = v.as_string()) return s;
        error(v, what + " must be a string, not " + sdk::detail::with_article(v.type_name()));
        return nullptr;
    }
    std::optional<bool> boolean(const ConfigValue& v, const std::string& what) {
        if (auto b = v.as_bool()) return *b;
        error(v, what + " must be true or false, not " + sdk::detail::with_article(v.type_name()));
        return std::nullopt;
    }
    std::optional<std::chrono::milliseconds> seconds(const ConfigValue& v,
                                                     const std::string& what) {
        auto s = number(v, what);
        if (!s) return std::nullopt;
        if (!(*s > 0) || !std::isfinite(*s)) {
            error(v, what + " must be a positive number of seconds");
            return std::nullopt;
        }
        return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(*s * 1000.0)));
    }

    void read_entry(const std::string& key, const ConfigValue& v) {
        if (key == "setpoint_pattern") {
            if (const auto* s = text(v, key)) {
                map_.pattern = modbus::parse_setpoint_pattern(*s);
                if (!map_.pattern) {
                    error(v, "unknown setpoint_pattern '" + *s +
                                 "' (signed_power, charge_discharge, direction_magnitude, none)");
                }
            }
        } else if (key == "write_multiple") {
            if (auto b = boolean(v, key)) map_.always_write_multiple = *b;
        } else if (key == "direction_values") {
            read_direction_values(v);
        } else if (key == "pre_writes") {
            read_pre_writes(v);
        } else if (key == "heartbeat") {
            read_heartbeat(v);
        } else if (const auto* t = v.as_table()) {
            read_point(key, v, *t);
        } else {
            static constexpr std::string_view kSettings[] = {"setpoint_pattern", "write_multiple",
                                                             "direction_values", "pre_writes",
                                                             "heartbeat"};
            std::string message = "'" + key +
                                  "' is neither a point (an inline table with an address) nor a "
                                  "map setting (setpoint_pattern, direction_values, pre_writes, "
                                  "heartbeat, write_multiple)";
            if (auto near = sdk::did_you_mean(key, kSettings))
                message += "; did you mean '" + std::string(*near) + "'?";
            error(v, std::move(message));
        }
    }

    void read_point(const std::string& name, const ConfigValue& node, const ConfigTable& t) {
        RegisterPoint p;
        p.name = name;
        p.where = node.where().str();
        bool has_address = false;
        bool poll_given = false;
        for (const auto& [key, v] : t.entries()) {
            const std::string what = "point '" + name + "': " + key;
            if (key == "address") {
                auto a = v.as_integer();
                if (!a || *a < 0 || *a > 65535) {
                    error(v, what + " must be an integer 0..65535");
                } else {
                    p.address = static_cast<std::uint16_t>(*a);
                    has_address = true;
                }
            } else if (key == "type") {
                if (const auto* s = text(v, what)) {
                    if (auto type = modbus::parse_point_type(*s)) {
                        p.type = *type;
                    } else {
                        error(v, what + " '" + *s +
                                     "' is not one of int16, uint16, int32, uint32, int64, uint64, "
                                     "float32, float64, bool");
                    }
                }
            } else if (key == "table") {
                if (const auto* s = text(v, what)) {
                    if (auto table = modbus::parse_table(*s)) {
                        p.table = *table;
                    } else {
                        error(v,
                              what + " '" + *s + "' is not one of holding, input, coil, discrete");
                    }
                }
            } else if (key == "word_order" || key == "byte_order") {
                if (const auto* s = text(v, what)) {
                    if (auto order = modbus::parse_order(*s)) {
                        (key == "word_order" ? p.word_order : p.byte_order) = *order;
                    } else {
                        error(v, what + " '" + *s + "' is not big or little");
                    }
                }
            } else if (key == "scale") {
                if (auto n = number(v, what)) p.scale = *n;
            } else if (key == "offset") {
                if (auto n = number(v, what)) p.offset = *n;
            } else if (key == "nan_value") {
                p.nan_value = number(v, what);
            } else if (key == "min") {
                p.min = number(v, what);
            } else if (key == "max") {
                p.max = number(v, what);
            } else if (key == "unit") {
                if (const auto* s = text(v, what)) {
                    if (*s == "kW" || *s == "kw") {
                        p.unit = modbus::PowerUnit::kw;
                    } else if (*s == "percent") {
                        p.unit = modbus::PowerUnit::percent;
                    } else {
                        error(v, what + " '" + *s + "' is not kW or percent");
                    }
                }
            } else if (key == "poll") {
                if (auto b = boolean(v, what)) {
                    p.poll = *b;
                    poll_given = true;
                }
            } else if (key == "poll_interval_seconds") {
                p.poll_interval = seconds(v, what);
                if (!poll_given) p.poll = true;
                poll_given = true;
            } else {
                static constexpr std::string_view kPointKeys[] = {"address",
                                                                  "type",
                                                                  "table",
                                                                  "word_order",
                                                                  "byte_order",
                                                                  "scale",
                                                                  "offset",
                                                                  "nan_value",
                                                                  "min",
                                                                  "max",
                                                                  "unit",
                                                                  "poll",
                                                                  "poll_interval_seconds"};
                std::string message = "point '" + name + "': unknown key '" + key + "'";
                if (auto near = sdk::did_you_mean(key, kPointKeys))
                    message += " (did you mean '" + std::string(*near) + "'?)";
                error(v, std::move(message));
            }
        }
        if (!has_address && t.find("address") == nullptr) {
            error(node, "point '" + name + "' has no address");
        }
        // Read-only tables hold measurements: polled unless the map says otherwise.
        if (!poll_given) p.poll = !modbus::is_writable(p.table);
        map_.points.push_back(std::move(p));
    }

    void read_direction_values(const ConfigValue& v) {
        const auto* t = v.as_table();
        if (t == nullptr) {
            error(v, "direction_values must be a table { charge = .., discharge = .., idle = .. }");
            return;
        }
        map_.direction_values.where = v.where().str();
        for (const auto& [key, value] : t->entries()) {
            auto n = number(value, "direction_values." + key);
            if (!n) continue;
            if (key == "charge") {
                map_.direction_values.charge = *n;
            } else if (key == "discharge") {
                map_.direction_values.discharge = *n;
            } else if (key == "idle") {
                map_.direction_values.idle = *n;
            } else {
                static constexpr std::string_view kKeys[] = {"charge", "discharge", "idle"};
                unknown_key(value, "direction_values", key, kKeys);
            }
        }
    }

    void read_pre_writes(const ConfigValue& v) {
        const auto* array = v.as_array();
        if (array == nullptr) {
            error(v, "pre_writes must be an array of { point = \"..\", value = .. }");
            return;
        }
        for (const auto& item : *array) {
            const auto* t = item.as_table();
            if (t == nullptr) {
                error(item, "each pre-write is a table { point = \"..\", value = .. }");
                continue;
            }
            modbus::PreWrite w;
            w.where = item.where().str();
            bool point_ok = false;
            bool value_ok = false;
            for (const auto& [key, value] : t->entries()) {
                if (key == "point") {
                    if (const auto* s = text(value, "pre-write point"))
                        w.point = *s, point_ok = true;
                } else if (key == "value") {
                    if (auto n = number(value, "pre-write value")) w.value = *n, value_ok = true;
                } else {
                    static constexpr std::string_view kKeys[] = {"point", "value"};
                    unknown_key(value, "pre-write", key, kKeys);
                }
            }
            // A key given with a wrong type has had its own message.
            const bool has_point = t->find("point") != nullptr;
            const bool has_value = t->find("value") != nullptr;
            if (!has_point || !has_value) {
                error(item,
                      std::string("a pre-write needs ") + (has_point   ? "a value"
                                                           : has_value ? "a point"
                                                                       : "a point and a value"));
                continue;
            }
            if (point_ok && value_ok) map_.pre_writes.push_back(std::move(w));
        }
    }

    void read_heartbeat(const ConfigValue& v) {
        const auto* t = v.as_table();
        if (t == nullptr) {
            error(v, "heartbeat must be a table { point = .., mode = .., interval_seconds = .. }");
            return;
        }
        modbus::Heartbeat hb;
        hb.where = v.where().str();
        for (const auto& [key, value] : t->entries()) {
            if (key == "point") {
                if (const auto* s = text(value, "heartbeat point")) hb.point = *s;
            } else if (key == "mode") {
                if (const auto* s = text(value, "heartbeat mode")) {
                    if (*s == "counter") {
                        hb.mode = modbus::Heartbeat::Mode::counter;
                    } else if (*s == "constant") {
                        hb.mode = modbus::Heartbeat::Mode::constant;
                    } else {
                        error(value, "heartbeat mode '" + *s + "' is not counter or constant");
                    }
                }
            } else if (key == "value") {
                if (auto n = number(value, "heartbeat value")) hb.value = *n;
            } else if (key == "interval_seconds") {
                if (auto ms = seconds(value, "heartbeat interval_seconds")) hb.interval = *ms;
            } else {
                static constexpr std::string_view kKeys[] = {"point", "mode", "value",
                                                             "interval_seconds"};
                unknown_key(value, "heartbeat", key, kKeys);
            }
        }
        if (hb.point.empty()) error(v, "heartbeat needs a point");
        map_.heartbeat = std::move(hb);
    }

    const ConfigTable& table_;
    RegisterMap map_;
    std::vector<ConfigDiagnostic> errors_;
};

}  // namespace

MapReading read_register_map(const std::string& name, const ConfigTable& table) {
    return MapReader(name, table).read();
}

}  // namespace gridgate::modbus_tcp
