// Small pieces the site file's messages are made of, so that the host's
// messages read alike wherever they are produced.
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/sdk/config.hpp"

namespace gridgate::config::detail {

/// Shortest text that reads back as `value`: 30, 0.5, 1e-06.
inline std::string format_number(double value) {
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    return ec == std::errc{} ? std::string(buffer, end) : std::to_string(value);
}

/// "a string", "an integer", "an array".
inline std::string with_article(std::string_view noun) {
    bool vowel =
        !noun.empty() && std::string_view("aeiou").find(noun.front()) != std::string_view::npos;
    return (vowel ? "an " : "a ") + std::string(noun);
}

/// " (did you mean 'x'?)" when one of `candidates` is close to `word`, else "".
inline std::string suggestion(std::string_view word, const std::vector<std::string>& candidates) {
    std::vector<std::string_view> views(candidates.begin(), candidates.end());
    if (auto best = sdk::did_you_mean(word, views))
        return " (did you mean '" + std::string(*best) + "'?)";
    return {};
}

template <typename Range>
std::string join(const Range& items, std::string_view separator) {
    std::string out;
    bool first = true;
    for (const auto& item : items) {
        if (!first) out += separator;
        out += item;
        first = false;
    }
    return out;
}

}  // namespace gridgate::config::detail
