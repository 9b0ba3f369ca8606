#include "gridgate/battery_sim/map_file.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include <toml++/toml.h>

namespace gridgate::battery_sim {
namespace {

using modbus::MapError;
using modbus::RegisterMap;
using modbus::RegisterPoint;

class MapReader {
  public:
    MapReader(std::string source, std::string name) : source_(std::move(source)) {
        map_.name = std::move(name);
        map_.where = source_;
    }

    MapResult read(const toml::table& root) {
        // toml++ iterates keys sorted by name; the file's order decides which
        // of two overlapping points is reported and the order of pre-writes.
        std::vector<std::pair<std::string, const toml::node*>> entries;
        for (const auto& [key, node] : root) entries.emplace_back(std::string(key.str()), &node);
        std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
            const auto& pa = a.second->source().begin;
            const auto& pb = b.second->source().begin;
            return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
        });
        for (const auto& [key, node] : entries) read_entry(key, *node);
        if (!errors_.empty()) return MapResult::failure(std::move(errors_));
        auto problems = modbus::validate(map_);
        if (!problems.empty()) return MapResult::failure(std::move(problems));
        return std::move(map_);
    }

  private:
    std::string where(const toml::node& node) const {
        const auto& at = node.source().begin;
        return source_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
    }

    void error(const toml::node& node, std::string message) {
        errors_.push_back({where(node), "register map '" + map_.name + "': " + std::move(message)});
    }

    std::optional<double> number(const toml::node& node, const std::string& what) {
        if (auto v = node.value<double>(); v && (node.is_integer() || node.is_floating_point())) {
            return *v;
        }
        error(node, what + " must be a number");
        return std::nullopt;
    }

    std::optional<std::string> text(const toml::node& node, const std::string& what) {
        if (auto v = node.value<std::string>(); v && node.is_string()) return *v;
        error(node, what + " must be a string");
        return std::nullopt;
    }

    std::optional<bool> boolean(const toml::node& node, const std::string& what) {
        if (auto v = node.value<bool>(); v && node.is_boolean()) return *v;
        error(node, what + " must be true or false");
        return std::nullopt;
    }

