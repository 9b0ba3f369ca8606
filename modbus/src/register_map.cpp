#include "gridgate/modbus/register_map.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <set>
#include <tuple>

#include "gridgate/modbus/codec.hpp"
#include "number_text.hpp"

namespace gridgate::modbus {
namespace {

constexpr std::array<std::pair<SetpointPattern, std::string_view>, 4> pattern_names{{
    {SetpointPattern::none, "none"},
    {SetpointPattern::signed_power, "signed_power"},
    {SetpointPattern::charge_discharge, "charge_discharge"},
    {SetpointPattern::direction_magnitude, "direction_magnitude"},
}};

std::string span_of(const RegisterPoint& p) {
    std::string text = std::string(to_string(p.table)) + " " + std::to_string(p.address);
    if (p.width() > 1) text += ".." + std::to_string(p.last_address());
    return text;
}

class Checker {
  public:
    explicit Checker(const RegisterMap& map) : map_(map) {}

    std::vector<MapError> run() {
        for (const auto& point : map_.points) check_point(point);
        check_overlaps();
        check_pattern();
        check_command_points();
        check_pre_writes();
        check_heartbeat();
        return std::move(errors_);
    }

  private:
    void add(const std::string& where, std::string message) {
        errors_.push_back({where.empty() ? map_.where : where, std::move(message)});
    }

    std::string prefix(const RegisterPoint& p) const {
        return "register map '" + map_.name + "', point '" + p.name + "': ";
    }

    void check_point(const RegisterPoint& p) {
        if (!names_.insert(p.name).second) add(p.where, prefix(p) + "defined twice");
        if (p.last_address() > 65535) {
            add(p.where, prefix(p) + std::string(to_string(p.type)) + " at address " +
                             std::to_string(p.address) + " runs past register 65535");
        }
        if (!type_fits_table(p.type, p.table)) {
            add(p.where,
                prefix(p) + "type " + std::string(to_string(p.type)) + " cannot live in the " +
                    std::string(to_string(p.table)) + " table" +
                    (is_bit_table(p.table) ? " (a bit table holds bool, int16 or uint16 0/1)"
                                           : " (bool needs a coil or discrete input)"));
        }
        if (!std::isfinite(p.scale) || p.scale == 0) {
            add(p.where, prefix(p) + "scale must be a non-zero number");
        }
        if (!std::isfinite(p.offset)) add(p.where, prefix(p) + "offset must be a number");
        if (p.min && p.max && *p.min > *p.max) {
            add(p.where, prefix(p) + "min is greater than max");
        }
        check_power_point(p);
        if (p.poll_interval && p.poll_interval->count() <= 0) {
            add(p.where, prefix(p) + "poll interval must be positive");
        }
    }

    /// A power point holds a number of kW or percent, and must be able to
    /// say 0 (stop, or the side not in use): the planner clamps to a point's
    /// range last, and a range without 0 turned "stop" into the nearest end,
    /// a battery charging at 5 % while told to discharge. A bit would hold
    /// any power as 1.
    void check_power_point(const RegisterPoint& p) {
        static constexpr std::array<std::string_view, 5> kPowers{
            point_names::power_setpoint, point_names::charge_setpoint,
            point_names::discharge_setpoint, point_names::power_magnitude,
            point_names::power_limit};
        if (std::find(kPowers.begin(), kPowers.end(), p.name) == kPowers.end()) return;
        if (p.type == PointType::boolean || is_bit_table(p.table)) {
            add(p.where, prefix(p) +
                             "a power cannot be a bit (a bool, or a coil or discrete "
                             "input): it would hold any power as 1");
            return;
        }
        if ((p.min && *p.min > 0) || (p.max && *p.max < 0)) {
            add(p.where, prefix(p) + "its range [" +
                             (p.min ? detail::number_text(*p.min, 10) : "-inf") + ", " +
                             (p.max ? detail::number_text(*p.max, 10) : "inf") +
                             "] leaves out 0, so the device could not be told to stop (min "
                             "must be at most 0 and max at least 0)");
        }
    }

    void check_overlaps() {
        std::vector<std::size_t> order(map_.points.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            const auto& pa = map_.points[a];
            const auto& pb = map_.points[b];
            return std::tie(pa.table, pa.address, a) < std::tie(pb.table, pb.address, b);
        });
        std::optional<std::size_t> reach;  // point reaching furthest so far in this table
        for (std::size_t i : order) {
            const auto& p = map_.points[i];
            if (reach && map_.points[*reach].table == p.table &&
                p.address <= map_.points[*reach].last_address()) {
                // Reported at the point declared later, like any duplicate.
                const std::size_t first = std::min(i, *reach);
                const std::size_t second = std::max(i, *reach);
                const auto& a = map_.points[first];
                const auto& b = map_.points[second];
                add(b.where, prefix(b) + "(" + span_of(b) + ") overlaps point '" + a.name + "' (" +
                                 span_of(a) + ")");
            }
            if (!reach || map_.points[*reach].table != p.table ||
                p.last_address() > map_.points[*reach].last_address()) {
                reach = i;
            }
        }
    }

    /// A point a feature needs: present, writable and (for powers) numeric.
    void require_writable(std::string_view name, const std::string& needed_by,
                          const std::string& where) {
        const RegisterPoint* p = map_.find(name);
        if (p == nullptr) {
            add(where, "register map '" + map_.name + "': " + needed_by + " needs a point '" +
                           std::string(name) + "'");
            return;
        }
        if (!is_writable(p->table)) {
            add(p->where, prefix(*p) + "is written (" + needed_by +
                              ") but lives in the read-only " + std::string(to_string(p->table)) +
                              " table");
        }
    }

