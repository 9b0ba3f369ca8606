#include "gridgate/engine/asset_map.hpp"

#include <unordered_map>
#include <utility>

#include "gridgate/engine/schedule.hpp"

namespace gridgate::engine {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}
bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string quoted(std::string_view s) {
    std::string out = "'";
    out += s;
    out += '\'';
    return out;
}

}  // namespace

std::optional<ColumnTarget> column_target(std::string_view column) {
    using sdk::CommandType;
    if (column == "battery_charge_kw") return ColumnTarget{"battery", CommandType::SetChargeRate};
    if (column == "battery_discharge_kw") {
        return ColumnTarget{"battery", CommandType::SetDischargeRate};
    }
    constexpr std::string_view kEv = "ev_", kKw = "_kw";
    if (starts_with(column, kEv) && ends_with(column, kKw) &&
        column.size() > kEv.size() + kKw.size()) {
        return ColumnTarget{std::string(column.substr(0, column.size() - kKw.size())),
                            CommandType::SetChargeRate};
    }
    constexpr std::string_view kBattery = "battery_", kCharge = "_charge_kw",
                               kDischarge = "_discharge_kw";
    if (starts_with(column, kBattery)) {
        // "_discharge_kw" does not end in "_charge_kw", so the order of these tests is free.
        for (auto [suffix, type] : {std::pair{kDischarge, CommandType::SetDischargeRate},
                                    std::pair{kCharge, CommandType::SetChargeRate}}) {
            if (ends_with(column, suffix) && column.size() > kBattery.size() + suffix.size()) {
                return ColumnTarget{std::string(column.substr(0, column.size() - suffix.size())),
                                    type};
            }
        }
    }
    return std::nullopt;
}

ColumnPlan plan_columns(const std::vector<std::string>& columns, const AssetMap& asset_map,
                        const AssetPredicate& known_asset) {
    ColumnPlan plan;
    // (asset, command type) -> the column that drives it; two would contradict each other.
    std::unordered_map<std::string, std::size_t> lanes;
    for (std::size_t i = 0; i < columns.size(); ++i) {
        const std::string& name = columns[i];
        auto target = column_target(name);
        if (!target) {
            plan.ignored_columns.push_back(name);
            continue;
        }
        auto it = asset_map.find(target->asset_key);
        if (it == asset_map.end()) {
            throw ScheduleError(
                ScheduleError::Kind::UnknownAsset,
                "column " + quoted(name) + ": asset_map has no key " + quoted(target->asset_key));
        }
        const std::string& asset_id = it->second;
        if (asset_id.empty() || (known_asset && !known_asset(asset_id))) {
            throw ScheduleError(ScheduleError::Kind::UnknownAsset,
                                "column " + quoted(name) + ": asset_map key " +
                                    quoted(target->asset_key) + " names unknown asset " +
                                    quoted(asset_id));
        }
        std::string lane_key = asset_id;
        lane_key += '\0';
        lane_key += static_cast<char>(target->command_type);
        auto [earlier, fresh] = lanes.emplace(std::move(lane_key), i);
        if (!fresh) {
            throw ScheduleError(ScheduleError::Kind::BadInput,
                                "columns " + quoted(columns[earlier->second]) + " and " +
                                    quoted(name) + " both drive " +
                                    std::string(sdk::to_string(target->command_type)) +
                                    " of asset " + quoted(asset_id));
        }
        plan.mapped.push_back(MappedColumn{i, asset_id, target->command_type});
    }
    return plan;
}

}  // namespace gridgate::engine