    std::optional<std::chrono::milliseconds> seconds(const toml::node& node,
                                                     const std::string& what) {
        auto s = number(node, what);
        if (!s) return std::nullopt;
        if (!(*s > 0) || !std::isfinite(*s)) {
            error(node, what + " must be a positive number of seconds");
            return std::nullopt;
        }
        return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(*s * 1000.0)));
    }

    void read_entry(const std::string& key, const toml::node& node) {
        if (key == "setpoint_pattern") {
            if (auto t = text(node, key)) {
                map_.pattern = modbus::parse_setpoint_pattern(*t);
                if (!map_.pattern) {
                    error(node,
                          "unknown setpoint_pattern '" + *t +
                              "' (signed_power, charge_discharge, direction_magnitude, none)");
                }
            }
        } else if (key == "write_multiple") {
            if (auto b = boolean(node, key)) map_.always_write_multiple = *b;
        } else if (key == "direction_values") {
            read_direction_values(node);
        } else if (key == "pre_writes") {
            read_pre_writes(node);
        } else if (key == "heartbeat") {
            read_heartbeat(node);
        } else if (const auto* table = node.as_table()) {
            read_point(key, *table);
        } else {
            error(node, "'" + key +
                            "' is neither a point (an inline table with an address) nor a map "
                            "setting (setpoint_pattern, direction_values, pre_writes, heartbeat, "
                            "write_multiple)");
        }
    }

    void read_point(const std::string& name, const toml::table& t) {
        RegisterPoint p;
        p.name = name;
        p.where = where(t);
        bool has_address = false;
        bool poll_given = false;
        for (const auto& [k, v] : t) {
            const std::string key(k.str());
            const std::string what = "point '" + name + "': " + key;
            if (key == "address") {
                auto a = v.value<std::int64_t>();
                if (!v.is_integer() || !a || *a < 0 || *a > 65535) {
                    error(v, what + " must be an integer 0..65535");
                } else {
                    p.address = static_cast<std::uint16_t>(*a);
                    has_address = true;
                }
            } else if (key == "type") {
                if (auto s = text(v, what)) {
                    if (auto type = modbus::parse_point_type(*s)) {
                        p.type = *type;
                    } else {
                        error(v, what + " '" + *s +
                                     "' is not one of int16, uint16, int32, uint32, int64, uint64, "
                                     "float32, float64, bool");
                    }
                }
            } else if (key == "table") {
                if (auto s = text(v, what)) {
                    if (auto table = modbus::parse_table(*s)) {
                        p.table = *table;
                    } else {
                        error(v,
                              what + " '" + *s + "' is not one of holding, input, coil, discrete");
                    }
                }
            } else if (key == "word_order" || key == "byte_order") {
                if (auto s = text(v, what)) {
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
                if (auto s = text(v, what)) {
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
                error(v, "point '" + name + "': unknown key '" + key + "'");
            }
        }
        if (!has_address && !t.contains("address")) error(t, "point '" + name + "' has no address");
        // Read-only tables hold measurements: polled unless the map says otherwise.
        if (!poll_given) p.poll = !modbus::is_writable(p.table);
        map_.points.push_back(std::move(p));
    }

    void read_direction_values(const toml::node& node) {
        const auto* t = node.as_table();
        if (t == nullptr) {
            error(node,
                  "direction_values must be a table { charge = .., discharge = .., idle = .. }");
            return;
        }
        for (const auto& [k, v] : *t) {
            const std::string key(k.str());
            auto n = number(v, "direction_values." + key);
            if (!n) continue;
            if (key == "charge") {
                map_.direction_values.charge = *n;
            } else if (key == "discharge") {
                map_.direction_values.discharge = *n;
            } else if (key == "idle") {
                map_.direction_values.idle = *n;
            } else {
                error(v, "direction_values: unknown key '" + key + "' (charge, discharge, idle)");
            }
        }
    }

    void read_pre_writes(const toml::node& node) {
        const auto* array = node.as_array();
        if (array == nullptr) {
            error(node, "pre_writes must be an array of { point = \"..\", value = .. }");
            return;
        }
        for (const auto& item : *array) {
            const auto* t = item.as_table();
            if (t == nullptr) {
                error(item, "each pre-write is a table { point = \"..\", value = .. }");
                continue;
            }
            modbus::PreWrite w;
            w.where = where(item);
            bool has_point = false;
            bool has_value = false;
            for (const auto& [k, v] : *t) {
                const std::string key(k.str());
                if (key == "point") {
                    if (auto s = text(v, "pre-write point")) w.point = *s, has_point = true;
                } else if (key == "value") {
                    if (auto n = number(v, "pre-write value")) w.value = *n, has_value = true;
                } else {
                    error(v, "pre-write: unknown key '" + key + "' (point, value)");
                }
            }
            if (!has_point || !has_value) {
                error(item, "a pre-write needs both point and value");
                continue;
            }
            map_.pre_writes.push_back(std::move(w));
        }
    }

    void read_heartbeat(const toml::node& node) {
        const auto* t = node.as_table();
        if (t == nullptr) {
            error(node,
                  "heartbeat must be a table { point = .., mode = .., interval_seconds = .. }");
            return;
        }
        modbus::Heartbeat hb;
        hb.where = where(node);
        for (const auto& [k, v] : *t) {
            const std::string key(k.str());
            if (key == "point") {
                if (auto s = text(v, "heartbeat point")) hb.point = *s;
            } else if (key == "mode") {
                if (auto s = text(v, "heartbeat mode")) {
                    if (*s == "counter") {
                        hb.mode = modbus::Heartbeat::Mode::counter;
                    } else if (*s == "constant") {
                        hb.mode = modbus::Heartbeat::Mode::constant;
                    } else {
                        error(v, "heartbeat mode '" + *s + "' is not counter or constant");
                    }
                }
            } else if (key == "value") {
                if (auto n = number(v, "heartbeat value")) hb.value = *n;
            } else if (key == "interval_seconds") {
                if (auto ms = seconds(v, "heartbeat interval_seconds")) hb.interval = *ms;
            } else {
                error(v, "heartbeat: unknown key '" + key +
                             "' (point, mode, value, interval_seconds)");
            }
        }
        if (hb.point.empty()) error(node, "heartbeat needs a point");
        map_.heartbeat = std::move(hb);
    }

    std::string source_;
    RegisterMap map_;
    std::vector<MapError> errors_;
};

}  // namespace

MapResult parse_register_map(std::string_view text, const std::string& source,
                             const std::string& name) {
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        const auto& at = e.source().begin;
        return MapResult::failure(std::vector<MapError>{
            {source + ":" + std::to_string(at.line) + ":" + std::to_string(at.column),
             std::string(e.description())}});
    }
    return MapReader(source, name).read(root);
}

MapResult load_register_map(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return MapResult::failure(std::vector<MapError>{{path, "cannot open register map file"}});
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_register_map(text.str(), path, std::filesystem::path(path).stem().string());
}

modbus::RegisterMap generic_battery_map() {
    using modbus::PointType;
    using modbus::Table;
    RegisterMap map;
    map.name = "generic_battery";
    RegisterPoint setpoint{.name = "power_setpoint",
                           .address = 100,
                           .type = PointType::int32,
                           .table = Table::holding,
                           .scale = 0.001};
    RegisterPoint soc{.name = "soc",
                      .address = 200,
                      .type = PointType::uint16,
                      .table = Table::input,
                      .scale = 0.1,
                      .poll = true};
    RegisterPoint power{.name = "active_power",
                        .address = 202,
                        .type = PointType::int32,
                        .table = Table::input,
                        .scale = 0.001,
                        .poll = true};
    map.points = {setpoint, soc, power};
    return map;
}

}  // namespace gridgate::battery_sim
