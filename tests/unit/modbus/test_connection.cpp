// The libmodbus client against the battery simulator over 127.0.0.1.
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "gridgate/battery_sim/simulator.hpp"
#include "gridgate/modbus/battery_controller.hpp"
#include "gridgate/modbus/connection.hpp"
#include "gridgate/modbus/setpoint.hpp"
#include "helpers.hpp"

namespace gridgate::modbus {
namespace {

using battery_sim::BatterySimulator;
using battery_sim::ReceivedWrite;
using battery_sim::SimulatorOptions;
using namespace testing;
using Words = std::vector<std::uint16_t>;

const AssetLimits limits{.max_charge_kw = 50, .max_discharge_kw = 50, .rated_power_kw = 100};

Endpoint local(const BatterySimulator& sim) {
    return {"127.0.0.1", sim.port()};
}

WriteRequest to_request(const RegisterWrite& w, std::uint8_t unit = 1) {
    return {unit, w.table, w.address, w.values, w.write_multiple};
}

/// Writes every register write of a plan, in order, stopping at the first error.
std::optional<ModbusError> execute(ModbusConnection& c, const SetpointPlan& plan,
                                   std::uint8_t unit = 1) {
    for (const auto& w : plan.writes) {
        if (auto error = write_sync(c, to_request(w, unit))) return error;
    }
    return std::nullopt;
}

RegisterPoint pt(std::string name, std::uint16_t address, PointType type, double scale = 1) {
    RegisterPoint p;
    p.name = std::move(name);
    p.address = address;
    p.type = type;
    p.scale = scale;
    return p;
}

std::uint16_t unused_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);  // nothing listens there now
    return ntohs(addr.sin_port);
}

TEST(ModbusConnection, WritesTheSignedSetpointInOneRequest) {
    BatterySimulator sim;
    sim.start();
    ModbusConnection c(local(sim), fast_options());
    auto plan = plan_setpoint(sim.options().map, limits, {.charge_kw = 0, .discharge_kw = 5});
    ASSERT_TRUE(plan);
    ASSERT_FALSE(execute(c, *plan));
    EXPECT_EQ(sim.writes(), (std::vector<ReceivedWrite>{{1, 16, 100, {0xFFFF, 0xEC78}}}));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -5.0);
    EXPECT_TRUE(c.connected());

    auto soc = read_sync(c, {1, Table::input, 200, 1});
    ASSERT_TRUE(soc) << soc.error().message;
    EXPECT_EQ(*soc, Words{500});  // 50.0 %
}

TEST(ModbusConnection, SeparateChargeAndDischargePointsOnTheSimulator) {
    SimulatorOptions options;
    options.map.name = "split";
    options.map.points = {pt("charge_setpoint", 10, PointType::uint16, 0.1),
                          pt("discharge_setpoint", 11, PointType::uint16, 0.1)};
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c(local(sim), fast_options());

    ASSERT_FALSE(execute(c, *plan_setpoint(options.map, limits, {.charge_kw = 7.5})));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 7.5);
    ASSERT_FALSE(execute(c, *plan_setpoint(options.map, limits, {.discharge_kw = 3})));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -3.0);
    EXPECT_EQ(sim.writes(),
              (std::vector<ReceivedWrite>{
                  {1, 6, 11, {0}}, {1, 6, 10, {75}}, {1, 6, 10, {0}}, {1, 6, 11, {30}}}));
}

TEST(ModbusConnection, DirectionThenMagnitudeAfterThePreWritesOnTheSimulator) {
    SimulatorOptions options;
    options.map.name = "dir";
    options.map.direction_values = {.charge = 1, .discharge = 2, .idle = 0};
    options.map.points = {pt("remote_mode", 19, PointType::uint16),
                          pt("direction", 20, PointType::uint16),
                          pt("power_magnitude", 21, PointType::uint32, 0.01)};
    options.map.pre_writes = {{"remote_mode", 1, ""}};
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c(local(sim), fast_options());

    ASSERT_FALSE(
        execute(c, *plan_setpoint(options.map, limits, {.discharge_kw = 12.34, .direction = 2})));
    EXPECT_EQ(sim.writes(), (std::vector<ReceivedWrite>{
                                {1, 6, 19, {1}}, {1, 6, 20, {2}}, {1, 16, 21, {0, 1234}}}));
    EXPECT_NEAR(sim.setpoint_kw(), -12.34, 1e-9);
}

