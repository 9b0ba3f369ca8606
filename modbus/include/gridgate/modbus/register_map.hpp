// Register maps: what a device's registers mean. A map names its points
// (address, type, table, word and byte order, scaling, sentinels, limits),
// the setpoint pattern the device uses, the writes that must precede a
// setpoint, and an optional heartbeat. Plain data; parsing a map file is the
// caller's job (the plugin reads it through the SDK's configuration view).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gridgate/modbus/types.hpp"

namespace gridgate::modbus {

/// Names of the points the setpoint patterns and commands look for.
namespace point_names {
inline constexpr const char* power_setpoint = "power_setpoint";
inline constexpr const char* charge_setpoint = "charge_setpoint";
inline constexpr const char* discharge_setpoint = "discharge_setpoint";
inline constexpr const char* direction = "direction";
inline constexpr const char* power_magnitude = "power_magnitude";
inline constexpr const char* soc = "soc";
inline constexpr const char* active_power = "active_power";
inline constexpr const char* power_limit = "power_limit";
inline constexpr const char* soc_target = "soc_target";
inline constexpr const char* enable = "enable";
}  // namespace point_names

/// Unit of a power point's engineering value.
enum class PowerUnit {
    kw,       ///< kilowatts
    percent,  ///< percent of the asset's rated power
};

/// One value in a device's register space.
///
/// Engineering value = raw * scale + offset. A negative scale flips the
/// device's sign convention (e.g. a device that counts discharge positive).
struct RegisterPoint {
    std::string name;
    std::uint16_t address = 0;
    PointType type = PointType::uint16;
    Table table = Table::holding;
    Order word_order = Order::big;
    Order byte_order = Order::big;
    double scale = 1.0;
    double offset = 0.0;
    /// Raw value the device uses for "no value" (compared with the raw
    /// integer, truncated to the point's width, so -1 matches 0xFFFF in a
    /// uint16; for floats compared with the raw float). NaN floats always
    /// read as no value.
    std::optional<double> nan_value;
    /// Engineering range: a reading outside it is implausible and reads as no
    /// value; a write outside it is refused (setpoints are clamped first).
    std::optional<double> min;
    std::optional<double> max;
    /// Power points only: the engineering value is in kW or in percent of
    /// the asset's rated power.
    PowerUnit unit = PowerUnit::kw;
    /// Polled points are read periodically; interval unset = the poller's default.
    bool poll = false;
    std::optional<std::chrono::milliseconds> poll_interval;
    /// Caller-supplied origin of the point ("site.toml:31:1"), put in front of
    /// validation messages so they can name the file, line and column.
    std::string where;

    std::uint16_t width() const noexcept { return width_of(type); }
    /// Last address the point occupies.
    std::uint32_t last_address() const noexcept { return std::uint32_t{address} + width() - 1; }
};

/// How the device takes a power setpoint.
enum class SetpointPattern {
    /// No setpoint: telemetry only. Setpoint commands fail with a clear error.
    none,
    /// One signed `power_setpoint` point, + charge / - discharge.
    signed_power,
    /// Separate `charge_setpoint` and `discharge_setpoint` points, both >= 0.
    charge_discharge,
    /// A `direction` point (charge / discharge / idle value) written before an
    /// unsigned `power_magnitude` point.
    direction_magnitude,
};

std::string_view to_string(SetpointPattern pattern) noexcept;
std::optional<SetpointPattern> parse_setpoint_pattern(std::string_view name) noexcept;

/// Raw values of the `direction` point.
struct DirectionValues {
    double charge = 1;
    double discharge = 2;
    double idle = 0;
    /// Where the map sets them; empty for the defaults (messages then name the map).
    std::string where;
};

/// A write that must precede every setpoint (remote-control mode, unlock codes).
struct PreWrite {
    std::string point;
    double value = 0;
    std::string where;
};

/// A watchdog register some devices need written periodically or they fall
/// back to local control.
struct Heartbeat {
    enum class Mode {
        counter,   ///< writes 0, 1, 2, ... wrapping within the point's type and min/max
        constant,  ///< writes `value` each time
    };
    std::string point;
    Mode mode = Mode::counter;
    double value = 1;
    std::chrono::milliseconds interval{std::chrono::seconds(10)};
    std::string where;
};

/// A device's register map.
struct RegisterMap {
    std::string name;
    std::vector<RegisterPoint> points;
    /// Unset = inferred from the points present (see effective_pattern()).
    std::optional<SetpointPattern> pattern;
    DirectionValues direction_values;
    std::vector<PreWrite> pre_writes;
    std::optional<Heartbeat> heartbeat;
    /// Write single registers with FC16 too (some devices lack FC6).
    bool always_write_multiple = false;
    /// Origin of the map itself, for map-level messages.
    std::string where;

    const RegisterPoint* find(std::string_view point_name) const noexcept;
    /// The declared pattern, or the one the points imply: power_setpoint ->
    /// signed_power; charge_ and discharge_setpoint -> charge_discharge;
    /// direction and power_magnitude -> direction_magnitude; else none.
    SetpointPattern effective_pattern() const noexcept;
};

/// One problem found in a map. `where` is the offending point's (or the
/// map's) caller-supplied origin; `message` names the map and point.
struct MapError {
    std::string where;
    std::string message;

    /// "WHERE: message", or just the message when no origin is known.
    std::string str() const;
};

/// Checks a map: point ranges, overlapping points in the same table, types
/// that cannot live in their table, zero scale, min > max, setpoint points in
/// read-only tables, points a pattern, pre-write or heartbeat needs but the
/// map lacks. Returns every problem found, in point order; empty = valid.
std::vector<MapError> validate(const RegisterMap& map);

}  // namespace gridgate::modbus
