#include "gridgate/engine/dispatch_engine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gridgate/engine/schedule_parser.hpp"

using namespace gridgate::engine;
using gridgate::sdk::Adapter;
using gridgate::sdk::Command;
using gridgate::sdk::CommandId;
using gridgate::sdk::CommandResult;
using gridgate::sdk::CommandStatus;
using gridgate::sdk::CommandType;
using gridgate::sdk::Completion;
using namespace std::chrono_literals;

namespace {

const double NaN = std::numeric_limits<double>::quiet_NaN();
const TimePoint t0 = TimePoint{} + std::chrono::hours(24 * 19723);  // 2024-01-01T00:00:00Z

TimePoint hour(int h) {
    return t0 + std::chrono::hours(h);
}

Schedule make_schedule(std::vector<TimePoint> index,
                       std::vector<std::pair<std::string, std::vector<double>>> columns) {
    Schedule s;
    s.index = std::move(index);
    for (auto& [name, values] : columns) {
        s.columns.push_back(name);
        s.values.insert(s.values.end(), values.begin(), values.end());
    }
    return s;
}

std::vector<TimePoint> hours(int first, int count) {
    std::vector<TimePoint> out;
    for (int i = 0; i < count; ++i) out.push_back(hour(first + i));
    return out;
}

/// Records every command it is given; completes it inline when told to,
/// otherwise keeps the completion for the test to call.
class ScriptedAdapter : public Adapter {
  public:
    std::vector<Command> executed;
    std::vector<Completion> completions;
    std::optional<CommandResult> inline_result;

    void execute(const Command& command, Completion done) noexcept override {
        executed.push_back(command);
        if (inline_result) {
            done(*inline_result);
        } else {
            completions.push_back(std::move(done));
        }
    }
};

class DispatchEngineTest : public ::testing::Test {
  protected:
    TimePoint now = hour(0);
    std::vector<std::pair<LogLevel, std::string>> log;
    std::vector<Event> events;
    std::unique_ptr<DispatchEngine> engine;
    EventBus::Subscription recorder;
    AssetMap map{{"ev_001", "ast_ev1"},
                 {"ev_002", "ast_ev2"},
                 {"battery", "ast_batt"},
                 {"battery_2", "ast_batt2"}};

    void SetUp() override { make({}); }

    void make(EngineOptions options, DispatchEngine::Poster post = {}) {
        recorder.reset();
        engine = std::make_unique<DispatchEngine>(
            options, DispatchEngine::Hooks{[this] { return now; }, std::move(post),
                                           [this](LogLevel level, std::string_view m) {
                                               log.emplace_back(level, m);
                                           }});
        recorder = engine->events().subscribe_all([this](const Event& e) { events.push_back(e); });
    }

    std::vector<EventType> event_types() const {
        std::vector<EventType> out;
        for (const auto& e : events) out.push_back(e.type);
        return out;
    }

    Command command(CommandId id) const {
        auto c = engine->get_command(id);
        EXPECT_TRUE(c) << id.str();
        return c ? *c : Command{};
    }

    bool logged(std::string_view fragment) const {
        for (const auto& [level, line] : log) {
            if (line.find(fragment) != std::string::npos) return true;
        }
        return false;
    }

    /// One ev_001 setpoint of `kw` at `at`, returned by id.
    CommandId one_command(TimePoint at, double kw = 11.0, const char* column = "ev_001_kw") {
        auto r = engine->schedule_to_commands(make_schedule({at}, {{column, {kw}}}), map);
        EXPECT_EQ(r.commands.size(), 1u);
        return r.commands.at(0);
    }
};

}  // namespace

// ------------------------------------------------------------------ schedules

TEST_F(DispatchEngineTest, ReferenceExampleEmitsOnlyChanges) {
    auto r = engine->schedule_to_commands(
        make_schedule(hours(8, 4), {{"ev_001_kw", {22.0, 22.0, 22.0, 0.0}}}), map);
    ASSERT_EQ(r.commands.size(), 2u);
    const Command first = command(r.commands[0]);
    const Command second = command(r.commands[1]);
    EXPECT_EQ(first.asset_id, "ast_ev1");
    EXPECT_EQ(first.command_type, CommandType::SetChargeRate);
    EXPECT_EQ(first.parameters.power_kw, 22.0);
    EXPECT_EQ(first.scheduled_at, hour(8));
    EXPECT_EQ(second.parameters.power_kw, 0.0);
    EXPECT_FALSE(std::signbit(*second.parameters.power_kw));
    EXPECT_EQ(second.scheduled_at, hour(11));
    // Defaults of a fresh command.
    EXPECT_EQ(first.status, CommandStatus::Pending);
    EXPECT_EQ(first.retry_count, 0);
    EXPECT_EQ(first.max_retries, 3);
    EXPECT_DOUBLE_EQ(first.timeout_seconds, 30.0);
    EXPECT_FALSE(first.dispatched_at);
    EXPECT_FALSE(first.completed_at);
    EXPECT_TRUE(first.error.empty());
    EXPECT_EQ(first.command_id.str().substr(0, 4), "cmd_");
    EXPECT_NE(first.command_id, second.command_id);
    EXPECT_EQ(engine->size(), 2u);
}

TEST_F(DispatchEngineTest, ReferenceExampleFromCsvText) {
    const Schedule schedule = parse_schedule_csv(
        ",ev_001_kw,price\n"
        "2024-01-01 08:00:00,22.0,31\n"
        "2024-01-01 09:00:00,22.0,30\n"
        "2024-01-01 10:00:00,22.0,\n"
        "2024-01-01 11:00:00,0.0,35\n");
    auto r = engine->schedule_to_commands(schedule, map);
    ASSERT_EQ(r.commands.size(), 2u);
    EXPECT_EQ(command(r.commands[0]).scheduled_at, hour(8));
    EXPECT_EQ(command(r.commands[0]).parameters.power_kw, 22.0);
    EXPECT_EQ(command(r.commands[1]).scheduled_at, hour(11));
    EXPECT_EQ(command(r.commands[1]).parameters.power_kw, 0.0);
    EXPECT_EQ(r.ignored_columns, std::vector<std::string>{"price"});
}

TEST_F(DispatchEngineTest, RequestAssetMapIsUsedAsIs) {
    const ScheduleRequest request = parse_schedule_request_json(
        R"({"schedule": {"columns": ["battery_3_discharge_kw"], "index": ["2024-01-01T05:00:00Z"],
            "data": [[4.5]]}, "asset_map": {"battery_3": "ast_batt_003"}})");
    AssetMap merged = map;  // the site file's map, then the body's keys win
    for (const auto& [key, asset] : request.asset_map) merged[key] = asset;
    auto r = engine->schedule_to_commands(request.schedule, merged);
    ASSERT_EQ(r.commands.size(), 1u);
    const Command c = command(r.commands[0]);
    EXPECT_EQ(c.asset_id, "ast_batt_003");
    EXPECT_EQ(c.command_type, CommandType::SetDischargeRate);
    EXPECT_EQ(c.scheduled_at, hour(5));
}

TEST_F(DispatchEngineTest, ScheduleIdAndIgnoredColumnsAreReported) {
    auto r = engine->schedule_to_commands(make_schedule(hours(0, 2), {{"price_eur_mwh", {50, 60}},
                                                                      {"ev_001_kw", {1, 1}},
                                                                      {"pv_forecast_kw", {3, 4}}}),
                                          map);
    EXPECT_EQ(r.ignored_columns, (std::vector<std::string>{"price_eur_mwh", "pv_forecast_kw"}));
    ASSERT_EQ(r.schedule_id.size(), 16u);
    EXPECT_EQ(r.schedule_id.substr(0, 4), "sch_");
    EXPECT_EQ(r.schedule_id.find_first_not_of("0123456789abcdef", 4), std::string::npos);
    EXPECT_EQ(r.commands.size(), 1u);
    EXPECT_TRUE(r.cancelled.empty());
}

TEST_F(DispatchEngineTest, BatteryColumnsChargeAndDischarge) {
    auto r = engine->schedule_to_commands(
        make_schedule(hours(0, 3), {{"battery_charge_kw", {10, 10, 0}},
                                    {"battery_discharge_kw", {0, 0, 5}},
                                    {"battery_2_discharge_kw", {NaN, 3, 3}}}),
        map);
    ASSERT_EQ(r.commands.size(), 5u);
    // Column by column, each in time order.
    const Command c0 = command(r.commands[0]), c1 = command(r.commands[1]),
                  d0 = command(r.commands[2]), d1 = command(r.commands[3]),
                  b2 = command(r.commands[4]);
    EXPECT_EQ(c0.asset_id, "ast_batt");
    EXPECT_EQ(c0.command_type, CommandType::SetChargeRate);
    EXPECT_EQ(c0.parameters.power_kw, 10.0);
    EXPECT_EQ(c1.scheduled_at, hour(2));
    EXPECT_EQ(c1.parameters.power_kw, 0.0);
    EXPECT_EQ(d0.command_type, CommandType::SetDischargeRate);
    EXPECT_EQ(d0.parameters.power_kw, 0.0);
    EXPECT_EQ(d1.parameters.power_kw, 5.0);
    EXPECT_EQ(d1.scheduled_at, hour(2));
    EXPECT_EQ(b2.asset_id, "ast_batt2");
    EXPECT_EQ(b2.command_type, CommandType::SetDischargeRate);
    EXPECT_EQ(b2.scheduled_at, hour(1));
}

