#include "gridgate/modbus/types.hpp"

#include <array>
#include <utility>

namespace gridgate::modbus {
namespace {

constexpr std::array<std::pair<Table, std::string_view>, 4> table_names{{
    {Table::holding, "holding"},
    {Table::input, "input"},
    {Table::coil, "coil"},
    {Table::discrete, "discrete"},
}};

constexpr std::array<std::pair<PointType, std::string_view>, 9> type_names{{
    {PointType::int16, "int16"},
    {PointType::uint16, "uint16"},
    {PointType::int32, "int32"},
    {PointType::uint32, "uint32"},
    {PointType::int64, "int64"},
    {PointType::uint64, "uint64"},
    {PointType::float32, "float32"},
    {PointType::float64, "float64"},
    {PointType::boolean, "bool"},
}};

constexpr std::array<std::pair<Order, std::string_view>, 2> order_names{{
    {Order::big, "big"},
    {Order::little, "little"},
}};

template <typename E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& names, E e) {
    for (const auto& [value, name] : names) {
        if (value == e) return name;
    }
    return "?";
}

template <typename E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, std::string_view>, N>& names,
                          std::string_view text) {
    for (const auto& [value, name] : names) {
        if (name == text) return value;
    }
    return std::nullopt;
}

}  // namespace

std::string_view to_string(Table table) noexcept {
    return name_of(table_names, table);
}
std::string_view to_string(PointType type) noexcept {
    return name_of(type_names, type);
}
std::string_view to_string(Order order) noexcept {
    return name_of(order_names, order);
}

std::optional<Table> parse_table(std::string_view name) noexcept {
    return value_of(table_names, name);
}
std::optional<PointType> parse_point_type(std::string_view name) noexcept {
    return value_of(type_names, name);
}
std::optional<Order> parse_order(std::string_view name) noexcept {
    return value_of(order_names, name);
}

}  // namespace gridgate::modbus
