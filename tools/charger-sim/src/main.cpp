// charger-sim: runs one or thousands of simulated OCPP 1.6-J charge points
// against a central system and prints what they receive as JSON lines.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>

#include "cli_number.hpp"
#include "gridgate/gateway/process.hpp"
#include "gridgate/sim/charger_fleet.hpp"

namespace po = boost::program_options;
using namespace gridgate::sim;

namespace {

struct Url {
    bool tls = false;
    std::string host;
    std::uint16_t port = 0;
    std::string path;
};

// ws://HOST:PORT/PATH or wss://...; the charge point id is appended to PATH.
// HOST may be an IPv6 address in brackets ([::1]); the port is a whole number.
Url parse_url(const std::string& text) {
    Url url;
    std::string rest;
    if (text.starts_with("ws://")) {
        rest = text.substr(5);
    } else if (text.starts_with("wss://")) {
        url.tls = true;
        rest = text.substr(6);
    } else {
        throw std::invalid_argument("--url must start with ws:// or wss://: " + text);
    }
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    url.path = slash == std::string::npos ? "/" : rest.substr(slash);
    url.port = url.tls ? 443 : 80;
    std::string after_host;  // ":PORT" or nothing
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string::npos)
            throw std::invalid_argument("--url: no ']' after the IPv6 address in " + text);
        url.host = authority.substr(1, close - 1);
        after_host = authority.substr(close + 1);
    } else {
        const auto colon = authority.rfind(':');
        url.host = authority.substr(0, colon);
        if (colon != std::string::npos) after_host = authority.substr(colon);
    }
    if (url.host.empty()) throw std::invalid_argument("--url: no host in " + text);
    if (!after_host.empty()) {
        const auto port = after_host.front() == ':'
                              ? gridgate::tools::whole_number(after_host.substr(1), 1, 65535)
                              : std::nullopt;
        if (!port)
            throw std::invalid_argument(
                "--url: the port must be a whole number from 1 to 65535, "
                "got '" +
                after_host.substr(1) + "' in " + text);
        url.port = static_cast<std::uint16_t>(*port);
    }
    return url;
}

// A number of seconds given as an option: finite and within [min, max].
std::chrono::milliseconds seconds_option(const char* name, double value, double min, double max) {
    if (!(std::isfinite(value) && value >= min && value <= max)) {
        char text[96];
        std::snprintf(text, sizeof text, ": seconds from %g to %g, got %g", min, max, value);
        throw std::invalid_argument(name + std::string(text));
    }
    return std::chrono::milliseconds(static_cast<long long>(value * 1000));
}

}  // namespace

