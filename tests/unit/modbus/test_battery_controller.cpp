// The battery controller against the simulator: combined setpoints, limits,
// verify, refresh, heartbeat, re-assert after reconnect, shutdown.
#include <algorithm>
#include <future>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include "gridgate/battery_sim/map_file.hpp"
#include "gridgate/battery_sim/simulator.hpp"
#include "gridgate/modbus/battery_controller.hpp"
#include "helpers.hpp"

namespace gridgate::modbus {
namespace {

using battery_sim::BatterySimulator;
using battery_sim::ReceivedWrite;
using battery_sim::SimulatorOptions;
using namespace testing;

ControlResult wait(const std::function<void(ControlDone)>& call) {
    auto promise = std::make_shared<std::promise<ControlResult>>();
    auto future = promise->get_future();
    call([promise](ControlResult r) { promise->set_value(std::move(r)); });
    if (future.wait_for(10s) != std::future_status::ready) {
        ADD_FAILURE() << "no completion";
        return ControlResult::failure("test timeout", true);
    }
    return future.get();
}

BatteryControllerOptions controller_options(const RegisterMap& map) {
    BatteryControllerOptions o;
    o.map = map;
    o.limits = {.max_charge_kw = 50,
                .max_discharge_kw = 50,
                .rated_power_kw = 100,
                .min_soc = 10,
                .max_soc = 90};
    o.poll.plan.default_interval = 20ms;
    o.shutdown_timeout = 2s;
    return o;
}

struct Notes {
    std::mutex mutex;
    std::vector<std::string> lines;
    std::vector<bool> states;
    std::vector<std::string> reasons;
    std::set<std::string> telemetry;

    BatteryControllerHandlers handlers() {
        return {[this](const PointReading& r) {
                    std::lock_guard lock(mutex);
                    telemetry.insert(r.point);
                },
                [this](bool up, const std::string& reason) {
                    std::lock_guard lock(mutex);
                    states.push_back(up);
                    reasons.push_back(reason);
                },
                [this](const std::string& line) {
                    std::lock_guard lock(mutex);
                    lines.push_back(line);
                }};
    }
    bool has(const std::string& text) {
        std::lock_guard lock(mutex);
        for (const auto& l : lines) {
            if (l.find(text) != std::string::npos) return true;
        }
        return false;
    }
};

std::shared_ptr<ModbusConnection> connect_to(const BatterySimulator& sim) {
    return std::make_shared<ModbusConnection>(Endpoint{"127.0.0.1", sim.port()}, fast_options());
}

TEST(ModbusBatteryController, ChargeAndDischargeCombineWhateverTheirOrder) {
    BatterySimulator sim;
    sim.start();
    BatteryController battery(connect_to(sim), controller_options(sim.options().map));
    battery.start();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(0, d); }).ok);
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(5, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -5.0);
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(0, d); }).ok);
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(3, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 3.0);
    EXPECT_EQ(battery.written_net_kw(), 3.0);

    std::vector<ReceivedWrite> setpoints;
    for (const auto& w : sim.writes()) {
        if (w.address == 100) setpoints.push_back(w);
    }
    EXPECT_EQ(setpoints, (std::vector<ReceivedWrite>{{1, 16, 100, {0, 0}},
                                                     {1, 16, 100, {0xFFFF, 0xEC78}},
                                                     {1, 16, 100, {0, 0}},
                                                     {1, 16, 100, {0, 3000}}}));
    battery.stop();
}

TEST(ModbusBatteryController, ClampsToTheAssetLimits) {
    BatterySimulator sim;
    sim.start();
    Notes notes;
    BatteryController battery(connect_to(sim), controller_options(sim.options().map),
                              notes.handlers());
    battery.start();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(80, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 50.0);
    EXPECT_TRUE(notes.has("charge 80 kW clamped to max_charge_kw 50"));
    battery.stop();
}

TEST(ModbusBatteryController, ChargingStopsAtMaxSocAndResumesBelowIt) {
    SimulatorOptions options;
    options.initial_soc = 95;
    options.tick = 10ms;
    BatterySimulator sim(options);
    sim.start();
    BatteryController battery(connect_to(sim), controller_options(options.map));
    battery.start();
    ASSERT_TRUE(eventually([&] { return battery.soc().has_value(); }));
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(20, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 0.0);
    // Discharging a full battery is fine.
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(30, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -10.0);
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(0, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 0.0);

    sim.set_point_value("soc", 80);  // e.g. the site drew from it meanwhile
    EXPECT_TRUE(eventually([&] { return sim.setpoint_kw() == 20.0; }))
        << "the charge command applies again once the SoC allows it";

    sim.set_point_value("soc", 5);
    ASSERT_TRUE(eventually([&] { return battery.soc() == 5.0; }));
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(0, d); }).ok);
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(15, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 0.0) << "discharging stops at min_soc";
    battery.stop();
}

