#include <charconv>

#include "gridgate/sim/charger_fleet.hpp"

namespace gridgate::sim {

std::optional<AnswerMode> AnswerMode::parse(std::string_view text) {
    if (text == "accept") return AnswerMode{Kind::Accept, {}};
    if (text == "reject") return AnswerMode{Kind::Reject, {}};
    if (text == "silent") return AnswerMode{Kind::Silent, {}};
    if (text == "invalid") return AnswerMode{Kind::Invalid, {}};
    constexpr std::string_view kDelay = "delay:";
    if (text.starts_with(kDelay)) {
        const std::string_view number = text.substr(kDelay.size());
        long long ms = 0;
        auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), ms);
        // At most a day: a longer delay is "silent", and would overflow the timer.
        if (ec != std::errc{} || end != number.data() + number.size() || ms < 0 ||
            ms > 86'400'000) {
            return std::nullopt;
        }
        return AnswerMode{Kind::Delay, std::chrono::milliseconds(ms)};
    }
    return std::nullopt;
}

std::string AnswerMode::to_string() const {
    switch (kind) {
        case Kind::Accept:
            return "accept";
        case Kind::Reject:
            return "reject";
        case Kind::Silent:
            return "silent";
        case Kind::Invalid:
            return "invalid";
        case Kind::Delay:
            return "delay:" + std::to_string(delay.count());
    }
    return "accept";
}

std::optional<Greeting> parse_greeting(std::string_view text) {
    if (text == "boot") return Greeting::Boot;
    if (text == "status") return Greeting::Status;
    if (text == "silent") return Greeting::Silent;
    return std::nullopt;
}

std::vector<std::string> numbered_identities(std::string_view prefix, std::size_t count,
                                             std::size_t first, std::size_t width) {
    std::vector<std::string> ids;
    ids.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        std::string number = std::to_string(first + i);
        if (number.size() < width) number.insert(0, width - number.size(), '0');
        ids.push_back(std::string(prefix) + number);
    }
    return ids;
}

}  // namespace gridgate::sim
