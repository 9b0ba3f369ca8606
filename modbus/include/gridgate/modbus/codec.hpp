// Conversion between engineering values and the registers (or bit) of a
// point: scale and offset, integer and IEEE-754 types, word and byte order,
// "no value" sentinels and plausibility limits. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gridgate/modbus/expected.hpp"
#include "gridgate/modbus/register_map.hpp"

namespace gridgate::modbus {

/// Registers for `value`, in address order (point.width() words), or one
/// element 0/1 for a point in a bit table. Fails, naming the point, when the
/// value is not finite, lies outside the point's min/max, or does not fit
/// the type once scaled (a float64 included: no infinity is ever written).
Expected<std::vector<std::uint16_t>> encode(const RegisterPoint& point, double value);

/// The engineering value held by `words` (point.width() registers in address
/// order, or one 0/1 element for a bit table). No value when the raw value is
/// the point's nan_value sentinel, a NaN float, or outside min/max, and when
/// the value is not finite (an infinite float, or one scaled past a double).
/// `words` shorter than the point's width is a programming error (asserted).
std::optional<double> decode(const RegisterPoint& point, std::span<const std::uint16_t> words);

}  // namespace gridgate::modbus
