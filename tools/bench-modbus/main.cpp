// bench-modbus: measures the Modbus client against battery simulators.
//
//  1. Write round trips per second on one device, through ModbusConnection
//     and through a bare libmodbus loop on the same simulator (the ratio is
//     the client's overhead).
//  2. N devices (default 100), each on its own host:port, polled every second
//     by a Poller, plus a setpoint write to every device at each slot change:
//     time from the slot's scheduled_at to each write's acknowledgement, and
//     the CPU the client side used (the simulators run in a child process so
//     they are not counted).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <modbus/modbus.h>

#include "gridgate/battery_sim/map_file.hpp"
#include "gridgate/battery_sim/simulator.hpp"
#include "gridgate/modbus/connection.hpp"
#include "gridgate/modbus/poller.hpp"
#include "gridgate/modbus/setpoint.hpp"

namespace {

using namespace gridgate;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Settings {
    int round_trips = 5000;
    int devices = 100;
    int slots = 5;
    double poll_seconds = 1.0;
};

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) {
        return double(t.tv_sec) + double(t.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(p / 100.0 * double(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

void row(const std::string& what, const std::string& value, const std::string& target = "") {
    std::printf("| %-52s | %-18s | %-14s |\n", what.c_str(), value.c_str(), target.c_str());
}

std::string fixed(double v, int decimals = 1) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
    return buffer;
}

/// Sequential write round trips through the client.
double client_rate(std::uint16_t port, int n) {
    modbus::ModbusConnection c({"127.0.0.1", port}, {});
    const std::vector<std::uint16_t> values{0, 1000};
    const auto one = [&] {
        std::promise<void> done;
        auto future = done.get_future();
        c.write({1, modbus::Table::holding, 100, values},
                [&](std::optional<modbus::ModbusError> e) {
                    if (e) std::cerr << "write failed: " << e->message << "\n";
                    done.set_value();
                });
        future.wait();
    };
    for (int i = 0; i < 100; ++i) one();  // connect and warm up
    const auto begin = Clock::now();
    for (int i = 0; i < n; ++i) one();
    return n / std::chrono::duration<double>(Clock::now() - begin).count();
}

/// Write round trips through the client with every request queued up front
/// (a busy adapter: the worker never waits for a caller, and the caller sleeps
/// until the last acknowledgement).
double client_queued_rate(std::uint16_t port, int n) {
    modbus::ConnectionOptions options;
    options.queue_limit = static_cast<std::size_t>(n) + 1;
    modbus::ModbusConnection c({"127.0.0.1", port}, options);
    const std::vector<std::uint16_t> values{0, 1000};
    std::mutex mutex;
    std::condition_variable cv;
    int remaining = 0;
    const auto run_batch = [&](int count) {
        {
            std::lock_guard lock(mutex);
            remaining = count;
        }
        for (int i = 0; i < count; ++i) {
            c.write({1, modbus::Table::holding, 100, values},
                    [&](std::optional<modbus::ModbusError> e) {
                        if (e) std::cerr << "write failed: " << e->message << "\n";
                        std::lock_guard lock(mutex);
                        if (--remaining == 0) cv.notify_one();
                    });
        }
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return remaining == 0; });
    };
    run_batch(100);  // connect and warm up
    const auto begin = Clock::now();
    run_batch(n);
    return n / std::chrono::duration<double>(Clock::now() - begin).count();
}

/// The same writes with libmodbus alone on the calling thread.
double bare_rate(std::uint16_t port, int n) {
    modbus_t* ctx = modbus_new_tcp("127.0.0.1", port);
    if (ctx == nullptr || modbus_connect(ctx) != 0) {
        std::cerr << "bare libmodbus: cannot connect\n";
        return 0;
    }
    modbus_set_slave(ctx, 1);
    const std::uint16_t values[2] = {0, 1000};
    for (int i = 0; i < 100; ++i) modbus_write_registers(ctx, 100, 2, values);
    const auto begin = Clock::now();
    for (int i = 0; i < n; ++i) {
        if (modbus_write_registers(ctx, 100, 2, values) != 2) {
            std::cerr << "bare libmodbus: " << modbus_strerror(errno) << "\n";
            break;
        }
    }
    const double rate = n / std::chrono::duration<double>(Clock::now() - begin).count();
    modbus_close(ctx);
    modbus_free(ctx);
    return rate;
}

/// Runs `devices` simulators in a child process; returns their ports.
std::vector<std::uint16_t> spawn_simulators(int devices, pid_t& child) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
    child = fork();
    if (child == 0) {
        close(pipe_fds[0]);
        std::vector<std::unique_ptr<battery_sim::BatterySimulator>> sims;
        for (int i = 0; i < devices; ++i) {
            battery_sim::SimulatorOptions options;
            options.tick = 1s;
            sims.push_back(std::make_unique<battery_sim::BatterySimulator>(options));
            sims.back()->start();
            const std::uint16_t port = sims.back()->port();
            if (write(pipe_fds[1], &port, sizeof port) != sizeof port) _exit(1);
        }
        close(pipe_fds[1]);
        pause();  // until the parent kills us
        _exit(0);
    }
    close(pipe_fds[1]);
    std::vector<std::uint16_t> ports;
    std::uint16_t port = 0;
    while (read(pipe_fds[0], &port, sizeof port) == sizeof port) ports.push_back(port);
    close(pipe_fds[0]);
    return ports;
}

