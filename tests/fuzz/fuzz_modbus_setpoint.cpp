// A register map file (as config/register_maps/NAME.toml holds it, read by the
// modbus_tcp plugin's reader) up to the first NUL byte; after it, the bytes
// make up the asset's limits and two setpoints. Both are planned and their
// writes applied in order to a model of the device's registers, the second
// on top of the first, as the plugin writes them.
//
// A map, or a setpoint, that is refused is fine. Broken promises:
//  - a crash or undefined behaviour, or an exception out of a reader or
//    planner;
//  - a net power beyond max_charge_kw or max_discharge_kw, charging at or
//    above max_soc, discharging at or below min_soc;
//  - a write whose registers do not decode to the value it says they hold;
//  - between two writes of a plan, the device seeing both a charge and a
//    discharge setpoint above 0, or a direction changed while the magnitude
//    is above 0.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "fuzz_support.hpp"
#include "gridgate/battery_sim/map_file.hpp"
#include "gridgate/modbus/codec.hpp"
#include "gridgate/modbus/setpoint.hpp"

using namespace gridgate::modbus;
using gridgate::fuzz::broken;
using gridgate::fuzz::Bytes;
using gridgate::fuzz::check;

namespace {

// The device's registers and bits, all 0 until written.
class Device {
  public:
    void apply(const RegisterWrite& w) {
        for (std::size_t i = 0; i < w.values.size(); ++i)
            cells_[{w.table, static_cast<std::uint32_t>(w.address + i)}] = w.values[i];
    }
    std::optional<double> value(const RegisterMap& map, std::string_view name) const {
        const RegisterPoint* p = map.find(name);
        if (!p) return std::nullopt;
        std::vector<std::uint16_t> words(is_bit_table(p->table) ? 1 : p->width());
        for (std::size_t i = 0; i < words.size(); ++i) {
            auto it = cells_.find({p->table, static_cast<std::uint32_t>(p->address + i)});
            words[i] = it == cells_.end() ? 0 : it->second;
        }
        return decode(*p, words);
    }

  private:
    std::map<std::pair<Table, std::uint32_t>, std::uint16_t> cells_;
};

bool above_zero(const std::optional<double>& v) {
    return v && *v > 1e-9;
}

void check_plan(const RegisterMap& map, const AssetLimits& limits, const SetpointRequest& request,
                const SetpointPlan& plan, Device& device) {
    constexpr double kSlack = 1e-6;
    check(plan.net_kw <= limits.max_charge_kw + kSlack, "net power above max_charge_kw");
    check(plan.net_kw >= -limits.max_discharge_kw - kSlack, "net power beyond max_discharge_kw");
    if (request.soc && *request.soc >= limits.max_soc)
        check(plan.net_kw <= kSlack, "charging at or above max_soc");
    if (request.soc && *request.soc <= limits.min_soc)
        check(plan.net_kw >= -kSlack, "discharging at or below min_soc");
    const SetpointPattern pattern = map.effective_pattern();
    for (const RegisterWrite& w : plan.writes) {
        const RegisterPoint* p = map.find(w.point);
        check(p != nullptr, "a write to a point the map lacks");
        const auto read = decode(*p, w.values);
        const double tolerance =
            p->type == PointType::float32 ? std::fabs(w.value) * 1e-6 + 1e-6 : std::fabs(p->scale);
        check(read && std::fabs(*read - w.value) <= tolerance + std::fabs(w.value) * 1e-12,
              "a write's registers do not hold the value it names: " + w.point);
        const auto direction_before = device.value(map, "direction");
        device.apply(w);
        if (pattern == SetpointPattern::charge_discharge) {
            check(!(above_zero(device.value(map, "charge_setpoint")) &&
                    above_zero(device.value(map, "discharge_setpoint"))),
                  "the device sees a charge and a discharge setpoint at once");
        }
        if (pattern == SetpointPattern::direction_magnitude &&
            device.value(map, "direction") != direction_before) {
            check(!above_zero(device.value(map, "power_magnitude")),
                  "the direction changed while the magnitude was above 0");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    const std::size_t nul = all.find('\0');
    if (nul == std::string_view::npos) return 0;
    const auto map =
        gridgate::battery_sim::parse_register_map(all.substr(0, nul), "fuzz.toml", "fuzz");
    if (!map) return 0;

    Bytes in(data + nul + 1, size - nul - 1);
    AssetLimits limits;
    limits.max_charge_kw = in.in(0.0, 1000.0);
    limits.max_discharge_kw = in.in(0.0, 1000.0);
    const auto flags = in.take<std::uint8_t>();
    if (flags & 1) limits.rated_power_kw = in.in(0.1, 1000.0);
    limits.min_soc = in.in(0.0, 100.0);
    limits.max_soc = in.in(limits.min_soc, 100.0);

    Device device;
    std::optional<double> direction;
    for (int step = 0; step < 2; ++step) {
        SetpointRequest request;
        request.charge_kw = in.in(0.0, 2000.0) * (in.take<std::uint8_t>() % 2);
        request.discharge_kw = in.in(0.0, 2000.0) * (in.take<std::uint8_t>() % 2);
        if (flags & (2 << step)) request.soc = in.in(0.0, 100.0);
        request.direction = flags & (8 << step) ? std::nullopt : direction;
        const auto plan = plan_setpoint(*map, limits, request);
        if (!plan) continue;
        check_plan(*map, limits, request, *plan, device);
        direction = plan->direction;
    }
    if (auto idle = plan_idle(*map, limits)) {
        SetpointRequest none;
        check_plan(*map, limits, none, *idle, device);
        check(std::fabs(idle->net_kw) <= 1e-9, "idle plans a power");
    }
    for (std::uint64_t beat : {0ULL, 1ULL, 65535ULL, 65536ULL, 4294967296ULL})
        (void)plan_heartbeat(*map, beat);
    return 0;
}