TEST(ModbusBatteryController, AStaleSocKeepsTheLimitItLastShowed) {
    SimulatorOptions options;
    options.initial_soc = 95;
    BatterySimulator sim(options);
    sim.start();
    Notes notes;
    BatteryController battery(connect_to(sim), controller_options(options.map), notes.handlers());
    battery.start();
    ASSERT_TRUE(eventually([&] { return battery.soc().has_value(); }));
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(20, d); }).ok);
    ASSERT_DOUBLE_EQ(sim.setpoint_kw(), 0.0);

    // The SoC can no longer be read; setpoint writes still go through.
    sim.inject_exception(200, 4);
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(notes.mutex);
        return !notes.states.empty() && !notes.states.back();
    }));
    std::this_thread::sleep_for(300ms);  // five stale ages of 60 ms
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 0.0)
        << "charging past max_soc resumed because the SoC went unread";
    EXPECT_EQ(battery.soc(), 95.0);
    battery.stop();
}

// A SoC read without a valid value (the map's nan_value, or outside its
// min/max) says no more than a stale one: the limit it last showed holds.
TEST(ModbusBatteryController, ASocWithoutAValueKeepsTheLimitItLastShowed) {
    SimulatorOptions options;
    options.initial_soc = 95;
    options.tick = 1h;  // the physics never rewrites the registers set below
    BatterySimulator sim(options);
    sim.start();
    auto map = options.map;
    for (auto& p : map.points) {
        if (p.name == "soc") {
            p.nan_value = 0xFFFF;
            p.max = 100;
        }
    }
    BatteryController battery(connect_to(sim), controller_options(map));
    battery.start();
    ASSERT_TRUE(eventually([&] { return battery.soc() == 95.0; }));
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(20, d); }).ok);
    ASSERT_DOUBLE_EQ(sim.setpoint_kw(), 0.0);

    for (std::uint16_t raw : {std::uint16_t{0xFFFF}, std::uint16_t{1010}}) {  // NaN, 101 %
        sim.set_registers(Table::input, 200, {raw});
        const auto polls = sim.requests_served();
        ASSERT_TRUE(eventually([&] { return sim.requests_served() > polls + 10; }));
        EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 0.0)
            << "charging past max_soc resumed on a SoC register holding " << raw;
        EXPECT_EQ(battery.soc(), 95.0);
    }
    battery.stop();
}

// A write the device never answered (the connection broke under it) fails
// `not connected` and, like any such command, stays the battery's
// setpoint: the reconnect writes it, not the value before it.
TEST(ModbusBatteryController, AWriteLostWithTheConnectionIsWrittenOnReconnect) {
    BatterySimulator sim;
    sim.start();
    auto options = controller_options(sim.options().map);
    options.poll.plan.default_interval = 1h;  // after the first poll, only the writes below
    Notes notes;
    BatteryController battery(connect_to(sim), options, notes.handlers());
    battery.start();
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(notes.mutex);
        return notes.telemetry.count("soc") && notes.telemetry.count("active_power");
    }));
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(10, d); }).ok);
    ASSERT_DOUBLE_EQ(sim.setpoint_kw(), 10.0);

    sim.clear_writes();
    sim.drop_connections(1);
    const auto lost = wait([&](ControlDone d) { battery.set_charge(20, d); });
    ASSERT_FALSE(lost.ok);
    EXPECT_EQ(lost.error, "not connected");
    EXPECT_TRUE(eventually([&] { return sim.setpoint_kw() == 20.0; }));
    std::this_thread::sleep_for(100ms);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 20.0);
    const std::vector<std::uint16_t> ten_kw{0x0000, 0x2710};  // int32 10000 W, big-endian
    for (const auto& w : sim.writes()) EXPECT_NE(w.values, ten_kw) << "the old 10 kW came back";
    battery.stop();
}

// A device that refuses the poll block as a whole (exception 2) is read
// point by point; when it first answers after a time unreachable, the
// block's old `not connected` must not keep it down.
TEST(ModbusBatteryController, ABlockSplitAfterAnOutageStillComesUp) {
    SimulatorOptions options;
    auto probe = std::make_unique<BatterySimulator>(options);
    probe->start();
    options.port = probe->port();
    probe.reset();  // nothing listens there yet

    Notes notes;
    auto controller = controller_options(options.map);
    controller.poll.plan.max_gap = 1;  // soc (200) and active_power (202..203): one block
    BatteryController battery(
        std::make_shared<ModbusConnection>(Endpoint{"127.0.0.1", options.port}, fast_options()),
        controller, notes.handlers());
    battery.start();
    std::this_thread::sleep_for(150ms);  // polls fail: not connected
    ASSERT_FALSE(battery.connected());

    BatterySimulator sim(options);
    sim.inject_exception(201, 2);  // the hole between soc (200) and active_power (202..203)
    sim.start();
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(notes.mutex);
        return notes.telemetry.count("soc") && notes.telemetry.count("active_power");
    }));
    EXPECT_TRUE(eventually([&] { return battery.connected(); }))
        << "every point reads, yet the battery stays down";
    battery.stop();
}

