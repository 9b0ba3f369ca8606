#include "gridgate/http/metrics.hpp"

#include <charconv>
#include <cmath>
#include <vector>

namespace gridgate::http {
namespace {

constexpr std::size_t index_of(sdk::CommandType type, sdk::CommandStatus status) noexcept {
    return static_cast<std::size_t>(type) * sdk::kCommandStatusCount +
           static_cast<std::size_t>(status);
}

// Prometheus floats: shortest round-trip decimal, with its own spellings of
// the non-finite values.
void append_value(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else {
        char text[32];
        auto [end, ec] = std::to_chars(text, text + sizeof text, v);
        out.append(text, end);
    }
}

template <class Integer>
void append_integer(std::string& out, Integer v) {
    char text[24];
    auto [end, ec] = std::to_chars(text, text + sizeof text, v);
    out.append(text, end);
}

// Label values escape backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view value) {
    for (char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
}

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

using Label = std::pair<std::string_view, std::string_view>;

void append_series_name(std::string& out, std::string_view name,
                        std::initializer_list<Label> labels) {
    out += name;
    if (labels.size() == 0) return;
    out += '{';
    bool first = true;
    for (const auto& [key, value] : labels) {
        if (!first) out += ',';
        first = false;
        out += key;
        out += "=\"";
        append_label_value(out, value);
        out += '"';
    }
    out += '}';
}

template <class Integer>
void append_sample(std::string& out, std::string_view name, std::initializer_list<Label> labels,
                   Integer value) {
    append_series_name(out, name, labels);
    out += ' ';
    append_integer(out, value);
    out += '\n';
}

}  // namespace

void Metrics::count_command(sdk::CommandType type, sdk::CommandStatus status,
                            std::uint64_t count) noexcept {
    commands_total_[index_of(type, status)].fetch_add(count, std::memory_order_relaxed);
}

void Metrics::set_commands_in_status(sdk::CommandStatus status, std::int64_t count) noexcept {
    commands_in_status_[static_cast<std::size_t>(status)].store(count, std::memory_order_relaxed);
}

void Metrics::count_schedule_received() noexcept {
    schedules_received_.fetch_add(1, std::memory_order_relaxed);
}

void Metrics::observe_dispatch_latency(double seconds) noexcept {
    if (!(seconds > 0.0)) seconds = 0.0;  // also maps NaN to 0
    std::size_t bucket = 0;
    while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket]) ++bucket;
    latency_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    latency_sum_.fetch_add(seconds, std::memory_order_relaxed);
}

void Metrics::declare_adapter(std::string_view adapter) {
    std::lock_guard lock(adapters_mutex_);
    if (adapters_.find(adapter) == adapters_.end()) adapters_.emplace(adapter, AdapterSeries{});
}

void Metrics::count_adapter_error(std::string_view adapter) {
    std::lock_guard lock(adapters_mutex_);
    auto it = adapters_.find(adapter);
    if (it == adapters_.end()) it = adapters_.emplace(adapter, AdapterSeries{}).first;
    ++it->second.errors;
}

void Metrics::set_assets_connected(std::string_view adapter, std::int64_t count) {
    std::lock_guard lock(adapters_mutex_);
    auto it = adapters_.find(adapter);
    if (it == adapters_.end()) it = adapters_.emplace(adapter, AdapterSeries{}).first;
    it->second.assets_connected = count;
}

std::string Metrics::render() const {
    std::string out;
    out.reserve(8192);

    append_header(out, "gridgate_commands_total",
                  "Commands that entered a status, by command type and status.", "counter");
    for (std::size_t t = 0; t < sdk::kCommandTypeCount; ++t) {
        for (std::size_t s = 0; s < sdk::kCommandStatusCount; ++s) {
            auto type = static_cast<sdk::CommandType>(t);
            auto status = static_cast<sdk::CommandStatus>(s);
            append_sample(out, "gridgate_commands_total",
                          {{"type", sdk::to_string(type)}, {"status", sdk::to_string(status)}},
                          commands_total_[index_of(type, status)].load(std::memory_order_relaxed));
        }
    }

    append_header(out, "gridgate_commands", "Commands held by the engine, by current status.",
                  "gauge");
    for (std::size_t s = 0; s < sdk::kCommandStatusCount; ++s) {
        auto status = static_cast<sdk::CommandStatus>(s);
        append_sample(out, "gridgate_commands", {{"status", sdk::to_string(status)}},
                      commands_in_status_[s].load(std::memory_order_relaxed));
    }

    append_header(out, "gridgate_schedules_received_total", "Schedules accepted by the API.",
                  "counter");
    append_sample(out, "gridgate_schedules_received_total", {},
                  schedules_received_.load(std::memory_order_relaxed));

    {
        std::vector<std::pair<std::string, AdapterSeries>> adapters;
        {
            std::lock_guard lock(adapters_mutex_);
            adapters.assign(adapters_.begin(), adapters_.end());
        }
        append_header(out, "gridgate_assets_connected",
                      "Assets currently connected, by adapter instance.", "gauge");
        for (const auto& [name, series] : adapters) {
            append_sample(out, "gridgate_assets_connected", {{"adapter", name}},
                          series.assets_connected);
        }
        append_header(out, "gridgate_adapter_errors_total",
                      "Errors reported by adapter instances (failed sends, lost connections).",
                      "counter");
        for (const auto& [name, series] : adapters) {
            append_sample(out, "gridgate_adapter_errors_total", {{"adapter", name}}, series.errors);
        }
    }

    append_header(out, "gridgate_dispatch_latency_seconds",
                  "Delay from a command's scheduled_at to its hand-off to the adapter.",
                  "histogram");
    // Cumulative counts, and a _count equal to the +Inf bucket even while
    // observations race with this read.
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b <= kLatencyBuckets.size(); ++b) {
        cumulative += latency_buckets_[b].load(std::memory_order_relaxed);
        std::string le;
        if (b < kLatencyBuckets.size()) {
            append_value(le, kLatencyBuckets[b]);
        } else {
            le = "+Inf";
        }
        append_sample(out, "gridgate_dispatch_latency_seconds_bucket", {{"le", le}}, cumulative);
    }
    out += "gridgate_dispatch_latency_seconds_sum ";
    append_value(out, latency_sum_.load(std::memory_order_relaxed));
    out += '\n';
    append_sample(out, "gridgate_dispatch_latency_seconds_count", {}, cumulative);
    return out;
}

}  // namespace gridgate::http
