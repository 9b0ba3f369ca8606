#include "log_format.hpp"

#include <algorithm>
#include <cstddef>
#include <string_view>

#include <spdlog/pattern_formatter.h>

namespace gridgate::gateway {
namespace {

bool is_plain_ascii(char c) {
    const auto b = static_cast<unsigned char>(c);
    return b >= 0x20 && b < 0x7f;
}

// The length of the well-formed UTF-8 sequence of two bytes or more at the
// start of `text` (RFC 3629: no overlong forms, surrogates or code points
// above U+10FFFF), 0 when it does not start with one. The OCPP library has
// the same test for what a charger sends (ocpp/src/printable.hpp); the
// daemon links no protocol library, so it keeps its own.
std::size_t utf8_sequence_length(std::string_view text) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xbf;  // the second byte's range
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        if (lead == 0xe0) low = 0xa0;   // overlong below
        if (lead == 0xed) high = 0x9f;  // surrogates above
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        if (lead == 0xf0) low = 0x90;   // overlong below
        if (lead == 0xf4) high = 0x8f;  // above U+10FFFF
    } else {
        return 0;
    }
    if (text.size() < length || byte(1) < low || byte(1) > high) return 0;
    for (std::size_t i = 2; i < length; ++i)
        if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
    return length;
}

void escape_into(std::string_view text, spdlog::memory_buf_t& out) {
    static constexpr char kHex[] = "0123456789abcdef";
    const auto escape = [&](unsigned char b) {
        const char code[4] = {'\\', 'x', kHex[b >> 4], kHex[b & 0xf]};
        out.append(code, code + 4);
    };
    std::size_t clean = 0;  // start of the run not yet copied
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        const auto b = static_cast<unsigned char>(c);
        if (is_plain_ascii(c)) {
            ++i;
            continue;
        }
        if (b >= 0x80) {
            const std::size_t length = utf8_sequence_length(text.substr(i));
            // A C1 control (U+0080 to U+009F) is one a terminal acts on
            // (U+009B is CSI): escaped like the C0 ones.
            const bool c1 =
                length == 2 && b == 0xc2 && static_cast<unsigned char>(text[i + 1]) <= 0x9f;
            if (length > 0 && !c1) {
                i += length;  // text: stays in the run
                continue;
            }
            out.append(text.data() + clean, text.data() + i);
            escape(b);  // not UTF-8: this byte; the next may start a good sequence
            if (c1) escape(static_cast<unsigned char>(text[++i]));
            clean = ++i;
            continue;
        }
        out.append(text.data() + clean, text.data() + i);
        const char* named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : nullptr;
        if (named != nullptr) {
            out.append(named, named + 2);
        } else {
            escape(b);
        }
        clean = ++i;
    }
    out.append(text.data() + clean, text.data() + text.size());
}

// %* : the message, escaped. Most messages are plain ASCII and are copied
// as they are.
class EscapedMessage final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        const std::string_view text(msg.payload.data(), msg.payload.size());
        if (std::all_of(text.begin(), text.end(), is_plain_ascii)) {
            dest.append(text.data(), text.data() + text.size());
            return;
        }
        escape_into(text, dest);
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<EscapedMessage>();
    }
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter() {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<EscapedMessage>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %*");
    return formatter;
}

}  // namespace gridgate::gateway