TEST(ModbusBatteryController, VerifyMismatchFailsTheCommandForGood) {
    BatterySimulator sim;
    sim.start();
    auto options = controller_options(sim.options().map);
    options.verify = true;
    BatteryController battery(connect_to(sim), options);
    battery.start();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(4, d); }).ok);
    sim.ignore_writes(100, 1);
    auto result = wait([&](ControlDone d) { battery.set_charge(6, d); });
    EXPECT_FALSE(result.ok);
    EXPECT_FALSE(result.retryable);
    EXPECT_NE(result.error.find("wrote 0x0000 0x1770 but read back 0x0000 0x0FA0"),
              std::string::npos)
        << result.error;
    battery.stop();
}

// A write the device may have taken (its read-back differs, its answer
// came too late) leaves the new value as the battery's setpoint: the next
// write (a sibling command, refresh, re-assert) does not bring back the
// older one. Only a write the device refused (an exception answer) puts
// the value back to what stood before it.
TEST(ModbusBatteryController, AWriteTheDeviceMayHaveTakenKeepsItsValue) {
    BatterySimulator sim;
    sim.start();
    auto options = controller_options(sim.options().map);
    options.verify = true;
    options.poll.plan.default_interval = 1h;
    BatteryController battery(connect_to(sim), options);
    battery.start();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(20, d); }).ok);

    sim.ignore_writes(100, 1);  // read back differently (a device that rounds, say)
    auto mismatch = wait([&](ControlDone d) { battery.set_charge(12.5, d); });
    ASSERT_FALSE(mismatch.ok);
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(0, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 12.5) << "the sibling command wrote the older 20 kW";

    sim.delay_replies(600ms, 1);  // answered after the 300 ms response timeout
    auto late = wait([&](ControlDone d) { battery.set_charge(15, d); });
    ASSERT_FALSE(late.ok);
    EXPECT_EQ(late.error, "timeout");
    ASSERT_TRUE(eventually([&] { return sim.setpoint_kw() == 15.0; }));  // it did take it
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(0, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 15.0) << "the sibling command wrote the older 12.5 kW";

    sim.inject_exception(100, 4, 1);  // refused: the device did not take it
    auto refused = wait([&](ControlDone d) { battery.set_charge(30, d); });
    ASSERT_FALSE(refused.ok);
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(0, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 15.0) << "the refused 30 kW became the setpoint";
    battery.stop();
}

// A device that takes the write but refuses to read it back is there: the
// command fails with its own word, not the bare exception, and the battery
// does not go down (nor come down with every refresh).
TEST(ModbusBatteryController, AReadBackTheDeviceRefusesIsNotADeadDevice) {
    BatterySimulator sim;
    sim.start();
    Notes notes;
    auto options = controller_options(sim.options().map);
    options.verify = true;
    BatteryController battery(connect_to(sim), options, notes.handlers());
    battery.start();
    ASSERT_TRUE(eventually([&] { return battery.connected(); }));

    sim.inject_exception(100, 2, 1, 1);  // the write is served, its read-back refused
    auto result = wait([&](ControlDone d) { battery.set_charge(7, d); });
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.error, "verify: read back failed: Illegal data address");
    EXPECT_FALSE(result.retryable) << "refused with exception 2, it is refused every time";
    EXPECT_NE(result.detail.find("write holding 100..101: verify: read back failed: "
                                 "127.0.0.1:" +
                                 std::to_string(sim.port()) +
                                 " unit 1 read holding 100..101: Illegal data address"),
              std::string::npos)
        << result.detail;
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 7.0);
    EXPECT_TRUE(battery.connected());

    sim.inject_exception(100, 6, 1, 1);  // busy: worth another try
    result = wait([&](ControlDone d) { battery.set_charge(8, d); });
    EXPECT_EQ(result.error, "verify: read back failed: Server device busy");
    EXPECT_TRUE(result.retryable);
    EXPECT_TRUE(battery.connected());
    battery.stop();
    std::lock_guard lock(notes.mutex);
    EXPECT_EQ(notes.states, std::vector<bool>{true}) << "went down for a refused read-back";
}

