// bench-modbus: measures the Modbus client against battery simulators.
//
//  1. Write round trips per second on one device, through ModbusConnection
//     and through a bare libmodbus loop on the same simulator (the ratio is
//     the client's overhead), with the device and the client on separate
//     cores and then on one core.
//  2. N devices (default 100), each on its own host:port, each driven by a
//     BatteryController as the adapter drives it: polled every second, and at
//     each slot change handed the slot's charge and discharge commands one
//     right after the other (one combined write, after the controller's slot
//     window): time from the slot's scheduled_at to each command's
//     acknowledgement, and the CPU the client side used (the simulators run
//     in a child process so they are not counted).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <modbus/modbus.h>

#include "gridgate/battery_sim/map_file.hpp"
#include "gridgate/battery_sim/simulator.hpp"
#include "gridgate/modbus/battery_controller.hpp"
#include "gridgate/modbus/connection.hpp"
#include "gridgate/modbus/poller.hpp"
#include "gridgate/modbus/setpoint.hpp"

#include "cli_number.hpp"

namespace {

using namespace gridgate;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Settings {
    /// Round trips per run; each round runs bare, queued and waited once.
    int round_trips = 100;
    int rounds = 121;
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
    std::printf("| %-56s | %-18s | %-14s |\n", what.c_str(), value.c_str(), target.c_str());
}

std::string fixed(double v, int decimals = 1) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
    return buffer;
}

double rate(int n, Clock::time_point begin) {
    return n / std::chrono::duration<double>(Clock::now() - begin).count();
}

/// Write round trips through the client, the caller waiting for each
/// acknowledgement before the next request (two thread hand-offs more per
/// round trip than the bare loop).
double client_waited_rate(modbus::ModbusConnection& c, int n) {
    const std::vector<std::uint16_t> values{0, 1000};
    int failed = 0;
    const auto begin = Clock::now();
    for (int i = 0; i < n; ++i) {
        std::promise<void> done;
        auto future = done.get_future();
        const bool queued = c.write({1, modbus::Table::holding, 100, values},
                                    [&](std::optional<modbus::ModbusError> e) {
                                        if (e) ++failed;
                                        done.set_value();
                                    });
        if (!queued) throw std::runtime_error("the client refused a write");
        future.wait();
    }
    const double result = rate(n, begin);
    // A failed write is quick: counting it would flatter the client.
    if (failed > 0) throw std::runtime_error(std::to_string(failed) + " writes failed");
    return result;
}

/// Write round trips through the client with every request queued up front
/// (a busy adapter: the worker never waits for a caller, and the caller sleeps
/// until the last acknowledgement). The time includes queueing them.
double client_queued_rate(modbus::ModbusConnection& c, int n) {
    const std::vector<std::uint16_t> values{0, 1000};
    std::mutex mutex;
    std::condition_variable cv;
    int remaining = n;
    int refused = 0;
    int failed = 0;
    const auto begin = Clock::now();
    for (int i = 0; i < n; ++i) {
        const bool queued = c.write({1, modbus::Table::holding, 100, values},
                                    [&](std::optional<modbus::ModbusError> e) {
                                        std::lock_guard lock(mutex);
                                        if (e) ++failed;
                                        if (--remaining == 0) cv.notify_one();
                                    });
        if (!queued) ++refused;
    }
    std::unique_lock lock(mutex);
    remaining -= refused;  // never to be acknowledged
    cv.wait(lock, [&] { return remaining == 0; });
    const double result = rate(n, begin);
    // Thrown only now: the queued writes' handlers use this frame.
    if (refused > 0) throw std::runtime_error("the client refused writes (queue full)");
    if (failed > 0) throw std::runtime_error(std::to_string(failed) + " writes failed");
    return result;
}

/// The same writes with libmodbus alone on the calling thread.
double bare_rate(modbus_t* ctx, int n) {
    const std::uint16_t values[2] = {0, 1000};
    const auto begin = Clock::now();
    for (int i = 0; i < n; ++i) {
        if (modbus_write_registers(ctx, 100, 2, values) != 2) {
            std::cerr << "bare libmodbus: " << modbus_strerror(errno) << "\n";
            return 0;
        }
    }
    return rate(n, begin);
}

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
    return cpus;
}

