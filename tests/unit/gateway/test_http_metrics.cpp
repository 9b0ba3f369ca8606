#include "gridgate/http/metrics.hpp"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace gridgate::http {
namespace {

using sdk::CommandStatus;
using sdk::CommandType;

// The exposition format byte for byte: HELP/TYPE lines, label order and
// escaping, cumulative buckets with inclusive upper bounds, _sum and _count.
const char* const kGolden =
    "# HELP gridgate_commands_total Commands that entered a status, by command type and status.\n"
    "# TYPE gridgate_commands_total counter\n"
    "gridgate_commands_total{type=\"SET_CHARGE_RATE\",status=\"PENDING\"} 2\n"
    "gridgate_commands_total{type=\"SET_CHARGE_RATE\",status=\"DISPATCHED\"} 1\n"
    "gridgate_commands_total{type=\"SET_CHARGE_RATE\",status=\"COMPLETED\"} 0\n"
    "gridgate_commands_total{type=\"SET_CHARGE_RATE\",status=\"FAILED\"} 0\n"
    "gridgate_commands_total{type=\"SET_CHARGE_RATE\",status=\"TIMED_OUT\"} 0\n"
    "gridgate_commands_total{type=\"SET_CHARGE_RATE\",status=\"CANCELLED\"} 0\n"
    "gridgate_commands_total{type=\"SET_DISCHARGE_RATE\",status=\"PENDING\"} 0\n"
    "gridgate_commands_total{type=\"SET_DISCHARGE_RATE\",status=\"DISPATCHED\"} 0\n"
    "gridgate_commands_total{type=\"SET_DISCHARGE_RATE\",status=\"COMPLETED\"} 0\n"
    "gridgate_commands_total{type=\"SET_DISCHARGE_RATE\",status=\"FAILED\"} 1\n"
    "gridgate_commands_total{type=\"SET_DISCHARGE_RATE\",status=\"TIMED_OUT\"} 0\n"
    "gridgate_commands_total{type=\"SET_DISCHARGE_RATE\",status=\"CANCELLED\"} 0\n"
    "gridgate_commands_total{type=\"SET_POWER_LIMIT\",status=\"PENDING\"} 0\n"
    "gridgate_commands_total{type=\"SET_POWER_LIMIT\",status=\"DISPATCHED\"} 0\n"
    "gridgate_commands_total{type=\"SET_POWER_LIMIT\",status=\"COMPLETED\"} 0\n"
    "gridgate_commands_total{type=\"SET_POWER_LIMIT\",status=\"FAILED\"} 0\n"
    "gridgate_commands_total{type=\"SET_POWER_LIMIT\",status=\"TIMED_OUT\"} 0\n"
    "gridgate_commands_total{type=\"SET_POWER_LIMIT\",status=\"CANCELLED\"} 0\n"
    "gridgate_commands_total{type=\"START_CHARGING\",status=\"PENDING\"} 0\n"
    "gridgate_commands_total{type=\"START_CHARGING\",status=\"DISPATCHED\"} 0\n"
    "gridgate_commands_total{type=\"START_CHARGING\",status=\"COMPLETED\"} 0\n"
    "gridgate_commands_total{type=\"START_CHARGING\",status=\"FAILED\"} 0\n"
    "gridgate_commands_total{type=\"START_CHARGING\",status=\"TIMED_OUT\"} 0\n"
    "gridgate_commands_total{type=\"START_CHARGING\",status=\"CANCELLED\"} 0\n"
    "gridgate_commands_total{type=\"STOP_CHARGING\",status=\"PENDING\"} 0\n"
    "gridgate_commands_total{type=\"STOP_CHARGING\",status=\"DISPATCHED\"} 0\n"
    "gridgate_commands_total{type=\"STOP_CHARGING\",status=\"COMPLETED\"} 0\n"
    "gridgate_commands_total{type=\"STOP_CHARGING\",status=\"FAILED\"} 0\n"
    "gridgate_commands_total{type=\"STOP_CHARGING\",status=\"TIMED_OUT\"} 0\n"
    "gridgate_commands_total{type=\"STOP_CHARGING\",status=\"CANCELLED\"} 0\n"
    "gridgate_commands_total{type=\"CHANGE_AVAILABILITY\",status=\"PENDING\"} 0\n"
    "gridgate_commands_total{type=\"CHANGE_AVAILABILITY\",status=\"DISPATCHED\"} 0\n"
    "gridgate_commands_total{type=\"CHANGE_AVAILABILITY\",status=\"COMPLETED\"} 0\n"
    "gridgate_commands_total{type=\"CHANGE_AVAILABILITY\",status=\"FAILED\"} 0\n"
    "gridgate_commands_total{type=\"CHANGE_AVAILABILITY\",status=\"TIMED_OUT\"} 0\n"
    "gridgate_commands_total{type=\"CHANGE_AVAILABILITY\",status=\"CANCELLED\"} 0\n"
    "gridgate_commands_total{type=\"SET_SOC_TARGET\",status=\"PENDING\"} 0\n"
    "gridgate_commands_total{type=\"SET_SOC_TARGET\",status=\"DISPATCHED\"} 0\n"
    "gridgate_commands_total{type=\"SET_SOC_TARGET\",status=\"COMPLETED\"} 0\n"
    "gridgate_commands_total{type=\"SET_SOC_TARGET\",status=\"FAILED\"} 0\n"
    "gridgate_commands_total{type=\"SET_SOC_TARGET\",status=\"TIMED_OUT\"} 0\n"
    "gridgate_commands_total{type=\"SET_SOC_TARGET\",status=\"CANCELLED\"} 0\n"
    "# HELP gridgate_commands Commands held by the engine, by current status.\n"
    "# TYPE gridgate_commands gauge\n"
    "gridgate_commands{status=\"PENDING\"} 1\n"
    "gridgate_commands{status=\"DISPATCHED\"} 0\n"
    "gridgate_commands{status=\"COMPLETED\"} 0\n"
    "gridgate_commands{status=\"FAILED\"} 1\n"
    "gridgate_commands{status=\"TIMED_OUT\"} 0\n"
    "gridgate_commands{status=\"CANCELLED\"} 0\n"
    "# HELP gridgate_schedules_received_total Schedules accepted by the API.\n"
    "# TYPE gridgate_schedules_received_total counter\n"
    "gridgate_schedules_received_total 1\n"
    "# HELP gridgate_assets_connected Assets currently connected, by adapter instance.\n"
    "# TYPE gridgate_assets_connected gauge\n"
    "gridgate_assets_connected{adapter=\"modbus\"} 0\n"
    "gridgate_assets_connected{adapter=\"ocpp\"} 3\n"
    "gridgate_assets_connected{adapter=\"vendor \\\"x\\\"\\\\\\n\"} 0\n"
    "# HELP gridgate_adapter_errors_total Errors reported by adapter instances (failed sends, lost "
    "connections).\n"
    "# TYPE gridgate_adapter_errors_total counter\n"
    "gridgate_adapter_errors_total{adapter=\"modbus\"} 0\n"
    "gridgate_adapter_errors_total{adapter=\"ocpp\"} 2\n"
    "gridgate_adapter_errors_total{adapter=\"vendor \\\"x\\\"\\\\\\n\"} 1\n"
    "# HELP gridgate_dispatch_latency_seconds Delay from a command's scheduled_at to its hand-off "
    "to the adapter.\n"
    "# TYPE gridgate_dispatch_latency_seconds histogram\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"0.001\"} 3\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"0.0025\"} 3\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"0.005\"} 4\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"0.01\"} 4\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"0.025\"} 4\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"0.05\"} 5\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"0.1\"} 5\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"0.25\"} 5\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"0.5\"} 5\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"1\"} 5\n"
    "gridgate_dispatch_latency_seconds_bucket{le=\"+Inf\"} 6\n"
    "gridgate_dispatch_latency_seconds_sum 2.0445\n"
    "gridgate_dispatch_latency_seconds_count 6\n";

TEST(Metrics, RendersTheTextExpositionFormatExactly) {
    Metrics m;
    m.count_command(CommandType::SetChargeRate, CommandStatus::Pending);
    m.count_command(CommandType::SetChargeRate, CommandStatus::Pending);
    m.count_command(CommandType::SetChargeRate, CommandStatus::Dispatched);
    m.count_command(CommandType::SetDischargeRate, CommandStatus::Failed);
    m.set_commands_in_status(CommandStatus::Pending, 1);
    m.set_commands_in_status(CommandStatus::Failed, 1);
    m.count_schedule_received();
    m.declare_adapter("ocpp");
    m.declare_adapter("modbus");
    m.set_assets_connected("ocpp", 3);
    m.count_adapter_error("ocpp");
    m.count_adapter_error("ocpp");
    m.count_adapter_error("vendor \"x\"\\\n");
    m.observe_dispatch_latency(0.0005);
    m.observe_dispatch_latency(0.001);  // on a bound: counted in that bucket
    m.observe_dispatch_latency(0.003);
    m.observe_dispatch_latency(0.04);
    m.observe_dispatch_latency(2.0);
    m.observe_dispatch_latency(-1.0);  // a clock step: counted as 0
    EXPECT_EQ(m.render(), kGolden);
}

TEST(Metrics, FreshRegistryHasEverySeriesAtZeroAndNoAdapters) {
    Metrics m;
    std::string text = m.render();
    EXPECT_NE(
        text.find("gridgate_commands_total{type=\"SET_SOC_TARGET\",status=\"CANCELLED\"} 0\n"),
        std::string::npos);
    EXPECT_NE(
        text.find("# TYPE gridgate_assets_connected gauge\n# HELP gridgate_adapter_errors_total"),
        std::string::npos);
    EXPECT_NE(text.find("gridgate_dispatch_latency_seconds_sum 0\n"
                        "gridgate_dispatch_latency_seconds_count 0\n"),
              std::string::npos);
    EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
    Metrics m;
    constexpr int kThreads = 4;
    constexpr int kEach = 5000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&m] {
            for (int i = 0; i < kEach; ++i) {
                m.count_command(CommandType::StopCharging, CommandStatus::Completed);
                m.count_adapter_error("ocpp");
                m.observe_dispatch_latency(0.02);
            }
        });
    }
    for (auto& t : threads) t.join();
    std::string text = m.render();
    const std::string total = std::to_string(kThreads * kEach);
    EXPECT_NE(text.find("gridgate_commands_total{type=\"STOP_CHARGING\",status=\"COMPLETED\"} " +
                        total + "\n"),
              std::string::npos);
    EXPECT_NE(text.find("gridgate_adapter_errors_total{adapter=\"ocpp\"} " + total + "\n"),
              std::string::npos);
    EXPECT_NE(text.find("gridgate_dispatch_latency_seconds_bucket{le=\"0.025\"} " + total + "\n"),
              std::string::npos);
    EXPECT_NE(text.find("gridgate_dispatch_latency_seconds_count " + total + "\n"),
              std::string::npos);
}

}  // namespace
}  // namespace gridgate::http