TEST(ModbusBatteryController, ExceptionsAndMissingPointsAreNotRetryable) {
    BatterySimulator sim;
    sim.start();
    BatteryController battery(connect_to(sim), controller_options(sim.options().map));
    battery.start();
    sim.inject_exception(100, 2, 1);
    auto refused = wait([&](ControlDone d) { battery.set_charge(4, d); });
    EXPECT_FALSE(refused.ok);
    EXPECT_FALSE(refused.retryable);
    EXPECT_EQ(refused.error, "Illegal data address");
    EXPECT_NE(refused.detail.find("write holding 100..101: Illegal data address (exception 2); "
                                  "retrying will not help"),
              std::string::npos)
        << refused.detail;

    sim.inject_exception(100, 6, 1);
    auto busy = wait([&](ControlDone d) { battery.set_charge(4, d); });
    EXPECT_FALSE(busy.ok);
    EXPECT_TRUE(busy.retryable);
    EXPECT_EQ(busy.error, "Server device busy");

    auto missing = wait([&](ControlDone d) { battery.write_point("soc_target", 80, d); });
    EXPECT_FALSE(missing.ok);
    EXPECT_FALSE(missing.retryable);
    EXPECT_EQ(missing.error, "register map 'generic_battery': no point 'soc_target'");
    battery.stop();
}

// ARCHITECTURE.md: connected means the TCP connection is up and the last
// request succeeded. A TCP gateway whose device has gone answers exception
// 11: the connection is up, the battery is not reachable.
TEST(ModbusBatteryController, AnExceptionAnswerIsNotConnectedUntilARequestSucceeds) {
    BatterySimulator sim;
    sim.start();
    Notes notes;
    auto options = controller_options(sim.options().map);
    options.poll.plan.default_interval = 1h;  // only the first poll: the writes below decide
    BatteryController battery(connect_to(sim), options, notes.handlers());
    battery.start();
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(notes.mutex);
        return notes.telemetry.count("soc") > 0;
    }));
    EXPECT_TRUE(battery.connected());

    sim.inject_exception(100, 11, 1);
    auto refused = wait([&](ControlDone d) { battery.set_charge(4, d); });
    EXPECT_FALSE(refused.ok);
    EXPECT_FALSE(battery.connected());
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(5, d); }).ok);
    EXPECT_TRUE(battery.connected());
    battery.stop();
    std::lock_guard lock(notes.mutex);
    EXPECT_EQ(notes.states, (std::vector<bool>{true, false, true}));
}

TEST(ModbusBatteryController, RefreshKeepsARevertingDeviceOnItsSetpoint) {
    SimulatorOptions options;
    options.revert_after = 150ms;
    options.tick = 10ms;
    BatterySimulator sim(options);
    sim.start();
    auto controller = controller_options(options.map);
    controller.refresh = 40ms;
    BatteryController battery(connect_to(sim), controller);
    battery.start();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(20, d); }).ok);
    const auto setpoint_writes = [&] {
        int n = 0;
        for (const auto& w : sim.writes()) n += w.address == 100;
        return n;
    };
    // Ten refreshes span well over the revert time.
    ASSERT_TRUE(eventually([&] { return setpoint_writes() >= 11; }));
    EXPECT_EQ(sim.reverts(), 0U);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 20.0);
    battery.stop();
}

TEST(ModbusBatteryController, WithoutRefreshTheDeviceReverts) {
    SimulatorOptions options;
    options.revert_after = 100ms;
    options.tick = 10ms;
    BatterySimulator sim(options);
    sim.start();
    BatteryController battery(connect_to(sim), controller_options(options.map));
    battery.start();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(20, d); }).ok);
    EXPECT_TRUE(eventually([&] { return sim.reverts() == 1; }));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 0.0);
    battery.stop();
}

TEST(ModbusBatteryController, HeartbeatCountsWhileRunning) {
    SimulatorOptions options;
    options.map.points.push_back(RegisterPoint{.name = "watchdog", .address = 300});
    options.map.heartbeat = Heartbeat{.point = "watchdog", .interval = 20ms};
    BatterySimulator sim(options);
    sim.start();
    BatteryController battery(connect_to(sim), controller_options(options.map));
    battery.start();
    const auto beats = [&] {
        std::vector<std::uint16_t> values;
        for (const auto& w : sim.writes()) {
            if (w.address == 300) values.push_back(w.values.at(0));
        }
        return values;
    };
    ASSERT_TRUE(eventually([&] { return beats().size() >= 4; }));
    const auto seen = beats();
    for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i);
    battery.stop();
    const auto after_stop = beats().size();
    // The controller's timer is joined: nothing more can be sent.
    ASSERT_TRUE(read_sync(*connect_to(sim), {1, Table::input, 200, 1}));
    EXPECT_EQ(beats().size(), after_stop);
}

