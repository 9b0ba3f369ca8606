// The dispatch engine as a state machine: the bytes are a sequence of what
// happens to a gateway (schedules posted, commands added, the clock moving,
// dispatch, answers that succeed or fail, timeouts, cancels, the retention
// pass), and after each step the engine's indexes are checked against each
// other and against a model of what it was told.
//
// Refusals (a ScheduleError, a cancel of a command that is not PENDING) are
// fine. Broken promises:
//  - a crash, or any other exception;
//  - a command that ended (COMPLETED, FAILED, TIMED_OUT, CANCELLED) changing
//    status again, or one going missing before the retention pass forgets
//    it; the pass forgetting one that had not ended before its cutoff;
//  - the counts by status disagreeing with the number held, or with the
//    listings by status (index against scan);
//  - a listing by asset or status holding a command of another;
//  - get_pending_commands() handing out a command that is not PENDING;
//  - a PENDING command with no next_due().
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "gridgate/engine/dispatch_engine.hpp"

using namespace gridgate::engine;
using gridgate::fuzz::broken;
using gridgate::fuzz::Bytes;
using gridgate::fuzz::check;
namespace sdk = gridgate::sdk;

namespace {

const TimePoint kStart = TimePoint{} + std::chrono::hours(24 * 19723);
const char* const kAssets[] = {"ast_ev1", "ast_ev2", "ast_batt"};
const char* const kColumns[] = {"ev_001_kw", "ev_002_kw", "battery_charge_kw",
                                "battery_discharge_kw", "price"};

// Holds every completion the engine hands out, so the fuzzer answers them
// in any order, or never.
class Recorder : public sdk::Adapter {
  public:
    void execute(const sdk::Command&, sdk::Completion done) noexcept override {
        pending.push_back(std::move(done));
    }
    std::vector<sdk::Completion> pending;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Bytes in(data, size);
    TimePoint now = kStart;
    Recorder adapter;
    DispatchEngine engine(
        EngineOptions{.max_retries = 2, .timeout_seconds = 20.0, .retry_backoff_seconds = 3.0},
        {[&now] { return now; }, {}, [](LogLevel, std::string_view) {}});
    const AssetMap map{{"ev_001", "ast_ev1"}, {"ev_002", "ast_ev2"}, {"battery", "ast_batt"}};
    std::map<std::uint64_t, sdk::CommandStatus> model;  // what the engine holds, as last seen

