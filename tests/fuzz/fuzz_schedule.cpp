// The schedule parsers (pandas CSV, pandas split JSON, the POST body) and the
// engine behind them, as POST /api/v1/schedules drives them. The first byte
// picks the parser and the size of the pieces; the rest is the text.
//
// Refusing the text (ScheduleError) is fine. Broken promises:
//  - any other exception, or a crash;
//  - prepare_schedule() and schedule_to_commands() disagreeing on a refusal;
//  - a schedule applied in pieces making other commands, or in another
//    order, than the same schedule applied whole;
//  - applying the same schedule again (superseding the first) failing.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "gridgate/engine/dispatch_engine.hpp"
#include "gridgate/engine/schedule_parser.hpp"

using namespace gridgate::engine;
using gridgate::fuzz::broken;
using gridgate::fuzz::check;

namespace {

const TimePoint kNow = TimePoint{} + std::chrono::hours(24 * 19723);  // 2024-01-01T00:00:00Z

DispatchEngine::Hooks hooks() {
    return {[] { return kNow; }, {}, [](LogLevel, std::string_view) {}};
}

bool same(const gridgate::sdk::Command& a, const gridgate::sdk::Command& b) {
    return a.asset_id == b.asset_id && a.command_type == b.command_type &&
           a.parameters == b.parameters && a.scheduled_at == b.scheduled_at && a.status == b.status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::size_t piece = 1 + (data[0] >> 2);

    AssetMap map{{"ev_001", "ast_ev1"}, {"ev_002", "ast_ev2"}, {"battery", "ast_batt"}};
    std::shared_ptr<const Schedule> schedule;
    try {
        switch (data[0] % 3) {
            case 0:
                schedule = std::make_shared<Schedule>(parse_schedule_csv(text));
                break;
            case 1:
                schedule = std::make_shared<Schedule>(parse_schedule_json(text));
                break;
            default: {
                auto request = parse_schedule_request_json(text);
                if (!request.asset_map.empty()) map = request.asset_map;
                schedule = std::make_shared<Schedule>(std::move(request.schedule));
            }
        }
    } catch (const ScheduleError&) {
        return 0;
    }

    DispatchEngine whole_engine(EngineOptions{}, hooks());
    ScheduleResult whole;
    try {
        whole = whole_engine.schedule_to_commands(*schedule, map);
    } catch (const ScheduleError&) {
        try {
            DispatchEngine::prepare_schedule(schedule, map);
        } catch (const ScheduleError&) {
            return 0;
        }
        broken("prepare_schedule() accepted what schedule_to_commands() refused");
    }

    DispatchEngine piece_engine(EngineOptions{}, hooks());
    ScheduleApplication application;
    try {
        application = DispatchEngine::prepare_schedule(schedule, map);
    } catch (const ScheduleError&) {
        broken("prepare_schedule() refused what schedule_to_commands() accepted");
    }
    while (!piece_engine.apply_schedule_piece(application, piece)) {
    }
    const ScheduleResult& pieces = application.result();
    check(pieces.commands.size() == whole.commands.size(),
          "pieces made another number of commands");
    check(pieces.ignored_columns == whole.ignored_columns, "pieces ignored other columns");
    for (std::size_t i = 0; i < whole.commands.size(); ++i) {
        const auto a = whole_engine.get_command(whole.commands[i]);
        const auto b = piece_engine.get_command(pieces.commands[i]);
        check(a && b, "a command of the result is not in its engine");
        check(same(*a, *b), "pieces made another command, or in another order");
    }

    // The same schedule again takes over from the first.
    try {
        whole_engine.schedule_to_commands(*schedule, map);
    } catch (const ScheduleError&) {
        broken("a schedule accepted once was refused the second time");
    }
    return 0;
}