TEST(ModbusConnection, PercentSetpointWithFc16ForSingleRegisters) {
    SimulatorOptions options;
    options.map.name = "pct";
    options.map.always_write_multiple = true;
    auto p = pt("power_setpoint", 40, PointType::int16, 0.1);
    p.unit = PowerUnit::percent;
    options.map.points = {p};
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c(local(sim), fast_options());

    ASSERT_FALSE(execute(c, *plan_setpoint(options.map, limits, {.charge_kw = 25})));
    EXPECT_EQ(sim.writes(), (std::vector<ReceivedWrite>{{1, 16, 40, {250}}}));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 25.0);  // 25 % of the simulator's 100 kW rating
}

TEST(ModbusConnection, CoilsAreWrittenAndRead) {
    SimulatorOptions options;
    auto enable = pt("enable", 7, PointType::boolean);
    enable.table = Table::coil;
    options.map.points.push_back(enable);
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c(local(sim), fast_options());
    auto w = plan_point_write(options.map, "enable", 1);
    ASSERT_TRUE(w);
    ASSERT_FALSE(write_sync(c, to_request(*w)));
    EXPECT_EQ(sim.writes(), (std::vector<ReceivedWrite>{{1, 5, 7, {1}}}));
    auto back = read_sync(c, {1, Table::coil, 7, 1});
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, Words{1});
}

std::vector<WriteRequest> requests_of(const SetpointPlan& plan) {
    std::vector<WriteRequest> out;
    for (const auto& w : plan.writes) out.push_back(to_request(w));
    return out;
}

std::optional<ModbusError> sequence_sync(ModbusConnection& c, std::vector<WriteRequest> writes,
                                         bool verify) {
    auto promise = std::make_shared<std::promise<std::optional<ModbusError>>>();
    auto future = promise->get_future();
    EXPECT_TRUE(c.write_sequence(
        std::move(writes), [promise](std::optional<ModbusError> e) { promise->set_value(e); },
        verify));
    EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
    return future.get();
}

SimulatorOptions direction_battery() {
    SimulatorOptions options;
    options.map.name = "dir";
    options.map.direction_values = {.charge = 1, .discharge = 2, .idle = 0};
    options.map.points = {pt("remote_mode", 19, PointType::uint16),
                          pt("direction", 20, PointType::uint16),
                          pt("power_magnitude", 21, PointType::uint32, 0.01)};
    options.map.pre_writes = {{"remote_mode", 1, ""}};
    return options;
}

TEST(ModbusConnection, ASequenceStopsAtItsFirstFailure) {
    const auto options = direction_battery();
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c(local(sim), fast_options());
    sim.inject_exception(20, 3, 1);  // the direction write is refused
    auto error = sequence_sync(
        c, requests_of(*plan_setpoint(options.map, limits, {.charge_kw = 2, .direction = 1})),
        false);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->exception_code, 3);
    EXPECT_EQ(error->message, "127.0.0.1:" + std::to_string(sim.port()) +
                                  " unit 1 write holding 20: Illegal data value (exception 3); "
                                  "retrying will not help");
    // The pre-write went out; the magnitude never did.
    EXPECT_EQ(sim.writes(), (std::vector<ReceivedWrite>{{1, 6, 19, {1}}}));
}

TEST(ModbusConnection, VerifyReadsBackEachWrite) {
    const auto options = direction_battery();
    BatterySimulator sim(options);
    sim.start();
    ModbusConnection c(local(sim), fast_options());
    const auto writes =
        requests_of(*plan_setpoint(options.map, limits, {.discharge_kw = 12.34, .direction = 2}));
    ASSERT_FALSE(sequence_sync(c, writes, true));
    EXPECT_NEAR(sim.setpoint_kw(), -12.34, 1e-9);

    // A device that acknowledges the magnitude but keeps its old value.
    sim.ignore_writes(21, 1);
    auto mismatch = sequence_sync(
        c, requests_of(*plan_setpoint(options.map, limits, {.charge_kw = 5, .direction = 1})),
        true);
    ASSERT_TRUE(mismatch);
    EXPECT_EQ(mismatch->kind, ErrorKind::verify_mismatch);
    EXPECT_FALSE(mismatch->retryable);
    EXPECT_EQ(mismatch->message, "127.0.0.1:" + std::to_string(sim.port()) +
                                     " unit 1 write holding 21..22: wrote 0x0000 0x01F4 but read "
                                     "back 0x0000 0x04D2");
}

