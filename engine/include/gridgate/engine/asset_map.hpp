// Column conventions of a schedule: which column drives which asset with which
// command, and the asset_map that names the asset behind each column prefix.
//
//   ev_{vehicle_id}_kw          -> SET_CHARGE_RATE     [key ev_{vehicle_id}]
//   battery_charge_kw           -> SET_CHARGE_RATE     [key battery]
//   battery_discharge_kw        -> SET_DISCHARGE_RATE  [key battery]
//   battery_{id}_charge_kw      -> SET_CHARGE_RATE     [key battery_{id}]
//   battery_{id}_discharge_kw   -> SET_DISCHARGE_RATE  [key battery_{id}]
//
// Any other column is ignored and reported back. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/sdk/command.hpp"

namespace gridgate::engine {

/// Column-prefix key ("ev_001", "battery") -> asset id ("ast_charger_bay_1").
/// The same type as ScheduleRequest::asset_map, so a body's map merges over the site's.
using AssetMap = std::map<std::string, std::string>;

/// Whether an asset id names an asset the site knows. An empty predicate
/// accepts every non-empty id.
using AssetPredicate = std::function<bool(std::string_view asset_id)>;

/// What a convention column asks for, before the asset_map is consulted.
struct ColumnTarget {
    std::string asset_key;  // the asset_map key, e.g. "ev_001"
    sdk::CommandType command_type;

    friend bool operator==(const ColumnTarget&, const ColumnTarget&) = default;
};

/// The convention a column name follows, or nullopt for any other column.
std::optional<ColumnTarget> column_target(std::string_view column);

/// A convention column resolved to its asset.
struct MappedColumn {
    std::size_t column = 0;  // index into the schedule's columns
    std::string asset_id;
    sdk::CommandType command_type;
};

struct ColumnPlan {
    std::vector<MappedColumn> mapped;          // in column order
    std::vector<std::string> ignored_columns;  // in column order
};

/// Resolves every column. Throws ScheduleError:
///  - UnknownAsset naming the column when its key is missing from `asset_map`
///    or maps to an asset `known_asset` rejects;
///  - BadInput when two columns drive the same asset and quantity.
ColumnPlan plan_columns(const std::vector<std::string>& columns, const AssetMap& asset_map,
                        const AssetPredicate& known_asset = {});

}  // namespace gridgate::engine