int main(int argc, char** argv) {
    gridgate::gateway::tune_malloc(argv);  // a fleet holds as many connections as a gateway
    po::options_description description(
        "charger-sim: simulated OCPP 1.6-J charge points (ids PREFIX0001, PREFIX0002, ...)\n"
        "Prints one JSON line per event (connected, booted, call, answered, disconnected, ...)");
    std::string url_text;
    std::string count_text;
    std::string prefix;
    std::string answer_text;
    std::vector<std::string> answer_for;
    std::string password;
    std::string ca_file;
    std::string rate_unit;
    double heartbeat_seconds = 0;
    double meter_seconds = 0;
    double car_kw = 11;
    double duration_seconds = 0;
    std::string threads_text;
    int connectors = 1, transaction_connector = 1;
    std::string report = "all";
    std::string greeting_text;
    description.add_options()("help,h", "show this help")(
        "url", po::value(&url_text)->default_value("ws://127.0.0.1:9000/ocpp"),
        "central system URL; the charge point id is appended")(
        "count,n", po::value(&count_text)->default_value("1"), "number of charge points")(
        "prefix", po::value(&prefix)->default_value("CP"), "charge point id prefix")(
        "answer", po::value(&answer_text)->default_value("accept"),
        "how every charger answers calls: accept|reject|delay:MS|silent|invalid")(
        "answer-for", po::value(&answer_for)->composing(),
        "per charger: ID=MODE (repeatable), e.g. CP0002=reject")(
        "password", po::value(&password), "HTTP Basic auth password (user = charge point id)")(
        "ca-file", po::value(&ca_file), "wss: verify the server with this CA file")(
        "insecure", "wss: accept any server certificate")(
        "start-transaction", "start a transaction after boot (on --transaction-connector)")(
        "transaction-connector", po::value(&transaction_connector)->default_value(1),
        "the connector of --start-transaction and of a RemoteStart naming none")(
        "connectors", po::value(&connectors)->default_value(1),
        "connectors per charger (each reports its status after boot)")(
        "on-connect", po::value(&greeting_text)->default_value("boot"),
        "what a charger sends once connected: boot (BootNotification, as after a "
        "power-up) | status (connector status only, as back from a network drop) | silent")(
        "rate-unit", po::value(&rate_unit)->default_value("Current,Power"),
        "value of ChargingScheduleAllowedChargingRateUnit in GetConfiguration")(
        "strict-tx-profiles",
        "reject a TxProfile whose transactionId does not run on its connector here")(
        "meter-values", po::value(&meter_seconds),
        "while a transaction runs, send MeterValues (power drawn, energy register) every this "
        "many seconds")("car-kw", po::value(&car_kw)->default_value(11),
                        "the most a car draws, in kW (less when a charging profile offers less)")(
        "heartbeat", po::value(&heartbeat_seconds),
        "heartbeat at most every this many seconds, 0.1 to 86400 (default: the boot interval)")(
        "duration", po::value(&duration_seconds)->default_value(0),
        "stop after this many seconds (0: until SIGINT/SIGTERM)")(
        "no-reconnect", "do not reconnect after a disconnect")(
        "threads", po::value(&threads_text)->default_value("1"), "I/O threads (1 to 256)")(
        "report", po::value(&report)->default_value("all"),
        "which events to print: all | calls (calls received only) | none");

    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, description), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "charger-sim: " << e.what() << "\n";
        return 2;
    }
    if (vm.count("help")) {
        std::cout << description << "\n";
        return 0;
    }

    try {
        const Url url = parse_url(url_text);
        // Over ws:// they would be ignored without a word.
        if (!url.tls) {
            for (const char* tls_only : {"ca-file", "insecure"}) {
                if (vm.count(tls_only))
                    throw std::invalid_argument(std::string("--") + tls_only +
                                                ": only for a wss:// --url (no TLS over " +
                                                url_text + ")");
            }
        }
        // Read as text: program_options would take "-1" as a huge unsigned count.
        const auto threads_given = gridgate::tools::whole_number(threads_text, 1, 256);
        if (!threads_given)
            throw std::invalid_argument("--threads: a whole number from 1 to 256, got '" +
                                        threads_text + "'");
        const long long threads = *threads_given;
        // 0: until SIGINT/SIGTERM; at most about three years.
        const auto duration = seconds_option("--duration", duration_seconds, 0, 1e8);
        // Read as text: program_options would take "-1" as a huge unsigned count.
        const bool digits = !count_text.empty() && count_text.size() <= 7 &&
                            std::all_of(count_text.begin(), count_text.end(),
                                        [](unsigned char c) { return c >= '0' && c <= '9'; });
        const std::size_t count = digits ? std::stoul(count_text) : 0;
        if (count < 1)
            throw std::invalid_argument("--count: a whole number from 1 to 9999999, got '" +
                                        count_text + "'");
        if (connectors < 1) throw std::invalid_argument("--connectors: at least 1");
        if (transaction_connector < 1 || transaction_connector > connectors)
            throw std::invalid_argument("--transaction-connector: between 1 and --connectors (" +
                                        std::to_string(connectors) + ")");
        if (vm.count("meter-values") && !(meter_seconds >= 0.1 && meter_seconds <= 86400))
            throw std::invalid_argument("--meter-values: seconds from 0.1 to 86400");
        if (!(car_kw > 0 && car_kw <= 1000))
            throw std::invalid_argument("--car-kw: more than 0 and at most 1000");
        auto mode = AnswerMode::parse(answer_text);
        if (!mode)
            throw std::invalid_argument(
                "--answer: expected accept, reject, delay:MS (MS from 0 to 86400000), silent or "
                "invalid, got '" +
                answer_text + "'");
        auto greeting = parse_greeting(greeting_text);
        if (!greeting)
            throw std::invalid_argument("--on-connect: expected boot, status or silent, got '" +
                                        greeting_text + "'");
        std::vector<ChargerOptions> chargers;
        for (const auto& identity : numbered_identities(prefix, count)) {
            ChargerOptions charger;
            charger.identity = identity;
            charger.answer = *mode;
            charger.greeting = *greeting;
            if (vm.count("password")) charger.password = password;
            charger.start_transaction = vm.count("start-transaction") > 0;
            charger.connectors = connectors;
            charger.transaction_connector = transaction_connector;
            charger.allowed_charging_rate_unit = rate_unit;
            charger.strict_tx_profiles = vm.count("strict-tx-profiles") > 0;
            if (vm.count("meter-values")) {
                charger.meter_interval =
                    std::chrono::milliseconds(static_cast<long long>(meter_seconds * 1000));
            }
            charger.car_max_w = car_kw * 1000;
            chargers.push_back(std::move(charger));
        }
        for (const auto& item : answer_for) {
            const auto equals = item.find('=');
            auto per = equals == std::string::npos ? std::nullopt
                                                   : AnswerMode::parse(item.substr(equals + 1));
            if (!per)
                throw std::invalid_argument("--answer-for: expected ID=MODE, got '" + item + "'");
            const std::string identity = item.substr(0, equals);
            bool found = false;
            for (auto& charger : chargers) {
                if (charger.identity == identity) {
                    charger.answer = *per;
                    found = true;
                }
            }
            if (!found) throw std::invalid_argument("--answer-for: no charger " + identity);
        }

        FleetOptions options;
        options.host = url.host;
        options.port = url.port;
        options.path = url.path;
        options.tls = url.tls;
        options.ca_file = ca_file;
        options.tls_insecure = vm.count("insecure") > 0;
        options.reconnect = vm.count("no-reconnect") == 0;
        if (vm.count("heartbeat")) {
            options.heartbeat_interval =
                seconds_option("--heartbeat", heartbeat_seconds, 0.1, 86400);
        }

        if (report != "all" && report != "calls" && report != "none")
            throw std::invalid_argument("--report: expected all, calls or none, got '" + report +
                                        "'");

        // One io_context per thread; the first also runs the timers below.
        std::vector<std::unique_ptr<boost::asio::io_context>> contexts;
        std::vector<boost::asio::io_context*> context_list;
        for (long long i = 0; i < threads; ++i) {
            contexts.push_back(std::make_unique<boost::asio::io_context>(1));
            context_list.push_back(contexts.back().get());
        }
        boost::asio::io_context& io = *contexts.front();
        // Lines collect here and go out every 100 ms: a write per event would
        // cost the fleet more than answering the call it reports.
        std::mutex out_mutex;
        std::string pending_output;
        auto flush_output = [&] {
            std::string out;
            {
                std::lock_guard lock(out_mutex);
                out.swap(pending_output);
            }
            if (out.empty()) return;
            std::fwrite(out.data(), 1, out.size(), stdout);
            std::fflush(stdout);
        };
        if (report == "calls") options.report_kinds = {"call"};
        std::function<void(const SimEvent&)> observer;
        if (report != "none") {
            observer = [&](const SimEvent& event) {
                std::string line = event.to_json_line();
                line.push_back('\n');
                std::lock_guard lock(out_mutex);
                pending_output += line;
            };
        }
        ChargerFleet fleet(context_list, options, std::move(chargers), std::move(observer));
        fleet.start();

        // Set by finish(); read and written on io's thread only.
        bool stopping = false;
        boost::asio::steady_timer flush_timer(io);
        std::function<void()> schedule_flush = [&] {
            flush_timer.expires_after(std::chrono::milliseconds(100));
            flush_timer.async_wait([&](const boost::system::error_code& ec) {
                flush_output();
                // A cancel does not reach a handler already queued (the
                // deadline and this timer due together on a busy machine):
                // without the flag it armed the timer again, for ever.
                if (!ec && !stopping) schedule_flush();
            });
        };
        schedule_flush();

        boost::asio::signal_set signals(io, SIGINT, SIGTERM);
        boost::asio::steady_timer deadline(io);
        auto finish = [&] {
            if (stopping) return;
            stopping = true;
            fleet.stop();
            boost::system::error_code ignored;
            signals.cancel(ignored);
            // SIGINT and SIGTERM take their default action again: should the
            // stop ever hang, a second one ends the process.
            signals.clear(ignored);
            deadline.cancel();
            flush_timer.cancel();
        };
        signals.async_wait([&](const boost::system::error_code& ec, int) {
            if (!ec) finish();
        });
        if (duration.count() > 0) {
            deadline.expires_after(duration);
            deadline.async_wait([&](const boost::system::error_code& ec) {
                if (!ec) finish();
            });
        }
        // The other contexts run until the fleet's connections are closed.
        std::vector<std::thread> pool;
        for (std::size_t i = 1; i < contexts.size(); ++i)
            pool.emplace_back([context = contexts[i].get()] { context->run(); });
        io.run();
        for (auto& t : pool) t.join();
        flush_output();
    } catch (const std::exception& e) {
        std::cerr << "charger-sim: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
