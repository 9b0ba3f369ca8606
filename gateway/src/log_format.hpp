// The daemon's log line: "2026-11-27T23:59:59.000Z info  message", one line
// per message whatever the message holds. Messages carry peer-controlled text
// (a charger's identity, a CALLERROR description, a plugin's words); a newline
// in one must not forge a second line for the tools that read the log, nor
// a byte reach a terminal that acts on it. So control characters (C0, DEL
// and the C1 controls U+0080 to U+009F) and bytes that are not UTF-8 are
// written escaped (\n, \r, \t, \xNN); other UTF-8 text stays as it is.
#pragma once

#include <memory>

#include <spdlog/formatter.h>

namespace gridgate::gateway {

// The formatter of every log line; the daemon installs it with spdlog::set_formatter.
std::unique_ptr<spdlog::formatter> make_log_formatter();

}  // namespace gridgate::gateway
