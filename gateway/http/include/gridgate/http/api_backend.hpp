// What the HTTP API needs from the rest of the gateway: the seam between the
// Beast server (this module) and the engine, which the daemon implements.
//
// The server does all HTTP work (routing, auth, limits, content types, query
// decoding) and hands the backend typed requests; the backend answers with the
// status and body to send, built with the helpers of json.hpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "gridgate/sdk/command.hpp"

namespace gridgate::http {

/// One answer to send back. `content_type` is sent as is.
struct ApiResponse {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;

    static ApiResponse json(unsigned status, std::string body) {
        return ApiResponse{status, "application/json", std::move(body)};
    }
};

/// The media type of a posted schedule; charset and other parameters are
/// accepted by the server and not passed on (schedules are UTF-8 or ASCII).
enum class ScheduleFormat { Csv, Json };

/// The filters of GET /api/v1/commands, percent-decoded and validated; an
/// absent or empty query parameter is no filter.
struct CommandFilter {
    std::optional<std::string> asset_id;
    std::optional<sdk::CommandStatus> status;
};

/// Who acts on one state-changing request, settled once between the server
/// and the backend: the backend takes it immediately before it changes
/// anything, the server abandons it when its backend timeout fires (or when
/// it closes the connection unanswered at stop). The first to act wins; the
/// other learns the outcome from its own call's result.
///
/// Thread-safe: one atomic, so each side may act from its own thread.
class RequestClaim {
  public:
    /// Called by the backend on the engine's strand, immediately before it
    /// applies the request. True: the request is the backend's to apply and
    /// to answer (also when taken before). False: the server has abandoned it
    /// and answered 503; the backend drops it without touching the engine.
    bool take() noexcept { return settle(State::Taken); }

    /// Called by the server when it gives up waiting. True: the backend
    /// had not taken the request and now never will, so the server answers 503.
    /// False: the backend has taken it and its answer is coming.
    bool abandon() noexcept { return settle(State::Abandoned); }

  private:
    enum class State : std::uint8_t { Waiting, Taken, Abandoned };

    bool settle(State to) noexcept {
        State expected = State::Waiting;
        return state_.compare_exchange_strong(expected, to, std::memory_order_acq_rel) ||
               expected == to;
    }

    std::atomic<State> state_{State::Waiting};
};

/// Everything the API asks of the gateway. Each call returns at once and
/// completes later by calling `done` exactly once, from any thread; the server
/// carries the answer back to the connection. Calls may come concurrently from
/// several I/O threads, so an implementation posts them to the engine's strand.
///
/// Read-only calls not completed within the server's backend timeout are
/// answered with 503 by the server, and their late completion is dropped.
/// A state-changing call (post_schedule) comes with a RequestClaim, which
/// makes its outcome one of two: the backend takes the claim before the
/// timeout and the client gets the backend's answer, however late it comes;
/// or the server abandons it, the client gets 503, and the request is never
/// applied. A 503 therefore means "not applied"; the client may send it again.
class ApiBackend {
  public:
    virtual ~ApiBackend() = default;

    /// POST /api/v1/schedules: 201 with schedule_accepted_json(), 400 for bad
    /// input naming line and column, 422 for an unknown asset. Atomic. The
    /// schedule is applied only after `claim->take()` succeeds, on the strand
    /// that applies it; when taking fails, the request is dropped: nothing is
    /// changed, and `done` need not be called. Input refused before anything
    /// would change may be answered 400 without taking the claim.
    virtual void post_schedule(ScheduleFormat format, std::string body,
                               std::shared_ptr<RequestClaim> claim,
                               std::function<void(ApiResponse)> done) = 0;

    /// GET /api/v1/commands: 200 with commands_to_json().
    virtual void list_commands(CommandFilter filter, std::function<void(ApiResponse)> done) = 0;

    /// GET /api/v1/commands/{id}: 200 with command_to_json(), 404 with
    /// error_json() when unknown. Ids that are not `cmd_` + 12 hex digits are
    /// answered 404 by the server without asking.
    virtual void get_command(sdk::CommandId id, std::function<void(ApiResponse)> done) = 0;

    /// GET /api/v1/assets: 200 with assets_to_json().
    virtual void list_assets(std::function<void(ApiResponse)> done) = 0;

    /// GET /healthz: `alive` is true when the engine's strand ran the check.
    virtual void health(std::function<void(bool alive)> done) = 0;

    /// GET /metrics: the Prometheus text exposition (Metrics::render()).
    virtual void metrics(std::function<void(std::string prometheus_text)> done) = 0;

    /// Thread-safe, without the engine: what is known to hold the engine up
    /// right now, or "". The 503 of a health check that timed out names it.
    virtual std::string stall() const { return {}; }
};

}  // namespace gridgate::http