TEST_F(DispatchEngineTest, EmptyCellsEmitNothingAndCompareWithTheLastValue) {
    auto r = engine->schedule_to_commands(
        make_schedule(hours(0, 6), {{"ev_001_kw", {NaN, 5, NaN, 5, 7, NaN}},
                                    {"ev_002_kw", {NaN, NaN, NaN, NaN, NaN, NaN}}}),
        map);
    ASSERT_EQ(r.commands.size(), 2u);
    EXPECT_EQ(command(r.commands[0]).scheduled_at, hour(1));
    EXPECT_EQ(command(r.commands[1]).scheduled_at, hour(4));
    EXPECT_EQ(command(r.commands[1]).parameters.power_kw, 7.0);
    EXPECT_TRUE(engine->get_commands_for_asset("ast_ev2").empty());
}

TEST_F(DispatchEngineTest, ScheduleReceivedEventCarriesTheCounts) {
    auto r = engine->schedule_to_commands(
        make_schedule(hours(0, 2), {{"ev_001_kw", {1, 2}}, {"other", {0, 0}}}), map);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, EventType::ScheduleReceived);
    EXPECT_EQ(events[0].schedule_id, r.schedule_id);
    EXPECT_EQ(events[0].command_count, 2u);
    EXPECT_EQ(events[0].cancelled_count, 0u);
    EXPECT_EQ(events[0].ignored_columns, std::vector<std::string>{"other"});
    EXPECT_EQ(events[0].timestamp, now);
}

TEST_F(DispatchEngineTest, ColumnWithoutAssetMapKeyRefusesTheWholeSchedule) {
    const CommandId existing = one_command(hour(5));
    events.clear();
    try {
        engine->schedule_to_commands(
            make_schedule(hours(0, 2), {{"ev_001_kw", {1, 2}}, {"ev_404_kw", {1, 2}}}), map);
        FAIL() << "expected ScheduleError";
    } catch (const ScheduleError& e) {
        EXPECT_EQ(e.kind(), ScheduleError::Kind::UnknownAsset);
        EXPECT_NE(std::string(e.what()).find("ev_404_kw"), std::string::npos) << e.what();
    }
    // Nothing changed: no new command, the superseded one still pending, no event.
    EXPECT_EQ(engine->size(), 1u);
    EXPECT_EQ(command(existing).status, CommandStatus::Pending);
    EXPECT_TRUE(events.empty());
}

TEST_F(DispatchEngineTest, ColumnMappedToAnAssetTheSiteDoesNotKnowIsRefused) {
    auto known = [](std::string_view id) { return id != "ast_ev2"; };
    EXPECT_NO_THROW(
        engine->schedule_to_commands(make_schedule(hours(0, 1), {{"ev_001_kw", {1}}}), map, known));
    try {
        engine->schedule_to_commands(make_schedule(hours(0, 1), {{"ev_002_kw", {1}}}), map, known);
        FAIL() << "expected ScheduleError";
    } catch (const ScheduleError& e) {
        EXPECT_EQ(e.kind(), ScheduleError::Kind::UnknownAsset);
        EXPECT_NE(std::string(e.what()).find("ev_002_kw"), std::string::npos);
    }
    EXPECT_EQ(engine->size(), 1u);
}

TEST_F(DispatchEngineTest, NegativePowerIsRefusedNamingColumnAndRow) {
    const CommandId existing = one_command(hour(5));
    try {
        engine->schedule_to_commands(
            make_schedule(hours(0, 3),
                          {{"ev_001_kw", {1, 2, 3}}, {"battery_charge_kw", {1, NaN, -4.5}}}),
            map);
        FAIL() << "expected ScheduleError";
    } catch (const ScheduleError& e) {
        EXPECT_EQ(e.kind(), ScheduleError::Kind::BadInput);
        const std::string what = e.what();
        EXPECT_NE(what.find("'battery_charge_kw'"), std::string::npos) << what;
        EXPECT_NE(what.find("row 3 (2024-01-01T02:00:00Z)"), std::string::npos) << what;
        EXPECT_NE(what.find("got -4.5"), std::string::npos) << what;
    }
    EXPECT_EQ(engine->size(), 1u);
    EXPECT_EQ(command(existing).status, CommandStatus::Pending);
    EXPECT_THROW(
        engine->schedule_to_commands(make_schedule(hours(0, 1), {{"ev_001_kw", {INFINITY}}}), map),
        ScheduleError);
}

// A refusal after parsing names the place as the parser does: a CSV's line
// and column (the header is line 1, the index column 1), a JSON cell's path.
TEST_F(DispatchEngineTest, NegativePowerFromATextNamesItsLineOrPath) {
    auto refusal = [&](const Schedule& schedule) {
        try {
            engine->schedule_to_commands(schedule, map);
        } catch (const ScheduleError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    const auto csv = parse_schedule_csv(
        "timestamp,ev_001_kw,battery_charge_kw\n"
        "2024-01-01T00:00:00Z,1,2\n"
        "2024-01-01T01:00:00Z,1,-2\n");
    EXPECT_EQ(refusal(csv).rfind("line 3, column 3 (battery_charge_kw): power must be", 0), 0u)
        << refusal(csv);
    const auto json = parse_schedule_request_json(
        R"({"schedule": {"columns": ["ev_001_kw", "battery_charge_kw"],
            "index": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"],
            "data": [[1, 2], [-1, 2]]}})");
    EXPECT_EQ(refusal(json.schedule).rfind("$.schedule.data[1][0] (ev_001_kw): power must be", 0),
              0u)
        << refusal(json.schedule);
}

TEST_F(DispatchEngineTest, MalformedTableIsRefused) {
    Schedule ragged = make_schedule(hours(0, 2), {{"ev_001_kw", {1, 2}}});
    ragged.values.pop_back();
    EXPECT_THROW(engine->schedule_to_commands(ragged, map), ScheduleError);
    Schedule unordered = make_schedule({hour(1), hour(1)}, {{"ev_001_kw", {1, 2}}});
    try {
        engine->schedule_to_commands(unordered, map);
        FAIL();
    } catch (const ScheduleError& e) {
        EXPECT_EQ(e.kind(), ScheduleError::Kind::BadInput);
        EXPECT_NE(std::string(e.what()).find("row 2"), std::string::npos) << e.what();
    }
    EXPECT_EQ(engine->size(), 0u);
}

TEST_F(DispatchEngineTest, EmptyScheduleMakesNothing) {
    auto r = engine->schedule_to_commands(make_schedule({}, {{"ev_001_kw", {}}}), map);
    EXPECT_TRUE(r.commands.empty());
    EXPECT_TRUE(r.cancelled.empty());
    EXPECT_EQ(r.schedule_id.size(), 16u);
}

// ------------------------------------------------------------------ supersede

TEST_F(DispatchEngineTest, NewScheduleCancelsPendingCommandsFromItsFirstTimestamp) {
    auto first = engine->schedule_to_commands(
        make_schedule(hours(8, 4), {{"ev_001_kw", {1, 2, 3, 4}},
                                    {"ev_002_kw", {1, 2, 3, 4}},
                                    {"battery_discharge_kw", {1, 2, 3, 4}}}),
        map);
    ASSERT_EQ(first.commands.size(), 12u);
    events.clear();

    // Starts at hour 10 and only speaks for ev_001 (and battery charge, not discharge).
    // Its first value equals the old one at that hour and still emits: change
    // detection restarts with the new schedule.
    auto second = engine->schedule_to_commands(
        make_schedule(hours(10, 3), {{"ev_001_kw", {3, 3, 9}}, {"battery_charge_kw", {5, 5, 5}}}),
        map);
    ASSERT_EQ(second.cancelled.size(), 2u);
    EXPECT_EQ(second.cancelled[0], first.commands[2]);
    EXPECT_EQ(second.cancelled[1], first.commands[3]);
    EXPECT_EQ(command(first.commands[0]).status, CommandStatus::Pending);
    EXPECT_EQ(command(first.commands[1]).status, CommandStatus::Pending);
    EXPECT_EQ(command(first.commands[2]).status, CommandStatus::Cancelled);
    EXPECT_TRUE(command(first.commands[2]).completed_at);
    for (std::size_t i = 4; i < 12; ++i) {
        EXPECT_EQ(command(first.commands[i]).status, CommandStatus::Pending) << i;
    }
    ASSERT_EQ(second.commands.size(), 3u);
    EXPECT_EQ(command(second.commands[0]).scheduled_at, hour(10));
    EXPECT_EQ(command(second.commands[0]).parameters.power_kw, 3.0);
    EXPECT_EQ(command(second.commands[1]).scheduled_at, hour(12));

    // SCHEDULE_RECEIVED first, then one COMMAND_CANCELLED per superseded command.
    ASSERT_EQ(event_types(),
              (std::vector<EventType>{EventType::ScheduleReceived, EventType::CommandCancelled,
                                      EventType::CommandCancelled}));
    EXPECT_EQ(events[0].cancelled_count, 2u);
    EXPECT_EQ(events[1].command_id, first.commands[2]);
    EXPECT_EQ(events[1].asset_id, "ast_ev1");
    EXPECT_EQ(events[1].command_type, CommandType::SetChargeRate);
    EXPECT_EQ(events[1].status, CommandStatus::Cancelled);
    EXPECT_NE(events[1].message.find(second.schedule_id), std::string::npos);
}

