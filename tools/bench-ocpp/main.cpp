// bench-ocpp: runs the gateway in-process with the ocpp16 plugin, connects a
// fleet of simulated charge points from a separate charger-sim process, and
// prints a table: memory per idle connection, a slot change that sends
// SetChargingProfile to every charger at the same instant (time to the last
// answer, gateway CPU per call), and latency percentiles at a smaller fleet.
// Beside each storm figure it prints the machine's floor, measured in the
// same run: a bare epoll loop doing the same exchange over plain loopback
// sockets (floor.hpp).
//
//   bench-ocpp [--chargers N] [--small N] [--storms N] [--io-threads N]
//
// To profile the storms only: mkfifo /tmp/ctl; GRIDGATE_PERF_CTL=/tmp/ctl
//   perf record -g -D -1 --control fifo:/tmp/ctl -- bench-ocpp
// Under valgrind's callgrind with --instr-atstart=no, it counts the storms
// only (tools/bench-instructions).
#include <fcntl.h>
#include <rapidjson/document.h>

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/asio/ip/tcp.hpp>
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define GRIDGATE_CALLGRIND_CONTROL 1
#endif

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "floor.hpp"
#include "gridgate/config/site_loader.hpp"
#include "gridgate/engine/timestamp.hpp"
#include "gridgate/gateway/gateway.hpp"
#include "gridgate/gateway/process.hpp"
#include "gridgate/sim/charger_fleet.hpp"
#include "http_client.hpp"

using namespace gridgate;
using namespace std::chrono_literals;

namespace {

long rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * sysconf(_SC_PAGESIZE);
}

// A /proc .../stat file: the task's name and the CPU seconds it has used in
// user space and in the kernel (utime and stime, fields 14 and 15, in ticks
// of 10 ms); nullopt if it cannot be read.
struct StatCpu {
    std::string name;
    double user = 0, kernel = 0;
};
std::optional<StatCpu> stat_cpu(const std::filesystem::path& stat_file) {
    std::ifstream stat(stat_file);
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto open = text.find('('), close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos) return std::nullopt;
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    StatCpu out{text.substr(open + 1, close - open - 1)};
    const auto tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) out.user = std::atof(field.c_str()) / tick;
        if (i == 15) out.kernel = std::atof(field.c_str()) / tick;
    }
    return out;
}

// CPU seconds used so far by thread `tid` of this process, to the
// nanosecond (the ticks of /proc stat files are 10 ms: 1 us per call over a
// storm); nullopt if the thread is gone. The clock id is the kernel's for a
// thread's CPU time, as pthread_getcpuclockid() makes it.
std::optional<double> thread_cpu_seconds(pid_t tid) {
    const auto clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6U);
    timespec t{};
    if (clock_gettime(clock, &t) != 0) return std::nullopt;
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// CPU seconds used so far by the threads of one name: in all, to the
// nanosecond, and split into user space and kernel as the ticks say.
struct ThreadCpu {
    double total = 0, user_ticks = 0, kernel_ticks = 0;
};

// The same for each thread name of this process.
std::map<std::string, ThreadCpu> cpu_by_thread() {
    std::map<std::string, ThreadCpu> out;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        auto stat = stat_cpu(task.path() / "stat");
        if (!stat) continue;
        const auto tid = static_cast<pid_t>(std::atol(task.path().filename().c_str()));
        ThreadCpu& cpu = out[stat->name];
        cpu.total += thread_cpu_seconds(tid).value_or(stat->user + stat->kernel);
        cpu.user_ticks += stat->user;
        cpu.kernel_ticks += stat->kernel;
    }
    return out;
}

// CPU seconds used so far by process `pid` (the fleet).
double cpu_seconds_of(pid_t pid) {
    auto cpu = stat_cpu("/proc/" + std::to_string(pid) + "/stat");
    return cpu ? cpu->user + cpu->kernel : 0;
}

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

