// The DispatchEngine: turns schedules into timed commands and follows every
// command through dispatch, acknowledgement, retry, timeout and cancellation,
// publishing each transition on its EventBus. No I/O: the host asks what is
// due, hands commands to adapters, and sleeps until next_wakeup().
//
// Lifecycle (ARCHITECTURE.md "Engine semantics"):
//   PENDING -> DISPATCHED -> COMPLETED
//                         -> (failure or timeout, retries left) PENDING again after a backoff
//                         -> FAILED / TIMED_OUT (none left; a non-retryable failure at once)
//   PENDING -> CANCELLED  (superseded by a newer schedule, stale, or overtaken before a retry)
//
// Not thread-safe; use one strand. Adapter completions may arrive on any
// thread: they wait in the engine's mailbox, and the Poster carries one hop
// onto the strand for each batch of them.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/engine/asset_map.hpp"
#include "gridgate/engine/command_store.hpp"
#include "gridgate/engine/event_bus.hpp"
#include "gridgate/engine/log_sink.hpp"
#include "gridgate/engine/schedule.hpp"
#include "gridgate/sdk/adapter.hpp"
#include "gridgate/sdk/command.hpp"

namespace gridgate::engine {

/// The site file's [engine] table.
struct EngineOptions {
    int max_retries = 3;
    double timeout_seconds = 30.0;
    /// Wait before the first retry; doubles with each further retry.
    double retry_backoff_seconds = 5.0;
    double max_retry_backoff_seconds = 300.0;
};

/// What schedule_to_commands() made of a schedule.
struct ScheduleResult {
    std::string schedule_id;               // "sch_" + 12 lowercase hex digits
    std::vector<sdk::CommandId> commands;  // new commands, column by column, each in time order
    std::vector<std::string> ignored_columns;
    std::vector<sdk::CommandId> cancelled;  // superseded PENDING commands
};

/// A schedule checked whole and on its way into the engine, a piece at a
/// time: made by DispatchEngine::prepare_schedule(), applied by
/// DispatchEngine::apply_schedule_piece(). Shares the schedule it came from;
/// a plain value, touched by one thread at a time.
class ScheduleApplication {
  public:
    /// Every piece has been applied: result() is complete.
    bool finished() const noexcept { return finished_; }
    /// Commands the whole schedule makes, and how many of them exist so far.
    std::size_t command_count() const noexcept { return result_.commands.size(); }
    std::size_t applied_count() const noexcept { return applied_; }
    /// schedule_id and cancelled once the first piece is applied; commands
    /// (in their final order, unmade ones still 0) complete once finished().
    const ScheduleResult& result() const noexcept { return result_; }
    ScheduleResult take_result() noexcept { return std::move(result_); }

  private:
    friend class DispatchEngine;
    struct Column {
        std::size_t column = 0;  // in the schedule
        AssetIndex asset = 0;    // set by the first piece
        std::string asset_id;
        sdk::CommandType command_type = sdk::CommandType::SetChargeRate;
        std::size_t next_id = 0;  // where its next command goes in result_.commands
        double previous = 0.0;    // the column's last value (NaN: none yet)
    };
    std::shared_ptr<const Schedule> schedule_;
    std::vector<Column> columns_;
    std::array<std::size_t, sdk::kCommandTypeCount> created_by_type_{};
    std::size_t row_ = 0;  // the next cell to apply: row_, columns_[column_]
    std::size_t column_ = 0;
    std::size_t applied_ = 0;
    std::uint64_t serial_ = 0;  // the engine's number for it once started; 0 before
    bool finished_ = false;
    ScheduleResult result_;
};

/// A command that does not come from a schedule (the HTTP API, an operator).
struct NewCommand {
    std::string asset_id;
    sdk::CommandType command_type = sdk::CommandType::SetChargeRate;
    sdk::Parameters parameters;
    TimePoint scheduled_at{};
    std::optional<int> max_retries;         // default: EngineOptions
    std::optional<double> timeout_seconds;  // default: EngineOptions
};

/// Commands held, by type and status (for metrics).
using CommandCounts =
    std::array<std::array<std::size_t, sdk::kCommandStatusCount>, sdk::kCommandTypeCount>;

class DispatchEngine {
  public:
    using ClockFn = std::function<TimePoint()>;
    /// Runs a function on the engine's strand (later, from any thread). The
    /// engine posts one function per batch of completions.
    using Poster = std::function<void(std::function<void()>)>;