TEST_F(DispatchEngineTest, SupersedeLeavesDispatchedCommandsAlone) {
    ScriptedAdapter adapter;
    auto first =
        engine->schedule_to_commands(make_schedule(hours(0, 2), {{"ev_001_kw", {1, 2}}}), map);
    now = hour(1);
    ASSERT_EQ(engine->get_pending_commands(now).size(), 1u);  // hour 0 is stale, hour 1 is due
    ASSERT_TRUE(engine->dispatch_command(first.commands[1], adapter));
    auto second =
        engine->schedule_to_commands(make_schedule(hours(1, 1), {{"ev_001_kw", {7}}}), map);
    EXPECT_TRUE(second.cancelled.empty());
    EXPECT_EQ(command(first.commands[1]).status, CommandStatus::Dispatched);
}

// ------------------------------------------------------------------ due commands

TEST_F(DispatchEngineTest, PendingCommandsAreDueAtTheirTimeInScheduledOrder) {
    auto r = engine->schedule_to_commands(
        make_schedule(hours(1, 3), {{"ev_002_kw", {NaN, 4, NaN}},
                                    {"ev_001_kw", {1, NaN, NaN}},
                                    {"battery_charge_kw", {NaN, NaN, 2}}}),
        map);
    ASSERT_EQ(r.commands.size(), 3u);
    EXPECT_TRUE(engine->get_pending_commands(hour(1) - 1ns).empty());  // never before
    auto due = engine->get_pending_commands(hour(2));
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[0].asset_id, "ast_ev1");
    EXPECT_EQ(due[1].asset_id, "ast_ev2");
    // Not dispatched yet: still due on the next call.
    EXPECT_EQ(engine->get_pending_commands(hour(2)).size(), 2u);
    EXPECT_EQ(engine->get_pending_commands(hour(5)).size(), 3u);
}

TEST_F(DispatchEngineTest, OnlyTheNewestOfSeveralDueSetpointsIsSent) {
    auto r = engine->schedule_to_commands(
        make_schedule(hours(1, 3), {{"ev_001_kw", {1, 2, 3}},
                                    {"battery_charge_kw", {1, 1, 1}},
                                    {"battery_discharge_kw", {0, 0, 0}}}),
        map);
    ASSERT_EQ(r.commands.size(), 5u);
    events.clear();
    auto due = engine->get_pending_commands(hour(2) + 30min);
    // ev_001: hour 1 is stale (hour 2 is due too); each battery side has one command.
    ASSERT_EQ(due.size(), 3u);
    EXPECT_EQ(command(r.commands[0]).status, CommandStatus::Cancelled);
    EXPECT_EQ(due[0].asset_id, "ast_batt");
    EXPECT_EQ(due[1].asset_id, "ast_batt");
    EXPECT_EQ(due[2].command_id, r.commands[1]);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, EventType::CommandCancelled);
    EXPECT_EQ(events[0].command_id, r.commands[0]);
    EXPECT_NE(events[0].message.find(r.commands[1].str()), std::string::npos);
}

TEST_F(DispatchEngineTest, ActionsAreNeverStale) {
    NewCommand stop{"ast_ev1", CommandType::StopCharging, {}, hour(1)};
    const CommandId a = engine->add_command(stop);
    stop.scheduled_at = hour(2);
    const CommandId b = engine->add_command(stop);
    auto due = engine->get_pending_commands(hour(3));
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[0].command_id, a);
    EXPECT_EQ(due[1].command_id, b);
}

// The cycle in one pass: what is due, newest setpoint only, oldest first,
// each to the adapter its router names; the router sees one fixed number
// per asset.
TEST_F(DispatchEngineTest, DispatchDueRoutesWhatIsDueInOrder) {
    auto r = engine->schedule_to_commands(
        make_schedule(hours(1, 3), {{"ev_001_kw", {1, 2, NaN}},
                                    {"ev_002_kw", {NaN, 4, NaN}},
                                    {"battery_charge_kw", {NaN, NaN, 2}}}),
        map);
    ASSERT_EQ(r.commands.size(), 4u);
    ScriptedAdapter ev, battery;
    std::vector<std::pair<AssetIndex, std::string>> asked;
    auto route = [&](AssetIndex asset, std::string_view asset_id, CommandType type,
                     std::string&) -> Adapter* {
        EXPECT_EQ(type, CommandType::SetChargeRate);
        asked.emplace_back(asset, std::string(asset_id));
        return asset_id == "ast_batt" ? &battery : &ev;
    };
    EXPECT_EQ(engine->dispatch_due(hour(1) - 1ns, route), 0u);  // never before
    EXPECT_TRUE(asked.empty());
    events.clear();

    EXPECT_EQ(engine->dispatch_due(hour(2), route), 2u);
    EXPECT_EQ(command(r.commands[0]).status, CommandStatus::Cancelled);  // stale
    ASSERT_EQ(ev.executed.size(), 2u);
    EXPECT_EQ(ev.executed[0].command_id, r.commands[1]);
    EXPECT_EQ(ev.executed[1].command_id, r.commands[2]);
    EXPECT_EQ(ev.executed[0].status, CommandStatus::Dispatched);
    EXPECT_EQ(ev.executed[0].parameters.power_kw, 2.0);
    EXPECT_EQ(event_types(),
              (std::vector<EventType>{EventType::CommandCancelled, EventType::CommandDispatched,
                                      EventType::CommandDispatched}));
    // Dispatched: not due again.
    EXPECT_EQ(engine->dispatch_due(hour(2), route), 0u);

    EXPECT_EQ(engine->dispatch_due(hour(5), route), 1u);
    ASSERT_EQ(battery.executed.size(), 1u);
    EXPECT_EQ(battery.executed[0].command_id, r.commands[3]);
    ASSERT_EQ(asked.size(), 3u);
    EXPECT_EQ(asked[0].second, "ast_ev1");
    EXPECT_EQ(asked[1].second, "ast_ev2");
    EXPECT_EQ(asked[2].second, "ast_batt");
    EXPECT_NE(asked[0].first, asked[1].first);
    EXPECT_NE(asked[1].first, asked[2].first);

    // The same asset keeps its number.
    const CommandId later = one_command(hour(6), 7.0);
    EXPECT_EQ(engine->dispatch_due(hour(6), route), 1u);
    EXPECT_EQ(asked.back(), asked[0]);
    EXPECT_EQ(ev.executed.back().command_id, later);
}

// A command the router has no adapter for fails at once with the router's
// reason, and is not retried: another try would find no adapter either.
TEST_F(DispatchEngineTest, DispatchDueFailsWhatTheRouterRefuses) {
    const CommandId id = one_command(hour(0));
    events.clear();
    auto refuse = [](AssetIndex, std::string_view asset_id, CommandType,
                     std::string& refusal) -> Adapter* {
        refusal = "no adapter is bound to asset '" + std::string(asset_id) + "'";
        return nullptr;
    };
    EXPECT_EQ(engine->dispatch_due(hour(0), refuse), 0u);
    EXPECT_EQ(command(id).status, CommandStatus::Failed);
    EXPECT_EQ(command(id).retry_count, 0);
    EXPECT_EQ(command(id).error, "no adapter is bound to asset 'ast_ev1'");
    EXPECT_EQ(event_types(), std::vector<EventType>{EventType::CommandFailed});
    EXPECT_FALSE(engine->next_wakeup());
}

TEST_F(DispatchEngineTest, NextWakeupIsTheEarliestDueTimeOrDeadline) {
    EXPECT_FALSE(engine->next_wakeup());
    auto r = engine->schedule_to_commands(make_schedule(hours(1, 2), {{"ev_001_kw", {1, 2}}}), map);
    EXPECT_EQ(engine->next_wakeup(), hour(1));
    ScriptedAdapter adapter;
    now = hour(1) + 10ms;
    ASSERT_TRUE(engine->dispatch_command(r.commands[0], adapter));
    EXPECT_EQ(engine->next_wakeup(), now + 30s);  // the timeout comes before hour 2
    adapter.completions[0](CommandResult::ok());
    EXPECT_EQ(engine->next_wakeup(), hour(2));
}