TEST(ModbusConnection, IllegalFunctionAddressAndValueAreNotRetryable) {
    BatterySimulator sim;
    sim.start();
    ModbusConnection c(local(sim), fast_options());
    const std::string where =
        "127.0.0.1:" + std::to_string(sim.port()) + " unit 1 write holding 100..101: ";
    for (int code : {1, 2, 3}) {
        sim.clear_faults();
        sim.inject_exception(100, code, 1);
        auto error = write_sync(c, {1, Table::holding, 100, {0, 1}});
        ASSERT_TRUE(error);
        EXPECT_EQ(error->kind, ErrorKind::exception);
        EXPECT_EQ(error->exception_code, code);
        EXPECT_FALSE(error->retryable);
        EXPECT_EQ(error->message, where + exception_name(code) + "; retrying will not help");
    }
    EXPECT_EQ(exception_name(2), "Illegal data address (exception 2)");
    EXPECT_TRUE(c.connected());  // an exception is an answer: the link is fine
    EXPECT_EQ(sim.connections_accepted(), 1U);
}

TEST(ModbusConnection, BusyAndDeviceFailureAreRetryable) {
    BatterySimulator sim;
    sim.start();
    ModbusConnection c(local(sim), fast_options());
    for (int code : {4, 5, 6}) {
        sim.inject_exception(200, code, 1);
        auto result = read_sync(c, {1, Table::input, 200, 1});
        ASSERT_FALSE(result);
        EXPECT_EQ(result.error().exception_code, code);
        EXPECT_TRUE(result.error().retryable) << result.error().message;
        EXPECT_EQ(result.error().message.find("retrying will not help"), std::string::npos);
    }
    auto error = read_sync(c, {1, Table::input, 200, 1});
    EXPECT_TRUE(error) << "the injected faults were used up";
}

TEST(ModbusConnection, ABurstRunsInSubmissionOrderAndLetsGoOfEachHandler) {
    BatterySimulator sim;
    sim.start();
    ModbusConnection c(local(sim), fast_options());
    ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));  // connected: the burst queues up

    // Writes and reads alternate, so recycled requests change kind; each read
    // must see the write just before it, and each handler must have been
    // let go of (its captures released) before the next one runs.
    constexpr int burst = 200;
    std::mutex mutex;
    std::vector<int> order;
    std::vector<std::string> problems;
    std::vector<std::weak_ptr<int>> captures(burst);
    const auto finished = [&](int i) {
        std::lock_guard lock(mutex);
        if (i > 0 && !captures[static_cast<std::size_t>(i - 1)].expired()) {
            problems.push_back("handler " + std::to_string(i - 1) + " still held at " +
                               std::to_string(i));
        }
        order.push_back(i);
    };
    std::vector<ReceivedWrite> expected_writes;
    for (int i = 0; i < burst; ++i) {
        auto token = std::make_shared<int>(i);
        captures[static_cast<std::size_t>(i)] = token;
        const auto value = static_cast<std::uint16_t>(i);
        if (i % 2 == 0) {
            expected_writes.push_back({1, 16, 100, {0, value}});
            ASSERT_TRUE(c.write({1, Table::holding, 100, {0, value}},
                                [&, i, token](std::optional<ModbusError> e) {
                                    if (e) {
                                        std::lock_guard lock(mutex);
                                        problems.push_back(e->message);
                                    }
                                    finished(i);
                                }));
        } else {
            ASSERT_TRUE(c.read({1, Table::holding, 100, 2}, [&, i, token](ReadResult r) {
                const Words want{0, static_cast<std::uint16_t>(i - 1)};
                if (!r || *r != want) {
                    std::lock_guard lock(mutex);
                    problems.push_back("read " + std::to_string(i) + " saw another value");
                }
                finished(i);
            }));
        }
    }
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(mutex);
        return order.size() == burst;
    }));
    std::lock_guard lock(mutex);
    EXPECT_TRUE(problems.empty()) << problems.front();
    for (int i = 0; i < burst; ++i) ASSERT_EQ(order[static_cast<std::size_t>(i)], i);
    EXPECT_TRUE(captures.back().expired());
    EXPECT_EQ(sim.writes(), expected_writes);
}

