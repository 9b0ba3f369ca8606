#include "event_log.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>

namespace gridgate::gateway {

namespace {

void append_number(std::string& out, double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    out += buf;
}

void append_quoted(std::string& out, std::string_view text) {
    out += '"';
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    out += '"';
}

// A name as a reader of key=value text takes it: as it is when it could not
// be read otherwise, else quoted. A schedule's column names are its
// sender's to choose ("x commands=9" would forge a field).
void append_name(std::string& out, std::string_view name) {
    const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
               c == ':';
    });
    if (plain) {
        out += name;
    } else {
        append_quoted(out, name);
    }
}

bool is_command_event(engine::EventType t) {
    using engine::EventType;
    switch (t) {
        case EventType::CommandDispatched:
        case EventType::CommandCompleted:
        case EventType::CommandFailed:
        case EventType::CommandTimedOut:
        case EventType::CommandCancelled:
        case EventType::CommandRetry:
            return true;
        default:
            return false;
    }
}

}  // namespace

std::string format_event(const engine::Event& e) {
    using engine::EventType;
    std::string out{engine::to_string(e.type)};
    if (e.type == EventType::ScheduleReceived) {
        out += " schedule_id=" + e.schedule_id + " commands=" + std::to_string(e.command_count) +
               " cancelled=" + std::to_string(e.cancelled_count);
        if (!e.ignored_columns.empty()) {
            out += " ignored_columns=";
            for (std::size_t i = 0; i < e.ignored_columns.size(); ++i) {
                if (i > 0) out += ',';
                append_name(out, e.ignored_columns[i]);
            }
        }
        return out;
    }
    if (is_command_event(e.type)) out += " command_id=" + e.command_id.str();
    if (!e.asset_id.empty()) out += " asset_id=" + e.asset_id;
    if (e.command_type) out += " command_type=" + std::string(sdk::to_string(*e.command_type));
    if (e.status) out += " status=" + std::string(sdk::to_string(*e.status));
    if (is_command_event(e.type)) {
        out += " retry_count=" + std::to_string(e.retry_count);
        const auto& p = e.parameters;
        if (p.power_kw) out += " power_kw=", append_number(out, *p.power_kw);
        if (p.soc_percent) out += " soc_percent=", append_number(out, *p.soc_percent);
        if (p.operative) out += *p.operative ? " operative=true" : " operative=false";
    }
    for (const auto& [name, value] : e.telemetry) {
        out += " " + name + "=";
        append_number(out, value);
    }
    for (std::size_t i = 0; i < e.stale_telemetry.size(); ++i)
        out += (i == 0 ? " stale=" : ",") + e.stale_telemetry[i];
    if (!e.error.empty()) {
        out += " error=";
        append_quoted(out, e.error);
    }
    if (!e.message.empty()) {
        out += " message=";
        append_quoted(out, e.message);
    }
    return out;
}

void count_event(const engine::Event& e, http::Metrics& metrics,
                 const std::function<std::string_view(std::string_view asset_id)>& adapter_of) {
    using engine::EventType;
    if (e.type == EventType::ScheduleReceived) {
        metrics.count_schedule_received();
        // A new command enters PENDING without an event of its own.
        for (std::size_t t = 0; t < e.created_by_type.size(); ++t) {
            if (e.created_by_type[t] > 0) {
                metrics.count_command(static_cast<sdk::CommandType>(t), sdk::CommandStatus::Pending,
                                      e.created_by_type[t]);
            }
        }
        return;
    }
    if (e.type == EventType::AssetDisconnected) {
        // A lost connection is an adapter error too (the metric's help says so).
        auto adapter = adapter_of(e.asset_id);
        if (!adapter.empty()) metrics.count_adapter_error(adapter);
        return;
    }
    if (!is_command_event(e.type) || !e.command_type || !e.status) return;
    metrics.count_command(*e.command_type, *e.status);
    if (e.type == EventType::CommandDispatched && e.retry_count == 0 && e.scheduled_at) {
        // First attempts only: a retry's delay is the backoff, not the loop's latency.
        double latency = std::chrono::duration<double>(e.timestamp - *e.scheduled_at).count();
        metrics.observe_dispatch_latency(latency < 0 ? 0 : latency);
    }
    if (e.attempt_failed) {
        auto adapter = adapter_of(e.asset_id);
        if (!adapter.empty()) metrics.count_adapter_error(adapter);
    }
}

}  // namespace gridgate::gateway