std::string site_text(const std::vector<std::string>& ids, unsigned short ocpp_port,
                      std::size_t io_threads) {
    std::string s = R"([site]
name = "bench-ocpp"

[api]
listen = "127.0.0.1:0"
body_limit_bytes = 268435456

[engine]
timeout_seconds = 30.0

[adapters.ocpp]
plugin = "ocpp16"
listen = "127.0.0.1:)" +
                    std::to_string(ocpp_port) + R"("
path = "/ocpp"
heartbeat_interval_seconds = 3600
io_threads = )" + std::to_string(io_threads) +
                    "\n";
    for (const auto& id : ids)
        s += "\n[[assets]]\nid = \"ast_" + id +
             "\"\ntype = \"ev_charger\"\nadapter = \"ocpp\"\n"
             "charge_point_id = \"" +
             id + "\"\n";
    s += "\n[schedule.asset_map]\n";
    for (const auto& id : ids) s += "ev_" + id + " = \"ast_" + id + "\"\n";
    return s;
}

unsigned short free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

// Metric value of the first sample line starting with `prefix`.
double metric(const std::string& text, const std::string& prefix) {
    auto at = text.find("\n" + prefix);
    if (at == std::string::npos) return 0;
    auto space = text.find(' ', at + 1 + prefix.size());
    return std::atof(text.c_str() + space + 1);
}

// With GRIDGATE_PERF_CTL naming the control FIFO of `perf record -D -1
// --control fifo:FIFO`, the profile covers the storms only. Under callgrind
// started with --instr-atstart=no, so does its count: its client requests
// take effect at once (outside valgrind they are a few no-op instructions).
void perf_control(const char* command) {
#ifdef GRIDGATE_CALLGRIND_CONTROL
    if (std::strcmp(command, "enable") == 0) {
        CALLGRIND_START_INSTRUMENTATION;
    } else {
        CALLGRIND_STOP_INSTRUMENTATION;
    }
#endif
    static const char* fifo = std::getenv("GRIDGATE_PERF_CTL");
    if (!fifo) return;
    if (std::FILE* f = std::fopen(fifo, "w")) {
        std::fprintf(f, "%s\n", command);
        std::fclose(f);
    }
}

struct Storm {
    sdk::TimePoint scheduled_at;
    std::map<std::string, double> cpu_us_per_call_by_thread;
    // The storm's user and kernel ticks, in seconds, per thread name: the
    // kernel's share is kernel / (user + kernel), over a few dozen ticks.
    std::map<std::string, std::pair<double, double>> ticks_by_thread;
    double fleet_cpu_us_per_call = 0;
    double last_answer_ms = 0, p50_ms = 0, p99_ms = 0, cpu_us_per_call = 0;
    double handed_p50_ms = 0, handed_p99_ms = 0;  // scheduled_at -> dispatched_at
    double handed_first_ms = 0, handed_p10_ms = 0, handed_p90_ms = 0;
    std::size_t completed = 0, total = 0;
};

