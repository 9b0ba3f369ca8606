#include "gridgate/http/json.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace gridgate::http {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not
// one (bad lead byte, bad continuation, overlong form, surrogate, > U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s) noexcept {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char b0 = byte(0);
    if (b0 < 0x80) return 1;
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
        cp = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        cp = b0 & 0x0Fu;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        cp = b0 & 0x07u;
    } else {
        return 0;
    }
    if (s.size() < len) return 0;
    for (std::size_t i = 1; i < len; ++i) {
        if ((byte(i) & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (byte(i) & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

// Messages may quote client input (a CSV column name) byte for byte; JSON
// must stay valid whatever those bytes are.
void write_string(JsonWriter& w, std::string_view s) {
    std::string clean;
    bool valid = true;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = utf8_sequence_length(s.substr(i));
        if (n == 0) {
            valid = false;
            break;
        }
        i += n;
    }
    if (!valid) {
        clean.reserve(s.size() + 8);
        for (std::size_t i = 0; i < s.size();) {
            std::size_t n = utf8_sequence_length(s.substr(i));
            if (n == 0) {
                clean += "\xEF\xBF\xBD";
                ++i;
            } else {
                clean.append(s.substr(i, n));
                i += n;
            }
        }
        s = clean;
    }
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_key(JsonWriter& w, std::string_view key) {
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void write_number(JsonWriter& w, double v) {
    if (std::isfinite(v)) {
        w.Double(v);
    } else {
        w.Null();
    }
}

void write_time(JsonWriter& w, const std::optional<sdk::TimePoint>& t) {
    if (t) {
        write_string(w, format_utc(*t));
    } else {
        w.Null();
    }
}

void write_command(JsonWriter& w, const sdk::Command& c) {
    w.StartObject();
    write_key(w, "command_id");
    write_string(w, c.command_id.str());
    write_key(w, "asset_id");
    write_string(w, c.asset_id);
    write_key(w, "command_type");
    write_string(w, sdk::to_string(c.command_type));
    write_key(w, "parameters");
    w.StartObject();
    const sdk::Parameters& p = c.parameters;
    if (p.power_kw) {
        write_key(w, "power_kw");
        write_number(w, *p.power_kw);
    }
    if (p.soc_percent) {
        write_key(w, "soc_percent");
        write_number(w, *p.soc_percent);
    }
    if (p.operative) {
        write_key(w, "operative");
        w.Bool(*p.operative);
    }
    if (p.connector_id) {
        write_key(w, "connector_id");
        w.Int(*p.connector_id);
    }
    if (!p.id_tag.empty()) {
        write_key(w, "id_tag");
        write_string(w, p.id_tag);
    }
    w.EndObject();
    write_key(w, "scheduled_at");
    write_time(w, c.scheduled_at);
    write_key(w, "status");
    write_string(w, sdk::to_string(c.status));
    write_key(w, "retry_count");
    w.Int(c.retry_count);
    write_key(w, "max_retries");
    w.Int(c.max_retries);
    write_key(w, "timeout_seconds");
    write_number(w, c.timeout_seconds);
    write_key(w, "dispatched_at");
    write_time(w, c.dispatched_at);
    write_key(w, "completed_at");
    write_time(w, c.completed_at);
    write_key(w, "error");
    if (c.error.empty()) {
        w.Null();
    } else {
        write_string(w, c.error);
    }
    w.EndObject();
}

std::string take(const rapidjson::StringBuffer& buffer) {
    return std::string(buffer.GetString(), buffer.GetSize());
}

char* put_digits(char* p, long long v, int digits) {
    for (int i = digits - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
    return p + digits;
}

}  // namespace

// Digit by digit rather than with snprintf: a listing of commands writes
// three of these per command, and snprintf's were half of its time.
std::string format_utc(sdk::TimePoint t) {
    using namespace std::chrono;
    const auto ns = time_point_cast<nanoseconds>(t);
    const auto day = floor<days>(ns);
    const year_month_day date{day};
    const hh_mm_ss time{ns - day};
    char text[48];
    char* p = text;
    // A TimePoint counts nanoseconds in 64 bits: years 1677 to 2262.
    p = put_digits(p, static_cast<int>(date.year()), 4);
    *p++ = '-';
    p = put_digits(p, static_cast<unsigned>(date.month()), 2);
    *p++ = '-';
    p = put_digits(p, static_cast<unsigned>(date.day()), 2);
    *p++ = 'T';
    p = put_digits(p, static_cast<unsigned>(time.hours().count()), 2);
    *p++ = ':';
    p = put_digits(p, static_cast<unsigned>(time.minutes().count()), 2);
    *p++ = ':';
    p = put_digits(p, static_cast<unsigned>(time.seconds().count()), 2);
    // At most microseconds, cut rather than rounded (a time never moves
    // later): what Python's datetime and most ISO 8601 readers take.
    const long long micros = time.subseconds().count() / 1'000;
    if (micros != 0) {
        *p++ = '.';
        p = micros % 1'000 == 0 ? put_digits(p, micros / 1'000, 3) : put_digits(p, micros, 6);
    }
    *p++ = 'Z';
    return std::string(text, p);
}

std::string error_json(std::string_view message) {
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    w.StartObject();
    write_key(w, "error");
    write_string(w, message);
    w.EndObject();
    return take(buffer);
}

std::string command_to_json(const sdk::Command& command) {
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    write_command(w, command);
    return take(buffer);
}

std::string commands_to_json(std::span<const sdk::Command> commands) {
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    w.StartObject();
    write_key(w, "commands");
    w.StartArray();
    for (const auto& c : commands) write_command(w, c);
    w.EndArray();
    w.EndObject();
    return take(buffer);
}

std::string assets_to_json(std::span<const AssetStatus> assets) {
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    w.StartObject();
    write_key(w, "assets");
    w.StartArray();
    for (const auto& a : assets) {
        w.StartObject();
        write_key(w, "id");
        write_string(w, a.id);
        write_key(w, "type");
        write_string(w, a.type);
        write_key(w, "adapter");
        write_string(w, a.adapter);
        write_key(w, "connected");
        w.Bool(a.connected);
        write_key(w, "last_seen");
        write_time(w, a.last_seen);
        write_key(w, "telemetry");
        w.StartObject();
        for (const auto& [point, value] : a.telemetry) {
            write_string(w, point);  // point names come from the site file: sanitised
            write_number(w, value);
        }
        w.EndObject();
        write_key(w, "stale_telemetry");
        w.StartArray();
        for (const auto& point : a.stale_telemetry) write_string(w, point);
        w.EndArray();
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return take(buffer);
}

std::string schedule_accepted_json(std::string_view schedule_id,
                                   std::span<const sdk::CommandId> commands,
                                   std::span<const std::string> ignored_columns) {
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    w.StartObject();
    write_key(w, "schedule_id");
    write_string(w, schedule_id);
    write_key(w, "commands");
    w.StartArray();
    for (const auto& id : commands) write_string(w, id.str());
    w.EndArray();
    write_key(w, "ignored_columns");
    w.StartArray();
    for (const auto& column : ignored_columns) write_string(w, column);
    w.EndArray();
    w.EndObject();
    return take(buffer);
}

}  // namespace gridgate::http
