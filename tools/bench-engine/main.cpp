// bench-engine: measures the engine against its targets and prints them as a
// Google Benchmark table.
//
//   ParseAndConvert   a 10,000-column x 96-slot CSV where every value changes
//                     (960,000 commands): parse + schedule_to_commands, < 1 s;
//                     bytes_per_cmd = heap held by the engine per command, < 200.
//   PendingDue        get_pending_commands() returning 10,000 due commands
//                     among 1,000,000 held, < 5 ms.
//   TimeoutsDue       check_timeouts() ending 10,000 expired commands among
//                     1,000,000 held.
//   ForgetAnHour      the hourly retention pass: 1,000,000 held, 10,000 of
//                     them ended more than the retention ago and forgotten.
//   CommandsJson      GET /api/v1/commands' body for 100,000 finished
//                     commands; time_per_cmd is the time per command.
//   ScheduleInPieces  a schedule applied as the HTTP API applies it, a piece
//                     of 20,000 commands per strand hop (or whole, piece 0):
//                     longest_hop_ms = the longest the strand is held (the
//                     first piece also supersedes and reserves room for all),
//                     answer_json_ms = the 201's JSON, built off the strand.
//                     10,000 columns x 96 slots (960,000 commands) and
//                     50 columns x 100,000 slots (5,000,000).
//
// Run: build/bin/bench-engine  (add --benchmark_filter=... to pick one).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "gridgate/engine/dispatch_engine.hpp"
#include "gridgate/engine/schedule_parser.hpp"
#include "gridgate/http/json.hpp"

