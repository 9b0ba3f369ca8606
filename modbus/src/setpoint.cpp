#include "gridgate/modbus/setpoint.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "gridgate/modbus/codec.hpp"
#include "number_text.hpp"

namespace gridgate::modbus {
namespace {

std::string format(double v) {
    return detail::number_text(v, 6);
}

std::string map_prefix(const RegisterMap& map) {
    return "register map '" + map.name + "': ";
}

Expected<RegisterWrite> write_of(const RegisterMap& map, const RegisterPoint& p, double value) {
    if (!is_writable(p.table)) {
        return Expected<RegisterWrite>::failure(map_prefix(map) + "point '" + p.name +
                                                "' lives in the read-only " +
                                                std::string(to_string(p.table)) + " table");
    }
    auto values = encode(p, value);
    if (!values) return Expected<RegisterWrite>::failure(map_prefix(map) + values.error());
    return RegisterWrite{
        p.name, p.table, p.address, std::move(values).value(), value, map.always_write_multiple};
}

class Planner {
  public:
    Planner(const RegisterMap& map, const AssetLimits& limits) : map_(map), limits_(limits) {}

    std::optional<std::string> error;
    SetpointPlan plan;

    void fail(std::string message) {
        if (!error) error = map_prefix(map_) + std::move(message);
    }

    const RegisterPoint* point(std::string_view name) {
        const RegisterPoint* p = map_.find(name);
        if (p == nullptr) fail("setpoint needs a point '" + std::string(name) + "'");
        return p;
    }

    /// Writes a power (kW, sign as the caller gives it) to a power point,
    /// converting to percent and clamping to the point's own range. With
    /// `limit_kw` (the asset limit that applies), a value that rounding to
    /// the register's resolution would carry beyond it is rounded towards
    /// zero instead.
    void write_power(const RegisterPoint* p, double kw, std::optional<double> limit_kw = {}) {
        if (p == nullptr || error) return;
        double value = kw;
        if (p->unit == PowerUnit::percent) {
            if (!limits_.rated_power_kw || *limits_.rated_power_kw <= 0) {
                fail("point '" + p->name +
                     "' is in percent of rated power, but the asset has no rated power");
                return;
            }
            value = kw / *limits_.rated_power_kw * 100.0;
        }
        if (p->max && value > *p->max) {
            plan.adjustments.push_back("'" + p->name + "' " + format(value) +
                                       " clamped to the point's max " + format(*p->max));
            value = *p->max;
        }
        if (p->min && value < *p->min) {
            plan.adjustments.push_back("'" + p->name + "' " + format(value) +
                                       " clamped to the point's min " + format(*p->min));
            value = *p->min;
        }
        write_value(p, value);
        if (limit_kw && !error) keep_within(*p, value, *limit_kw);
    }

    /// Round-to-nearest on an integer register may carry a value past the
    /// asset limit it was clamped to (10.06 kW at 0.1 kW per step is 101 =
    /// 10.1 kW): one step towards zero then, never a transient above it.
    void keep_within(const RegisterPoint& p, double value, double limit_kw) {
        if (is_bit_table(p.table) || p.type == PointType::boolean || p.type == PointType::float32 ||
            p.type == PointType::float64) {
            return;
        }
        RegisterWrite& w = plan.writes.back();
        const double to_kw = p.unit == PowerUnit::percent ? *limits_.rated_power_kw / 100.0 : 1.0;
        const auto written = decode(p, w.values);
        const double slack = 1e-9 * std::max(1.0, limit_kw);
        if (!written || std::fabs(*written * to_kw) <= limit_kw + slack) return;
        const double lower = value - std::copysign(std::fabs(p.scale), value);
        auto values = encode(p, lower);
        if (!values) return;
        const auto held = decode(p, *values);
        if (!held || std::fabs(*held * to_kw) > limit_kw + slack) return;
        plan.adjustments.push_back("'" + p.name + "' " + format(value) + " rounded towards 0 to " +
                                   format(*held) + ", within the asset limit " + format(limit_kw) +
                                   " kW");
        w.values = std::move(values).value();
        w.value = *held;
    }

    void write_value(const RegisterPoint* p, double value) {
        if (p == nullptr || error) return;
        auto w = write_of(map_, *p, value);
        if (!w) {
            fail(w.error().substr(map_prefix(map_).size()));
            return;
        }
        plan.writes.push_back(std::move(w).value());
    }

