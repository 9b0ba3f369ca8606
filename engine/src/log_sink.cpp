#include "gridgate/engine/log_sink.hpp"

#include <cstdio>
#include <string>

namespace gridgate::engine {

std::string_view to_string(LogLevel level) noexcept {
    switch (level) {
        case LogLevel::Debug:
            return "debug";
        case LogLevel::Info:
            return "info";
        case LogLevel::Warning:
            return "warning";
        case LogLevel::Error:
            return "error";
    }
    return "unknown";
}

LogSink stderr_log_sink() {
    return [](LogLevel level, std::string_view message) {
        std::string line = "gridgate engine [";
        line += to_string(level);
        line += "] ";
        line += message;
        line += '\n';
        std::fputs(line.c_str(), stderr);
    };
}

}  // namespace gridgate::engine