TEST_F(DispatchEngineTest, NextDueIsTheEarliestPendingCommandTimeoutsAside) {
    EXPECT_FALSE(engine->next_due());
    auto r = engine->schedule_to_commands(make_schedule(hours(1, 2), {{"ev_001_kw", {1, 2}}}), map);
    EXPECT_EQ(engine->next_due(), hour(1));
    ScriptedAdapter adapter;
    now = hour(1) + 10ms;
    ASSERT_TRUE(engine->dispatch_command(r.commands[0], adapter));
    EXPECT_EQ(engine->next_due(), hour(2));  // the dispatched one's timeout is not a due time
    now = hour(2);
    ASSERT_TRUE(engine->dispatch_command(r.commands[1], adapter));
    EXPECT_FALSE(engine->next_due());
    EXPECT_TRUE(engine->next_wakeup());
}

// ------------------------------------------------------------------ lifecycle

TEST_F(DispatchEngineTest, DispatchThenCompletePublishesEachStepWithItsPayload) {
    const CommandId id = one_command(hour(1), 11.0);
    events.clear();
    ScriptedAdapter adapter;
    now = hour(1) + 5ms;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    ASSERT_EQ(adapter.executed.size(), 1u);
    EXPECT_EQ(adapter.executed[0].command_id, id);
    EXPECT_EQ(adapter.executed[0].status, CommandStatus::Dispatched);
    EXPECT_EQ(adapter.executed[0].parameters.power_kw, 11.0);
    EXPECT_EQ(command(id).status, CommandStatus::Dispatched);
    EXPECT_EQ(command(id).dispatched_at, now);
    EXPECT_FALSE(engine->dispatch_command(id, adapter));  // only a PENDING command is sent

    const TimePoint dispatched = now;
    now += 200ms;
    adapter.completions[0](CommandResult::ok());
    const Command done = command(id);
    EXPECT_EQ(done.status, CommandStatus::Completed);
    EXPECT_EQ(done.completed_at, now);
    EXPECT_EQ(done.dispatched_at, dispatched);

    ASSERT_EQ(event_types(),
              (std::vector<EventType>{EventType::CommandDispatched, EventType::CommandCompleted}));
    EXPECT_EQ(events[0].command_id, id);
    EXPECT_EQ(events[0].asset_id, "ast_ev1");
    EXPECT_EQ(events[0].command_type, CommandType::SetChargeRate);
    EXPECT_EQ(events[0].status, CommandStatus::Dispatched);
    EXPECT_EQ(events[0].timestamp, dispatched);
    EXPECT_EQ(events[0].parameters.power_kw, 11.0);
    EXPECT_EQ(events[0].scheduled_at, hour(1));
    EXPECT_EQ(events[1].status, CommandStatus::Completed);
    EXPECT_EQ(events[1].timestamp, now);
    EXPECT_EQ(events[1].retry_count, 0);
    EXPECT_TRUE(events[1].error.empty());
}

TEST_F(DispatchEngineTest, CompletionInsideExecuteIsSafe) {
    const CommandId id = one_command(hour(0));
    ScriptedAdapter adapter;
    adapter.inline_result = CommandResult::ok();
    // A handler that grows the store while the dispatch is on the stack.
    auto grow = engine->events().subscribe(EventType::CommandCompleted, [&](const Event&) {
        for (int i = 0; i < 1000; ++i) {
            engine->add_command({"ast_x", CommandType::StopCharging, {}, hour(3)});
        }
    });
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    EXPECT_EQ(command(id).status, CommandStatus::Completed);
    EXPECT_EQ(engine->size(), 1001u);
}

TEST_F(DispatchEngineTest, RetryWithDoublingBackoffThenFailed) {
    const CommandId id = one_command(hour(0));
    events.clear();
    ScriptedAdapter adapter;
    adapter.inline_result = CommandResult::failure("Rejected");
    const std::vector<std::chrono::seconds> backoffs{5s, 10s, 20s};
    for (std::size_t attempt = 0; attempt < 3; ++attempt) {
        ASSERT_TRUE(engine->dispatch_command(id, adapter)) << attempt;
        const Command c = command(id);
        EXPECT_EQ(c.status, CommandStatus::Pending);
        EXPECT_EQ(c.retry_count, int(attempt + 1));
        EXPECT_EQ(c.error, "Rejected");
        const Event& retry = events.back();
        EXPECT_EQ(retry.type, EventType::CommandRetry);
        EXPECT_EQ(retry.retry_count, int(attempt + 1));
        EXPECT_EQ(retry.error, "Rejected");
        EXPECT_EQ(retry.retry_at, now + backoffs[attempt]);
        // Not due again before the backoff has passed.
        EXPECT_TRUE(engine->get_pending_commands(now + backoffs[attempt] - 1ms).empty());
        EXPECT_EQ(engine->next_wakeup(), now + backoffs[attempt]);
        now += backoffs[attempt];
        ASSERT_EQ(engine->get_pending_commands(now).size(), 1u);
    }
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    const Command failed = command(id);
    EXPECT_EQ(failed.status, CommandStatus::Failed);
    EXPECT_EQ(failed.retry_count, 3);  // == max_retries after 1 + 3 attempts
    EXPECT_EQ(failed.error, "Rejected");
    EXPECT_EQ(failed.completed_at, now);
    EXPECT_EQ(adapter.executed.size(), 4u);
    EXPECT_EQ(event_types(),
              (std::vector<EventType>{EventType::CommandDispatched, EventType::CommandRetry,
                                      EventType::CommandDispatched, EventType::CommandRetry,
                                      EventType::CommandDispatched, EventType::CommandRetry,
                                      EventType::CommandDispatched, EventType::CommandFailed}));
    EXPECT_EQ(events.back().status, CommandStatus::Failed);
    EXPECT_FALSE(engine->next_wakeup());
}

TEST_F(DispatchEngineTest, BackoffIsCapped) {
    make({.max_retries = 4, .retry_backoff_seconds = 5.0, .max_retry_backoff_seconds = 12.0});
    const CommandId id = one_command(hour(0));
    std::vector<TimePoint::duration> waits;
    for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(engine->fail_command(id, "not connected", true));
        waits.push_back(*events.back().retry_at - now);
        now = *events.back().retry_at;
    }
    EXPECT_EQ(waits, (std::vector<TimePoint::duration>{5s, 10s, 12s, 12s}));
    ASSERT_TRUE(engine->fail_command(id, "not connected", true));
    EXPECT_EQ(command(id).status, CommandStatus::Failed);
    EXPECT_EQ(command(id).retry_count, 4);
}

TEST_F(DispatchEngineTest, NonRetryableFailureEndsAtOnce) {
    const CommandId id = one_command(hour(0));
    ScriptedAdapter adapter;
    adapter.inline_result = CommandResult::failure("NotSupported", false);
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    const Command c = command(id);
    EXPECT_EQ(c.status, CommandStatus::Failed);
    EXPECT_EQ(c.retry_count, 0);
    EXPECT_EQ(c.error, "NotSupported");
    EXPECT_EQ(events.back().type, EventType::CommandFailed);
}

TEST_F(DispatchEngineTest, TimeoutRetriesThenTimedOut) {
    make({.max_retries = 2});
    const CommandId id = one_command(hour(0));
    events.clear();
    ScriptedAdapter adapter;  // never answers
    for (int attempt = 0; attempt < 2; ++attempt) {
        ASSERT_TRUE(engine->dispatch_command(id, adapter));
        EXPECT_EQ(engine->check_timeouts(now + 30s - 1ms), 0u);
        now += 30s;
        EXPECT_EQ(engine->check_timeouts(now), 1u);
        EXPECT_EQ(command(id).status, CommandStatus::Pending);
        EXPECT_EQ(command(id).error, "timeout");
        EXPECT_EQ(events.back().type, EventType::CommandRetry);
        now = *events.back().retry_at;
    }
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    now += 30s;
    EXPECT_EQ(engine->check_timeouts(now), 1u);
    const Command c = command(id);
    EXPECT_EQ(c.status, CommandStatus::TimedOut);
    EXPECT_EQ(c.error, "timeout");
    EXPECT_EQ(c.retry_count, 2);
    EXPECT_EQ(c.completed_at, now);
    EXPECT_EQ(events.back().type, EventType::CommandTimedOut);
    EXPECT_EQ(events.back().status, CommandStatus::TimedOut);
    EXPECT_EQ(engine->check_timeouts(now + 1h), 0u);
}

// An adapter whose own timeout equals the command's may report it before
// the engine's timer runs: the outcome must not depend on which came first.
TEST_F(DispatchEngineTest, ARetryableFailureAtTheDeadlineIsTheTimeout) {
    make({.max_retries = 1});
    const CommandId id = one_command(hour(0));
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    now += 30s;  // the deadline, not yet seen by check_timeouts
    adapter.completions[0](CommandResult::failure("the charger did not answer in time"));
    EXPECT_EQ(command(id).status, CommandStatus::Pending);
    EXPECT_EQ(command(id).error, "timeout");
    now = *events.back().retry_at;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    now += 31s;
    adapter.completions[1](CommandResult::failure("Rejected"));
    EXPECT_EQ(command(id).status, CommandStatus::TimedOut);
    EXPECT_EQ(events.back().type, EventType::CommandTimedOut);
    EXPECT_EQ(engine->check_timeouts(now), 0u);
}