TEST(ModbusConnection, RequestsQueuedBehindATimeoutRunInOrderOnTheNewConnection) {
    BatterySimulator sim;
    sim.start();
    ModbusConnection c(local(sim), fast_options());  // 300 ms response timeout
    ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
    const auto served = sim.requests_served();

    // A slow (not late) read keeps the worker busy while five writes queue
    // behind it; the first of them then times out.
    std::mutex mutex;
    std::vector<std::string> outcomes;
    sim.delay_replies(60ms, 1);
    ASSERT_TRUE(c.read({1, Table::input, 200, 1}, [&](ReadResult r) {
        std::lock_guard lock(mutex);
        outcomes.push_back(r ? "read ok" : "read " + r.error().message);
    }));
    ASSERT_TRUE(eventually([&] { return sim.requests_served() == served + 1; }));
    sim.delay_replies(700ms, 1);
    for (std::uint16_t i = 1; i <= 5; ++i) {
        ASSERT_TRUE(c.write({1, Table::holding, 100, {0, i}}, [&, i](std::optional<ModbusError> e) {
            std::lock_guard lock(mutex);
            const std::string result = !e                              ? "ok"
                                       : e->kind == ErrorKind::timeout ? "timeout"
                                                                       : e->message;
            outcomes.push_back("write " + std::to_string(i) + " " + result);
        }));
    }
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(mutex);
        return outcomes.size() == 6;
    }));
    std::lock_guard lock(mutex);
    EXPECT_EQ(outcomes, (std::vector<std::string>{"read ok", "write 1 timeout", "write 2 ok",
                                                  "write 3 ok", "write 4 ok", "write 5 ok"}));
    EXPECT_EQ(sim.connections_accepted(), 2U);  // the rest went out on the reopened connection
}

TEST(ModbusConnection, RefusesRequestsBeyondItsQueueLimit) {
    BatterySimulator sim;
    sim.start();
    auto options = fast_options();
    options.queue_limit = 2;
    options.response_timeout = 2s;  // the slow reply below is never a timeout
    ModbusConnection c(local(sim), options);
    ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
    const auto served = sim.requests_served();

    std::atomic<int> done{0};
    const auto count = [&](ReadResult r) {
        EXPECT_TRUE(r);
        ++done;
    };
    sim.delay_replies(300ms, 1);
    ASSERT_TRUE(c.read({1, Table::input, 200, 1}, count));
    ASSERT_TRUE(eventually([&] { return sim.requests_served() == served + 1; }));
    // One request in flight, two waiting: the limit counts the waiting ones.
    EXPECT_TRUE(c.read({1, Table::input, 200, 1}, count));
    EXPECT_TRUE(c.read({1, Table::input, 200, 1}, count));
    EXPECT_FALSE(c.read({1, Table::input, 200, 1}, [](ReadResult) { ADD_FAILURE(); }));
    ASSERT_TRUE(eventually([&] { return done == 3; }));
    EXPECT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
}

TEST(ModbusConnection, ALateReplyIsNeverTakenAsTheNextAnswer) {
    BatterySimulator sim;
    sim.start();
    auto options = fast_options();
    options.response_timeout = 150ms;
    ModbusConnection c(local(sim), options);
    ASSERT_FALSE(execute(c, *plan_setpoint(sim.options().map, limits, {.discharge_kw = 5})));

    sim.delay_replies(400ms, 1);  // the reply to the next request comes after the timeout
    auto late = read_sync(c, {1, Table::input, 200, 1});
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().kind, ErrorKind::timeout);
    EXPECT_TRUE(late.error().retryable);
    EXPECT_NE(late.error().message.find("unit 1 read input 200: timeout"), std::string::npos)
        << late.error().message;

    // Same shape of request at once: the answer must be its own (0xFFFF, the
    // high word of -5000), not the late SoC (500).
    auto next = read_sync(c, {1, Table::holding, 100, 1});
    ASSERT_TRUE(next) << next.error().message;
    EXPECT_EQ(*next, Words{0xFFFF});
    EXPECT_EQ(sim.connections_accepted(), 2U);  // re-opened after the timeout

    // And once the late reply has surely been sent, answers still match.
    // The simulator's thread for the first connection ends once its delayed
    // reply has gone out to the closed socket.
    ASSERT_TRUE(eventually([&] { return sim.open_connections() == 1; }));
    auto after = read_sync(c, {1, Table::holding, 101, 1});
    ASSERT_TRUE(after) << after.error().message;
    EXPECT_EQ(*after, Words{0xEC78});
}