    struct Hooks {
        ClockFn clock;  // default: system_clock::now
        Poster post;    // default: run inline
        LogSink log;    // default: stderr
    };

    /// Throws std::invalid_argument for options out of range (negative,
    /// not finite, max_retries above 65535).
    explicit DispatchEngine(EngineOptions options = {}, Hooks hooks = {});
    DispatchEngine(const DispatchEngine&) = delete;
    DispatchEngine& operator=(const DispatchEngine&) = delete;
    ~DispatchEngine();

    EventBus& events() noexcept { return events_; }
    const EngineOptions& options() const noexcept { return options_; }

    // ---- schedules

    /// Emits a command for each convention column wherever its value differs
    /// from the column's previous value (the first value always emits; NaN
    /// emits nothing), after cancelling the PENDING commands each mapped
    /// column supersedes: same asset and command type, scheduled at or after
    /// the schedule's first timestamp. From there on the new schedule alone
    /// decides what is stale: a command an older one sent for a later time
    /// does not overtake the new one's setpoints, and one still in flight
    /// is not retried. Publishes SCHEDULE_RECEIVED, then COMMAND_CANCELLED
    /// for each superseded command.
    ///
    /// Throws ScheduleError, before changing anything:
    ///  - UnknownAsset naming the column: key missing from asset_map, or its
    ///    asset rejected by known_asset;
    ///  - BadInput: a negative or infinite power (naming column and row),
    ///    two columns driving the same asset and quantity, a malformed table.
    ScheduleResult schedule_to_commands(const Schedule& schedule, const AssetMap& asset_map,
                                        const AssetPredicate& known_asset = {});

    /// schedule_to_commands() in two steps, so that a large schedule does
    /// not hold the engine's strand for long. First every check, on any
    /// thread (it reads nothing of the engine): throws ScheduleError as
    /// schedule_to_commands() does, and a refused schedule has changed
    /// nothing.
    static ScheduleApplication prepare_schedule(std::shared_ptr<const Schedule> schedule,
                                                const AssetMap& asset_map,
                                                const AssetPredicate& known_asset = {});

    /// Then the changes, a piece per call, on the strand; true once the
    /// schedule is applied whole. The first piece cancels what the schedule
    /// supersedes and publishes SCHEDULE_RECEIVED and the COMMAND_CANCELLED
    /// events (as schedule_to_commands() does); then every piece makes the
    /// commands of the next cells in time order (row by row), about
    /// `max_commands` of them and no more than 8 x `max_commands` cells
    /// read. A piece never ends before a row already due at the engine's
    /// clock: a setpoint that one of its rows makes stale is never sent
    /// between two pieces, so the rows already due are made in one piece.
    /// The commands, their order in the result and the events are those of
    /// schedule_to_commands(), whatever the size of the pieces.
    ///
    /// One schedule at a time: throws std::logic_error for a piece of
    /// another schedule while one is unfinished (a second schedule waits
    /// until the first is applied whole, so two never interleave).
    bool apply_schedule_piece(ScheduleApplication& application, std::size_t max_commands);

    /// A schedule is partly applied (apply_schedule_piece() has more to do).
    bool applying_schedule() const noexcept { return applying_ != 0; }

    /// Adds one PENDING command. Throws std::invalid_argument when the
    /// parameters do not fit the type (e.g. SET_CHARGE_RATE without a
    /// non-negative power_kw) or the asset id is empty.
    sdk::CommandId add_command(const NewCommand& command);

    // ---- dispatch cycle

    /// PENDING commands due at `now`, in scheduled_at order. When several
    /// setpoints of one asset and type are due together, only the newest is
    /// returned; the older ones are CANCELLED (a stale setpoint is never sent
    /// late). Costs in proportion to what is due. A returned command stays
    /// PENDING and due until it is dispatched, failed or cancelled, so the
    /// caller must do one of those with each.
    std::vector<sdk::Command> get_pending_commands(TimePoint now);