// A Modbus device that never answers fails its request after the adapter's
// own timeout, long before the command's: still a timeout, not a failure.
TEST_F(DispatchEngineTest, AnAdaptersOwnTimeoutEndsTimedOut) {
    make({.max_retries = 0});
    const CommandId id = one_command(hour(0));
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    now += 1s;
    adapter.completions[0](CommandResult::failure("timeout"));
    EXPECT_EQ(command(id).status, CommandStatus::TimedOut);
    EXPECT_EQ(command(id).error, "timeout");
    EXPECT_EQ(events.back().type, EventType::CommandTimedOut);
}

TEST_F(DispatchEngineTest, BeforeTheDeadlineAFailureKeepsItsWordAndADefiniteOneAlways) {
    make({.max_retries = 0});
    const CommandId early = one_command(hour(0));
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(early, adapter));
    now += 29s;
    adapter.completions[0](CommandResult::failure("Rejected"));
    EXPECT_EQ(command(early).status, CommandStatus::Failed);
    EXPECT_EQ(command(early).error, "Rejected");

    const CommandId late = one_command(hour(1), 7.0);
    now = hour(1);
    ASSERT_TRUE(engine->dispatch_command(late, adapter));
    now += 30s;
    adapter.completions[1](CommandResult::failure("NotSupported", false));
    EXPECT_EQ(command(late).status, CommandStatus::Failed);
    EXPECT_EQ(command(late).error, "NotSupported");
}

TEST_F(DispatchEngineTest, LateResponseAfterTimeoutIsIgnoredAndLogged) {
    make({.max_retries = 0});
    const CommandId id = one_command(hour(0));
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    now += 30s;
    ASSERT_EQ(engine->check_timeouts(now), 1u);
    events.clear();
    adapter.completions[0](CommandResult::ok());
    EXPECT_EQ(command(id).status, CommandStatus::TimedOut);
    EXPECT_TRUE(events.empty());
    EXPECT_TRUE(logged("ignored"));
    EXPECT_TRUE(logged(id.str()));
}

TEST_F(DispatchEngineTest, ResponseOfAnEarlierAttemptDoesNotSettleTheCurrentOne) {
    const CommandId id = one_command(hour(0));
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    now += 30s;
    ASSERT_EQ(engine->check_timeouts(now), 1u);
    now = *events.back().retry_at;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    ASSERT_EQ(adapter.completions.size(), 2u);
    adapter.completions[0](CommandResult::ok());  // attempt 1 answers late
    EXPECT_EQ(command(id).status, CommandStatus::Dispatched);
    EXPECT_TRUE(logged("attempt 1"));
    adapter.completions[1](CommandResult::ok());
    EXPECT_EQ(command(id).status, CommandStatus::Completed);
}

TEST_F(DispatchEngineTest, ResponseForACommandNotDispatchedIsIgnored) {
    const CommandId id = one_command(hour(0));
    engine->handle_response(id, true);
    EXPECT_EQ(command(id).status, CommandStatus::Pending);
    EXPECT_TRUE(logged("not DISPATCHED"));
    engine->handle_response(CommandId{0x123}, false, "Rejected");
    EXPECT_TRUE(logged("unknown command cmd_000000000123"));
    EXPECT_EQ(engine->size(), 1u);
}

TEST_F(DispatchEngineTest, HandleResponseDirectlyFailsAndCompletes) {
    const CommandId id = one_command(hour(0));
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    engine->handle_response(id, false, "Rejected", true);
    EXPECT_EQ(command(id).status, CommandStatus::Pending);
    now = *events.back().retry_at;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    engine->handle_response(id, CommandResult::ok());
    EXPECT_EQ(command(id).status, CommandStatus::Completed);
    EXPECT_TRUE(command(id).error.empty());
    EXPECT_EQ(command(id).retry_count, 1);
}

TEST_F(DispatchEngineTest, OvertakenCommandIsCancelledInsteadOfRetried) {
    auto r = engine->schedule_to_commands(
        make_schedule({hour(0), hour(0) + 3s}, {{"ev_001_kw", {5, 6}}}), map);
    ScriptedAdapter adapter;
    adapter.inline_result = CommandResult::failure("Rejected");
    events.clear();
    ASSERT_TRUE(engine->dispatch_command(r.commands[0], adapter));
    // The retry would come at +5 s, after the newer setpoint at +3 s.
    const Command c = command(r.commands[0]);
    EXPECT_EQ(c.status, CommandStatus::Cancelled);
    EXPECT_EQ(c.error, "Rejected");
    ASSERT_EQ(event_types(),
              (std::vector<EventType>{EventType::CommandDispatched, EventType::CommandCancelled}));
    EXPECT_NE(events[1].message.find(r.commands[1].str()), std::string::npos);
    EXPECT_EQ(command(r.commands[1]).status, CommandStatus::Pending);
}

TEST_F(DispatchEngineTest, RetryBeforeTheNextSetpointGoesAhead) {
    auto r = engine->schedule_to_commands(
        make_schedule({hour(0), hour(0) + 10s}, {{"ev_001_kw", {5, 6}}}), map);
    ScriptedAdapter adapter;
    adapter.inline_result = CommandResult::failure("Rejected");
    ASSERT_TRUE(engine->dispatch_command(r.commands[0], adapter));
    EXPECT_EQ(command(r.commands[0]).status, CommandStatus::Pending);
    EXPECT_EQ(events.back().type, EventType::CommandRetry);
}

TEST_F(DispatchEngineTest, InFlightCommandOvertakenByANewScheduleIsNotRetried) {
    const CommandId old_id = one_command(hour(0), 5);
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(old_id, adapter));
    auto r = engine->schedule_to_commands(make_schedule({hour(0)}, {{"ev_001_kw", {9}}}), map);
    ASSERT_EQ(r.commands.size(), 1u);
    adapter.completions[0](CommandResult::failure("Rejected"));
    EXPECT_EQ(command(old_id).status, CommandStatus::Cancelled);
    auto due = engine->get_pending_commands(now);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].command_id, r.commands[0]);
}

// A schedule re-posted from a time in the past: its setpoint for now is
// sent, although the older schedule already sent one for a later time.
TEST_F(DispatchEngineTest, WhatAnOlderScheduleSentNeverMakesANewerOnesSetpointStale) {
    ScriptedAdapter adapter;
    adapter.inline_result = CommandResult::ok();
    auto first =
        engine->schedule_to_commands(make_schedule(hours(0, 2), {{"ev_001_kw", {5, 6}}}), map);
    now = hour(0);
    ASSERT_TRUE(engine->dispatch_command(first.commands[0], adapter));
    now = hour(1);
    ASSERT_TRUE(engine->dispatch_command(first.commands[1], adapter));
    ASSERT_EQ(command(first.commands[1]).status, CommandStatus::Completed);

    // Re-optimized at 01:30, from 00:30 on: 7 kW until 02:00, then 8 kW.
    now = hour(1) + 30min;
    auto second = engine->schedule_to_commands(
        make_schedule({hour(0) + 30min, hour(2)}, {{"ev_001_kw", {7, 8}}}), map);
    ASSERT_EQ(second.commands.size(), 2u);
    auto due = engine->get_pending_commands(now);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].command_id, second.commands[0]);
    EXPECT_EQ(due[0].parameters.power_kw, 7.0);
    EXPECT_EQ(command(second.commands[0]).status, CommandStatus::Pending);
}

TEST_F(DispatchEngineTest, InFlightCommandOfASupersededTimeIsNotRetried) {
    auto first =
        engine->schedule_to_commands(make_schedule(hours(0, 2), {{"ev_001_kw", {5, 6}}}), map);
    ScriptedAdapter adapter;
    now = hour(1);
    ASSERT_TRUE(engine->dispatch_command(first.commands[1], adapter));
    // The new schedule starts before the command in flight, and its own
    // setpoint for that time came earlier (00:30).
    auto second = engine->schedule_to_commands(
        make_schedule({hour(0) + 30min, hour(3)}, {{"ev_001_kw", {7, 8}}}), map);
    adapter.completions.at(0)(CommandResult::failure("Rejected"));
    const Command c = command(first.commands[1]);
    EXPECT_EQ(c.status, CommandStatus::Cancelled);
    EXPECT_EQ(c.error, "Rejected");
    EXPECT_EQ(events.back().type, EventType::CommandCancelled);
    EXPECT_NE(events.back().message.find("superseded"), std::string::npos);
    auto due = engine->get_pending_commands(now + 1h);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].command_id, second.commands[0]);
}

TEST_F(DispatchEngineTest, FailCommandWithoutAnAdapter) {
    const CommandId id = one_command(hour(0));
    EXPECT_TRUE(engine->fail_command(id, "not connected", true));
    EXPECT_EQ(command(id).status, CommandStatus::Pending);
    EXPECT_EQ(command(id).retry_count, 1);
    EXPECT_EQ(command(id).error, "not connected");
    EXPECT_TRUE(engine->fail_command(id, "no adapter for SET_CHARGE_RATE", false));
    EXPECT_EQ(command(id).status, CommandStatus::Failed);
    EXPECT_FALSE(engine->fail_command(id, "again", true));
    EXPECT_FALSE(engine->fail_command(CommandId{0x42}, "unknown", true));
}

