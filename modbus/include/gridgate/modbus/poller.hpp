// Polling: groups a device's polled points into contiguous block reads
// (at most 125 registers or 2000 bits each), reads each block at its points'
// interval, splits a block the device refuses with exception 2 into reads of
// single points, and marks values that have not been read for too long as
// stale.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "gridgate/modbus/connection.hpp"
#include "gridgate/modbus/register_map.hpp"

namespace gridgate::modbus {

/// One read request covering one or more points of the same table and interval.
struct PollBlock {
    Table table = Table::holding;
    std::uint16_t address = 0;
    std::uint16_t count = 0;
    std::chrono::milliseconds interval{0};
    /// Indices into the point list the plan was made from, by address.
    std::vector<std::size_t> points;

    bool operator==(const PollBlock&) const = default;
};

struct PollPlanOptions {
    /// Interval of polled points that name none.
    std::chrono::milliseconds default_interval{std::chrono::seconds(5)};
    /// Unused registers (or bits) a block may span between two points. 0 =
    /// only adjacent points share a read (devices often refuse reads across
    /// holes in their map).
    std::uint16_t max_gap = 0;
};

/// Groups the points with `poll` set into blocks: per table and interval,
/// by address, merging while the block stays within the read limit and the
/// gap allowance. Pure.
std::vector<PollBlock> plan_poll_blocks(std::span<const RegisterPoint> points,
                                        const PollPlanOptions& options);

/// A point's value as the poller last saw it.
struct PointReading {
    std::string point;
    /// No value: the device reported its "no value" sentinel or an
    /// implausible reading, or the point has never been read.
    std::optional<double> value;
    /// Not read successfully for longer than the stale age; `value` is then
    /// the last value read, kept for reference.
    bool stale = false;
    /// When the value was last read successfully (epoch if never).
    std::chrono::steady_clock::time_point read_at{};
};

struct PollerOptions {
    std::uint8_t unit = 1;
    PollPlanOptions plan;
    /// Age after which an unread value is stale. Unset = three times the
    /// point's interval.
    std::optional<std::chrono::milliseconds> stale_after;
};

struct PollerHandlers {
    /// A point was read (fresh value or "no value"), or just went stale.
    std::function<void(const PointReading&)> on_reading;
    /// A read failed. Called when a block's or point's error changes, not on
    /// every repetition of the same failure.
    std::function<void(const ModbusError&)> on_error;
    /// Every failed read, repetitions included (on_error is for logs; this
    /// is for whoever follows whether the device answers).
    std::function<void(const ModbusError&)> on_failure;
};

/// Polls one unit's points over a shared connection.
///
/// Thread-safety: all public members may be called from any thread. Its own
/// thread times the reads; handlers run on the connection's worker (readings)
/// or on the poller's thread (stale transitions), never two at once, and
/// never after stop() has returned. Handlers must not call stop().
class Poller {
  public:
    Poller(std::shared_ptr<ModbusConnection> connection, std::vector<RegisterPoint> points,
           PollerOptions options, PollerHandlers handlers);
    ~Poller();

    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    void start();
    /// Idempotent; waits for a running handler to finish.
    void stop();

    /// The latest reading of a point, if the poller polls it.
    std::optional<PointReading> reading(std::string_view point) const;
    /// Whether the last read of some block (or split point) failed.
    bool failing() const;

    /// The blocks being polled (a split block shows as its single points).
    std::vector<PollBlock> blocks() const;

    /// Shared with in-flight read handlers, so a late completion after
    /// stop() finds live state. Defined in the implementation only.
    struct State;

  private:
    void run();

    std::shared_ptr<State> state_;
    std::thread thread_;
};

}  // namespace gridgate::modbus