/// Moves the calling thread to `cpus`; the threads it starts afterwards
/// (the simulator's, the connection's worker) inherit them.
void run_on(const std::vector<int>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus) CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        std::cerr << "cannot pin to the chosen CPUs: " << std::strerror(errno) << "\n";
    }
}

/// Where the round-trip measurement runs: the simulator's threads on one
/// CPU, the client side (the bare loop, or the caller and the worker) on
/// another or the same.
struct Layout {
    std::string name;
    int device_cpu = 0;
    int client_cpu = 0;
};

/// Per-round rates, and the ratios of runs made moments apart.
struct RoundTripFigures {
    std::vector<double> bare, queued, waited, queued_ratio, waited_ratio;
};

// Fair terms for the two sides, which the first version of this bench did
// not give:
//  - Pinned threads. Left to the scheduler, the two threads that ping-pong
//    (the one driving libmodbus and the simulator's) land on one core for
//    some runs and on two for others, and a round trip across cores costs
//    about three times as much (a wake-up interrupt and an idle exit each
//    way): the paired ratios of unpinned runs ranged from 25 % to 400 %, a
//    placement lottery rather than a measure of either side. Pinned, both
//    sides get the same placement: one thread busy on the client's core.
//  - One connection per side for the whole measurement, and many short
//    runs in rotating order, so a burst of load from another process hits
//    both sides alike. (The first version opened a new connection and worker
//    thread per round, always ran the bare loop first, and took the median
//    of 5 rounds of 5000: on a shared 2-core VM its ratio wandered by ten
//    points from one invocation to the next; 121 rounds of 100 stay within
//    about two.)
//  - The simulator logs every write; the log is cleared after each round so
//    its growth (a reallocation under the simulator's lock) never falls on
//    one side only.
RoundTripFigures measure_round_trips(const Settings& s, const Layout& layout) {
    const auto all_cpus = allowed_cpus();
    run_on({layout.device_cpu});
    battery_sim::SimulatorOptions sim_options;
    sim_options.tick = 1s;
    battery_sim::BatterySimulator sim(sim_options);
    sim.start();
    run_on({layout.client_cpu});

    RoundTripFigures f;
    const auto free_context = [](modbus_t* ctx) {
        modbus_close(ctx);
        modbus_free(ctx);
    };
    std::unique_ptr<modbus_t, decltype(free_context)> bare_context(
        modbus_new_tcp("127.0.0.1", sim.port()), free_context);
    modbus_t* ctx = bare_context.get();
    if (ctx == nullptr || modbus_connect(ctx) != 0) {
        std::cerr << "bare libmodbus: cannot connect\n";
        run_on(all_cpus);
        return f;
    }
    modbus_set_slave(ctx, 1);
    {
        modbus::ConnectionOptions options;
        constexpr int warm_up = 100;
        options.queue_limit = static_cast<std::size_t>(std::max(s.round_trips, warm_up));
        modbus::ModbusConnection client({"127.0.0.1", sim.port()}, options);
        // Connect and warm up both sides.
        bare_rate(ctx, warm_up);
        client_queued_rate(client, warm_up);
        client_waited_rate(client, warm_up);
        sim.clear_writes();
        for (int round = 0; round < s.rounds; ++round) {
            double bare = 0, queued = 0, waited = 0;
            for (int step = 0; step < 3; ++step) {
                switch ((round + step) % 3) {
                    case 0:
                        bare = bare_rate(ctx, s.round_trips);
                        break;
                    case 1:
                        queued = client_queued_rate(client, s.round_trips);
                        break;
                    default:
                        waited = client_waited_rate(client, s.round_trips);
                        break;
                }
            }
            sim.clear_writes();
            if (bare <= 0) break;
            f.bare.push_back(bare);
            f.queued.push_back(queued);
            f.waited.push_back(waited);
            f.queued_ratio.push_back(queued / bare);
            f.waited_ratio.push_back(waited / bare);
        }
    }
    run_on(all_cpus);
    return f;
}