int run(const Settings& s) {
    std::printf("| %-52s | %-18s | %-14s |\n", "measure", "result", "target");
    std::printf("|%s|%s|%s|\n", std::string(54, '-').c_str(), std::string(20, '-').c_str(),
                std::string(16, '-').c_str());

    {
        battery_sim::SimulatorOptions options;
        options.tick = 1s;
        battery_sim::BatterySimulator sim(options);
        sim.start();
        // Interleaved rounds on a shared machine: each round's ratio compares
        // runs made moments apart, and the median ratio ignores the rounds
        // another process disturbed.
        std::vector<double> bare, queued, waited, queued_ratio, waited_ratio;
        for (int round = 0; round < 5; ++round) {
            bare.push_back(bare_rate(sim.port(), s.round_trips));
            queued.push_back(client_queued_rate(sim.port(), s.round_trips));
            waited.push_back(client_rate(sim.port(), s.round_trips));
            queued_ratio.push_back(queued.back() / bare.back());
            waited_ratio.push_back(waited.back() / bare.back());
        }
        row("write round trips/s, bare libmodbus loop (median)", fixed(percentile(bare, 50), 0));
        row("write round trips/s, client, all queued at once", fixed(percentile(queued, 50), 0));
        row("  queued / bare (median of 5 paired rounds)",
            fixed(100.0 * percentile(queued_ratio, 50), 1) + " %", ">= 90 %");
        row("write round trips/s, client, caller waits each", fixed(percentile(waited, 50), 0));
        row("  waits each / bare (two thread hand-offs more)",
            fixed(100.0 * percentile(waited_ratio, 50), 1) + " %");
    }

    pid_t child = 0;
    const auto ports = spawn_simulators(s.devices, child);
    if (ports.size() != static_cast<std::size_t>(s.devices)) {
        std::cerr << "simulators did not start\n";
        return 1;
    }
    const auto map = battery_sim::generic_battery_map();
    const modbus::AssetLimits limits{.max_charge_kw = 50, .max_discharge_kw = 50};
    modbus::ConnectionPool pool;
    std::vector<std::shared_ptr<modbus::ModbusConnection>> connections;
    std::vector<std::unique_ptr<modbus::Poller>> pollers;
    std::atomic<long> readings{0};
    const auto interval = std::chrono::milliseconds(static_cast<long>(s.poll_seconds * 1000));
    for (auto port : ports) {
        auto c = pool.get({"127.0.0.1", port}, {});
        connections.push_back(*c);
        pollers.push_back(std::make_unique<modbus::Poller>(
            *c, map.points, modbus::PollerOptions{.plan = {.default_interval = interval}},
            modbus::PollerHandlers{[&](const modbus::PointReading&) { ++readings; }, nullptr}));
    }
    for (auto& p : pollers) p->start();
    std::this_thread::sleep_for(1500ms);  // connects and first polls settle

    std::vector<double> latencies_ms;
    std::mutex latencies_mutex;
    std::atomic<int> failures{0};
    const double cpu_begin = cpu_seconds();
    const auto wall_begin = Clock::now();
    const long readings_begin = readings.load();
    for (int slot = 0; slot < s.slots; ++slot) {
        const auto scheduled_at = Clock::now() + 1s;
        std::this_thread::sleep_until(scheduled_at);  // the engine's timer firing at scheduled_at
        const double kw = (slot % 2 == 0) ? 10.0 : -10.0;
        auto plan = modbus::plan_setpoint(
            map, limits, {.charge_kw = std::max(kw, 0.0), .discharge_kw = std::max(-kw, 0.0)});
        for (auto& c : connections) {
            const auto& w = plan->writes.front();
            c->write({1, w.table, w.address, w.values}, [&, scheduled_at](
                                                            std::optional<modbus::ModbusError> e) {
                const double ms =
                    std::chrono::duration<double, std::milli>(Clock::now() - scheduled_at).count();
                if (e) ++failures;
                std::lock_guard lock(latencies_mutex);
                latencies_ms.push_back(ms);
            });
        }
    }
    std::this_thread::sleep_for(1s);
    const double wall = std::chrono::duration<double>(Clock::now() - wall_begin).count();
    const double cpu = cpu_seconds() - cpu_begin;
    const long polled = readings.load() - readings_begin;
    for (auto& p : pollers) p->stop();
    pollers.clear();
    connections.clear();
    kill(child, SIGTERM);
    waitpid(child, nullptr, 0);

    std::lock_guard lock(latencies_mutex);
    row(std::to_string(s.devices) + " devices: point readings/s", fixed(polled / wall, 0),
        "(" + fixed(2.0 * s.devices / s.poll_seconds, 0) + " expected)");
    row("setpoint writes acknowledged", std::to_string(latencies_ms.size() - failures) + " of " +
                                            std::to_string(s.devices * s.slots));
    row("scheduled_at -> write acked, p50", fixed(percentile(latencies_ms, 50), 2) + " ms");
    row("scheduled_at -> write acked, p99", fixed(percentile(latencies_ms, 99), 2) + " ms",
        "< 20 ms");
    row("scheduled_at -> write acked, max", fixed(percentile(latencies_ms, 100), 2) + " ms");
    row("client CPU while polling + writing", fixed(100.0 * cpu / wall, 2) + " % of a core",
        "< 5 %");
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        if (arg == "--round-trips")
            s.round_trips = std::stoi(argv[i + 1]);
        else if (arg == "--devices")
            s.devices = std::stoi(argv[i + 1]);
        else if (arg == "--slots")
            s.slots = std::stoi(argv[i + 1]);
        else if (arg == "--poll-seconds")
            s.poll_seconds = std::stod(argv[i + 1]);
        else {
            std::cerr << "usage: bench-modbus [--round-trips N] [--devices N] [--slots N] "
                         "[--poll-seconds S]\n";
            return 2;
        }
    }
    if (argc % 2 == 0) {
        std::cerr << "usage: bench-modbus [--round-trips N] [--devices N] [--slots N] "
                     "[--poll-seconds S]\n";
        return 2;
    }
    return run(s);
}
