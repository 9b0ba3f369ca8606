#include "gridgate/ocpp/datetime.hpp"

#include <cstdio>

namespace gridgate::ocpp {
namespace {

// Reads exactly `count` digits at `pos`.
bool read_digits(std::string_view text, std::size_t& pos, std::size_t count, int& value) {
    if (pos + count > text.size()) return false;
    value = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const char c = text[pos + i];
        if (c < '0' || c > '9') return false;
        value = value * 10 + (c - '0');
    }
    pos += count;
    return true;
}

// The years RFC 3339 can write: 0000 to 9999.
constexpr Timestamp kFirstWritable{
    std::chrono::sys_days{std::chrono::year{0} / std::chrono::January / 1}};
constexpr Timestamp kPastLastWritable{
    std::chrono::sys_days{std::chrono::year{10000} / std::chrono::January / 1}};

bool expect(std::string_view text, std::size_t& pos, char c) {
    if (pos >= text.size() || text[pos] != c) return false;
    ++pos;
    return true;
}

}  // namespace

std::optional<Timestamp> parse_timestamp(std::string_view text) {
    std::size_t pos = 0;
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!read_digits(text, pos, 4, year) || !expect(text, pos, '-') ||
        !read_digits(text, pos, 2, month) || !expect(text, pos, '-') ||
        !read_digits(text, pos, 2, day)) {
        return std::nullopt;
    }
    if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) {
        return std::nullopt;
    }
    ++pos;
    if (!read_digits(text, pos, 2, hour) || !expect(text, pos, ':') ||
        !read_digits(text, pos, 2, minute) || !expect(text, pos, ':') ||
        !read_digits(text, pos, 2, second)) {
        return std::nullopt;
    }
    int millis = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        const std::size_t start = pos;
        int scale = 100;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            millis += (text[pos] - '0') * scale;
            scale /= 10;
            ++pos;
        }
        if (pos == start) return std::nullopt;
    }
    int offset_minutes = 0;
    if (pos < text.size()) {
        const char zone = text[pos++];
        if (zone == 'Z' || zone == 'z') {
            // UTC
        } else if (zone == '+' || zone == '-') {
            int zone_hours = 0, zone_minutes = 0;
            if (!read_digits(text, pos, 2, zone_hours) || !expect(text, pos, ':') ||
                !read_digits(text, pos, 2, zone_minutes) || zone_hours > 23 || zone_minutes > 59) {
                return std::nullopt;
            }
            offset_minutes = (zone_hours * 60 + zone_minutes) * (zone == '+' ? 1 : -1);
        } else {
            return std::nullopt;
        }
    }
    if (pos != text.size()) return std::nullopt;
    // 60 admits a leap second, as RFC 3339 does.
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    const std::chrono::year_month_day date{std::chrono::year{year},
                                           std::chrono::month{static_cast<unsigned>(month)},
                                           std::chrono::day{static_cast<unsigned>(day)}};
    if (!date.ok()) return std::nullopt;
    using namespace std::chrono;
    const auto local =
        sys_days{date} + hours{hour} + minutes{minute} + seconds{second} + milliseconds{millis};
    const Timestamp utc = time_point_cast<milliseconds>(local - minutes{offset_minutes});
    // A zone offset can carry year 0000 or 9999 past the range RFC 3339 can
    // write: such a time could not be written back, so it is no time.
    if (utc < kFirstWritable || utc >= kPastLastWritable) return std::nullopt;
    return utc;
}

std::size_t format_timestamp(Timestamp time, char (&out)[kTimestampBufferSize]) {
    using namespace std::chrono;
    const auto day_start = floor<days>(time);
    const year_month_day date{day_start};
    const hh_mm_ss clock{time - day_start};
    const int year = static_cast<int>(date.year());
    const auto millis = static_cast<int>(clock.subseconds().count());
    if (year < 0 || year > 9999) {  // not RFC 3339; spelled out all the same
        const int length = std::snprintf(
            out, sizeof out, "%d-%02u-%02uT%02d:%02d:%02d.%03dZ", year,
            static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
            static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
            static_cast<int>(clock.seconds().count()), millis);
        auto n = static_cast<std::size_t>(length);
        if (millis == 0) {  // drop ".000"
            out[n - 5] = 'Z';
            n -= 4;
        }
        return n;
    }
    // By hand, not snprintf: every SetChargingProfile carries one, and a
    // storm sends thousands at once.
    auto put = [&out](std::size_t at, int value, int digits) {
        for (int i = digits - 1; i >= 0; --i, value /= 10)
            out[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    };
    put(0, year, 4);
    out[4] = '-';
    put(5, static_cast<int>(static_cast<unsigned>(date.month())), 2);
    out[7] = '-';
    put(8, static_cast<int>(static_cast<unsigned>(date.day())), 2);
    out[10] = 'T';
    put(11, static_cast<int>(clock.hours().count()), 2);
    out[13] = ':';
    put(14, static_cast<int>(clock.minutes().count()), 2);
    out[16] = ':';
    put(17, static_cast<int>(clock.seconds().count()), 2);
    if (millis == 0) {
        out[19] = 'Z';
        return 20;
    }
    out[19] = '.';
    put(20, millis, 3);
    out[23] = 'Z';
    return 24;
}

std::string format_timestamp(Timestamp time) {
    char text[kTimestampBufferSize];
    return std::string(text, format_timestamp(time, text));
}

}  // namespace gridgate::ocpp
