#include "engine_api.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "gridgate/engine/schedule_parser.hpp"
#include "gridgate/http/json.hpp"

namespace gridgate::gateway {

namespace asio = boost::asio;
using http::ApiResponse;

// A schedule on its way through the strand: checked, waiting its turn or
// being applied a piece per hop.
struct EngineApi::Submission {
    engine::ScheduleApplication application;
    std::shared_ptr<http::RequestClaim> claim;
    std::function<void(ApiResponse)> done;
};

void EngineApi::post_schedule(http::ScheduleFormat format, std::string body,
                              std::shared_ptr<http::RequestClaim> claim,
                              std::function<void(ApiResponse)> done) {
    // Parsing and checking a large schedule take tens of milliseconds: they
    // happen here, on the HTTP thread, so the engine strand keeps
    // dispatching meanwhile. They read nothing the strand changes (the site
    // is fixed), and a refusal changes nothing, so it needs no claim.
    auto submission = std::make_shared<Submission>();
    try {
        engine::ScheduleRequest request;
        if (format == http::ScheduleFormat::Csv)
            request.schedule = engine::parse_schedule_csv(body);
        else
            request = engine::parse_schedule_request_json(body);
        engine::AssetMap asset_map = p_.site.asset_map;
        for (auto& [key, asset] : request.asset_map) asset_map[key] = asset;  // the body wins
        auto known = [this](std::string_view id) { return known_assets_.count(id) > 0; };
        submission->application = engine::DispatchEngine::prepare_schedule(
            std::make_shared<const engine::Schedule>(std::move(request.schedule)), asset_map,
            known);
    } catch (const engine::ScheduleError& e) {
        unsigned status = e.kind() == engine::ScheduleError::Kind::UnknownAsset ? 422 : 400;
        done(ApiResponse::json(status, http::error_json(e.what())));
        return;
    }
    submission->claim = std::move(claim);
    submission->done = std::move(done);
    asio::post(p_.strand, [this, submission = std::move(submission)]() mutable {
        if (stopping_) return refuse_stopping(std::move(submission));
        waiting_.push_back(std::move(submission));
        if (!applying_) start_next_schedule();
    });
}

void EngineApi::start_next_schedule() {
    while (!applying_ && !stopping_ && !waiting_.empty()) {
        auto next = std::move(waiting_.front());
        waiting_.pop_front();
        if (!next->claim->take()) {
            // The strand came too late: the client has its 503 (or lost its
            // connection at shutdown), which promised that this schedule
            // would not be applied.
            spdlog::info(
                "api: dropped a schedule of {} command(s) unapplied: the HTTP API gave up on it "
                "before the engine could take it",
                next->application.command_count());
            continue;
        }
        // Taken: from here on it is applied whole, even if its client goes away.
        applying_ = std::move(next);
        return apply_schedule_piece();
    }
}

void EngineApi::apply_schedule_piece() {
    bool finished = false;
    try {
        finished =
            p_.engine.apply_schedule_piece(applying_->application, p_.schedule_piece_commands);
    } catch (const std::exception& e) {
        // The store full, memory exhausted: the engine has given the
        // schedule up where it stood.
        auto failed = std::exchange(applying_, nullptr);
        spdlog::error("api: schedule {} given up after {} of {} command(s): {}",
                      failed->application.result().schedule_id, failed->application.applied_count(),
                      failed->application.command_count(), e.what());
        p_.on_new_commands();
        failed->done(ApiResponse::json(
            500, http::error_json("internal error: the schedule was applied only in part (" +
                                  std::to_string(failed->application.applied_count()) + " of " +
                                  std::to_string(failed->application.command_count()) +
                                  " commands): " + e.what())));
        asio::post(p_.strand, [this] { start_next_schedule(); });
        return;
    }
    p_.on_new_commands();
    if (!finished) {
        // The rest waits behind whatever reached the strand meanwhile.
        asio::post(p_.strand, [this] { apply_schedule_piece(); });
        return;
    }
    auto applied = std::exchange(applying_, nullptr);
    // A million ids are tens of milliseconds of JSON: written on an I/O
    // thread, not on the strand.
    asio::post(p_.strand.get_inner_executor(),
               [applied, result = applied->application.take_result()] {
                   applied->done(ApiResponse::json(
                       201, http::schedule_accepted_json(result.schedule_id, result.commands,
                                                         result.ignored_columns)));
               });
    // The next schedule in a hop of its own, behind what waits meanwhile.
    asio::post(p_.strand, [this] { start_next_schedule(); });
}

void EngineApi::stop() {
    stopping_ = true;
    while (!waiting_.empty()) {
        refuse_stopping(std::move(waiting_.front()));
        waiting_.pop_front();
    }
}

void EngineApi::refuse_stopping(std::shared_ptr<Submission> submission) {
    // Taken only to answer that nothing was applied, which is what a 503
    // promises; one the server has abandoned has its 503 already.
    if (!submission->claim->take()) return;
    submission->done(ApiResponse::json(
        503, http::error_json("the gateway is stopping; the schedule was not applied")));
}

// A listing of a million commands would hold the strand for seconds (and
// every dispatch behind it): it is read a page per strand hop and written
// out between hops on the I/O threads, so dispatch and other requests go on.
struct EngineApi::Listing {
    http::CommandFilter filter;
    std::function<void(ApiResponse)> done;
    engine::DispatchEngine::ListCursor cursor;
    std::string body;  // the answer so far; touched by one hop at a time
    bool empty = true;
};

void EngineApi::list_commands(http::CommandFilter filter, std::function<void(ApiResponse)> done) {
    auto listing = std::make_shared<Listing>();
    listing->filter = std::move(filter);
    listing->done = std::move(done);
    read_page(std::move(listing));
}

void EngineApi::read_page(std::shared_ptr<Listing> listing) {
    asio::post(p_.strand, [this, listing = std::move(listing)]() mutable {
        std::optional<std::string_view> asset;
        if (listing->filter.asset_id) asset = *listing->filter.asset_id;
        auto page = p_.engine.list_commands_page(asset, listing->filter.status, listing->cursor,
                                                 kListPageCommands, kListPageVisits);
        asio::post(p_.strand.get_inner_executor(),
                   [this, listing = std::move(listing), page = std::move(page)]() mutable {
                       if (page.restarted || listing->body.empty()) {
                           listing->body = "{\"commands\":[";
                           listing->empty = true;
                       }
                       for (const auto& command : page.commands) {
                           if (!listing->empty) listing->body += ',';
                           listing->body += http::command_to_json(command);
                           listing->empty = false;
                       }
                       if (page.next) {
                           listing->cursor = *page.next;
                           read_page(std::move(listing));
                           return;
                       }
                       listing->body += "]}";
                       listing->done(ApiResponse::json(200, std::move(listing->body)));
                   });
    });
}

void EngineApi::get_command(sdk::CommandId id, std::function<void(ApiResponse)> done) {
    asio::post(p_.strand, [this, id, done = std::move(done)] {
        if (auto command = p_.engine.get_command(id))
            done(ApiResponse::json(200, http::command_to_json(*command)));
        else
            done(ApiResponse::json(404, http::error_json("unknown command " + id.str())));
    });
}

void EngineApi::list_assets(std::function<void(ApiResponse)> done) {
    asio::post(p_.strand, [this, done = std::move(done)] {
        std::vector<http::AssetStatus> assets;
        assets.reserve(p_.site.assets.size());
        for (const auto& a : p_.site.assets) {
            http::AssetStatus s{a.id, a.type, a.adapter, false, std::nullopt, {}};
            if (auto state = p_.registry.state(a.id)) {
                s.connected = state->connected;
                s.last_seen = state->last_seen;
                for (const auto& t : state->telemetry) {
                    s.telemetry.emplace_back(t.name, t.value);
                    if (t.stale) s.stale_telemetry.push_back(t.name);
                }
            }
            assets.push_back(std::move(s));
        }
        done(ApiResponse::json(200, http::assets_to_json(assets)));
    });
}

void EngineApi::health(std::function<void(bool alive)> done) {
    // Answered from the strand itself: a wedged engine never answers, and the
    // server's health timeout turns that into 503.
    asio::post(p_.strand, [done = std::move(done)] { done(true); });
}

std::optional<EngineApi::Stall> EngineApi::stall(std::chrono::milliseconds at_least) const {
    const auto call = p_.engine.in_execute();
    if (!call) return std::nullopt;
    const auto held = sdk::Clock::now() - call->since;
    if (held < at_least) return std::nullopt;
    std::string who = p_.registry.describe(call->adapter);
    if (who.empty()) who = "an adapter";
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", std::chrono::duration<double>(held).count());
    return Stall{call->command_id, who + " has been in execute() of " + call->command_id.str() +
                                       " for " + seconds + " s"};
}

void EngineApi::metrics(std::function<void(std::string)> done) {
    asio::post(p_.strand, [this, done = std::move(done)] {
        auto counts = p_.engine.counts();
        for (std::size_t s = 0; s < sdk::kCommandStatusCount; ++s) {
            std::int64_t total = 0;
            for (std::size_t t = 0; t < sdk::kCommandTypeCount; ++t)
                total += static_cast<std::int64_t>(counts[t][s]);
            p_.metrics.set_commands_in_status(static_cast<sdk::CommandStatus>(s), total);
        }
        done(p_.metrics.render());
    });
}

}  // namespace gridgate::gateway