TEST_F(DispatchEngineTest, CancelCommand) {
    const CommandId id = one_command(hour(0));
    events.clear();
    EXPECT_TRUE(engine->cancel_command(id, "operator"));
    EXPECT_EQ(command(id).status, CommandStatus::Cancelled);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].message, "operator");
    EXPECT_FALSE(engine->cancel_command(id));
    EXPECT_FALSE(engine->next_wakeup());
}

// ------------------------------------------------------------------ threads and hooks

TEST_F(DispatchEngineTest, CompletionsFromOtherThreadsArePostedToTheStrand) {
    std::mutex mutex;
    std::deque<std::function<void()>> strand;
    make({}, [&](std::function<void()> work) {
        std::lock_guard lock(mutex);
        strand.push_back(std::move(work));
    });
    const CommandId id = one_command(hour(0));
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    std::thread worker([done = adapter.completions.at(0)] { done(CommandResult::ok()); });
    worker.join();
    // Nothing happens until the strand runs the posted work.
    EXPECT_EQ(command(id).status, CommandStatus::Dispatched);
    std::deque<std::function<void()>> work;
    {
        std::lock_guard lock(mutex);
        work.swap(strand);
    }
    ASSERT_EQ(work.size(), 1u);
    work.front()();
    EXPECT_EQ(command(id).status, CommandStatus::Completed);
}

TEST_F(DispatchEngineTest, CompletionsThatComeTogetherReachTheStrandInOneHop) {
    std::mutex mutex;
    std::vector<std::function<void()>> strand;
    make({}, [&](std::function<void()> work) {
        std::lock_guard lock(mutex);
        strand.push_back(std::move(work));
    });
    std::vector<double> kw;
    for (int i = 0; i < 50; ++i) kw.push_back(7.0 + i);
    const std::vector<CommandId> ids =
        engine->schedule_to_commands(make_schedule(hours(0, 50), {{"ev_001_kw", kw}}), map)
            .commands;
    ASSERT_EQ(ids.size(), 50u);
    ScriptedAdapter adapter;
    for (CommandId id : ids) ASSERT_TRUE(engine->dispatch_command(id, adapter));
    // Answers from two threads at once, the first and last with failures.
    auto answer = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i)
            adapter.completions.at(i)(i == 0 || i == 49 ? CommandResult::failure("Rejected", false)
                                                        : CommandResult::ok());
    };
    std::thread a(answer, 0, 25), b(answer, 25, 50);
    a.join();
    b.join();
    std::vector<std::function<void()>> work;
    {
        std::lock_guard lock(mutex);
        work.swap(strand);
    }
    ASSERT_EQ(work.size(), 1u);  // one hop for the batch
    for (CommandId id : ids) EXPECT_EQ(command(id).status, CommandStatus::Dispatched);
    work[0]();
    for (std::size_t i = 0; i < ids.size(); ++i) {
        EXPECT_EQ(command(ids[i]).status,
                  i == 0 || i == 49 ? CommandStatus::Failed : CommandStatus::Completed)
            << i;
    }
    // The next answer after the hop ran posts a new one.
    const CommandId late = one_command(hour(60));
    ASSERT_TRUE(engine->dispatch_command(late, adapter));
    adapter.completions.back()(CommandResult::ok());
    std::lock_guard lock(mutex);
    EXPECT_EQ(strand.size(), 1u);
}

TEST_F(DispatchEngineTest, AHopThatCouldNotBePostedIsTriedAgainByTheNextCompletion) {
    std::vector<std::function<void()>> strand;
    bool refuse = true;
    make({}, [&](std::function<void()> work) {
        if (std::exchange(refuse, false)) throw std::bad_alloc();
        strand.push_back(std::move(work));
    });
    const CommandId first = one_command(hour(0));
    const CommandId second = one_command(hour(1));
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(first, adapter));
    ASSERT_TRUE(engine->dispatch_command(second, adapter));
    adapter.completions.at(0)(CommandResult::ok());  // its hop fails to post
    EXPECT_TRUE(strand.empty());
    adapter.completions.at(1)(CommandResult::ok());
    ASSERT_EQ(strand.size(), 1u);
    strand[0]();  // takes both
    EXPECT_EQ(command(first).status, CommandStatus::Completed);
    EXPECT_EQ(command(second).status, CommandStatus::Completed);
}

TEST_F(DispatchEngineTest, CompletionAfterTheEngineIsGoneDoesNothing) {
    std::vector<std::function<void()>> strand;
    make({}, [&](std::function<void()> work) { strand.push_back(std::move(work)); });
    const CommandId first = one_command(hour(0));
    const CommandId second = one_command(hour(1));
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(first, adapter));
    ASSERT_TRUE(engine->dispatch_command(second, adapter));
    // One answer is on its way to the strand when the engine goes.
    adapter.completions.at(0)(CommandResult::ok());
    ASSERT_EQ(strand.size(), 1u);
    recorder.reset();
    engine.reset();
    strand[0]();  // must not touch the destroyed engine
    // The other comes after: nothing is posted at all.
    adapter.completions.at(1)(CommandResult::ok());
    EXPECT_EQ(strand.size(), 1u);
}

TEST_F(DispatchEngineTest, ThrowingHandlerDoesNotStopTheEngine) {
    auto thrower = engine->events().subscribe(
        EventType::CommandDispatched, [](const Event&) { throw std::runtime_error("oops"); });
    const CommandId id = one_command(hour(0));
    ScriptedAdapter adapter;
    adapter.inline_result = CommandResult::ok();
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    EXPECT_EQ(adapter.executed.size(), 1u);
    EXPECT_EQ(command(id).status, CommandStatus::Completed);
    EXPECT_TRUE(logged("oops"));
}

TEST_F(DispatchEngineTest, RejectsOptionsOutOfRange) {
    EXPECT_THROW(DispatchEngine({.max_retries = -1}), std::invalid_argument);
    EXPECT_THROW(DispatchEngine({.timeout_seconds = 0}), std::invalid_argument);
    EXPECT_THROW(DispatchEngine({.timeout_seconds = NaN}), std::invalid_argument);
    EXPECT_THROW(DispatchEngine({.retry_backoff_seconds = -1}), std::invalid_argument);
    EXPECT_THROW(DispatchEngine({.retry_backoff_seconds = 10, .max_retry_backoff_seconds = 5}),
                 std::invalid_argument);
}

TEST_F(DispatchEngineTest, OptionsBecomeCommandDefaults) {
    make({.max_retries = 7, .timeout_seconds = 2.5});
    const CommandId id = one_command(hour(0));
    EXPECT_EQ(command(id).max_retries, 7);
    EXPECT_DOUBLE_EQ(command(id).timeout_seconds, 2.5);
    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(id, adapter));
    EXPECT_EQ(engine->next_wakeup(), now + 2500ms);
}

// ------------------------------------------------------------------ commands not from a schedule

TEST_F(DispatchEngineTest, AddCommandKeepsItsParameters) {
    NewCommand start{"ast_ev1", CommandType::StartCharging, {}, hour(2), 1, 5.0};
    start.parameters.id_tag = "RFID42";
    start.parameters.connector_id = 2;
    const CommandId id = engine->add_command(start);
    const Command c = command(id);
    EXPECT_EQ(c.command_type, CommandType::StartCharging);
    EXPECT_EQ(c.parameters.id_tag, "RFID42");
    EXPECT_EQ(c.parameters.connector_id, 2);
    EXPECT_EQ(c.max_retries, 1);
    EXPECT_DOUBLE_EQ(c.timeout_seconds, 5.0);
    EXPECT_EQ(c.scheduled_at, hour(2));

    NewCommand soc{"ast_batt", CommandType::SetSocTarget, {}, hour(1)};
    soc.parameters.soc_percent = 80;
    EXPECT_EQ(command(engine->add_command(soc)).parameters.soc_percent, 80.0);
}

TEST_F(DispatchEngineTest, AddCommandRefusesParametersThatDoNotFit) {
    EXPECT_THROW(engine->add_command({"ast_ev1", CommandType::SetChargeRate, {}, hour(0)}),
                 std::invalid_argument);
    NewCommand negative{"ast_ev1", CommandType::SetPowerLimit, {}, hour(0)};
    negative.parameters.power_kw = -1;
    EXPECT_THROW(engine->add_command(negative), std::invalid_argument);
    NewCommand soc{"ast_batt", CommandType::SetSocTarget, {}, hour(0)};
    soc.parameters.soc_percent = 101;
    EXPECT_THROW(engine->add_command(soc), std::invalid_argument);
    EXPECT_THROW(engine->add_command({"ast_ev1", CommandType::ChangeAvailability, {}, hour(0)}),
                 std::invalid_argument);
    EXPECT_THROW(engine->add_command({"", CommandType::StopCharging, {}, hour(0)}),
                 std::invalid_argument);
    NewCommand bad_retries{"ast_ev1", CommandType::StopCharging, {}, hour(0), -2};
    EXPECT_THROW(engine->add_command(bad_retries), std::invalid_argument);
    EXPECT_EQ(engine->size(), 0u);
}