namespace {

using namespace gridgate::engine;
using gridgate::sdk::CommandStatus;

constexpr int kColumns = 10'000;
const TimePoint kStart = TimePoint{} + std::chrono::hours(24 * 19723);  // 2024-01-01T00:00:00Z

std::size_t heap_in_use() {
    const struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;  // small blocks + mmapped large blocks
}

std::string column_name(int c) {
    char name[32];
    std::snprintf(name, sizeof name, "ev_%05d_kw", c);
    return name;
}

AssetMap make_asset_map() {
    AssetMap map;
    for (int c = 0; c < kColumns; ++c) {
        char key[32], asset[32];
        std::snprintf(key, sizeof key, "ev_%05d", c);
        std::snprintf(asset, sizeof asset, "ast_ev_%05d", c);
        map.emplace(key, asset);
    }
    return map;
}

/// pandas to_csv output: 15-minute slots, a value in every cell, each column
/// changing at every slot.
std::string make_csv(int rows) {
    std::string text;
    text.reserve(static_cast<std::size_t>(rows) * kColumns * 7 + kColumns * 12);
    for (int c = 0; c < kColumns; ++c) {
        text += ',';
        text += column_name(c);
    }
    text += '\n';
    char cell[32];
    for (int r = 0; r < rows; ++r) {
        const int minutes = r * 15;
        std::snprintf(cell, sizeof cell, "2024-01-01 %02d:%02d:00", minutes / 60, minutes % 60);
        text += cell;
        for (int c = 0; c < kColumns; ++c) {
            // Alternates between two levels per column, so every slot differs from the last.
            const double kw = (r % 2 == 0 ? 3.7 : 11.0) + (c % 10) * 0.1;
            const int n = std::snprintf(cell, sizeof cell, ",%.1f", kw);
            text.append(cell, static_cast<std::size_t>(n));
        }
        text += '\n';
    }
    return text;
}

/// A schedule built directly (no parsing): `rows` hourly slots, every value changing.
Schedule make_schedule(int rows, int columns = kColumns) {
    Schedule s;
    for (int r = 0; r < rows; ++r) s.index.push_back(kStart + std::chrono::hours(r));
    s.values.reserve(static_cast<std::size_t>(rows) * static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
        s.columns.push_back(column_name(c));
        for (int r = 0; r < rows; ++r) s.values.push_back(r % 2 == 0 ? 3.7 : 11.0);
    }
    return s;
}

DispatchEngine::Hooks quiet_hooks(const TimePoint* clock) {
    return {[clock] { return *clock; }, {}, [](LogLevel, std::string_view) {}};
}

void ParseAndConvert(benchmark::State& state) {
    const std::string csv = make_csv(96);
    const AssetMap map = make_asset_map();
    TimePoint now = kStart;
    double parse_s = 0, convert_s = 0, bytes_per_command = 0;
    std::size_t commands = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto engine = std::make_unique<DispatchEngine>(EngineOptions{}, quiet_hooks(&now));
        const std::size_t heap_before = heap_in_use();
        state.ResumeTiming();

        const auto t0 = std::chrono::steady_clock::now();
        std::size_t made = 0;
        {
            Schedule schedule = parse_schedule_csv(csv);
            const auto t1 = std::chrono::steady_clock::now();
            ScheduleResult result = engine->schedule_to_commands(schedule, map);
            const auto t2 = std::chrono::steady_clock::now();
            made = result.commands.size();
            benchmark::DoNotOptimize(result);
            parse_s += std::chrono::duration<double>(t1 - t0).count();
            convert_s += std::chrono::duration<double>(t2 - t1).count();
            state.PauseTiming();  // freeing the schedule and the answer is not conversion
        }
        // What stays allocated once the schedule and the answer are gone is
        // what the engine holds for these commands.
        bytes_per_command = double(heap_in_use() - heap_before) / double(made);
        commands = made;
        engine.reset();
        state.ResumeTiming();
    }
    if (commands != 960'000) throw std::runtime_error("expected 960000 commands");
    const double n = double(state.iterations());
    state.counters["commands"] = double(commands);
    state.counters["parse_ms"] = parse_s / n * 1e3;
    state.counters["convert_ms"] = convert_s / n * 1e3;
    state.counters["bytes_per_cmd"] = bytes_per_command;
}
BENCHMARK(ParseAndConvert)->Unit(benchmark::kMillisecond)->Iterations(3);

void PendingDue(benchmark::State& state) {
    TimePoint now = kStart;
    DispatchEngine engine(EngineOptions{}, quiet_hooks(&now));
    engine.schedule_to_commands(make_schedule(100), make_asset_map());
    std::size_t due = 0;
    for (auto _ : state) {
        auto commands = engine.get_pending_commands(kStart);  // the first slot of every column
        due = commands.size();
        benchmark::DoNotOptimize(commands);
    }
    if (due != kColumns) throw std::runtime_error("expected 10000 due commands");
    state.counters["held"] = double(engine.size());
    state.counters["due"] = double(due);
}
BENCHMARK(PendingDue)->Unit(benchmark::kMillisecond)->MinTime(0.5);

class SilentAdapter : public gridgate::sdk::Adapter {
  public:
    void execute(const gridgate::sdk::Command&, gridgate::sdk::Completion) noexcept override {}
};

void TimeoutsDue(benchmark::State& state) {
    TimePoint now = kStart;
    DispatchEngine engine(EngineOptions{.max_retries = 0}, quiet_hooks(&now));
    engine.schedule_to_commands(make_schedule(100), make_asset_map());
    SilentAdapter adapter;
    int slot = 0;
    std::size_t timed_out = 0;
    for (auto _ : state) {
        state.PauseTiming();
        now = kStart + std::chrono::hours(slot++);
        for (const auto& c : engine.get_pending_commands(now)) {
            engine.dispatch_command(c.command_id, adapter);
        }
        state.ResumeTiming();
        timed_out = engine.check_timeouts(now + std::chrono::seconds(30));
    }
    if (timed_out != kColumns) throw std::runtime_error("expected 10000 timeouts");
    state.counters["held"] = double(engine.size());
    state.counters["timed_out"] = double(timed_out);
}
BENCHMARK(TimeoutsDue)->Unit(benchmark::kMillisecond)->Iterations(20);

// Retention as the daemon runs it each hour: 1,000,000 commands held (100
// hourly slots x 10,000 chargers), and each pass forgets the hour that ended
// longest ago (10,000 commands timed out). The strand is held for all of it.
void ForgetAnHour(benchmark::State& state) {
    TimePoint now = kStart;
    DispatchEngine engine(EngineOptions{.max_retries = 0}, quiet_hooks(&now));
    engine.schedule_to_commands(make_schedule(100), make_asset_map());
    SilentAdapter adapter;
    auto end_hour = [&](int hour) {
        now = kStart + std::chrono::hours(hour);
        for (const auto& c : engine.get_pending_commands(now))
            engine.dispatch_command(c.command_id, adapter);
        now += std::chrono::seconds(30);
        engine.check_timeouts(now);
    };
    end_hour(0);
    int hour = 0;
    std::size_t forgotten = 0, held = 0;
    for (auto _ : state) {
        state.PauseTiming();
        end_hour(++hour);
        held = engine.size();
        state.ResumeTiming();
        forgotten = engine.forget_finished_before(kStart + std::chrono::hours(hour));
    }
    if (forgotten != kColumns) throw std::runtime_error("expected 10000 forgotten");
    state.counters["held"] = double(held);
    state.counters["forgotten"] = double(forgotten);
}
BENCHMARK(ForgetAnHour)->Unit(benchmark::kMillisecond)->Iterations(10);

// GET /api/v1/commands' body for 100,000 finished commands (three times each,
// two parameters): what a listing costs the API's thread per command.
void CommandsJson(benchmark::State& state) {
    std::vector<gridgate::sdk::Command> commands(100'000);
    for (std::size_t i = 0; i < commands.size(); ++i) {
        auto& c = commands[i];
        c.command_id = gridgate::sdk::CommandId{0x1000 + i};
        c.asset_id = "ast_ev_" + std::to_string(i % kColumns);
        c.command_type = gridgate::sdk::CommandType::SetChargeRate;
        c.parameters.power_kw = 7.4;
        c.parameters.connector_id = 1;
        c.scheduled_at = kStart + std::chrono::seconds(i);
        c.dispatched_at = c.scheduled_at + std::chrono::microseconds(1'250);
        c.completed_at = *c.dispatched_at + std::chrono::milliseconds(180);
        c.status = CommandStatus::Completed;
    }
    std::size_t bytes = 0;
    for (auto _ : state) {
        auto body = gridgate::http::commands_to_json(commands);
        bytes = body.size();
        benchmark::DoNotOptimize(body);
    }
    state.counters["commands"] = double(commands.size());
    state.counters["bytes_per_cmd"] = double(bytes) / double(commands.size());
    state.counters["time_per_cmd"] =
        benchmark::Counter(double(commands.size()), benchmark::Counter::kIsIterationInvariantRate |
                                                        benchmark::Counter::kInvert);
}
BENCHMARK(CommandsJson)->Unit(benchmark::kMillisecond)->MinTime(0.5);

// Args: columns, rows, commands per piece (0: the whole schedule in one hop,
// as before pieces). The engine's clock stands before the first row, as for
// a schedule posted ahead of its time.
void ScheduleInPieces(benchmark::State& state) {
    const int columns = static_cast<int>(state.range(0));
    const int rows = static_cast<int>(state.range(1));
    const auto piece = state.range(2) == 0 ? SIZE_MAX : static_cast<std::size_t>(state.range(2));
    const auto schedule = std::make_shared<const Schedule>(make_schedule(rows, columns));
    const AssetMap map = make_asset_map();
    TimePoint now = kStart - std::chrono::minutes(1);
    double longest_s = 0, first_s = 0, total_s = 0, json_s = 0;
    std::size_t pieces = 0, commands = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto engine = std::make_unique<DispatchEngine>(EngineOptions{}, quiet_hooks(&now));
        // A store already holding a day's schedule, as a running gateway's would.
        engine->schedule_to_commands(make_schedule(24, 1000), map);
        state.ResumeTiming();
        auto app = DispatchEngine::prepare_schedule(schedule, map);
        bool finished = false;
        pieces = 0;
        while (!finished) {
            const auto t0 = std::chrono::steady_clock::now();
            finished = engine->apply_schedule_piece(app, piece);
            const double hop =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            longest_s = std::max(longest_s, hop);
            if (pieces++ == 0) first_s += hop;
            total_s += hop;
        }
        const ScheduleResult result = app.take_result();
        const auto t0 = std::chrono::steady_clock::now();
        auto json = gridgate::http::schedule_accepted_json(result.schedule_id, result.commands,
                                                           result.ignored_columns);
        json_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        benchmark::DoNotOptimize(json);
        commands = result.commands.size();
        state.PauseTiming();
        engine.reset();
        state.ResumeTiming();
    }
    const double n = double(state.iterations());
    state.counters["commands"] = double(commands);
    state.counters["pieces"] = double(pieces);
    state.counters["longest_hop_ms"] = longest_s * 1e3;  // the worst of all iterations
    state.counters["first_hop_ms"] = first_s / n * 1e3;
    state.counters["apply_ms"] = total_s / n * 1e3;
    state.counters["answer_json_ms"] = json_s / n * 1e3;
}
BENCHMARK(ScheduleInPieces)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3)
    ->Args({kColumns, 96, 0})
    ->Args({kColumns, 96, 20'000})
    ->Args({50, 100'000, 0})
    ->Args({50, 100'000, 20'000});

}  // namespace

// Google Benchmark's main, but with the other tools' exit status for bad
// usage: 2, not 1.
int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        std::fprintf(stderr, "bench-engine: see --help for the options\n");
        return 2;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