    void check_pattern() {
        const SetpointPattern pattern = map_.effective_pattern();
        const std::string needed_by = "setpoint pattern " + std::string(to_string(pattern));
        std::vector<std::string_view> needed;
        switch (pattern) {
            case SetpointPattern::none:
                check_partial_pattern();
                return;
            case SetpointPattern::signed_power:
                needed = {point_names::power_setpoint};
                break;
            case SetpointPattern::charge_discharge:
                needed = {point_names::charge_setpoint, point_names::discharge_setpoint};
                break;
            case SetpointPattern::direction_magnitude:
                needed = {point_names::direction, point_names::power_magnitude};
                check_direction_values();
                break;
        }
        for (auto name : needed) require_writable(name, needed_by, map_.where);
    }

    /// Half of a two-point pattern is almost certainly a mistake in the map.
    void check_partial_pattern() {
        if (map_.pattern) return;  // declared "none": the points are telemetry
        const std::array<std::pair<std::string_view, std::string_view>, 4> pairs{{
            {point_names::charge_setpoint, point_names::discharge_setpoint},
            {point_names::discharge_setpoint, point_names::charge_setpoint},
            {point_names::direction, point_names::power_magnitude},
            {point_names::power_magnitude, point_names::direction},
        }};
        for (const auto& [present, missing] : pairs) {
            const RegisterPoint* p = map_.find(present);
            if (p != nullptr && map_.find(missing) == nullptr) {
                add(p->where, prefix(*p) + "the setpoint pattern needs a point '" +
                                  std::string(missing) + "' as well");
            }
        }
    }

    void check_direction_values() {
        const RegisterPoint* p = map_.find(point_names::direction);
        if (p == nullptr) return;
        const auto& v = map_.direction_values;
        const std::string& where = v.where.empty() ? map_.where : v.where;
        for (auto [label, value] :
             {std::pair{"charge", v.charge}, std::pair{"discharge", v.discharge},
              std::pair{"idle", v.idle}}) {
            if (auto encoded = encode(*p, value); !encoded) {
                add(where, "register map '" + map_.name + "': direction value '" + label +
                               "': " + encoded.error());
            }
        }
        if (v.charge == v.discharge) {
            add(where, "register map '" + map_.name +
                           "': direction values for charge and discharge are equal");
        }
    }

    void check_command_points() {
        for (auto name : {point_names::power_limit, point_names::soc_target, point_names::enable}) {
            const RegisterPoint* p = map_.find(name);
            if (p != nullptr && !is_writable(p->table)) {
                add(p->where, prefix(*p) + "is written by commands but lives in the read-only " +
                                  std::string(to_string(p->table)) + " table");
            }
        }
    }

    void check_pre_writes() {
        for (const auto& w : map_.pre_writes) {
            const RegisterPoint* p = map_.find(w.point);
            if (p == nullptr) {
                add(w.where, "register map '" + map_.name + "': pre-write names unknown point '" +
                                 w.point + "'");
                continue;
            }
            if (!is_writable(p->table)) {
                add(w.where, "register map '" + map_.name + "': pre-write to point '" + w.point +
                                 "' in the read-only " + std::string(to_string(p->table)) +
                                 " table");
                continue;
            }
            if (auto encoded = encode(*p, w.value); !encoded) {
                add(w.where, "register map '" + map_.name + "': pre-write: " + encoded.error());
            }
        }
    }

    void check_heartbeat() {
        if (!map_.heartbeat) return;
        const auto& hb = *map_.heartbeat;
        require_writable(hb.point, "the heartbeat", hb.where);
        if (hb.interval.count() <= 0) {
            add(hb.where, "register map '" + map_.name + "': heartbeat interval must be positive");
        }
        const RegisterPoint* p = map_.find(hb.point);
        if (p != nullptr && hb.mode == Heartbeat::Mode::constant) {
            if (auto encoded = encode(*p, hb.value); !encoded) {
                add(hb.where, "register map '" + map_.name + "': heartbeat: " + encoded.error());
            }
        }
    }

    const RegisterMap& map_;
    std::vector<MapError> errors_;
    std::set<std::string> names_;
};

}  // namespace

std::string_view to_string(SetpointPattern pattern) noexcept {
    for (const auto& [value, name] : pattern_names) {
        if (value == pattern) return name;
    }
    return "?";
}

std::optional<SetpointPattern> parse_setpoint_pattern(std::string_view name) noexcept {
    for (const auto& [value, text] : pattern_names) {
        if (text == name) return value;
    }
    return std::nullopt;
}

const RegisterPoint* RegisterMap::find(std::string_view point_name) const noexcept {
    for (const auto& p : points) {
        if (p.name == point_name) return &p;
    }
    return nullptr;
}

SetpointPattern RegisterMap::effective_pattern() const noexcept {
    if (pattern) return *pattern;
    if (find(point_names::power_setpoint) != nullptr) return SetpointPattern::signed_power;
    if (find(point_names::charge_setpoint) != nullptr &&
        find(point_names::discharge_setpoint) != nullptr) {
        return SetpointPattern::charge_discharge;
    }
    if (find(point_names::direction) != nullptr && find(point_names::power_magnitude) != nullptr) {
        return SetpointPattern::direction_magnitude;
    }
    return SetpointPattern::none;
}

std::string MapError::str() const {
    return where.empty() ? message : where + ": " + message;
}

std::vector<MapError> validate(const RegisterMap& map) {
    return Checker(map).run();
}

}  // namespace gridgate::modbus
