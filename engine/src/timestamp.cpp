#include "gridgate/engine/timestamp.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace gridgate::engine {

namespace {

using Duration = TimePoint::duration;

constexpr std::int64_t kSecondsPerDay = 86'400;
constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

/// Reads exactly `count` decimal digits at `pos`.
bool read_fixed_digits(std::string_view s, std::size_t& pos, int count, int& out) noexcept {
    if (s.size() - pos < static_cast<std::size_t>(count)) return false;
    int value = 0;
    for (int i = 0; i < count; ++i) {
        const char c = s[pos + static_cast<std::size_t>(i)];
        if (!is_digit(c)) return false;
        value = value * 10 + (c - '0');
    }
    pos += static_cast<std::size_t>(count);
    out = value;
    return true;
}

bool consume(std::string_view s, std::size_t& pos, char c) noexcept {
    if (pos < s.size() && s[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

constexpr bool is_leap_year(int y) noexcept {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr int days_in_month(int y, int m) noexcept {
    constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap_year(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm:
// eras of 400 years make the leap rules a closed formula).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146'097 + static_cast<std::int64_t>(doe) - 719'468;
}

struct CivilDate {
    std::int64_t year;
    unsigned month;
    unsigned day;
};

constexpr CivilDate civil_from_days(std::int64_t z) noexcept {
    z += 719'468;
    const std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
    const auto doe = static_cast<unsigned>(z - era * 146'097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
    return {y, m, d};
}

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/// Reads the zone designator: "Z", "+HH:MM", "+HHMM" or "+HH" (either sign).
/// `offset_seconds` is local time minus UTC.
bool read_zone(std::string_view s, std::size_t& pos, std::int64_t& offset_seconds) noexcept {
    if (consume(s, pos, 'Z') || consume(s, pos, 'z')) {
        offset_seconds = 0;
        return true;
    }
    if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-')) return false;
    const bool negative = s[pos] == '-';
    ++pos;
    int hours = 0;
    int minutes = 0;
    if (!read_fixed_digits(s, pos, 2, hours)) return false;
    if (consume(s, pos, ':')) {
        if (!read_fixed_digits(s, pos, 2, minutes)) return false;
    } else if (pos < s.size()) {
        if (!read_fixed_digits(s, pos, 2, minutes)) return false;
    }
    if (hours > 23 || minutes > 59) return false;
    offset_seconds = (negative ? -1 : 1) * (hours * 3600 + minutes * 60);
    return true;
}

}  // namespace

std::optional<TimePoint> parse_timestamp(std::string_view s) noexcept {
    std::size_t pos = 0;
    int year = 0;
    int month = 0;
    int day = 0;
    if (!read_fixed_digits(s, pos, 4, year) || !consume(s, pos, '-') ||
        !read_fixed_digits(s, pos, 2, month) || !consume(s, pos, '-') ||
        !read_fixed_digits(s, pos, 2, day)) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
        return std::nullopt;
    }

    int hour = 0;
    int minute = 0;
    int second = 0;
    std::int64_t nanos = 0;
    std::int64_t offset_seconds = 0;
    if (pos < s.size()) {
        const char separator = s[pos++];
        if (separator != 'T' && separator != 't' && separator != ' ') return std::nullopt;
        if (!read_fixed_digits(s, pos, 2, hour) || !consume(s, pos, ':') ||
            !read_fixed_digits(s, pos, 2, minute)) {
            return std::nullopt;
        }
        if (consume(s, pos, ':')) {
            if (!read_fixed_digits(s, pos, 2, second)) return std::nullopt;
            if (consume(s, pos, '.') || consume(s, pos, ',')) {
                const std::size_t first_digit = pos;
                std::int64_t scale = kNanosPerSecond;
                while (pos < s.size() && is_digit(s[pos])) {
                    if (scale > 1) {
                        scale /= 10;
                        nanos += (s[pos] - '0') * scale;
                    }
                    ++pos;
                }
                if (pos == first_digit) return std::nullopt;
            }
        }
        if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
        if (pos < s.size() && !read_zone(s, pos, offset_seconds)) return std::nullopt;
        if (pos != s.size()) return std::nullopt;
    }

    const std::int64_t seconds =
        days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) *
            kSecondsPerDay +
        hour * 3600 + minute * 60 + second - offset_seconds;
    // TimePoint counts nanoseconds in 64 bits (years 1677-2262); refuse rather
    // than wrap around.
    using std::chrono::duration_cast;
    constexpr auto kMaxSeconds = duration_cast<std::chrono::seconds>(Duration::max()).count() - 1;
    constexpr auto kMinSeconds = duration_cast<std::chrono::seconds>(Duration::min()).count() + 1;
    if (seconds > kMaxSeconds || seconds < kMinSeconds) return std::nullopt;
    return TimePoint(duration_cast<Duration>(std::chrono::seconds(seconds)) +
                     duration_cast<Duration>(std::chrono::nanoseconds(nanos)));
}

std::string format_timestamp(TimePoint t) {
    const std::int64_t total_nanos =
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    const std::int64_t seconds = floor_div(total_nanos, kNanosPerSecond);
    const std::int64_t fraction = total_nanos - seconds * kNanosPerSecond;
    const std::int64_t days = floor_div(seconds, kSecondsPerDay);
    const std::int64_t second_of_day = seconds - days * kSecondsPerDay;
    const CivilDate date = civil_from_days(days);

    char buffer[40];
    int length = std::snprintf(
        buffer, sizeof buffer, "%04lld-%02u-%02uT%02d:%02d:%02d", static_cast<long long>(date.year),
        date.month, date.day, static_cast<int>(second_of_day / 3600),
        static_cast<int>(second_of_day / 60 % 60), static_cast<int>(second_of_day % 60));
    if (fraction != 0) {
        if (fraction % 1'000'000 == 0) {
            length +=
                std::snprintf(buffer + length, sizeof buffer - static_cast<std::size_t>(length),
                              ".%03lld", static_cast<long long>(fraction / 1'000'000));
        } else if (fraction % 1'000 == 0) {
            length +=
                std::snprintf(buffer + length, sizeof buffer - static_cast<std::size_t>(length),
                              ".%06lld", static_cast<long long>(fraction / 1'000));
        } else {
            length +=
                std::snprintf(buffer + length, sizeof buffer - static_cast<std::size_t>(length),
                              ".%09lld", static_cast<long long>(fraction));
        }
    }
    buffer[length++] = 'Z';
    return std::string(buffer, static_cast<std::size_t>(length));
}

}  // namespace gridgate::engine