/// Runs `devices` simulators in a child process; returns their ports.
std::vector<std::uint16_t> spawn_simulators(int devices, pid_t& child) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
    const pid_t parent = getpid();
    child = fork();
    if (child == 0) {
        // Ends with the benchmark, however that ends (Ctrl-C, SIGTERM, a
        // crash): left behind, its devices would keep their ports.
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(0);
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
    std::printf("| %-56s | %-18s | %-14s |\n", "measure", "result", "target");
    std::printf("|%s|%s|%s|\n", std::string(58, '-').c_str(), std::string(20, '-').c_str(),
                std::string(16, '-').c_str());

    const auto cpus = allowed_cpus();
    std::vector<Layout> layouts;
    if (cpus.size() >= 2) {
        layouts.push_back({"separate cores", cpus[0], cpus[1]});
    } else {
        row("(one CPU available: no separate-cores layout)", "");
    }
    if (!cpus.empty()) layouts.push_back({"one core", cpus[0], cpus[0]});
    for (const auto& layout : layouts) {
        const auto f = measure_round_trips(s, layout);
        if (f.bare.empty()) return 1;
        const std::string rounds = std::to_string(f.bare.size());
        row("write round trips/s, device and client on " + layout.name, "");
        row("  bare libmodbus loop (median)", fixed(percentile(f.bare, 50), 0));
        row("  client, all queued at once (median)", fixed(percentile(f.queued, 50), 0));
        row("  queued / bare (median of " + rounds + " paired rounds)",
            fixed(100.0 * percentile(f.queued_ratio, 50), 1) + " %", ">= 90 %");
        row("  queued / bare, middle half of the rounds",
            fixed(100.0 * percentile(f.queued_ratio, 25), 1) + " .. " +
                fixed(100.0 * percentile(f.queued_ratio, 75), 1) + " %");
        row("  client, caller waits for each (median)", fixed(percentile(f.waited, 50), 0));
        row("  waits each / bare (two thread hand-offs more)",
            fixed(100.0 * percentile(f.waited_ratio, 50), 1) + " %");
    }
    if (s.devices <= 0) return 0;

    pid_t child = 0;
    const auto ports = spawn_simulators(s.devices, child);
    if (ports.size() != static_cast<std::size_t>(s.devices)) {
        std::cerr << "simulators did not start\n";
        return 1;
    }
    const auto map = battery_sim::generic_battery_map();
    const auto interval = std::chrono::milliseconds(static_cast<long>(s.poll_seconds * 1000));
    modbus::ConnectionPool pool;
    std::vector<std::unique_ptr<modbus::BatteryController>> batteries;
    std::atomic<long> readings{0};
    for (auto port : ports) {
        auto c = pool.get({"127.0.0.1", port}, {});
        modbus::BatteryControllerOptions options;
        options.map = map;
        options.limits = {.max_charge_kw = 50, .max_discharge_kw = 50};
        options.on_shutdown = modbus::BatteryControllerOptions::OnShutdown::leave;
        options.poll = modbus::PollerOptions{.plan = {.default_interval = interval}};
        batteries.push_back(std::make_unique<modbus::BatteryController>(
            *c, std::move(options),
            modbus::BatteryControllerHandlers{[&](const modbus::PointReading&) { ++readings; },
                                              nullptr, nullptr}));
    }
    for (auto& b : batteries) b->start();
    std::this_thread::sleep_for(1500ms);  // connects and first polls settle

    std::vector<double> latencies_ms;
    std::mutex latencies_mutex;
    std::atomic<int> failures{0};
    const double cpu_begin = cpu_seconds();
    const auto wall_begin = Clock::now();
    const long readings_begin = readings.load();
    for (int slot = 0; slot < s.slots; ++slot) {
        const auto scheduled_at = Clock::now() + 1s;
        const auto slot_at = std::chrono::system_clock::now() + 1s;
        std::this_thread::sleep_until(scheduled_at);  // the engine's timer firing at scheduled_at
        const double kw = (slot % 2 == 0) ? 10.0 : -10.0;
        auto done = [&, scheduled_at](modbus::ControlResult r) {
            const double ms =
                std::chrono::duration<double, std::milli>(Clock::now() - scheduled_at).count();
            if (!r.ok) ++failures;
            std::lock_guard lock(latencies_mutex);
            latencies_ms.push_back(ms);
        };
        // As the engine hands them over: the slot's charge, then its discharge.
        for (auto& b : batteries) {
            b->set_charge(std::max(kw, 0.0), done, slot_at);
            b->set_discharge(std::max(-kw, 0.0), done, slot_at);
        }
    }
    std::this_thread::sleep_for(1s);
    const double wall = std::chrono::duration<double>(Clock::now() - wall_begin).count();
    const double cpu = cpu_seconds() - cpu_begin;
    const long polled = readings.load() - readings_begin;
    for (auto& b : batteries) b->stop();
    batteries.clear();
    kill(child, SIGTERM);
    waitpid(child, nullptr, 0);

    std::lock_guard lock(latencies_mutex);
    row(std::to_string(s.devices) + " devices: point readings/s", fixed(polled / wall, 0),
        std::string("(") + fixed(2.0 * s.devices / s.poll_seconds, 0) + " expected)");
    row("setpoint commands acknowledged", std::to_string(latencies_ms.size() - failures) + " of " +
                                              std::to_string(2 * s.devices * s.slots));
    row("scheduled_at -> write acked, p50", fixed(percentile(latencies_ms, 50), 2) + " ms");
    row("scheduled_at -> write acked, p99", fixed(percentile(latencies_ms, 99), 2) + " ms",
        "< 20 ms");
    row("scheduled_at -> write acked, max", fixed(percentile(latencies_ms, 100), 2) + " ms");
    row("client CPU while polling + writing", fixed(100.0 * cpu / wall, 2) + " % of a core",
        "< 5 %");
    return failures == 0 ? 0 : 1;
}

}  // namespace

