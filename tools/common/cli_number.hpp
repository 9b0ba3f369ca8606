// Strict reading of a number given on a tool's command line: the whole text
// must be the number, within the range the option allows (std::stoi would
// take "12abc" as 12, "-1" as a huge unsigned count, and throw an exception
// no one catches for "abc").
#pragma once

#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace gridgate::tools {

/// A whole number from `min` to `max`, or nullopt.
inline std::optional<long long> whole_number(std::string_view text, long long min, long long max) {
    long long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    if (value < min || value > max) return std::nullopt;
    return value;
}

/// A finite decimal number from `min` to `max`, or nullopt.
inline std::optional<double> decimal_number(std::string_view text, double min, double max) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    if (!std::isfinite(value) || value < min || value > max) return std::nullopt;
    return value;
}

/// "--devices wants a whole number from 1 to 1000, not 'x'"
inline std::string whole_number_wanted(std::string_view option, long long min, long long max,
                                       std::string_view got) {
    return std::string(option) + " wants a whole number from " + std::to_string(min) + " to " +
           std::to_string(max) + ", not '" + std::string(got) + "'";
}

}  // namespace gridgate::tools