    /// Where the dispatch cycle sends a command: the adapter bound to the
    /// asset, or null with the reason in `refusal`. `asset` is the engine's
    /// number for the asset, dense from 0 and fixed for the engine's life,
    /// for a caller that keeps something per asset. `asset_id` points into
    /// the engine: the router must not call the engine.
    using Router = std::function<sdk::Adapter*(AssetIndex asset, std::string_view asset_id,
                                               sdk::CommandType type, std::string& refusal)>;

    /// The dispatch cycle in one pass: what get_pending_commands(now)
    /// returns, each routed by `route` and dispatched as by
    /// dispatch_command(), or failed with the router's refusal (a failed
    /// attempt that is not retried). Returns how many were handed to an
    /// adapter.
    std::size_t dispatch_due(TimePoint now, const Router& route);

    /// PENDING -> DISPATCHED, publishes COMMAND_DISPATCHED, then hands the
    /// command to `adapter`. The adapter's completion (any thread, possibly
    /// before execute() returns) is posted back as the response of this very
    /// attempt. Returns false (and changes nothing) unless the id is PENDING.
    bool dispatch_command(sdk::CommandId id, sdk::Adapter& adapter);
    bool dispatch_command(const sdk::Command& command, sdk::Adapter& adapter) {
        return dispatch_command(command.command_id, adapter);
    }

    /// The outcome of the current attempt. Acts only on a DISPATCHED
    /// command; anything else is ignored and logged.
    void handle_response(sdk::CommandId id, bool success, std::string_view error = {},
                         bool retryable = true);
    void handle_response(sdk::CommandId id, const sdk::CommandResult& result);

    /// A command that could not be handed to any adapter (none bound to its
    /// asset, type unsupported): counts as a failed attempt of a PENDING or
    /// DISPATCHED command. Returns false if the command is in neither state.
    bool fail_command(sdk::CommandId id, std::string_view error, bool retryable);

    /// PENDING -> CANCELLED (an operator's request). False if not PENDING.
    bool cancel_command(sdk::CommandId id, std::string_view reason = "cancelled");

    /// Ends or retries every DISPATCHED command whose deadline
    /// (dispatched_at + timeout_seconds) is at or before `now`, with error
    /// "timeout". Returns how many timed out. Costs in proportion to that.
    std::size_t check_timeouts(TimePoint now);

    /// The earliest instant at which get_pending_commands() or
    /// check_timeouts() has something to do; nullopt when nothing is waiting.
    std::optional<TimePoint> next_wakeup() const;
    /// When the earliest PENDING command falls due (timeouts aside); nullopt
    /// when none is pending.
    std::optional<TimePoint> next_due() const;

    // ---- lookups (indexed; cost follows the size of the answer)

    std::optional<sdk::Command> get_command(sdk::CommandId id) const;
    std::optional<sdk::Command> get_command(std::string_view id) const;
    /// Every command of the asset, oldest first.
    std::vector<sdk::Command> get_commands_for_asset(std::string_view asset_id) const;
    /// Commands filtered by asset and/or status, at most `limit`. Without an
    /// asset, PENDING and DISPATCHED come from their indexes; other statuses
    /// are a scan of everything held.
    std::vector<sdk::Command> list_commands(std::optional<std::string_view> asset_id = {},
                                            std::optional<sdk::CommandStatus> status = {},
                                            std::size_t limit = SIZE_MAX) const;

    /// Where list_commands_page() goes on from; a default one starts a listing.
    struct ListCursor {
        std::size_t position = 0;
        std::uint64_t generation = 0;
    };
    struct CommandPage {
        std::vector<sdk::Command> commands;
        std::optional<ListCursor> next;  // nullopt: the listing is complete
        /// The store was compacted since the cursor was made: this page
        /// starts the listing over, and the pages before it are void.
        bool restarted = false;
    };
    /// The filters of list_commands() in pieces, oldest command first, so
    /// that a caller can list millions of commands without holding the
    /// strand for long: each call looks at no more than `max_visits`
    /// commands and returns at most `max_commands` (a limit of 0 counts as
    /// 1). Pass `next` to the
    /// following call. A command that changes status between two calls
    /// is listed as it was when its page was read.
    CommandPage list_commands_page(std::optional<std::string_view> asset_id,
                                   std::optional<sdk::CommandStatus> status, ListCursor from,
                                   std::size_t max_commands, std::size_t max_visits) const;