// Posts one slot changing the limit of the first `n` chargers at the same
// instant; waits for every command to end.
Storm storm(unsigned short port, const std::vector<std::string>& ids, std::size_t n, double kw,
            pid_t fleet) {
    auto t0 = std::chrono::time_point_cast<std::chrono::milliseconds>(sdk::Clock::now()) + 2s;
    std::string csv = "timestamp";
    for (std::size_t i = 0; i < n; ++i) csv += ",ev_" + ids[i] + "_kw";
    csv += "\n" + engine::format_timestamp(t0);
    char value[32];
    std::snprintf(value, sizeof value, ",%.1f", kw);
    for (std::size_t i = 0; i < n; ++i) csv += value;
    csv += "\n";
    auto posted = tools::http_request(port, "POST", "/api/v1/schedules", csv, "text/csv");
    if (posted.status != 201) throw std::runtime_error("schedule refused: " + posted.body);
    rapidjson::Document answer;
    answer.Parse(posted.body.c_str());
    std::unordered_set<std::string> wanted;
    for (const auto& id : answer["commands"].GetArray()) wanted.emplace(id.GetString());

    std::this_thread::sleep_until(t0 - 200ms);
    // The window is the whole process, gateway and plugin, less this
    // thread: the benchmark's own (its /metrics polls, reading /proc). The
    // gateway's answers to those polls are counted.
    perf_control("enable");
    auto threads0 = cpu_by_thread();
    double cpu0 = cpu_seconds();
    const pid_t harness = ::getpid();  // this, the main thread
    const double harness0 = thread_cpu_seconds(harness).value_or(0);
    double fleet0 = cpu_seconds_of(fleet);
    for (auto until = t0 + 30s; sdk::Clock::now() < until;) {
        std::this_thread::sleep_for(50ms);
        auto m = tools::http_request(port, "GET", "/metrics").body;
        double pending = metric(m, "gridgate_commands{status=\"PENDING\"}") +
                         metric(m, "gridgate_commands{status=\"DISPATCHED\"}");
        if (sdk::Clock::now() > t0 && pending == 0) break;
    }
    const double harness1 = thread_cpu_seconds(harness).value_or(0);
    double cpu1 = cpu_seconds();
    double fleet1 = cpu_seconds_of(fleet);
    auto threads1 = cpu_by_thread();
    perf_control("disable");

    Storm s;
    s.scheduled_at = t0;
    const double us_per_call = 1e6 / static_cast<double>(std::max<std::size_t>(1, n));
    s.fleet_cpu_us_per_call = (fleet1 - fleet0) * us_per_call;
    for (const auto& [name, cpu] : threads1) {
        const ThreadCpu& before = threads0[name];
        s.cpu_us_per_call_by_thread[name] = (cpu.total - before.total) * us_per_call;
        s.ticks_by_thread[name] = {cpu.user_ticks - before.user_ticks,
                                   cpu.kernel_ticks - before.kernel_ticks};
    }
    std::vector<double> answered, handed;
    rapidjson::Document all;
    all.Parse(tools::http_request(port, "GET", "/api/v1/commands").body.c_str());
    for (const auto& c : all["commands"].GetArray()) {
        if (!wanted.count(c["command_id"].GetString())) continue;
        ++s.total;
        if (std::string(c["status"].GetString()) != "COMPLETED") continue;
        ++s.completed;
        auto sch = engine::parse_timestamp(c["scheduled_at"].GetString());
        auto done = engine::parse_timestamp(c["completed_at"].GetString());
        auto dispatched = engine::parse_timestamp(c["dispatched_at"].GetString());
        answered.push_back(std::chrono::duration<double, std::milli>(*done - *sch).count());
        handed.push_back(std::chrono::duration<double, std::milli>(*dispatched - *sch).count());
    }
    s.last_answer_ms = percentile(answered, 1.0);
    s.p50_ms = percentile(answered, 0.5);
    s.p99_ms = percentile(answered, 0.99);
    s.handed_p50_ms = percentile(handed, 0.5);
    s.handed_p99_ms = percentile(handed, 0.99);
    s.handed_first_ms = percentile(handed, 0.0);
    s.handed_p10_ms = percentile(handed, 0.1);
    s.handed_p90_ms = percentile(handed, 0.9);
    s.cpu_us_per_call = ((cpu1 - cpu0) - (harness1 - harness0)) * us_per_call;
    return s;
}

double median(std::vector<double> v) {
    return percentile(std::move(v), 0.5);
}

// Milliseconds from `scheduled_at` to the arrival of each SetChargingProfile
// the fleet reported in `report` from byte `offset` on: the call's time on
// the wire (the kernel's arrival stamp at the charger's socket).
std::vector<double> wire_times(const std::string& report, std::streamoff offset,
                               sdk::TimePoint scheduled_at) {
    std::ifstream in(report);
    in.seekg(offset);
    std::vector<double> out;
    for (std::string line; std::getline(in, line);) {
        rapidjson::Document event;
        event.Parse(line.c_str());
        if (event.HasParseError() || !event.IsObject() || !event.HasMember("action") ||
            std::string_view(event["action"].GetString()) != "SetChargingProfile")
            continue;
        auto at = engine::parse_timestamp(event["t"].GetString());
        if (!at) continue;
        out.push_back(std::chrono::duration<double, std::milli>(*at - scheduled_at).count());
    }
    return out;
}

// Ctrl-C or a SIGTERM ends the benchmark: the fleet is a process of its own
// and would go on reconnecting for minutes, and its report would stay in the
// temporary directory. The handler does only what is async-signal-safe.
volatile sig_atomic_t g_fleet = 0;
char g_report[4096] = {};

