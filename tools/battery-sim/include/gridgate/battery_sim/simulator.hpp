// A battery behind a Modbus TCP server, for tests and benchmarks: it holds a
// register map per unit id, its measured power follows the setpoint, its SoC
// integrates that power, and it can be told to misbehave (answer with an
// exception, delay or drop a reply, revert its setpoint without a refresh).
// It records every write it receives, in order, so tests can assert the
// exact registers a client wrote.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gridgate/modbus/register_map.hpp"
#include "gridgate/modbus/setpoint.hpp"

namespace gridgate::battery_sim {

struct SimulatorOptions {
    modbus::RegisterMap map;  ///< default: generic_battery
    std::vector<std::uint8_t> units{1};
    std::string bind_address = "127.0.0.1";
    std::uint16_t port = 0;  ///< 0 = chosen by the OS; read it back with port()
    double capacity_kwh = 100;
    double initial_soc = 50;
    /// The battery's physical limits (the setpoint is clamped to them) and
    /// the rated power that percent points refer to.
    modbus::AssetLimits limits{
        .max_charge_kw = 100, .max_discharge_kw = 100, .rated_power_kw = 100};
    /// Simulated seconds per real second, so SoC moves visibly in short tests.
    double time_scale = 1.0;
    std::chrono::milliseconds tick{50};
    /// Falls back to idle when the setpoint has not been written for this long.
    std::optional<std::chrono::milliseconds> revert_after;
    /// Refuse (exception 2) requests touching addresses the map does not define.
    bool strict_addresses = true;
    /// How many of the latest writes writes() keeps (older ones are
    /// forgotten): a simulator left running for days under a gateway's
    /// heartbeat writes must not grow without bound. 0 keeps none.
    std::size_t max_recorded_writes = 100000;

    SimulatorOptions();
};

/// One write the server received.
struct ReceivedWrite {
    std::uint8_t unit = 0;
    std::uint8_t function = 0;  ///< 5, 6, 15 or 16
    std::uint16_t address = 0;
    std::vector<std::uint16_t> values;  ///< registers, or 0/1 for coils

    bool operator==(const ReceivedWrite&) const = default;
};

/// The simulator. Thread-safety: every public member may be called from any
/// thread while it runs; it serves each client connection on its own thread,
/// so a delayed reply to one client never holds up another.
class BatterySimulator {
  public:
    explicit BatterySimulator(SimulatorOptions options = {});
    ~BatterySimulator();

    BatterySimulator(const BatterySimulator&) = delete;
    BatterySimulator& operator=(const BatterySimulator&) = delete;

    /// Binds, listens and starts serving. Throws std::runtime_error (naming
    /// the address) when it cannot listen.
    void start();
    /// Closes every connection and joins every thread. Idempotent.
    void stop();

    std::uint16_t port() const noexcept { return port_; }
    const SimulatorOptions& options() const noexcept { return options_; }

    // --- Fault injection ---------------------------------------------------
    /// Answers requests touching `address` (any table) with `exception_code`,
    /// `times` times (negative = until cleared), after serving the first
    /// `after` of them normally.
    void inject_exception(std::uint16_t address, int exception_code, int times = -1, int after = 0);
    /// Holds the reply to each of the next `count` requests for `delay`
    /// (longer than the client's timeout = a late reply).
    void delay_replies(std::chrono::milliseconds delay, int count = 1);
    /// Closes the connection instead of answering the next `count` requests.
    void drop_connections(int count = 1);
    /// Acknowledges writes touching `address` without applying them (a device
    /// that is not in remote-control mode), `times` times (negative = until cleared).
    void ignore_writes(std::uint16_t address, int times = -1);
    /// Changes the revert-without-refresh time while running.
    void set_revert_after(std::optional<std::chrono::milliseconds> after);
    void clear_faults();

    // --- Observation --------------------------------------------------------
    /// The latest writes received (at most options.max_recorded_writes), oldest first.
    std::vector<ReceivedWrite> writes() const;
    void clear_writes();
    std::uint64_t requests_served() const noexcept { return requests_.load(); }
    std::uint64_t connections_accepted() const noexcept { return accepted_.load(); }
    /// Threads held for connections: the open ones, and closed ones not yet
    /// joined (each accept joins those that have finished).
    std::size_t server_threads() const;
    std::size_t open_connections() const;
    /// How often a setpoint fell back to idle for want of a refresh.
    std::uint64_t reverts() const noexcept { return reverts_.load(); }

    /// The setpoint the registers of `unit` hold, in kW (+ charge).
    double setpoint_kw(std::uint8_t unit = 1) const;
    double soc(std::uint8_t unit = 1) const;
    double active_power_kw(std::uint8_t unit = 1) const;
    /// The engineering value of any point, decoded from the registers.
    std::optional<double> point_value(const std::string& point, std::uint8_t unit = 1) const;
    /// Writes a point's registers directly (as the device itself would).
    void set_point_value(const std::string& point, double value, std::uint8_t unit = 1);
    /// Sets the raw registers at `address` of a table directly.
    void set_registers(modbus::Table table, std::uint16_t address,
                       const std::vector<std::uint16_t>& values, std::uint8_t unit = 1);
    std::vector<std::uint16_t> registers(modbus::Table table, std::uint16_t address,
                                         std::uint16_t count, std::uint8_t unit = 1) const;

    struct Unit;
    struct Client;

  private:
    void accept_loop();
    void reap_finished_servers();  // under mutex_
    void serve(std::shared_ptr<Client> client);
    void physics_loop();
    Unit* find_unit(std::uint8_t unit) const;
    /// Sleeps up to `d`, returning early on stop.
    void pause(std::chrono::milliseconds d);

    SimulatorOptions options_;
    std::uint16_t port_ = 0;
    int listen_fd_ = -1;

    mutable std::mutex mutex_;  // guards units' registers and state, faults, writes, clients
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    bool started_ = false;
    std::vector<std::unique_ptr<Unit>> units_;
    std::deque<ReceivedWrite> writes_;  // the latest max_recorded_writes
    std::vector<std::shared_ptr<Client>> clients_;

    struct ExceptionRule {
        std::uint16_t address;
        int code;
        int remaining;
        int after = 0;  // matching requests still to serve normally first
    };
    std::vector<ExceptionRule> exception_rules_;
    std::vector<ExceptionRule> ignore_rules_;  // code unused
    std::chrono::milliseconds reply_delay_{0};
    int delayed_replies_ = 0;
    int drops_ = 0;

    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::uint64_t> accepted_{0};
    std::atomic<std::uint64_t> reverts_{0};

    std::thread acceptor_;
    std::thread physics_;
    std::vector<std::shared_ptr<Client>> servers_;  // each with its serving thread
};

}  // namespace gridgate::battery_sim
