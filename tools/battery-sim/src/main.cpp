// battery-sim: a simulated battery behind a Modbus TCP server.
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "gridgate/battery_sim/map_file.hpp"
#include "gridgate/battery_sim/simulator.hpp"

namespace {

constexpr const char* usage = R"(Usage: battery-sim [options]
A simulated battery behind a Modbus TCP server: its measured power follows the
setpoint and its state of charge integrates that power.

  --port N               TCP port (default 1502; 0 = any free port)
  --bind ADDRESS         IPv4 address to listen on (default 127.0.0.1)
  --map FILE             register map TOML (default: built-in generic_battery)
  --unit ID              unit id served; repeat for several (default 1)
  --capacity-kwh X       usable capacity (default 100)
  --soc PERCENT          initial state of charge (default 50)
  --max-charge-kw X      physical charge limit (default 100)
  --max-discharge-kw X   physical discharge limit (default 100)
  --rated-kw X           rated power for percent setpoints (default 100)
  --time-scale X         simulated seconds per real second (default 1)
  --revert-after S       fall back to idle after S seconds (0.001 to 1000000)
                         without a setpoint write
  --lenient              answer reads of addresses the map does not define
  --help                 this text
)";

double number(const std::string& option, const char* text) {
    try {
        std::size_t used = 0;
        const double v = std::stod(text, &used);
        // stod reads "inf" and "nan": no battery has an infinite limit, and
        // an infinite --revert-after would overflow its conversion.
        if (used == std::string(text).size() && std::isfinite(v)) return v;
    } catch (const std::exception&) {
    }
    throw std::invalid_argument(option + " needs a finite number, got '" + text + "'");
}

}  // namespace

int main(int argc, char** argv) {
    using namespace gridgate;
    battery_sim::SimulatorOptions options;
    // The program never shows what writes() records: keep none, so that a
    // simulator run for weeks stays the size it started.
    options.max_recorded_writes = 0;
    options.port = 1502;
    bool units_given = false;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--help" || arg == "-h") {
                std::cout << usage;
                return 0;
            }
            if (arg == "--lenient") {
                options.strict_addresses = false;
                continue;
            }
            static const std::set<std::string> with_value{
                "--port",         "--bind",       "--map",           "--unit",
                "--capacity-kwh", "--soc",        "--max-charge-kw", "--max-discharge-kw",
                "--rated-kw",     "--time-scale", "--revert-after"};
            if (!with_value.contains(arg)) {
                throw std::invalid_argument("unknown option " + arg + " (see --help)");
            }
            if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value (see --help)");
            const char* value = argv[++i];
            if (arg == "--port") {
                const double port = number(arg, value);
                if (port < 0 || port > 65535 || port != std::floor(port))
                    throw std::invalid_argument("--port must be a whole number 0..65535");
                options.port = static_cast<std::uint16_t>(port);
            } else if (arg == "--bind") {
                options.bind_address = value;
            } else if (arg == "--map") {
                auto map = battery_sim::load_register_map(value);
                if (!map) {
                    for (const auto& e : map.error()) std::cerr << e.str() << "\n";
                    return 2;
                }
                options.map = std::move(map).value();
            } else if (arg == "--unit") {
                const double unit = number(arg, value);
                if (unit < 0 || unit > 255 || unit != std::floor(unit))
                    throw std::invalid_argument("--unit must be a whole number 0..255");
                if (!units_given) options.units.clear();
                units_given = true;
                options.units.push_back(static_cast<std::uint8_t>(unit));
            } else if (arg == "--capacity-kwh") {
                options.capacity_kwh = number(arg, value);
            } else if (arg == "--soc") {
                options.initial_soc = number(arg, value);
            } else if (arg == "--max-charge-kw") {
                options.limits.max_charge_kw = number(arg, value);
            } else if (arg == "--max-discharge-kw") {
                options.limits.max_discharge_kw = number(arg, value);
            } else if (arg == "--rated-kw") {
                options.limits.rated_power_kw = number(arg, value);
            } else if (arg == "--time-scale") {
                options.time_scale = number(arg, value);
            } else if (arg == "--revert-after") {
                // Whole milliseconds: below one it would be 0, and a value
                // beyond the range would overflow the conversion.
                const double seconds = number(arg, value);
                if (!(seconds >= 0.001 && seconds <= 1e6))
                    throw std::invalid_argument(
                        "--revert-after must be from 0.001 to 1000000 seconds, got '" +
                        std::string(value) + "'");
                options.revert_after = std::chrono::milliseconds(std::llround(seconds * 1000));
            } else {
                throw std::invalid_argument("unknown option " + arg + " (see --help)");
            }
        }
        if (!(options.capacity_kwh > 0)) throw std::invalid_argument("--capacity-kwh must be > 0");
        if (!(options.initial_soc >= 0 && options.initial_soc <= 100))
            throw std::invalid_argument("--soc must be 0..100 (percent)");
        if (!(options.time_scale > 0)) throw std::invalid_argument("--time-scale must be > 0");
        const auto& limits = options.limits;
        if (!(limits.max_charge_kw >= 0) || !(limits.max_discharge_kw >= 0) ||
            (limits.rated_power_kw && !(*limits.rated_power_kw >= 0)))
            throw std::invalid_argument(
                "--max-charge-kw, --max-discharge-kw and --rated-kw must be >= 0");

        // Block the stop signals before any thread starts, then wait for one.
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGINT);
        sigaddset(&stop_signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

        battery_sim::BatterySimulator sim(options);
        sim.start();
        std::cout << "battery-sim: map " << options.map.name << " on " << options.bind_address
                  << ":" << sim.port() << ", units";
        for (auto u : options.units) std::cout << " " << int{u};
        std::cout << std::endl;
        int signal = 0;
        sigwait(&stop_signals, &signal);
        sim.stop();
        return 0;
    } catch (const std::exception& e) {
        // The library names itself; the program's name says it once.
        std::string_view what = e.what();
        constexpr std::string_view kLibrary = "battery simulator: ";
        if (what.starts_with(kLibrary)) what.remove_prefix(kLibrary.size());
        std::cerr << "battery-sim: " << what << "\n";
        return 2;
    }
}