// ------------------------------------------------------------------ lookups

TEST_F(DispatchEngineTest, Lookups) {
    auto r = engine->schedule_to_commands(
        make_schedule(hours(0, 3), {{"ev_001_kw", {1, 2, 3}}, {"ev_002_kw", {4, 4, 4}}}), map);
    ASSERT_EQ(r.commands.size(), 4u);
    EXPECT_EQ(engine->get_command(r.commands[3].str())->asset_id, "ast_ev2");
    EXPECT_FALSE(engine->get_command("cmd_zzzzzzzzzzzz"));
    EXPECT_FALSE(engine->get_command("nonsense"));
    std::uint64_t absent = 1;
    while (engine->get_command(CommandId{absent})) ++absent;
    EXPECT_FALSE(engine->get_command(CommandId{absent}));

    auto ev1 = engine->get_commands_for_asset("ast_ev1");
    ASSERT_EQ(ev1.size(), 3u);
    EXPECT_EQ(ev1[0].command_id, r.commands[0]);
    EXPECT_EQ(ev1[2].command_id, r.commands[2]);
    EXPECT_TRUE(engine->get_commands_for_asset("ast_unknown").empty());

    ScriptedAdapter adapter;
    ASSERT_TRUE(engine->dispatch_command(r.commands[0], adapter));
    EXPECT_EQ(engine->list_commands().size(), 4u);
    EXPECT_EQ(engine->list_commands(std::nullopt, CommandStatus::Pending).size(), 3u);
    auto dispatched = engine->list_commands(std::nullopt, CommandStatus::Dispatched);
    ASSERT_EQ(dispatched.size(), 1u);
    EXPECT_EQ(dispatched[0].command_id, r.commands[0]);
    EXPECT_EQ(engine->list_commands("ast_ev1", CommandStatus::Pending).size(), 2u);
    EXPECT_EQ(engine->list_commands("ast_ev2", CommandStatus::Dispatched).size(), 0u);
    EXPECT_EQ(engine->list_commands(std::nullopt, std::nullopt, 2).size(), 2u);
    EXPECT_EQ(engine->list_commands(std::nullopt, CommandStatus::Pending, 1).size(), 1u);
    EXPECT_TRUE(engine->list_commands(std::nullopt, CommandStatus::Failed).empty());

    adapter.completions[0](CommandResult::ok());
    EXPECT_EQ(engine->list_commands(std::nullopt, CommandStatus::Completed).size(), 1u);
    const CommandCounts counts = engine->counts();
    const auto charge = static_cast<std::size_t>(CommandType::SetChargeRate);
    EXPECT_EQ(counts[charge][static_cast<std::size_t>(CommandStatus::Pending)], 3u);
    EXPECT_EQ(counts[charge][static_cast<std::size_t>(CommandStatus::Completed)], 1u);
    EXPECT_EQ(engine->count(CommandStatus::Pending), 3u);
}

std::vector<CommandId> ids_of(const std::vector<Command>& commands) {
    std::vector<CommandId> out;
    for (const auto& c : commands) out.push_back(c.command_id);
    return out;
}

// A listing in pages gives what list_commands() gives, page by page.
TEST_F(DispatchEngineTest, ListingInPagesGivesTheWholeListing) {
    std::vector<double> values;
    for (int i = 0; i < 25; ++i) values.push_back(i % 2);
    engine->schedule_to_commands(make_schedule(hours(0, 25), {{"ev_001_kw", values},
                                                              {"ev_002_kw", values},
                                                              {"battery_charge_kw", values}}),
                                 map);
    const auto ev2 = engine->list_commands("ast_ev2");
    for (std::size_t i = 0; i < ev2.size(); i += 2) engine->cancel_command(ev2[i].command_id);
    auto paged = [&](std::optional<std::string_view> asset, std::optional<CommandStatus> status,
                     std::size_t max_commands, std::size_t max_visits) {
        std::vector<Command> out;
        DispatchEngine::ListCursor cursor;
        for (int pages = 0; pages < 1000; ++pages) {
            auto page = engine->list_commands_page(asset, status, cursor, max_commands, max_visits);
            EXPECT_FALSE(page.restarted);
            // A page holds at least one command (zero limits count as one).
            EXPECT_LE(page.commands.size(), std::max<std::size_t>(1, max_commands));
            EXPECT_LE(page.commands.size(), std::max<std::size_t>(1, max_visits));
            out.insert(out.end(), page.commands.begin(), page.commands.end());
            if (!page.next) return out;
            cursor = *page.next;
        }
        ADD_FAILURE() << "the listing does not end";
        return out;
    };
    for (std::optional<std::string_view> asset :
         {std::optional<std::string_view>{}, std::optional<std::string_view>{"ast_ev2"},
          std::optional<std::string_view>{"ast_unknown"}}) {
        for (std::optional<CommandStatus> status :
             {std::optional<CommandStatus>{}, std::optional<CommandStatus>{CommandStatus::Pending},
              std::optional<CommandStatus>{CommandStatus::Cancelled}}) {
            // Oldest first, whatever the filter.
            std::vector<CommandId> whole;
            for (const auto& c : engine->list_commands(asset)) {
                if (!status || c.status == *status) whole.push_back(c.command_id);
            }
            EXPECT_EQ(ids_of(paged(asset, status, 4, 100)), whole);
            EXPECT_EQ(ids_of(paged(asset, status, 100, 3)), whole);
            EXPECT_EQ(ids_of(paged(asset, status, 0, 0)), whole);
        }
    }
}

// forget_finished_before() moves every slot: a listing under way starts over.
TEST_F(DispatchEngineTest, AListingInPagesStartsOverAfterACompaction) {
    auto r = engine->schedule_to_commands(
        make_schedule(hours(0, 6), {{"ev_001_kw", {1, 2, 3, 4, 5, 6}}}), map);
    ASSERT_TRUE(engine->cancel_command(r.commands[0]));
    auto first = engine->list_commands_page(std::nullopt, std::nullopt, {}, 2, 100);
    ASSERT_TRUE(first.next);
    now = hour(1);
    ASSERT_EQ(engine->forget_finished_before(now), 1u);
    auto second = engine->list_commands_page(std::nullopt, std::nullopt, *first.next, 100, 100);
    EXPECT_TRUE(second.restarted);
    EXPECT_FALSE(second.next);
    EXPECT_EQ(ids_of(second.commands), ids_of(engine->list_commands()));
}

TEST_F(DispatchEngineTest, ResendingAScheduleReplacesItsPendingCommands) {
    const Schedule schedule = make_schedule(hours(1, 3), {{"ev_001_kw", {1, 2, 3}}});
    auto first = engine->schedule_to_commands(schedule, map);
    auto second = engine->schedule_to_commands(schedule, map);
    EXPECT_EQ(second.cancelled, first.commands);
    EXPECT_EQ(second.commands.size(), 3u);
    EXPECT_EQ(engine->count(CommandStatus::Pending), 3u);
    auto due = engine->get_pending_commands(hour(1));
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].command_id, second.commands[0]);
}

TEST_F(DispatchEngineTest, RetriedCommandComesBeforeLaterScheduledOnes) {
    const CommandId early = one_command(hour(0), 1, "ev_001_kw");
    ASSERT_TRUE(engine->fail_command(early, "not connected", true));  // due again at +5 s
    const CommandId later = one_command(hour(0) + 5s, 1, "ev_002_kw");
    auto due = engine->get_pending_commands(hour(0) + 5s);
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[0].command_id, early);
    EXPECT_EQ(due[1].command_id, later);
}

TEST_F(DispatchEngineTest, ForgetFinishedCommandsKeepsLiveOnesWorking) {
    auto r = engine->schedule_to_commands(make_schedule(hours(0, 4), {{"ev_001_kw", {1, 2, 3, 4}}}),
                                          map);
    ScriptedAdapter adapter;
    adapter.inline_result = CommandResult::ok();
    now = hour(0);
    ASSERT_TRUE(engine->dispatch_command(r.commands[0], adapter));  // completed at hour 0
    now = hour(1);
    adapter.inline_result.reset();
    ASSERT_TRUE(engine->dispatch_command(r.commands[1], adapter));  // in flight

    EXPECT_EQ(engine->forget_finished_before(hour(1)), 1u);
    EXPECT_FALSE(engine->get_command(r.commands[0]));
    EXPECT_EQ(engine->size(), 3u);
    EXPECT_EQ(engine->get_commands_for_asset("ast_ev1").size(), 3u);
    adapter.completions.at(0)(CommandResult::ok());  // the in-flight one still settles
    EXPECT_EQ(command(r.commands[1]).status, CommandStatus::Completed);
    auto due = engine->get_pending_commands(hour(2));
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].command_id, r.commands[2]);
}

TEST_F(DispatchEngineTest, ForgetIsRefusedFromInsideAnEngineCall) {
    bool refused = false;
    auto sub = engine->events().subscribe(EventType::ScheduleReceived, [&](const Event&) {
        try {
            engine->forget_finished_before(hour(100));
        } catch (const std::logic_error&) {
            refused = true;
        }
    });
    one_command(hour(0));
    EXPECT_TRUE(refused);
}

