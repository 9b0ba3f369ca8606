// The gateway's Prometheus metrics: a fixed registry of the series the
// operators chart, updated from the engine's event stream and rendered in the
// Prometheus text exposition format (version 0.0.4) for GET /metrics.
//
// Thread-safety: every member function may be called from any thread.
// Updates of command-labelled series are single relaxed atomic operations;
// adapter-labelled series take a short mutex (a handful of adapters).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "gridgate/sdk/command.hpp"

namespace gridgate::http {

class Metrics {
  public:
    /// Upper bounds of the dispatch latency buckets, in seconds, around the
    /// 50 ms dispatch target; +Inf follows implicitly.
    static constexpr std::array<double, 10> kLatencyBuckets{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                            0.05,  0.1,    0.25,  0.5,  1.0};

    /// The content type of render()'s text.
    static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

    Metrics() = default;
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    /// gridgate_commands_total{type,status}: `count` commands of `type` entered `status`.
    void count_command(sdk::CommandType type, sdk::CommandStatus status,
                       std::uint64_t count = 1) noexcept;
    /// gridgate_commands{status}: how many commands the engine holds in `status`.
    void set_commands_in_status(sdk::CommandStatus status, std::int64_t count) noexcept;
    /// gridgate_schedules_received_total
    void count_schedule_received() noexcept;
    /// gridgate_dispatch_latency_seconds: from scheduled_at to the hand-off to
    /// the adapter. Negative values (clock steps) count as 0.
    void observe_dispatch_latency(double seconds) noexcept;

    /// Makes an adapter's series exist (at 0) before anything happens to it,
    /// so dashboards see every configured adapter.
    void declare_adapter(std::string_view adapter);
    /// gridgate_adapter_errors_total{adapter}
    void count_adapter_error(std::string_view adapter);
    /// gridgate_assets_connected{adapter}
    void set_assets_connected(std::string_view adapter, std::int64_t count);

    /// The whole registry in the text exposition format. Series with labels
    /// appear in a fixed order: command types and statuses in enum order,
    /// adapters by name.
    std::string render() const;

  private:
    struct AdapterSeries {
        std::uint64_t errors = 0;
        std::int64_t assets_connected = 0;
    };

    std::array<std::atomic<std::uint64_t>, sdk::kCommandTypeCount * sdk::kCommandStatusCount>
        commands_total_{};
    std::array<std::atomic<std::int64_t>, sdk::kCommandStatusCount> commands_in_status_{};
    std::atomic<std::uint64_t> schedules_received_{0};
    std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size() + 1> latency_buckets_{};
    std::atomic<double> latency_sum_{0.0};

    mutable std::mutex adapters_mutex_;
    std::map<std::string, AdapterSeries, std::less<>> adapters_;
};

}  // namespace gridgate::http
