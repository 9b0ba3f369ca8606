// A power schedule as the optimizer sends it: a strictly increasing UTC time
// index, one column per asset and quantity, NaN where a cell has no value.
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "gridgate/sdk/command.hpp"

namespace gridgate::engine {

using sdk::TimePoint;

/// Column-major table. Not thread-safe; a plain value.
struct Schedule {
    std::vector<TimePoint> index;      // one per row, strictly increasing
    std::vector<std::string> columns;  // column names, in input order
    std::vector<double> values;        // values[col * rows() + row]; NaN = no value

    std::size_t rows() const noexcept { return index.size(); }
    std::size_t cols() const noexcept { return columns.size(); }
    double at(std::size_t row, std::size_t col) const noexcept {
        return values[col * rows() + row];
    }
    static bool missing(double v) noexcept { return std::isnan(v); }
};

/// A schedule was refused. `what()` names where: "line 4, column 3 (ev_001_kw): ..."
/// for CSV, "$.data[2][1]: ..." for JSON, or the column for a mapping error.
class ScheduleError : public std::runtime_error {
public:
    enum class Kind {
        BadInput,      // malformed text, bad number or timestamp, unordered rows -> HTTP 400
        UnknownAsset,  // a column whose asset_map key is missing or names no asset -> HTTP 422
    };
    ScheduleError(Kind kind, const std::string& message)
        : std::runtime_error(message), kind_(kind) {}
    Kind kind() const noexcept { return kind_; }

private:
    Kind kind_;
};

}  // namespace gridgate::engine