// The counter wraps within the point's own range, and a beat that cannot be
// written is a failure (the adapter logs notes that say "failed" at warn).
TEST(ModbusBatteryController, HeartbeatWrapsWithinThePointsRange) {
    SimulatorOptions options;
    options.map.points.push_back(
        RegisterPoint{.name = "watchdog", .address = 300, .min = 1, .max = 3});
    options.map.heartbeat = Heartbeat{.point = "watchdog", .interval = 10ms};
    BatterySimulator sim(options);
    sim.start();
    Notes notes;
    BatteryController battery(connect_to(sim), controller_options(options.map), notes.handlers());
    battery.start();
    const auto beats = [&] {
        std::vector<std::uint16_t> values;
        for (const auto& w : sim.writes()) {
            if (w.address == 300) values.push_back(w.values.at(0));
        }
        return values;
    };
    ASSERT_TRUE(eventually([&] { return beats().size() >= 5; }));
    const auto seen = beats();
    for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1 + i % 3) << i;
    EXPECT_FALSE(notes.has("heartbeat failed"));
    battery.stop();

    auto empty = options.map;
    empty.points.back().min.reset();
    empty.points.back().max = -1;  // no counter value fits
    Notes failing;
    BatteryController broken(connect_to(sim), controller_options(empty), failing.handlers());
    broken.start();
    EXPECT_TRUE(eventually([&] {
        return failing.has(
            "heartbeat failed: register map 'generic_battery': heartbeat point "
            "'watchdog' has no counter value within its range");
    }));
    broken.stop();
}

// A heartbeat the device keeps refusing keeps the battery down, as a polled
// read that keeps failing does: the polls that succeed in between do not
// bring it up (and down again at the next beat). Refused the same way at
// every beat, it is noted once, not at every beat; after a beat that
// succeeds, the next failure is noted again.
TEST(ModbusBatteryController, AHeartbeatThatKeepsFailingKeepsTheBatteryDown) {
    SimulatorOptions options;
    options.map.points.push_back(RegisterPoint{.name = "watchdog", .address = 300});
    options.map.heartbeat = Heartbeat{.point = "watchdog", .interval = 50ms};
    BatterySimulator sim(options);
    sim.start();
    Notes notes;
    BatteryController battery(connect_to(sim), controller_options(options.map), notes.handlers());
    battery.start();
    ASSERT_TRUE(eventually([&] { return battery.connected(); }));
    const auto beats_failed = [&] {
        std::lock_guard lock(notes.mutex);
        return std::count_if(notes.lines.begin(), notes.lines.end(), [](const std::string& l) {
            return l.find("heartbeat failed") != std::string::npos;
        });
    };

    // Six beats refused in a row (about 300 ms, polls answered every 20 ms
    // in between), then answered again.
    sim.inject_exception(300, 4, 6);
    ASSERT_TRUE(eventually([&] { return !battery.connected(); }));
    ASSERT_TRUE(eventually([&] { return battery.connected(); }));
    {
        std::lock_guard lock(notes.mutex);
        EXPECT_EQ(notes.states, (std::vector<bool>{true, false, true})) << "the battery flapped";
    }
    EXPECT_EQ(beats_failed(), 1);
    EXPECT_TRUE(notes.has("heartbeat failed: 127.0.0.1:"));

    sim.inject_exception(300, 4, 1);
    ASSERT_TRUE(eventually([&] { return beats_failed() == 2; }));
    EXPECT_TRUE(eventually([&] { return battery.connected(); }));
    battery.stop();
    std::lock_guard lock(notes.mutex);
    EXPECT_EQ(notes.states, (std::vector<bool>{true, false, true, false, true}));
}

TEST(ModbusBatteryController, ReassertsTheSetpointAfterAReconnect) {
    auto sim = std::make_unique<BatterySimulator>();
    sim->start();
    const std::uint16_t port = sim->port();
    Notes notes;
    BatteryController battery(connect_to(*sim), controller_options(sim->options().map),
                              notes.handlers());
    battery.start();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(12, d); }).ok);

    sim.reset();  // the device restarts and forgets its setpoint
    ASSERT_TRUE(eventually([&] { return !battery.connected(); }));
    SimulatorOptions options;
    options.port = port;
    sim = std::make_unique<BatterySimulator>(options);
    sim->start();
    EXPECT_TRUE(eventually([&] { return sim->setpoint_kw() == -12.0; }));
    EXPECT_TRUE(eventually([&] {
        std::lock_guard lock(notes.mutex);
        return notes.telemetry.count("soc") && notes.telemetry.count("active_power");
    }));
    // Connected again with the first request that succeeds.
    EXPECT_TRUE(eventually([&] { return battery.connected(); }));
    std::lock_guard lock(notes.mutex);
    ASSERT_GE(notes.states.size(), 3U);
    EXPECT_TRUE(notes.states.back());
}