// ------------------------------------------------------------------ schedules in pieces

namespace {

/// A command as a schedule describes it, without its random id.
struct Made {
    std::string asset_id;
    CommandType type;
    TimePoint scheduled_at;
    double power_kw;
    CommandStatus status;
    friend bool operator==(const Made&, const Made&) = default;
};

/// An event without the random ids in it (the cancelled command's own id
/// is replaced by what it was).
struct Published {
    EventType type;
    std::string asset_id;
    std::optional<CommandType> command_type;
    std::optional<CommandStatus> status;
    std::optional<TimePoint> scheduled_at;
    std::optional<double> power_kw;
    std::size_t command_count;
    std::array<std::size_t, gridgate::sdk::kCommandTypeCount> created_by_type;
    std::size_t cancelled_count;
    std::vector<std::string> ignored_columns;
    friend bool operator==(const Published&, const Published&) = default;
};

/// 40 hourly rows from hour 2 over five columns, with repeats (no command)
/// and empty cells (none either), so a piece boundary falls anywhere.
Schedule big_schedule() {
    std::vector<std::pair<std::string, std::vector<double>>> columns = {
        {"ev_001_kw", {}},
        {"price", {}},
        {"battery_charge_kw", {}},
        {"battery_discharge_kw", {}},
        {"ev_002_kw", {}}};
    for (int r = 0; r < 40; ++r) {
        columns[0].second.push_back(r % 3 == 0 ? NaN : double(r % 4));
        columns[1].second.push_back(50.0 + r);
        columns[2].second.push_back(r < 20 ? 10.0 : double(r % 2));
        columns[3].second.push_back(r % 5 == 0 ? 2.0 : 0.0);
        columns[4].second.push_back(double(r));
    }
    return make_schedule(hours(2, 40), columns);
}

}  // namespace

/// Applies an older schedule (so the big one supersedes part of it), then
/// big_schedule() in pieces of `piece` commands; returns what one gets.
struct PiecesOutcome {
    std::vector<Made> result;     // the 201's commands, in the result's order
    std::vector<Made> store;      // every command held, in listing order
    std::vector<Made> cancelled;  // result.cancelled
    std::vector<Published> events;
    std::size_t pieces = 0;
    std::size_t events_after_first_piece = 0;
};

class SchedulePiecesTest : public DispatchEngineTest {
  protected:
    Made made(CommandId id) const {
        const Command c = command(id);
        return {c.asset_id, c.command_type, c.scheduled_at, c.parameters.power_kw.value_or(NaN),
                c.status};
    }

    PiecesOutcome apply_in_pieces(std::size_t piece) {
        make({});
        events.clear();
        engine->schedule_to_commands(
            make_schedule(hours(0, 10), {{"ev_001_kw", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
                                         {"battery_discharge_kw", {1, 1, 1, 1, 1, 2, 2, 2, 2, 2}}}),
            map);
        events.clear();
        auto app =
            DispatchEngine::prepare_schedule(std::make_shared<const Schedule>(big_schedule()), map);
        PiecesOutcome out;
        bool done = false;
        while (!done) {
            done = engine->apply_schedule_piece(app, piece);
            if (++out.pieces == 1) out.events_after_first_piece = events.size();
        }
        EXPECT_TRUE(app.finished());
        EXPECT_EQ(app.applied_count(), app.command_count());
        const ScheduleResult r = app.take_result();
        for (CommandId id : r.commands) out.result.push_back(made(id));
        for (CommandId id : r.cancelled) out.cancelled.push_back(made(id));
        for (const Command& c : engine->list_commands()) out.store.push_back(made(c.command_id));
        for (const Event& e : events) {
            out.events.push_back({e.type, e.asset_id, e.command_type, e.status, e.scheduled_at,
                                  e.parameters.power_kw, e.command_count, e.created_by_type,
                                  e.cancelled_count, e.ignored_columns});
        }
        return out;
    }
};

TEST_F(SchedulePiecesTest, ASchedulesPiecesMakeWhatOneCallMakes) {
    const PiecesOutcome whole = apply_in_pieces(SIZE_MAX);
    const PiecesOutcome tiny = apply_in_pieces(1);
    const PiecesOutcome some = apply_in_pieces(7);
    ASSERT_EQ(whole.pieces, 1u);
    EXPECT_GT(tiny.pieces, 50u);
    EXPECT_GT(some.pieces, 5u);
    ASSERT_GT(whole.result.size(), 100u);
    // ev_001's hours 2 to 9, and battery discharge's change at hour 5.
    ASSERT_EQ(whole.cancelled.size(), 9u);

    for (const PiecesOutcome* pieces : {&tiny, &some}) {
        EXPECT_EQ(pieces->result, whole.result);
        EXPECT_EQ(pieces->cancelled, whole.cancelled);
        EXPECT_EQ(pieces->events, whole.events);
        // The same commands held, in time order row by row, whatever the pieces.
        EXPECT_EQ(pieces->store, whole.store);
        // Supersede happens once, in the first piece, with all the events.
        EXPECT_EQ(pieces->events_after_first_piece, pieces->events.size());
    }
    ASSERT_EQ(whole.events.size(), 1 + whole.cancelled.size());
    EXPECT_EQ(whole.events[0].type, EventType::ScheduleReceived);
    EXPECT_EQ(whole.events[0].command_count, whole.result.size());
    for (std::size_t i = 1; i < whole.events.size(); ++i)
        EXPECT_EQ(whole.events[i].type, EventType::CommandCancelled);
}

TEST_F(SchedulePiecesTest, APieceNeverEndsBeforeARowThatIsAlreadyDue) {
    now = hour(3);  // rows 0 to 3 are due
    auto app = DispatchEngine::prepare_schedule(
        std::make_shared<const Schedule>(make_schedule(
            hours(0, 8),
            {{"ev_001_kw", {1, 2, 3, 4, 5, 6, 7, 8}}, {"ev_002_kw", {1, 2, 3, 4, 5, 6, 7, 8}}})),
        map);
    ASSERT_FALSE(engine->apply_schedule_piece(app, 1));
    // Had the piece ended earlier, hour 0's setpoint would be sent now and
    // hour 3's, which makes it stale, only after the next piece.
    EXPECT_EQ(app.applied_count(), 8u);
    auto due = engine->get_pending_commands(now);
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[0].scheduled_at, hour(3));
    EXPECT_EQ(due[1].scheduled_at, hour(3));
    // From there on, pieces of the size asked for.
    ASSERT_FALSE(engine->apply_schedule_piece(app, 1));
    EXPECT_EQ(app.applied_count(), 9u);
    while (!engine->apply_schedule_piece(app, 3)) {
    }
    EXPECT_EQ(app.applied_count(), 16u);
    EXPECT_EQ(engine->size(), 16u);
}

TEST_F(SchedulePiecesTest, ASecondScheduleWaitsUntilTheFirstIsAppliedWhole) {
    const auto schedule = std::make_shared<const Schedule>(
        make_schedule(hours(1, 6), {{"ev_001_kw", {1, 2, 3, 4, 5, 6}}}));
    auto first = DispatchEngine::prepare_schedule(schedule, map);
    auto second = DispatchEngine::prepare_schedule(schedule, map);
    ASSERT_FALSE(engine->apply_schedule_piece(first, 2));
    EXPECT_TRUE(engine->applying_schedule());
    const auto held = engine->size();
    const auto published = events.size();
    EXPECT_THROW(engine->apply_schedule_piece(second, 2), std::logic_error);
    EXPECT_EQ(engine->size(), held);  // the refused piece changed nothing
    EXPECT_EQ(events.size(), published);
    while (!engine->apply_schedule_piece(first, 2)) {
    }
    EXPECT_FALSE(engine->applying_schedule());
    while (!engine->apply_schedule_piece(second, 2)) {
    }
    // The second, applied after the first, superseded all of it.
    EXPECT_EQ(second.result().cancelled, first.result().commands);
    EXPECT_EQ(engine->count(CommandStatus::Pending), 6u);
    EXPECT_EQ(engine->count(CommandStatus::Cancelled), 6u);
    // schedule_to_commands() is a whole schedule, and waits its turn too.
    auto third = DispatchEngine::prepare_schedule(schedule, map);
    ASSERT_FALSE(engine->apply_schedule_piece(third, 2));
    EXPECT_THROW(engine->schedule_to_commands(*schedule, map), std::logic_error);
}

TEST_F(SchedulePiecesTest, ARefusedScheduleIsRefusedBeforeAnyPiece) {
    const CommandId existing = one_command(hour(5));
    EXPECT_THROW(DispatchEngine::prepare_schedule(
                     std::make_shared<const Schedule>(make_schedule(
                         hours(0, 3), {{"ev_001_kw", {1, 2, 3}}, {"ev_009_kw", {1, 1, 1}}})),
                     map),
                 ScheduleError);
    EXPECT_EQ(command(existing).status, CommandStatus::Pending);
    EXPECT_FALSE(engine->applying_schedule());
}
