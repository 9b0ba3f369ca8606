// Vocabulary of Modbus data: the four tables, the value types a point can
// have and the word/byte orders devices use, with their names as written in
// register map files.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace gridgate::modbus {

/// The Modbus data tables. Coils and discrete inputs hold single bits;
/// holding and input registers hold 16-bit words. Input registers and
/// discrete inputs are read-only.
enum class Table { holding, input, coil, discrete };

/// The value type of a point. `boolean` is a single bit (coil or discrete
/// input); the others live in registers and their width follows from the type.
enum class PointType { int16, uint16, int32, uint32, int64, uint64, float32, float64, boolean };

/// Order of the 16-bit words of a multi-register value (big: most significant
/// word at the lowest address), or of the two bytes inside each register
/// (big: the standard Modbus byte order, high byte first).
enum class Order { big, little };

std::string_view to_string(Table table) noexcept;
std::string_view to_string(PointType type) noexcept;
std::string_view to_string(Order order) noexcept;

std::optional<Table> parse_table(std::string_view name) noexcept;
std::optional<PointType> parse_point_type(std::string_view name) noexcept;
std::optional<Order> parse_order(std::string_view name) noexcept;

/// True for coil and discrete input (bit tables).
constexpr bool is_bit_table(Table table) noexcept {
    return table == Table::coil || table == Table::discrete;
}

/// True for the tables a client may write (holding registers and coils).
constexpr bool is_writable(Table table) noexcept {
    return table == Table::holding || table == Table::coil;
}

/// How many registers (for register tables) or bits (for bit tables) a value
/// of `type` occupies.
constexpr std::uint16_t width_of(PointType type) noexcept {
    switch (type) {
        case PointType::int16:
        case PointType::uint16:
        case PointType::boolean:
            return 1;
        case PointType::int32:
        case PointType::uint32:
        case PointType::float32:
            return 2;
        case PointType::int64:
        case PointType::uint64:
        case PointType::float64:
            return 4;
    }
    return 1;
}

/// Whether a value of `type` can live in `table`: bit tables hold booleans
/// (and 16-bit integers read as 0/1); register tables hold every type but
/// boolean.
constexpr bool type_fits_table(PointType type, Table table) noexcept {
    if (is_bit_table(table)) {
        return type == PointType::boolean || type == PointType::uint16 || type == PointType::int16;
    }
    return type != PointType::boolean;
}

/// Largest read in one request (Modbus application protocol, FC3/FC4 and FC1/FC2).
inline constexpr std::uint16_t max_registers_per_read = 125;
inline constexpr std::uint16_t max_bits_per_read = 2000;

}  // namespace gridgate::modbus