// A command that fails for `not connected` is still the battery's setpoint:
// a device the gateway has never reached gets it when it appears, as one
// reached before gets it on reconnect. A battery never commanded gets no
// write (no 0 kW just because it connected).
TEST(ModbusBatteryController, WritesASetpointCommandedBeforeTheFirstContact) {
    SimulatorOptions options;
    options.units = {1, 2};
    auto probe = std::make_unique<BatterySimulator>(options);
    probe->start();
    options.port = probe->port();
    probe.reset();  // nothing listens there yet

    auto connection =
        std::make_shared<ModbusConnection>(Endpoint{"127.0.0.1", options.port}, fast_options());
    BatteryController commanded(connection, controller_options(options.map));
    auto idle_options = controller_options(options.map);
    idle_options.unit = 2;
    BatteryController never_commanded(connection, idle_options);
    commanded.start();
    never_commanded.start();
    const auto offline = wait([&](ControlDone d) { commanded.set_discharge(12, d); });
    ASSERT_FALSE(offline.ok);
    EXPECT_EQ(offline.error, "not connected");

    BatterySimulator sim(options);
    sim.start();
    EXPECT_TRUE(eventually([&] { return sim.setpoint_kw(1) == -12.0; }));
    EXPECT_TRUE(eventually([&] { return commanded.written_net_kw() == -12.0; }));
    EXPECT_TRUE(eventually([&] { return sim.requests_served() > 10; }));  // polls of both
    for (const auto& w : sim.writes()) EXPECT_NE(w.unit, 2) << "unit 2 was never commanded";
    commanded.stop();
    never_commanded.stop();
}

TEST(ModbusBatteryController, ShutdownIdlesTheBatteryOrLeavesIt) {
    BatterySimulator sim;
    sim.start();
    auto connection = connect_to(sim);
    {
        BatteryController battery(connection, controller_options(sim.options().map));
        battery.start();
        ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(7, d); }).ok);
        battery.stop();
        EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 0.0);
        EXPECT_EQ(sim.writes().back(), (ReceivedWrite{1, 16, 100, {0, 0}}));
    }
    auto leave = controller_options(sim.options().map);
    leave.on_shutdown = BatteryControllerOptions::OnShutdown::leave;
    BatteryController battery(connection, leave);
    battery.start();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(7, d); }).ok);
    battery.stop();
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -7.0);
    auto after = wait([&](ControlDone d) { battery.set_charge(1, d); });
    EXPECT_FALSE(after.ok);
}

TEST(ModbusBatteryController, TwoUnitsShareOneConnection) {
    SimulatorOptions options;
    options.units = {1, 2};
    BatterySimulator sim(options);
    sim.start();
    auto connection = connect_to(sim);
    auto first = controller_options(options.map);
    auto second = controller_options(options.map);
    second.unit = 2;
    BatteryController a(connection, first);
    BatteryController b(connection, second);
    a.start();
    b.start();
    ASSERT_TRUE(wait([&](ControlDone d) { a.set_charge(11, d); }).ok);
    ASSERT_TRUE(wait([&](ControlDone d) { b.set_discharge(22, d); }).ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(1), 11.0);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(2), -22.0);
    EXPECT_TRUE(eventually([&] { return a.soc() && b.soc(); }));
    EXPECT_EQ(sim.connections_accepted(), 1U);
    a.stop();
    b.stop();
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(1), 0.0);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(2), 0.0);
}

// Separate charge and discharge points: the commands of one slot that wait
// together are still one setpoint (the side going to zero first, then the
// other), not one sequence per command.
TEST(ModbusBatteryController, OneSlotIsOneSetpointWithSeparateChargeAndDischargePoints) {
    auto map = battery_sim::load_register_map(std::string(GRIDGATE_SOURCE_DIR) +
                                              "/config/register_maps/split_setpoint_battery.toml");
    ASSERT_TRUE(map);
    SimulatorOptions sim_options;
    sim_options.map = map.value();
    BatterySimulator sim(sim_options);
    sim.start();
    auto connection = connect_to(sim);
    auto options = controller_options(map.value());
    options.poll.plan.default_interval = 1h;
    BatteryController battery(connection, options);
    battery.start();
    const auto t0 = std::chrono::system_clock::now();
    const auto t1 = t0 + 1min;
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(40, d, t0); }).ok);
    ASSERT_DOUBLE_EQ(sim.setpoint_kw(), 40.0);
    sim.clear_writes();

    sim.delay_replies(150ms, 1);
    auto slow = std::make_shared<std::promise<ReadResult>>();
    ASSERT_TRUE(connection->read({1, Table::input, 100, 2},
                                 [slow](ReadResult r) { slow->set_value(std::move(r)); }));
    auto charge = std::make_shared<std::promise<ControlResult>>();
    auto discharge = std::make_shared<std::promise<ControlResult>>();
    battery.set_charge(
        10, [charge](ControlResult r) { charge->set_value(std::move(r)); }, t1);
    battery.set_discharge(
        30, [discharge](ControlResult r) { discharge->set_value(std::move(r)); }, t1);
    EXPECT_TRUE(slow->get_future().get());
    EXPECT_TRUE(charge->get_future().get().ok);
    EXPECT_TRUE(discharge->get_future().get().ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -20.0);
    std::vector<std::uint16_t> addresses;
    for (const auto& w : sim.writes()) addresses.push_back(w.address);
    EXPECT_EQ(addresses, (std::vector<std::uint16_t>{40, 42}))
        << "charge_setpoint 0, then discharge_setpoint 20 %: once";
    battery.stop();
}

