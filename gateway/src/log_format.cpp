#include "log_format.hpp"

#include <algorithm>
#include <string_view>

#include <spdlog/pattern_formatter.h>

namespace gridgate::gateway {
namespace {

bool is_control(char c) {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7f;
}

void escape_into(std::string_view text, spdlog::memory_buf_t& out) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::size_t clean = 0;  // start of the run not yet copied
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (!is_control(c)) continue;
        out.append(text.data() + clean, text.data() + i);
        clean = i + 1;
        const char* named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : nullptr;
        if (named != nullptr) {
            out.append(named, named + 2);
        } else {
            const auto b = static_cast<unsigned char>(c);
            const char code[4] = {'\\', 'x', kHex[b >> 4], kHex[b & 0xf]};
            out.append(code, code + 4);
        }
    }
    out.append(text.data() + clean, text.data() + text.size());
}

// %* : the message, escaped. Most messages hold no control character and
// are copied as they are.
class EscapedMessage final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        const std::string_view text(msg.payload.data(), msg.payload.size());
        if (std::none_of(text.begin(), text.end(), is_control)) {
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