    void pre_writes() {
        for (const auto& pre : map_.pre_writes) {
            const RegisterPoint* p = map_.find(pre.point);
            if (p == nullptr) {
                fail("pre-write names unknown point '" + pre.point + "'");
                return;
            }
            write_value(p, pre.value);
        }
    }

  private:
    const RegisterMap& map_;
    const AssetLimits& limits_;
};

double clamp_side(double kw, double limit, const char* side, const char* limit_name,
                  std::vector<std::string>& notes) {
    const double bound = std::max(0.0, limit);
    if (kw > bound) {
        notes.push_back(std::string(side) + " " + format(kw) + " kW clamped to " + limit_name +
                        " " + format(bound));
        return bound;
    }
    return kw;
}

}  // namespace

Expected<SetpointPlan> plan_setpoint(const RegisterMap& map, const AssetLimits& limits,
                                     const SetpointRequest& request) {
    using Result = Expected<SetpointPlan>;
    const SetpointPattern pattern = map.effective_pattern();
    if (pattern == SetpointPattern::none) {
        return Result::failure(map_prefix(map) +
                               "no setpoint point (power_setpoint, charge_setpoint and "
                               "discharge_setpoint, or direction and power_magnitude)");
    }
    for (auto [side, kw] :
         {std::pair{"charge", request.charge_kw}, std::pair{"discharge", request.discharge_kw}}) {
        if (!std::isfinite(kw) || kw < 0) {
            return Result::failure(std::string(side) + " power " + format(kw) +
                                   " kW is not a non-negative number");
        }
    }

    Planner planner(map, limits);
    auto& notes = planner.plan.adjustments;
    // The battery sees the difference, so the limits bound the difference
    // (ARCHITECTURE.md): charge 80 and discharge 40 under 50/50 limits is 40.
    double net = request.charge_kw - request.discharge_kw;
    if (net > 0) {
        net = clamp_side(net, limits.max_charge_kw, "charge", "max_charge_kw", notes);
    } else if (net < 0) {
        net = -clamp_side(-net, limits.max_discharge_kw, "discharge", "max_discharge_kw", notes);
    }
    if (request.soc && net > 0 && *request.soc >= limits.max_soc) {
        notes.push_back("charging stopped: SoC " + format(*request.soc) + "% at max_soc " +
                        format(limits.max_soc) + "%");
        net = 0;
    }
    if (request.soc && net < 0 && *request.soc <= limits.min_soc) {
        notes.push_back("discharging stopped: SoC " + format(*request.soc) + "% at min_soc " +
                        format(limits.min_soc) + "%");
        net = 0;
    }
    if (net == 0) net = 0;  // no -0 in plans and logs
    planner.plan.net_kw = net;
    // The asset limit a power of this sign was clamped to.
    const auto limit_of = [&](double kw) -> std::optional<double> {
        if (kw > 0) return std::max(0.0, limits.max_charge_kw);
        if (kw < 0) return std::max(0.0, limits.max_discharge_kw);
        return std::nullopt;
    };

    planner.pre_writes();
    switch (pattern) {
        case SetpointPattern::signed_power:
            planner.write_power(planner.point(point_names::power_setpoint), net, limit_of(net));
            break;
        case SetpointPattern::charge_discharge: {
            const RegisterPoint* c = planner.point(point_names::charge_setpoint);
            const RegisterPoint* d = planner.point(point_names::discharge_setpoint);
            if (net > 0) {
                planner.write_power(d, 0);
                planner.write_power(c, net, limit_of(net));
            } else {
                planner.write_power(c, 0);
                planner.write_power(d, -net, limit_of(net));
            }
            break;
        }
        case SetpointPattern::direction_magnitude: {
            const RegisterPoint* dir = planner.point(point_names::direction);
            const RegisterPoint* mag = planner.point(point_names::power_magnitude);
            const auto& v = map.direction_values;
            const double direction = net > 0 ? v.charge : net < 0 ? v.discharge : v.idle;
            planner.plan.direction = direction;
            if (request.direction != direction) {
                // Written first, the new direction would briefly run the old
                // magnitude (50 kW of discharge turned into 50 kW of charge
                // under a 5 kW max_charge_kw), and for good if the magnitude
                // write then failed: the device stops before it turns.
                planner.write_power(mag, 0);
                planner.write_value(dir, direction);
                if (net != 0) planner.write_power(mag, std::fabs(net), limit_of(net));
            } else {
                planner.write_value(dir, direction);
                planner.write_power(mag, std::fabs(net), limit_of(net));
            }
            break;
        }
        case SetpointPattern::none:
            break;
    }
    if (planner.error) return Result::failure(*planner.error);
    return std::move(planner.plan);
}

Expected<SetpointPlan> plan_idle(const RegisterMap& map, const AssetLimits& limits) {
    return plan_setpoint(map, limits, SetpointRequest{});
}

Expected<RegisterWrite> plan_point_write(const RegisterMap& map, std::string_view point,
                                         double value) {
    const RegisterPoint* p = map.find(point);
    if (p == nullptr) {
        return Expected<RegisterWrite>::failure(map_prefix(map) + "no point '" +
                                                std::string(point) + "'");
    }
    return write_of(map, *p, value);
}

Expected<RegisterWrite> plan_power_limit(const RegisterMap& map, const AssetLimits& limits,
                                         double kw) {
    const RegisterPoint* p = map.find(point_names::power_limit);
    if (p == nullptr) {
        return Expected<RegisterWrite>::failure(map_prefix(map) + "no point 'power_limit'");
    }
    double value = kw;
    if (p->unit == PowerUnit::percent) {
        if (!limits.rated_power_kw || *limits.rated_power_kw <= 0) {
            return Expected<RegisterWrite>::failure(map_prefix(map) +
                                                    "point 'power_limit' is in percent of rated "
                                                    "power, but the asset has no rated power");
        }
        value = kw / *limits.rated_power_kw * 100.0;
    }
    return write_of(map, *p, value);
}

Expected<RegisterWrite> plan_heartbeat(const RegisterMap& map, std::uint64_t beat) {
    if (!map.heartbeat) {
        return Expected<RegisterWrite>::failure(map_prefix(map) + "no heartbeat");
    }
    const auto& hb = *map.heartbeat;
    const RegisterPoint* p = map.find(hb.point);
    if (p == nullptr) {
        return Expected<RegisterWrite>::failure(map_prefix(map) + "heartbeat point '" + hb.point +
                                                "' is not in the map");
    }
    if (hb.mode == Heartbeat::Mode::constant) return write_of(map, *p, hb.value);
    // The counter counts raw values: 0..65535 for a uint16, 0/1 for a bit,
    // 0..32767 for an int16, and so on, then wraps to 0.
    std::uint64_t modulus = 0;
    if (is_bit_table(p->table) || p->type == PointType::boolean) {
        modulus = 2;
    } else {
        switch (p->type) {
            case PointType::int16:
                modulus = 32768;
                break;
            case PointType::uint16:
                modulus = 65536;
                break;
            case PointType::int32:
                modulus = 2147483648ULL;
                break;
            case PointType::uint32:
                modulus = 4294967296ULL;
                break;
            default:
                modulus = 1ULL << 52;
                break;  // stays exact in a double
        }
    }
    // ... and within the point's own min/max (engineering values), where it
    // has them: a watchdog with max = 20 counts 0..20 and wraps to 0.
    double low = 0;
    double high = static_cast<double>(modulus - 1);
    if (p->min || p->max) {
        const auto raw_of = [&](std::optional<double> v, double none) {
            if (!v) return none;
            const double raw = (*v - p->offset) / p->scale;
            // 2.0 / 0.1 is 19.999999999999996: snap what is an integer.
            return std::fabs(raw - std::nearbyint(raw)) < 1e-6 ? std::nearbyint(raw) : raw;
        };
        const double inf = std::numeric_limits<double>::infinity();
        // A negative scale turns the engineering min into the raw max.
        double a = raw_of(p->min, p->scale > 0 ? -inf : inf);
        double b = raw_of(p->max, p->scale > 0 ? inf : -inf);
        if (a > b) std::swap(a, b);
        low = std::max(low, std::ceil(a));
        high = std::min(high, std::floor(b));
        if (low > high) {
            return Expected<RegisterWrite>::failure(map_prefix(map) + "heartbeat point '" +
                                                    hb.point +
                                                    "' has no counter value within its range");
        }
    }
    const auto span = static_cast<std::uint64_t>(high - low) + 1;
    const double raw = low + static_cast<double>(beat % span);
    return write_of(map, *p, raw * p->scale + p->offset);
}

}  // namespace gridgate::modbus