SimulatorOptions direction_battery() {
    SimulatorOptions options;
    options.map.name = "dir";
    options.map.direction_values = {.charge = 1, .discharge = 2, .idle = 0};
    options.map.points = {
        RegisterPoint{.name = "remote_mode", .address = 19},
        RegisterPoint{.name = "direction", .address = 20},
        RegisterPoint{
            .name = "power_magnitude", .address = 21, .type = PointType::uint32, .scale = 0.01}};
    options.map.pre_writes = {{"remote_mode", 1, ""}};
    return options;
}

// A change of direction writes magnitude 0 before the direction: the device
// never runs the old magnitude in the new direction, not even when the new
// magnitude's write then fails. An unchanged direction does not dip to 0.
TEST(ModbusBatteryController, AChangeOfDirectionStopsTheBatteryBeforeItTurns) {
    const auto sim_options = direction_battery();
    BatterySimulator sim(sim_options);
    sim.start();
    BatteryController battery(connect_to(sim), controller_options(sim_options.map));
    battery.start();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(30, d); }).ok);
    ASSERT_DOUBLE_EQ(sim.setpoint_kw(), -30.0);

    sim.clear_writes();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(20, d); }).ok);
    EXPECT_EQ(sim.writes(), (std::vector<ReceivedWrite>{
                                {1, 6, 19, {1}}, {1, 6, 20, {2}}, {1, 16, 21, {0, 2000}}}))
        << "the same direction: the new magnitude, no dip to 0";

    sim.clear_writes();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(25, d); }).ok);  // net +5
    EXPECT_EQ(sim.writes(),
              (std::vector<ReceivedWrite>{
                  {1, 6, 19, {1}}, {1, 16, 21, {0, 0}}, {1, 6, 20, {1}}, {1, 16, 21, {0, 500}}}));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 5.0);

    // Back to discharging, and the new magnitude is refused: the battery
    // stays stopped, not charging at the old 5 kW in the new direction.
    sim.clear_writes();
    sim.inject_exception(21, 4, 1, 1);
    EXPECT_FALSE(wait([&](ControlDone d) { battery.set_charge(0, d); }).ok);
    EXPECT_EQ(sim.writes(),
              (std::vector<ReceivedWrite>{{1, 6, 19, {1}}, {1, 16, 21, {0, 0}}, {1, 6, 20, {2}}}));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 0.0);

    // After a failed write the direction the device holds is unknown: the
    // next setpoint stops it first again.
    sim.clear_writes();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(0, d); }).ok);
    EXPECT_EQ(sim.writes(),
              (std::vector<ReceivedWrite>{
                  {1, 6, 19, {1}}, {1, 16, 21, {0, 0}}, {1, 6, 20, {2}}, {1, 16, 21, {0, 2000}}}));
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -20.0);
    battery.stop();
}

