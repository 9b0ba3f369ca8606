// Drives one battery over Modbus: keeps its latest charge and discharge
// values and writes the combined setpoint (so the order in which they arrive
// does not matter), applies the asset's power and SoC limits, writes the
// kept setpoint when the device comes (back) (a command that failed for
// `not connected` included), refreshes it and writes the heartbeat for
// devices that revert without them, idles the battery on a clean stop, and
// polls its telemetry. Protocol logic only: the adapter plugin maps commands
// and results to and from the SDK.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gridgate/modbus/connection.hpp"
#include "gridgate/modbus/poller.hpp"
#include "gridgate/modbus/register_map.hpp"
#include "gridgate/modbus/setpoint.hpp"

namespace gridgate::modbus {

/// The outcome of a control request.
struct ControlResult {
    bool ok = false;
    /// For a failure: false when sending it again cannot help (a Modbus
    /// exception 1-3, a value the map cannot hold, a point the map lacks).
    bool retryable = true;
    /// The command's error (ARCHITECTURE.md): the device's exception name
    /// ("Illegal data address"), "timeout", "not connected" or "bad reply",
    /// or "verify: read back failed: " and the exception name when the
    /// device took the write but refused its read-back;
    /// for a failure of ours (a value the map cannot hold, a point it lacks)
    /// what is wrong.
    std::string error;
    /// Everything known, for the log: device, unit, registers, errno, next
    /// attempt, "retrying will not help".
    std::string detail;

    static ControlResult success() { return {true, false, {}, {}}; }
    static ControlResult failure(std::string error, bool retryable) {
        std::string detail = error;
        return {false, retryable, std::move(error), std::move(detail)};
    }
    static ControlResult failure(std::string error, bool retryable, std::string detail) {
        return {false, retryable, std::move(error), std::move(detail)};
    }
    static ControlResult from(const ModbusError& e);
};

using ControlDone = std::function<void(ControlResult)>;

/// How long a slot's first setpoint command waits for the slot's other one
/// before its write is queued. The engine hands a slot's charge and
/// discharge commands over one right after the other, so a few ms gather
/// them into one write: the battery never sits at the half-applied value.
inline constexpr std::chrono::milliseconds default_slot_window{10};

struct BatteryControllerOptions {
    std::uint8_t unit = 1;
    RegisterMap map;
    AssetLimits limits;
    /// Read every written value back; a difference fails the request.
    bool verify = false;
    /// Re-write the current setpoint this often (devices that revert).
    std::optional<std::chrono::milliseconds> refresh;
    enum class OnShutdown { idle, leave };
    /// On stop(): write the idle setpoint, or leave the device as it is.
    OnShutdown on_shutdown = OnShutdown::idle;
    /// How long stop() waits for the idle write (finish_stop() takes a
    /// deadline instead).
    std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(3)};
    /// See default_slot_window; 0 queues every command's write at once.
    std::chrono::milliseconds slot_window = default_slot_window;
    /// Polling of the map's polled points (the unit is taken from above).
    PollerOptions poll;
};

struct BatteryControllerHandlers {
    /// A polled point's reading (fresh, no value, or stale).
    std::function<void(const PointReading&)> on_telemetry;
    /// connected() changed; `reason` says why it went down (the failed
    /// request and what happened to it), empty when it came up.
    std::function<void(bool connected, const std::string& reason)> on_connection;
    /// Notes worth a log line: limits applied, background writes that failed.
    std::function<void(const std::string&)> on_note;
};

/// One battery behind a (possibly shared) connection.
///
/// Thread-safety: all public members may be called from any thread.
/// Completions and handlers run on the connection's worker (or the poller's
/// or controller's own thread) and must not block; they must not call stop().
/// Requests are written in the order they were made.
class BatteryController {
  public:
    BatteryController(std::shared_ptr<ModbusConnection> connection,
                      BatteryControllerOptions options, BatteryControllerHandlers handlers = {});
    ~BatteryController();

    BatteryController(const BatteryController&) = delete;
    BatteryController& operator=(const BatteryController&) = delete;

    void start();
    /// begin_stop(), then finish_stop() with a deadline shutdown_timeout
    /// away. Idempotent.
    void stop();
    /// The first half of stop(), which does not wait for the device: stops
    /// polling, refresh and heartbeat and, with on_shutdown = idle, queues
    /// the idle setpoint. Batteries stopped together each begin_stop() first
    /// and then finish_stop() with one shared deadline, so a dead device
    /// does not hold up the idle write of the next. Idempotent.
    void begin_stop();
    /// The second half: waits for the idle write until `deadline` (logging
    /// what became of it), then calls no handler again. Calls begin_stop()
    /// if nobody has. Idempotent.
    void finish_stop(std::chrono::steady_clock::time_point deadline);

    /// The time slot a setpoint command belongs to (its scheduled_at).
    using Slot = std::chrono::system_clock::time_point;

    /// The latest charge (or discharge) power in kW, >= 0; the other side
    /// keeps its latest value (0 until commanded). Writes the combined
    /// setpoint, planned when the write's turn on the connection comes:
    /// commands of one `slot` that are waiting together (the first waits
    /// `slot_window` for the others before its write is queued) go out as
    /// ONE write of the net value, and each completes with that write's
    /// outcome. A
    /// command whose write the device refuses (an exception answer) leaves
    /// the kept values as they were before it; after any other failure
    /// (timeout, verify, not connected) the device may have taken it or
    /// never saw it, and its value is kept and written again.
    void set_charge(double kw, ControlDone done, std::optional<Slot> slot = std::nullopt);
    void set_discharge(double kw, ControlDone done, std::optional<Slot> slot = std::nullopt);
    /// Writes `power_limit` (kW; converted when the point is in percent).
    void set_power_limit(double kw, ControlDone done);
    /// Writes a named point (`soc_target`, `enable`, ...) in engineering units.
    void write_point(const std::string& point, double value, ControlDone done);

    /// The net setpoint last acknowledged by the device (+ charge), if any.
    std::optional<double> written_net_kw() const;
    /// The latest fresh SoC reading, kept while it is stale.
    std::optional<double> soc() const;
    /// This unit's last request succeeded (so the connection was up): it
    /// turns true only when a request of this unit succeeds, false when one
    /// fails (timeout, exception answer, connection lost or not connected);
    /// a polled read or a heartbeat that keeps failing keeps it false until
    /// that read, or a heartbeat, succeeds again.
    /// The connection being re-opened changes nothing by itself, so a
    /// device that stays dead gives no up/down pairs. on_connection follows it.
    bool connected() const;

    struct State;

  private:
    std::shared_ptr<State> state_;
};

}  // namespace gridgate::modbus
