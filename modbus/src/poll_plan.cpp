#include <algorithm>
#include <numeric>
#include <tuple>

#include "gridgate/modbus/poller.hpp"

namespace gridgate::modbus {

std::vector<PollBlock> plan_poll_blocks(std::span<const RegisterPoint> points,
                                        const PollPlanOptions& options) {
    const auto interval_of = [&](const RegisterPoint& p) {
        return p.poll_interval.value_or(options.default_interval);
    };
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (points[i].poll) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const auto& pa = points[a];
        const auto& pb = points[b];
        return std::make_tuple(pa.table, interval_of(pa), pa.address, a) <
               std::make_tuple(pb.table, interval_of(pb), pb.address, b);
    });

    std::vector<PollBlock> blocks;
    for (std::size_t i : order) {
        const RegisterPoint& p = points[i];
        const std::uint32_t width = is_bit_table(p.table) ? 1 : p.width();
        const std::uint32_t limit =
            is_bit_table(p.table) ? max_bits_per_read : max_registers_per_read;
        if (!blocks.empty()) {
            PollBlock& b = blocks.back();
            const std::uint32_t end = std::uint32_t{b.address} + b.count;  // one past the block
            const std::uint32_t new_end = std::max(end, std::uint32_t{p.address} + width);
            if (b.table == p.table && b.interval == interval_of(p) &&
                p.address <= end + options.max_gap && new_end - b.address <= limit) {
                b.count = static_cast<std::uint16_t>(new_end - b.address);
                b.points.push_back(i);
                continue;
            }
        }
        blocks.push_back(
            {p.table, p.address, static_cast<std::uint16_t>(width), interval_of(p), {i}});
    }
    return blocks;
}

}  // namespace gridgate::modbus