constexpr const char* kUsage =
    "usage: bench-modbus [--round-trips N] [--rounds N] [--devices N] [--slots N] "
    "[--poll-seconds S]\n"
    "  --round-trips N  writes per run (default 100); each round runs the bare loop,\n"
    "                   the queued client and the waiting client once\n"
    "  --rounds N       paired rounds per CPU layout (default 121)\n"
    "  --devices N      devices polled in the fleet part (default 100; 0 skips it)\n"
    "  --slots N        slot changes in the fleet part (default 5)\n"
    "  --poll-seconds S the fleet part's poll interval (default 1)\n";

int main(int argc, char** argv) {
    Settings s;
    if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
        std::cout << kUsage;
        return 0;
    }
    // Options come in pairs: a lone word is a mistake, not a default run.
    if (argc % 2 == 0) {
        std::cerr << kUsage;
        return 2;
    }
    // Each value within its range: a run, a round, a slot of none measures
    // nothing, and "-3" devices is not "skip the fleet part".
    struct Whole {
        const char* name;
        int& value;
        long long min, max;
    };
    const Whole wholes[] = {{"--round-trips", s.round_trips, 1, 1'000'000},
                            {"--rounds", s.rounds, 1, 100'000},
                            {"--devices", s.devices, 0, 1000},
                            {"--slots", s.slots, 1, 1000}};
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        const std::string value = argv[i + 1];
        if (arg == "--poll-seconds") {
            const auto seconds = gridgate::tools::decimal_number(value, 0.01, 3600);
            if (!seconds) {
                std::cerr << "bench-modbus: --poll-seconds wants a number of seconds from 0.01 "
                             "to 3600, not '"
                          << value << "'\n";
                return 2;
            }
            s.poll_seconds = *seconds;
            continue;
        }
        const auto* option = std::find_if(std::begin(wholes), std::end(wholes),
                                          [&](const Whole& w) { return arg == w.name; });
        if (option == std::end(wholes)) {
            std::cerr << kUsage;
            return 2;
        }
        const auto number = gridgate::tools::whole_number(value, option->min, option->max);
        if (!number) {
            std::cerr << "bench-modbus: "
                      << gridgate::tools::whole_number_wanted(arg, option->min, option->max, value)
                      << "\n";
            return 2;
        }
        option->value = static_cast<int>(*number);
    }
    try {
        return run(s);
    } catch (const std::exception& e) {
        std::cerr << "bench-modbus: " << e.what() << "\n";
        return 1;
    }
}