// The engine hands a slot's charge and discharge commands over one right
// after the other, with nothing else on the wire: the first waits for its
// sibling, and the two are one write of the net value, so the battery never
// sits at the half-applied value in between.
TEST(ModbusBatteryController, ASlotsCommandsDispatchedBackToBackAreOneWrite) {
    EXPECT_EQ(BatteryControllerOptions{}.slot_window, default_slot_window);
    BatterySimulator sim;
    sim.start();
    auto options = controller_options(sim.options().map);
    options.poll.plan.default_interval = 1h;
    // Generous, so a loaded machine pausing this thread between the two
    // calls does not split them; the default is a few ms.
    options.slot_window = 250ms;
    BatteryController battery(connect_to(sim), options);
    battery.start();
    auto slot = std::chrono::system_clock::now();
    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_charge(40, d, slot); }).ok);

    for (int round = 0; round < 8; ++round) {
        slot += 1min;
        const bool to_discharge = round % 2 == 0;
        const double charge = to_discharge ? 10 : 40;
        const double discharge = to_discharge ? 30 : 0;
        sim.clear_writes();
        auto first = std::make_shared<std::promise<ControlResult>>();
        auto second = std::make_shared<std::promise<ControlResult>>();
        battery.set_charge(
            charge, [first](ControlResult r) { first->set_value(std::move(r)); }, slot);
        // Every other round the sibling comes a moment later, time enough
        // for an idle connection to have sent the first on its own.
        if (round % 4 >= 2) std::this_thread::sleep_for(20ms);
        battery.set_discharge(
            discharge, [second](ControlResult r) { second->set_value(std::move(r)); }, slot);
        EXPECT_TRUE(first->get_future().get().ok);
        EXPECT_TRUE(second->get_future().get().ok);
        const double net = charge - discharge;
        EXPECT_DOUBLE_EQ(sim.setpoint_kw(), net);
        std::vector<double> written;
        for (const auto& w : sim.writes()) {
            if (w.address == 100) {
                const auto raw = static_cast<std::int32_t>((std::uint32_t{w.values.at(0)} << 16U) |
                                                           w.values.at(1));
                written.push_back(raw / 1000.0);
            }
        }
        EXPECT_EQ(written, std::vector<double>{net}) << "round " << round;
    }
    battery.stop();
}

// A slot holds one charge and one discharge command: once both are in, the
// write goes out without waiting out the rest of the slot window.
TEST(ModbusBatteryController, ASlotWithBothCommandsInDoesNotWaitOutItsWindow) {
    BatterySimulator sim;
    sim.start();
    auto options = controller_options(sim.options().map);
    options.poll.plan.default_interval = 1h;
    options.slot_window = 1h;  // only the sibling can end the wait
    BatteryController battery(connect_to(sim), options);
    battery.start();
    const auto slot = std::chrono::system_clock::now();
    auto first = std::make_shared<std::promise<ControlResult>>();
    auto second = std::make_shared<std::promise<ControlResult>>();
    battery.set_discharge(
        5, [first](ControlResult r) { first->set_value(std::move(r)); }, slot);
    battery.set_charge(
        20, [second](ControlResult r) { second->set_value(std::move(r)); }, slot);
    auto done = first->get_future();
    ASSERT_EQ(done.wait_for(30s), std::future_status::ready);
    EXPECT_TRUE(done.get().ok);
    EXPECT_TRUE(second->get_future().get().ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), 15);
    battery.stop();
}

// power_setpoint int16 x 0.01 holds at most 327.67 kW. A charge of 400 kW
// (within a max_charge_kw of 500 that --check-config refuses, but a
// controller may be given) fails on its own: it neither becomes the kept
// charge value nor takes the slot's discharge command down with it.
TEST(ModbusBatteryController, AValueTheSetpointCannotHoldChangesNothing) {
    SimulatorOptions sim_options;
    for (auto& p : sim_options.map.points) {
        if (p.name == "power_setpoint") {
            p.type = PointType::int16;
            p.scale = 0.01;
        }
    }
    BatterySimulator sim(sim_options);
    sim.start();
    auto connection = connect_to(sim);
    auto options = controller_options(sim_options.map);
    options.limits.max_charge_kw = 500;
    options.limits.max_discharge_kw = 500;
    options.poll.plan.default_interval = 1h;
    BatteryController battery(connection, options);
    battery.start();
    const auto t1 = std::chrono::system_clock::now();

    sim.delay_replies(150ms, 1);
    auto slow = std::make_shared<std::promise<ReadResult>>();
    ASSERT_TRUE(connection->read({1, Table::input, 200, 1},
                                 [slow](ReadResult r) { slow->set_value(std::move(r)); }));
    auto charge = std::make_shared<std::promise<ControlResult>>();
    auto discharge = std::make_shared<std::promise<ControlResult>>();
    battery.set_charge(
        400, [charge](ControlResult r) { charge->set_value(std::move(r)); }, t1);
    battery.set_discharge(
        10, [discharge](ControlResult r) { discharge->set_value(std::move(r)); }, t1);
    EXPECT_TRUE(slow->get_future().get());
    const auto refused = charge->get_future().get();
    EXPECT_FALSE(refused.ok);
    EXPECT_FALSE(refused.retryable);
    EXPECT_NE(refused.error.find("value 400 does not fit point 'power_setpoint'"),
              std::string::npos)
        << refused.error;
    EXPECT_TRUE(discharge->get_future().get().ok);
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -10.0);

    ASSERT_TRUE(wait([&](ControlDone d) { battery.set_discharge(20, d); }).ok)
        << "the refused 400 kW is not the kept charge value";
    EXPECT_DOUBLE_EQ(sim.setpoint_kw(), -20.0);
    battery.stop();
}

}  // namespace
}  // namespace gridgate::modbus
