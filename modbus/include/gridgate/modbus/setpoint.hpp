// Setpoint planning: from a register map, the asset's limits and the latest
// charge and discharge values to the exact, ordered register writes that put
// the device there. Pure functions, so every pattern is tested exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/modbus/expected.hpp"
#include "gridgate/modbus/register_map.hpp"

namespace gridgate::modbus {

/// One write request: a point's registers (FC6/FC16) or bit (FC5/FC15).
struct RegisterWrite {
    std::string point;
    Table table = Table::holding;
    std::uint16_t address = 0;
    /// Registers in address order, or a single 0/1 for a coil.
    std::vector<std::uint16_t> values;
    /// The engineering value these registers hold.
    double value = 0;
    /// Use the "write multiple" function even for a single register or coil.
    bool write_multiple = false;

    bool operator==(const RegisterWrite&) const = default;
};

/// What the asset may do. Powers in kW, SoC in percent.
struct AssetLimits {
    double max_charge_kw = 0;
    double max_discharge_kw = 0;
    /// Needed by points whose unit is percent of rated power.
    std::optional<double> rated_power_kw;
    double min_soc = 0;
    double max_soc = 100;
};

/// The asset's latest commanded values (a side not yet commanded is 0 kW) and
/// its state of charge, when a fresh reading exists.
struct SetpointRequest {
    double charge_kw = 0;
    double discharge_kw = 0;
    std::optional<double> soc;
    /// direction_magnitude maps: the direction value the device is known to
    /// hold (the last one written and acknowledged); unknown (never written,
    /// a failed write, a reconnect) counts as a change of direction.
    std::optional<double> direction;
};

struct SetpointPlan {
    /// The net power actually planned, + charge / - discharge, after limits.
    double net_kw = 0;
    /// direction_magnitude maps: the direction value the plan writes.
    std::optional<double> direction;
    /// In the order they must be written.
    std::vector<RegisterWrite> writes;
    /// Human-readable notes on every limit applied ("charge 80 kW clamped to
    /// max_charge_kw 50"), for logs.
    std::vector<std::string> adjustments;
};

/// Plans the writes for a setpoint: the map's pre-writes, then the pattern's
/// points. net = charge - discharge, with charge clamped to max_charge_kw and
/// discharge to max_discharge_kw; with a SoC reading, charging stops at
/// max_soc and discharging at min_soc; a point's own min/max clamps last.
/// With separate charge/discharge points the side going to zero is written
/// first, so the device never sees both sides non-zero. With a direction and
/// a magnitude, a change of direction (or an unknown one) writes magnitude 0,
/// then the direction, then the new magnitude, so the device never runs the
/// old magnitude in the new direction; an unchanged direction is written
/// with its new magnitude, without dipping to 0.
/// Fails (naming map and point) when the map has no setpoint, an input is
/// negative or not a number, or a percent point lacks the rated power.
Expected<SetpointPlan> plan_setpoint(const RegisterMap& map, const AssetLimits& limits,
                                     const SetpointRequest& request);

/// The writes that idle the device (0 kW), e.g. on shutdown.
Expected<SetpointPlan> plan_idle(const RegisterMap& map, const AssetLimits& limits);

/// A single write of `value` (engineering units) to a named point, e.g.
/// `soc_target` or `enable`. Fails when the map lacks the point, it is
/// read-only, or the value does not fit.
Expected<RegisterWrite> plan_point_write(const RegisterMap& map, std::string_view point,
                                         double value);

/// A write of `power_limit` in kW (converted to percent when the point says so).
Expected<RegisterWrite> plan_power_limit(const RegisterMap& map, const AssetLimits& limits,
                                         double kw);

/// The heartbeat write number `beat` (0, 1, 2, ...): the counter value wraps
/// within the point's raw range and its own min/max (max = 20 counts 0..20).
/// Fails when the map has no heartbeat, or its range holds no counter value.
Expected<RegisterWrite> plan_heartbeat(const RegisterMap& map, std::uint64_t beat);

/// Reads back what a setpoint plan wrote: true when `registers` equal the
/// write's values (for verify-after-write).
inline bool matches(const RegisterWrite& write, const std::vector<std::uint16_t>& registers) {
    return registers == write.values;
}

}  // namespace gridgate::modbus