extern "C" void on_stop_signal(int signal_number) {
    if (g_fleet > 0) ::kill(static_cast<pid_t>(g_fleet), SIGTERM);
    if (g_report[0]) ::unlink(g_report);
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
}

// Starts the fleet with its standard output into `report`. It gets SIGTERM
// when this process ends, however it ends (PR_SET_PDEATHSIG), also killed
// outright or by a signal that comes before g_fleet names it. The main
// thread forks, and lives as long as the process: the signal follows the
// death of the forking thread. Between fork and exec only async-signal-safe
// calls: this process runs other threads.
pid_t start_fleet(const std::string& path, std::vector<char*>& argv, const std::string& report) {
    const int out = ::open(report.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return -1;
    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    if (child == 0) {
        if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent) ::_exit(127);
        if (::dup2(out, STDOUT_FILENO) < 0) ::_exit(127);  // the copy is not close-on-exec
        ::execv(path.c_str(), argv.data());
        ::_exit(127);
    }
    const int saved = errno;
    ::close(out);
    errno = saved;
    return child;
}

std::streamoff file_size(const std::string& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    return ec ? 0 : static_cast<std::streamoff>(size);
}

}  // namespace

int main(int argc, char** argv) {
    gateway::tune_malloc(argv);  // as the daemon does; the fleet inherits it
    std::size_t chargers = 10000, small = 1000, storms = 3, io_threads = 1;
    constexpr const char* kUsage =
        "usage: bench-ocpp [--chargers N] [--small N] [--storms N] [--io-threads N]\n";
    if (argc == 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
        std::fputs(kUsage, stdout);
        std::fputs(
            "Runs the gateway with the OCPP plugin and a charger-sim fleet beside it, and\n"
            "prints a table: memory per idle connection, SetChargingProfile storms to\n"
            "every charger (time to the last answer, CPU per call), and scheduled_at ->\n"
            "on the wire at the smaller fleet, each beside this machine's floor.\n"
            "\n"
            "  --chargers N    chargers connected (default 10000)\n"
            "  --small N       chargers of the latency storm (default 1000)\n"
            "  --storms N      storms to all chargers; medians are printed (default 3)\n"
            "  --io-threads N  the OCPP adapter's io_threads (default 1)\n"
            "\n"
            "Exit status: 0 every call answered, 1 some were not or the run failed,\n"
            "2 bad usage.\n",
            stdout);
        return 0;
    }
    // Options come in pairs: a lone word is a mistake, not a default run.
    if (argc % 2 == 0) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    // Every option takes a whole number of at least 1: a fleet, a storm or a
    // thread of none measures nothing.
    auto count = [&](const char* name, const char* text, std::size_t& out) {
        char* end = nullptr;
        errno = 0;
        const unsigned long long value = std::strtoull(text, &end, 10);
        if (*text < '0' || *text > '9' || *end != '\0' || errno != 0 || value == 0) {
            std::fprintf(stderr, "bench-ocpp: %s wants a whole number of at least 1, not '%s'\n",
                         name, text);
            return false;
        }
        out = static_cast<std::size_t>(value);
        return true;
    };
    for (int i = 1; i + 1 < argc; i += 2) {
        std::size_t* target = nullptr;
        if (!std::strcmp(argv[i], "--chargers"))
            target = &chargers;
        else if (!std::strcmp(argv[i], "--small"))
            target = &small;
        else if (!std::strcmp(argv[i], "--io-threads"))
            target = &io_threads;
        else if (!std::strcmp(argv[i], "--storms"))
            target = &storms;
        if (!target) {
            std::fputs(kUsage, stderr);
            return 2;
        }
        if (!count(argv[i], argv[i + 1], *target)) return 2;
    }
    small = std::min(small, chargers);
    const auto open_files = gateway::raise_open_file_limit();  // as the daemon does
    if (open_files < chargers + 256) {
        std::fprintf(stderr, "bench-ocpp: the open-file limit (%llu) is too low for %zu chargers\n",
                     open_files, chargers);
        return 1;
    }

    auto ids = sim::numbered_identities("CP", chargers);
    auto ocpp_port = free_port();
    auto loaded = config::parse_site(site_text(ids, ocpp_port, io_threads), "bench-ocpp.toml", {});
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
        return 1;
    }
    spdlog::set_level(spdlog::level::warn);
    gateway::PluginCatalog catalog;
    catalog.load_directory(gateway::PluginCatalog::default_directory());
    gateway::GatewayOptions options;
    options.plugin_log_level = sdk::LogLevel::Warn;
    options.handle_signals = false;  // Ctrl-C ends the benchmark, not just the gateway
    gateway::Gateway gw(std::move(*loaded.config), catalog, options);
    if (auto errors = gw.start(); !errors.empty()) {
        for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
        return 1;
    }
    std::thread runner([&] {
        pthread_setname_np(pthread_self(), "gridgate-io");
        gw.run();
    });
    const auto api = gw.api_port();
    std::this_thread::sleep_for(500ms);
    const long rss0 = rss_bytes();

    // The fleet runs in its own process so its memory and CPU are not counted.
    auto sim_path =
        (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "charger-sim").string();
    // --duration: should this process die without stopping the fleet, the
    // fleet does not stay on for ever.
    std::vector<std::string> args{sim_path,
                                  "--url",
                                  "ws://127.0.0.1:" + std::to_string(ocpp_port) + "/ocpp",
                                  "--count",
                                  std::to_string(chargers),
                                  "--threads",
                                  "1",
                                  "--heartbeat",
                                  "3600",
                                  "--report",
                                  "calls",
                                  "--duration",
                                  std::to_string(300 + 10 * storms)};
    std::vector<char*> argv_sim;
    for (auto& a : args) argv_sim.push_back(a.data());
    argv_sim.push_back(nullptr);
    // The fleet's report of every call it receives, with its arrival time.
    const std::string report = (std::filesystem::temp_directory_path() /
                                ("bench-ocpp-" + std::to_string(getpid()) + ".jsonl"))
                                   .string();
    if (report.size() < sizeof g_report) std::memcpy(g_report, report.c_str(), report.size() + 1);
    struct sigaction stop {};
    stop.sa_handler = on_stop_signal;
    sigemptyset(&stop.sa_mask);
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal_number, &stop, nullptr);
    const pid_t fleet = start_fleet(sim_path, argv_sim, report);
    if (fleet < 0) {
        std::fprintf(stderr, "bench-ocpp: cannot start %s: %s\n", sim_path.c_str(),
                     std::strerror(errno));
        std::filesystem::remove(report);
        gw.stop();
        runner.join();
        return 1;
    }
    g_fleet = fleet;

    auto connect_start = std::chrono::steady_clock::now();
    double connected = 0;
    for (auto until = connect_start + 120s; std::chrono::steady_clock::now() < until;) {
        std::this_thread::sleep_for(250ms);
        if (int status = 0; waitpid(fleet, &status, WNOHANG) == fleet) {
            // It could not run (exit 127: the exec failed), or gave up.
            std::fprintf(stderr, "bench-ocpp: %s ended before its chargers connected (%s %d)\n",
                         sim_path.c_str(), WIFEXITED(status) ? "exit" : "signal",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            g_fleet = 0;
            std::filesystem::remove(report);
            gw.stop();
            runner.join();
            return 1;
        }
        connected = metric(tools::http_request(api, "GET", "/metrics").body,
                           "gridgate_assets_connected{adapter=\"ocpp\"}");
        if (connected >= static_cast<double>(chargers)) break;
    }
    double connect_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_start).count();
    std::this_thread::sleep_for(2s);  // let boots and status notifications settle
    const long rss1 = rss_bytes();

    // The fleet, its report and the gateway end however the storms end.
    auto stop_all = [&] {
        std::error_code ignored;
        std::filesystem::remove(report, ignored);
        g_report[0] = '\0';
        kill(fleet, SIGTERM);
        int status = 0;
        waitpid(fleet, &status, 0);
        g_fleet = 0;
        gw.stop();
        runner.join();
    };
    std::vector<Storm> big;
    Storm little;
    std::vector<double> wire;
    try {
        for (std::size_t i = 0; i < storms; ++i) {
            big.push_back(storm(api, ids, chargers, i % 2 ? 7.4 : 7.3, fleet));
            std::fprintf(stderr,
                         "storm %zu: last answer %.0f ms, %.1f us gateway CPU per call (by "
                         "thread, with the benchmark's own, not counted:",
                         i + 1, big.back().last_answer_ms, big.back().cpu_us_per_call);
            for (const auto& [name, us] : big.back().cpu_us_per_call_by_thread)
                if (us > 0.05) std::fprintf(stderr, " %s %.1f", name.c_str(), us);
            std::fprintf(stderr, " ), the fleet %.1f us\n", big.back().fleet_cpu_us_per_call);
        }
        std::this_thread::sleep_for(300ms);  // the fleet writes its report every 100 ms
        const auto before_small = file_size(report);
        little = storm(api, ids, small, 11.0, fleet);
        std::this_thread::sleep_for(300ms);
        wire = wire_times(report, before_small, little.scheduled_at);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench-ocpp: %s\n", e.what());
        stop_all();
        return 1;
    }
    stop_all();

    // The floor, with the gateway and the fleet gone: their descriptors are
    // free, and no other thread runs while it forks its far end.
    auto floor_big = tools::measure_floor(chargers, storms);
    auto floor_small = tools::measure_floor(small, storms);
    for (const auto* f : {&floor_big, &floor_small})
        if (!f->error.empty()) std::fprintf(stderr, "bench-ocpp: floor: %s\n", f->error.c_str());
    // Idle as long as the storms are apart (a schedule posted 2 s ahead).
    const auto cold = tools::measure_cold_touch(2s);
    if (!cold.error.empty())
        std::fprintf(stderr, "bench-ocpp: cold touch: %s\n", cold.error.c_str());

    std::printf("| %-58s | %-16s | %-14s |\n", "measure", "result", "target");
    std::printf("|%s|%s|%s|\n", std::string(60, '-').c_str(), std::string(18, '-').c_str(),
                std::string(16, '-').c_str());
    auto row = [](const std::string& m, const std::string& r, const std::string& t) {
        std::printf("| %-58s | %-16s | %-14s |\n", m.c_str(), r.c_str(), t.c_str());
    };
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0f of %zu in %.1f s", connected, chargers, connect_s);
    row("charge points connected", buf, "");
    std::snprintf(buf, sizeof buf, "%.1f KiB",
                  (rss1 - rss0) / 1024.0 / static_cast<double>(chargers));
    row("gateway RSS growth per idle connection", buf, "< 8 KiB");
    std::size_t answered = 0, sent = 0;
    std::vector<double> last, cpu;
    for (const auto& b : big) {
        answered += b.completed;
        sent += b.total;
        last.push_back(b.last_answer_ms);
        cpu.push_back(b.cpu_us_per_call);
    }
    const std::string of_storms = " (median of " + std::to_string(storms) + ")";
    std::snprintf(buf, sizeof buf, "%zu of %zu", answered, sent);
    row("storms: SetChargingProfile to every charger at once, answered", buf, "all");
    // Floor figures, each the median over its rounds; "-" if it failed.
    auto floor_row = [&](const std::string& m, const tools::FloorResult& f, const char* format,
                         auto... figure) {
        if (f.rounds.empty()) return row(m, "-", "");
        auto median_of = [&](auto of_round) {
            std::vector<double> per_round;
            for (const auto& r : f.rounds) per_round.push_back(of_round(r));
            return median(per_round);
        };
        std::snprintf(buf, sizeof buf, format, median_of(figure)...);
        row(m, buf, "");
    };
    const std::string bare = "  floor (**): a bare epoll loop";
    std::snprintf(buf, sizeof buf, "%.0f ms", median(last));
    row("storm: scheduled_at -> last answer" + of_storms, buf, "< 300 ms");
    floor_row(bare + ", last answer", floor_big, "%.0f ms",
              [](const tools::FloorRound& r) { return r.last_answer_ms; });
    std::snprintf(buf, sizeof buf, "%.1f us", median(cpu));
    row("storm: gateway CPU per call, all its threads" + of_storms, buf, "< 15 us");
    floor_row(bare + ", CPU per round trip", floor_big, "%.1f us",
              [](const tools::FloorRound& r) { return r.cpu_us_per_round_trip; });
    {
        // The kernel's share of the OCPP I/O thread's time over all the
        // storms' ticks (10 ms each). Not the engine's thread: its short
        // bursts give too few ticks, which fall on it where they fall.
        double user = 0, kernel = 0;
        for (const auto& b : big) {
            auto found = b.ticks_by_thread.find("ocpp16-io");
            if (found == b.ticks_by_thread.end()) continue;
            user += found->second.first;
            kernel += found->second.second;
        }
        std::snprintf(buf, sizeof buf, "%.0f%%",
                      user + kernel > 0 ? 100 * kernel / (user + kernel) : 0.0);
        row("  the OCPP I/O thread's share in the kernel (all storms)", buf, "");
        floor_row(bare + ", in the kernel", floor_big, "%.0f%%",
                  [](const tools::FloorRound& r) { return r.kernel_share_percent; });
    }
    if (cold.error.empty()) {
        std::snprintf(buf, sizeof buf, "%.1f us (huge: %.2f)", cold.small_pages_us,
                      cold.huge_pages_us);
        row("  this machine: memory idle 2 s, touched again (***)", buf, "");
    }
    std::snprintf(buf, sizeof buf, "%.2f / %.2f ms", percentile(wire, 0.5), percentile(wire, 0.99));
    row("at " + std::to_string(small) + " chargers: scheduled_at -> on the wire, p50 / p99 (*)",
        buf, "p99 < 5 ms");
    floor_row(
        bare + ", sent, p50 / p99", floor_small, "%.2f / %.2f ms",
        [](const tools::FloorRound& r) { return percentile(r.sent_ms, 0.5); },
        [](const tools::FloorRound& r) { return percentile(r.sent_ms, 0.99); });
    // Where the time goes: a late first call is a slow start (a wake-up,
    // cold code), a wide p10-p90 a slow pace.
    std::snprintf(buf, sizeof buf, "%.2f / %.2f / %.2f ms", percentile(wire, 0.0),
                  percentile(wire, 0.1), percentile(wire, 0.9));
    row("  on the wire: the first, p10 / p90", buf, "");
    std::snprintf(buf, sizeof buf, "%zu of %zu", wire.size(), small);
    row("  calls seen by the fleet", buf, "all");
    std::snprintf(buf, sizeof buf, "%.2f / %.2f ms", little.handed_p50_ms, little.handed_p99_ms);
    row("  of which scheduled_at -> handed to the plugin, p50 / p99", buf, "");
    std::snprintf(buf, sizeof buf, "%.2f / %.2f / %.2f ms", little.handed_first_ms,
                  little.handed_p10_ms, little.handed_p90_ms);
    row("  handed over: the first, p10 / p90", buf, "");
    std::snprintf(buf, sizeof buf, "%.2f / %.2f ms", little.p50_ms, little.p99_ms);
    row("at " + std::to_string(small) + " chargers: scheduled_at -> answer, p50 / p99", buf, "");
    std::printf(
        "(*) the kernel's arrival stamp of the call at the simulated charger's socket\n"
        "    (SO_TIMESTAMPNS): on loopback, when the gateway's send put it on the wire.\n"
        "(**) one thread sends a %zu-byte frame on each of N plain loopback sockets in a\n"
        "    tight loop; a forked process answers each with %zu bytes. No WebSocket, JSON,\n"
        "    schema or engine: what this machine's kernel costs at this moment.\n"
        "(***) per 4 KiB page, in 4 KiB pages and in huge pages%s: what a storm pays\n"
        "    for each page of code or data untouched since the last storm, beyond its\n"
        "    instructions, where the machine ages idle memory (the floor touches almost none).\n"
        "In the kernel: the kernel's own split of a thread's time, sampled at its clock\n"
        "    tick (10 ms); over the storms of one run, a few per cent either way.\n",
        tools::kFloorFrameBytes, tools::kFloorAnswerBytes,
        cold.huge ? "" : " (none given: the huge figure is for 4 KiB pages too)");
    return wire.size() == small && answered == sent && floor_big.error.empty() &&
                   floor_small.error.empty()
               ? 0
               : 1;
}