    for (int step = 0; step < 64 && in.left() > 0; ++step) {
        const auto op = in.take<std::uint8_t>();
        std::optional<TimePoint> forgot_before;
        switch (op % 9) {
            case 0: {  // a schedule
                Schedule s;
                const int rows = 1 + in.take<std::uint8_t>() % 4;
                const int cols = 1 + in.take<std::uint8_t>() % 3;
                TimePoint t = now - std::chrono::minutes(in.take<std::uint8_t>() % 3);
                for (int r = 0; r < rows; ++r) {
                    s.index.push_back(t);
                    t += std::chrono::seconds(1 + in.take<std::uint8_t>());
                }
                for (int c = 0; c < cols; ++c) {
                    s.columns.push_back(kColumns[in.take<std::uint8_t>() % 5]);
                    for (int r = 0; r < rows; ++r) {
                        const auto v = in.take<std::uint8_t>();
                        s.values.push_back(v == 255 ? std::numeric_limits<double>::quiet_NaN()
                                                    : v % 23 * 0.5);
                    }
                }
                try {
                    engine.schedule_to_commands(s, map);
                } catch (const ScheduleError&) {
                }
                break;
            }
            case 1: {  // an operator's command
                NewCommand c;
                c.asset_id = kAssets[in.take<std::uint8_t>() % 3];
                c.command_type = static_cast<sdk::CommandType>(in.take<std::uint8_t>() % 7);
                c.parameters.power_kw = in.take<std::uint8_t>() % 20;
                c.parameters.soc_percent = in.take<std::uint8_t>() % 101;
                c.parameters.operative = true;
                c.parameters.connector_id = 1;
                c.parameters.id_tag = "TAG";
                c.scheduled_at = now + std::chrono::seconds(in.take<std::uint8_t>() % 30);
                try {
                    engine.add_command(c);
                } catch (const std::invalid_argument&) {
                }
                break;
            }
            case 2:
                now += std::chrono::milliseconds(in.take<std::uint16_t>() * 10);
                break;
            case 3:
                engine.dispatch_due(now,
                                    [&](AssetIndex, std::string_view asset, sdk::CommandType,
                                        std::string& refusal) -> sdk::Adapter* {
                                        if (asset == "ast_ev2" && op & 0x80) {
                                            refusal = "no adapter for this fuzz step";
                                            return nullptr;
                                        }
                                        return &adapter;
                                    });
                break;
            case 4:
            case 5: {  // an answer, good or bad
                if (adapter.pending.empty()) break;
                const std::size_t i = in.take<std::uint8_t>() % adapter.pending.size();
                sdk::Completion done = std::move(adapter.pending[i]);
                adapter.pending.erase(adapter.pending.begin() + static_cast<std::ptrdiff_t>(i));
                done(op % 9 == 4 ? sdk::CommandResult::ok()
                                 : sdk::CommandResult::failure("no", (op & 0x40) != 0));
                break;
            }
            case 6:
                engine.check_timeouts(now);
                break;
            case 7: {
                if (model.empty()) break;
                auto it = model.begin();
                std::advance(it, in.take<std::uint8_t>() % model.size());
                engine.cancel_command(sdk::CommandId{it->first});
                break;
            }
            default: {
                forgot_before = now - std::chrono::seconds(in.take<std::uint8_t>());
                engine.forget_finished_before(*forgot_before);
                break;
            }
        }

        // --- the model against the engine
        const auto all = engine.list_commands();
        std::map<std::uint64_t, sdk::CommandStatus> seen;
        for (const auto& c : all) seen[c.command_id.value()] = c.status;
        for (const auto& [id, status] : model) {
            auto it = seen.find(id);
            if (it == seen.end()) {
                check(forgot_before.has_value(), "a command went missing");
                const auto gone = engine.get_command(sdk::CommandId{id});
                check(!gone, "a forgotten command can still be looked up");
                check(sdk::is_terminal(status), "the retention pass forgot a command not ended");
                continue;
            }
            if (sdk::is_terminal(status))
                check(it->second == status, "a command that ended changed status again");
        }
        for (const auto& c : all) {
            if (forgot_before && sdk::is_terminal(c.status) && c.completed_at &&
                *c.completed_at < *forgot_before)
                broken("the retention pass kept a command that ended before its cutoff");
            const auto one = engine.get_command(c.command_id);
            check(one && one->status == c.status, "a command looks different looked up alone");
        }
        model = std::move(seen);

        // --- the engine's indexes against each other
        check(engine.size() == all.size(), "size() is not what the listing holds");
        std::size_t counted = 0;
        for (std::size_t s = 0; s < sdk::kCommandStatusCount; ++s) {
            const auto status = static_cast<sdk::CommandStatus>(s);
            const auto listed = engine.list_commands(std::nullopt, status);
            check(listed.size() == engine.count(status),
                  "count() and the listing by status differ");
            for (const auto& c : listed)
                check(c.status == status, "a listing by status holds another status");
            counted += engine.count(status);
        }
        check(counted == engine.size(), "the counts by status do not add up to size()");
        for (const char* asset : kAssets) {
            for (const auto& c : engine.get_commands_for_asset(asset))
                check(c.asset_id == asset, "a listing by asset holds another asset");
        }
        if (engine.count(sdk::CommandStatus::Pending) > 0)
            check(engine.next_due().has_value(), "PENDING commands and no next_due()");
        for (const auto& c : engine.get_pending_commands(now))
            check(c.status == sdk::CommandStatus::Pending,
                  "get_pending_commands() gave a "
                  "command that is not PENDING");
    }
    return 0;
}