TEST(ModbusConnection, ReconnectsWithBackoffAndReportsTheState) {
    std::uint16_t port = 0;
    std::mutex mutex;
    std::vector<bool> states;
    auto sim = std::make_unique<BatterySimulator>();
    sim->start();
    port = sim->port();
    ModbusConnection c({"127.0.0.1", port}, fast_options());
    c.subscribe([&](bool up) {
        std::lock_guard lock(mutex);
        states.push_back(up);
    });
    ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
    ASSERT_TRUE(eventually([&] { return c.connected(); }));
    {
        std::lock_guard lock(mutex);
        ASSERT_FALSE(states.empty());
        EXPECT_TRUE(states.back());
        states.clear();
    }

    sim.reset();  // the device goes away
    auto lost = read_sync(c, {1, Table::input, 200, 1});
    ASSERT_FALSE(lost);
    EXPECT_TRUE(lost.error().retryable);
    EXPECT_TRUE(eventually([&] { return !c.connected(); }));
    auto refused = read_sync(c, {1, Table::input, 200, 1});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::not_connected);

    SimulatorOptions options;
    options.port = port;
    sim = std::make_unique<BatterySimulator>(options);
    sim->start();
    ASSERT_TRUE(eventually([&] { return c.connected(); }));
    auto back = read_sync(c, {1, Table::input, 200, 1});
    ASSERT_TRUE(back) << back.error().message;
    std::lock_guard lock(mutex);
    EXPECT_EQ(states, (std::vector<bool>{false, true}));
}

TEST(ModbusConnection, NotConnectedNamesTheRequestAndTheCause) {
    const std::uint16_t port = unused_port();
    ModbusConnection c({"127.0.0.1", port}, fast_options());
    auto result = read_sync(c, {3, Table::holding, 100, 2});
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::not_connected);
    EXPECT_TRUE(result.error().retryable);
    EXPECT_EQ(result.error().message.rfind(
                  "127.0.0.1:" + std::to_string(port) +
                      " unit 3 read holding 100..101: not connected (connect failed: ",
                  0),
              0U)
        << result.error().message;
    EXPECT_FALSE(c.connected());
}

// A device that never answers the connect (a listener whose accept queue
// is full drops the SYN, as a switched-off device's network would) is
// reported as such, not with libmodbus's "Operation now in progress".
TEST(ModbusConnection, AConnectNobodyAnswersIsNamedATimeout) {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 0), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    // Never accepted: they fill the queue, and later SYNs are dropped.
    std::vector<int> fillers;
    for (int i = 0; i < 2; ++i) {
        fillers.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
        ::connect(fillers.back(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    }
    std::this_thread::sleep_for(50ms);

    auto options = fast_options();
    options.response_timeout = 200ms;
    ModbusConnection c({"127.0.0.1", ntohs(addr.sin_port)}, options);
    auto result = read_sync(c, {1, Table::holding, 100, 1});
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().kind, ErrorKind::not_connected);
    EXPECT_NE(
        result.error().message.find("(connect failed: no answer within 200 ms; next attempt in "),
        std::string::npos)
        << result.error().message;
    for (int fd : fillers) ::close(fd);
    ::close(listener);
}

TEST(ModbusConnection, ReconnectBackoffDoublesUpToItsMaximum) {
    auto options = fast_options();
    options.reconnect_initial = 10ms;
    options.reconnect_max = 80ms;
    ModbusConnection c({"127.0.0.1", unused_port()}, options);
    // Each refusal says when the next attempt comes; collect the waits seen.
    std::vector<int> waits;
    int at_max = 0;
    ASSERT_TRUE(eventually([&] {
        auto r = read_sync(c, {1, Table::holding, 0, 1});
        const auto& m = r.error().message;
        const auto at = m.find("next attempt in ");
        if (at == std::string::npos) return false;
        const int wait = std::stoi(m.substr(at + 16));
        if (waits.empty() || waits.back() != wait) waits.push_back(wait);
        at_max += wait == 80;
        return at_max >= 20;  // stays at the maximum
    }));
    ASSERT_FALSE(waits.empty());
    EXPECT_EQ(waits.back(), 80);
    for (std::size_t i = 1; i < waits.size(); ++i) {
        EXPECT_EQ(waits[i], std::min(2 * waits[i - 1], 80)) << "after " << waits[i - 1] << " ms";
    }
}

