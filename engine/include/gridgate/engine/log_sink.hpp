// How the engine reports what it cannot return to a caller (a response for a
// command that is no longer in flight, an event handler that threw): a plain
// function the host points at its own logger. The engine has no logger of its own.
#pragma once

#include <functional>
#include <string_view>

namespace gridgate::engine {

enum class LogLevel { Debug, Info, Warning, Error };

std::string_view to_string(LogLevel level) noexcept;

/// Receives one finished message. Called on the engine's strand.
using LogSink = std::function<void(LogLevel, std::string_view)>;

/// Writes "gridgate engine [warning] message" lines to stderr; the default
/// when the host gives no sink.
LogSink stderr_log_sink();

}  // namespace gridgate::engine
