// Text a peer controls (an identity, message ids, action names, CALLERROR
// descriptions, close reasons) on its way into a log line or a call's
// reason, which end up in log lines too. Control characters and bytes that
// are not UTF-8 are escaped: unescaped, a charger could end the line and
// forge the next one, send bytes a terminal acts on (C1 controls such as
// U+009B, CSI), or leave a log line no UTF-8 reader takes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gridgate::ocpp::detail {

// The length of the well-formed UTF-8 sequence of two bytes or more that
// starts `text` (RFC 3629: no overlong forms, surrogates or code points
// above U+10FFFF), or 0 when it does not start with one.
inline std::size_t utf8_sequence_length(std::string_view text) {
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

// `text` with "\n", "\r" and "\t" as those two characters, and as "\xNN"
// every other byte below 0x20, 0x7f, the bytes of a C1 control (U+0080 to
// U+009F, "\xc2\x80" to "\xc2\x9f") and every byte that is not part of a
// well-formed UTF-8 sequence. Printable ASCII and other UTF-8 stay.
inline std::string printable(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    auto escape = [&](unsigned char byte) {
        out.push_back('\\');
        out.push_back('x');
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 0xf]);
    };
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f) {
            out.push_back(c);
            ++i;
            continue;
        }
        if (byte >= 0x80) {
            const std::size_t length = utf8_sequence_length(text.substr(i));
            const bool c1 =
                length == 2 && byte == 0xc2 && static_cast<unsigned char>(text[i + 1]) <= 0x9f;
            if (length == 0) {
                escape(byte);  // the next byte may start a good sequence
                ++i;
            } else if (c1) {
                escape(byte);
                escape(static_cast<unsigned char>(text[i + 1]));
                i += 2;
            } else {
                out.append(text.substr(i, length));
                i += length;
            }
            continue;
        }
        switch (c) {
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            default:
                escape(byte);
        }
        ++i;
    }
    return out;
}

}  // namespace gridgate::ocpp::detail