TEST(ModbusConnection, ADroppedConnectionIsReopened) {
    BatterySimulator sim;
    sim.start();
    ModbusConnection c(local(sim), fast_options());
    ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
    sim.drop_connections(1);
    auto dropped = read_sync(c, {1, Table::input, 200, 1});
    ASSERT_FALSE(dropped);
    EXPECT_EQ(dropped.error().kind, ErrorKind::transport);
    EXPECT_TRUE(dropped.error().retryable);
    auto again = read_sync(c, {1, Table::input, 200, 1});
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(sim.connections_accepted(), 2U);
}

// A device that accepts connections but drops every request is not
// reconnected to in a tight loop: after the first reopen the connect's
// backoff applies, and an answer resets it.
TEST(ModbusConnection, ADeviceThatFailsEveryRequestIsRetriedWithBackoff) {
    BatterySimulator sim;
    sim.start();
    auto options = fast_options();
    options.reconnect_initial = 50ms;
    options.reconnect_max = 400ms;
    ModbusConnection c(local(sim), options);
    ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
    sim.drop_connections(1'000'000);
    const auto until = std::chrono::steady_clock::now() + 1s;
    std::size_t failures = 0;
    while (std::chrono::steady_clock::now() < until) {
        failures += !read_sync(c, {1, Table::input, 200, 1});
    }
    ASSERT_GT(failures, 0U);
    // Connects at 0, at once after the first drop, then 100, 300, 700 ms on.
    EXPECT_LE(sim.connections_accepted(), 8U);
    EXPECT_GE(sim.connections_accepted(), 4U);

    sim.clear_faults();
    ASSERT_TRUE(eventually([&] { return bool(read_sync(c, {1, Table::input, 200, 1})); }));
    const auto before = sim.connections_accepted();
    sim.drop_connections(1);
    ASSERT_FALSE(read_sync(c, {1, Table::input, 200, 1}));
    auto again = read_sync(c, {1, Table::input, 200, 1});
    EXPECT_TRUE(again) << "reopened at once after a connection that worked: "
                       << again.error().message;
    EXPECT_EQ(sim.connections_accepted(), before + 1);
}

// A device that answers, but with a reply for another request (here: the
// transaction id off by one), fails the request as `bad reply`, not as a
// lost connection; the connection is re-opened for the next request.
TEST(ModbusConnection, AReplyThatDoesNotFitTheRequestIsABadReply) {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 4), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    std::atomic<int> accepted{0};
    std::thread device([&] {
        // Answers each read of one register with 0x002A, one transaction off.
        for (int connection = 0; connection < 2; ++connection) {
            const int fd = ::accept(listener, nullptr, nullptr);
            if (fd < 0) return;
            ++accepted;
            std::uint8_t q[12];
            if (::recv(fd, q, sizeof q, MSG_WAITALL) == sizeof q) {
                const std::uint8_t tid_hi = q[0], tid_lo = static_cast<std::uint8_t>(q[1] + 1);
                const std::uint8_t reply[] = {tid_hi, tid_lo, 0, 0, 0, 5, q[6], q[7], 2, 0, 0x2A};
                (void)::send(fd, reply, sizeof reply, MSG_NOSIGNAL);
            }
            std::uint8_t rest[64];
            while (::recv(fd, rest, sizeof rest, 0) > 0) {
            }
            ::close(fd);
        }
    });
    {
        ModbusConnection c({"127.0.0.1", ntohs(addr.sin_port)}, fast_options());
        auto r = read_sync(c, {1, Table::holding, 0, 1});
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().kind, ErrorKind::bad_reply) << r.error().message;
        EXPECT_TRUE(r.error().retryable);
        EXPECT_NE(r.error().message.find("holding 0"), std::string::npos) << r.error().message;
        EXPECT_EQ(ControlResult::from(r.error()).error, "bad reply");
        EXPECT_FALSE(read_sync(c, {1, Table::holding, 0, 1}));
        EXPECT_EQ(accepted.load(), 2) << "the connection was not re-opened";
    }
    ::shutdown(listener, SHUT_RDWR);
    device.join();
    ::close(listener);
}