    /// An adapter's execute() the engine is in, with the command it was
    /// given and since when. The SDK forbids blocking in execute(): while an
    /// adapter does, nothing else runs on the strand, and this names it.
    struct InExecute {
        const sdk::Adapter* adapter = nullptr;
        sdk::CommandId command_id;
        TimePoint since{};
    };
    /// Thread-safe (any thread, without the strand); nullopt between calls.
    std::optional<InExecute> in_execute() const noexcept;

    /// Retention: drops commands that ended (COMPLETED, FAILED, TIMED_OUT,
    /// CANCELLED) before `cutoff`; returns how many. Costs in proportion to
    /// everything held, so a daemon calls it now and then (e.g. hourly with
    /// now - 7 days). Throws std::logic_error when called from inside another
    /// engine call (an event handler).
    std::size_t forget_finished_before(TimePoint cutoff);

    std::size_t size() const noexcept { return store_.size(); }
    std::size_t count(sdk::CommandStatus status) const noexcept { return store_.count(status); }
    CommandCounts counts() const noexcept;

    /// The storage, read-only (memory measurements, diagnostics).
    const CommandStore& store() const noexcept { return store_; }

  private:
    enum class FailureKind { Error, Timeout };

    // Counts engine calls on the stack; slots held by an outer call must not
    // be invalidated by a handler compacting the store.
    struct CallDepth {
        explicit CallDepth(int& d) : depth(d) { ++depth; }
        ~CallDepth() { --depth; }
        CallDepth(const CallDepth&) = delete;
        CallDepth& operator=(const CallDepth&) = delete;
        int& depth;
    };

    // get_pending_commands() without the commands: the due slots in order.
    std::vector<CommandStore::LaneEntry> ready_at(TimePoint now);
    // dispatch_command() of a slot known to be PENDING.
    void dispatch_slot(Slot slot, sdk::Adapter& adapter);
    void on_completion(sdk::CommandId id, std::uint16_t attempt, sdk::CommandResult result);
    // Completions on their way from adapters' threads (dispatch_engine.cpp).
    struct Mailbox;
    // On the strand: applies every completion in the mailbox.
    void take_mail();
    // handle_response() of a slot known to be DISPATCHED.
    void settle(Slot slot, bool success, std::string_view error, bool retryable);
    void complete(Slot slot);
    void fail(Slot slot, std::string_view error, bool retryable, FailureKind kind, TimePoint now);
    void cancel(Slot slot, TimePoint now, std::string_view reason, bool attempt_failed = false);
    TimePoint retry_time(const CommandRecord& r, TimePoint now) const;
    bool overtaken_by(Slot slot, TimePoint at, Slot* by) const;
    void publish(EventType type, Slot slot, TimePoint at, std::string_view message = {},
                 std::optional<TimePoint> retry_at = std::nullopt, bool attempt_failed = false);
    CommandStore::Limits limits(std::optional<int> max_retries,
                                std::optional<double> timeout_seconds) const;
    std::string fresh_schedule_id();
    // The first piece: supersede, SCHEDULE_RECEIVED, COMMAND_CANCELLED.
    void start_schedule(ScheduleApplication& app, TimePoint now);

    EngineOptions options_;
    ClockFn clock_;
    LogSink log_;
    EventBus events_;
    CommandStore store_;
    // Shared with every Completion this engine made, which may outlive it.
    std::shared_ptr<Mailbox> mailbox_;
    std::mt19937_64 schedule_ids_;
    int call_depth_ = 0;
    std::uint64_t applying_ = 0;  // serial of the schedule partly applied; 0: none
    std::uint64_t schedules_started_ = 0;
    // in_execute(): written on the strand around each execute(), read anywhere.
    std::atomic<const sdk::Adapter*> executing_adapter_{nullptr};
    std::atomic<std::uint64_t> executing_id_{0};
    std::atomic<TimePoint::rep> executing_since_{0};
};

}  // namespace gridgate::engine