TEST(ModbusConnection, TwoUnitIdsShareOneConnection) {
    SimulatorOptions options;
    options.units = {1, 2};
    BatterySimulator sim(options);
    sim.start();
    ConnectionPool pool;
    auto a = pool.get(local(sim), fast_options());
    auto b = pool.get(local(sim), fast_options());
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->get(), b->get());

    ASSERT_FALSE(execute(**a, *plan_setpoint(options.map, limits, {.charge_kw = 5}), 1));
    ASSERT_FALSE(execute(**b, *plan_setpoint(options.map, limits, {.discharge_kw = 7}), 2));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(1), 5.0);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(2), -7.0);
    EXPECT_EQ(sim.writes(), (std::vector<ReceivedWrite>{{1, 16, 100, {0, 5000}},
                                                        {2, 16, 100, {0xFFFF, 0xE4A8}}}));
    EXPECT_EQ(sim.connections_accepted(), 1U);

    // A unit the gateway does not know: its own exception, retryable.
    auto missing = read_sync(**a, {3, Table::input, 200, 1});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().exception_code, 11);
    EXPECT_TRUE(missing.error().retryable);
}

TEST(ModbusConnection, PoolRefusesDifferingOptionsForOneEndpoint) {
    ConnectionPool pool;
    const Endpoint endpoint{"127.0.0.1", unused_port()};
    auto first = pool.get(endpoint, fast_options());
    ASSERT_TRUE(first);
    auto other = fast_options();
    other.inter_request_delay = 20ms;
    auto second = pool.get(endpoint, other);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error(),
              "devices on " + endpoint.str() +
                  " share one connection but differ in inter_request_delay (0 ms vs 20 ms)");
}

TEST(ModbusConnection, KeepsSilenceAfterConnectAndBetweenRequests) {
    BatterySimulator sim;
    sim.start();
    auto options = fast_options();
    options.delay_after_connect = 100ms;
    options.inter_request_delay = 40ms;
    const auto begin = std::chrono::steady_clock::now();
    ModbusConnection c(local(sim), options);
    ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
    EXPECT_GE(std::chrono::steady_clock::now() - begin, 100ms);
    ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
    ASSERT_TRUE(read_sync(c, {1, Table::input, 200, 1}));
    // 100 ms after the connect, then 40 ms before each later request.
    EXPECT_GE(std::chrono::steady_clock::now() - begin, 180ms);
}

TEST(ModbusConnection, MayBeReleasedByItsOwnHandler) {
    BatterySimulator sim;
    sim.start();
    auto c = std::make_shared<ModbusConnection>(local(sim), fast_options());
    std::weak_ptr<ModbusConnection> weak = c;
    auto promise = std::make_shared<std::promise<bool>>();
    auto future = promise->get_future();
    ModbusConnection* raw = c.get();
    // The handler holds the last reference: it goes away on the worker.
    ASSERT_TRUE(raw->read({1, Table::input, 200, 1}, [c = std::move(c), promise](ReadResult r) {
        promise->set_value(bool(r));
    }));
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(future.get());
    EXPECT_TRUE(eventually([&] { return weak.expired(); }));
    EXPECT_TRUE(eventually([&] { return sim.open_connections() == 0; }));
}

TEST(ModbusConnection, RefusesMalformedRequestsAndStopsCleanly) {
    BatterySimulator sim;
    sim.start();
    ModbusConnection c(local(sim), fast_options());
    auto empty = read_sync(c, {1, Table::holding, 100, 0});
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().kind, ErrorKind::invalid_request);
    EXPECT_FALSE(empty.error().retryable);
    auto read_only = write_sync(c, {1, Table::input, 200, {1}});
    ASSERT_TRUE(read_only);
    EXPECT_EQ(read_only->kind, ErrorKind::invalid_request);

    c.stop();
    EXPECT_FALSE(c.read({1, Table::input, 200, 1}, [](ReadResult) { ADD_FAILURE(); }));
}

}  // namespace
}  // namespace gridgate::modbus
