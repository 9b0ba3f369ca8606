#include "gridgate/engine/dispatch_engine.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "gridgate/engine/timestamp.hpp"

namespace gridgate::engine {

using sdk::CommandId;
using sdk::CommandStatus;
using sdk::CommandType;

namespace {

// The error of an attempt nobody answered in time (ARCHITECTURE.md's word),
// whether the engine's timer or an adapter's own timeout says so.
constexpr std::string_view kTimeout = "timeout";

/// "-4", "2.5", "inf": numbers as a reader wrote them, not "-4.000000".
std::string shortest(double v) {
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, "%.17g", v);
    // Prefer the shortest form that reads back as the same value.
    for (int precision = 1; precision < 17; ++precision) {
        char shorter[32];
        std::snprintf(shorter, sizeof shorter, "%.*g", precision, v);
        if (std::strtod(shorter, nullptr) == v) return shorter;
    }
    return std::string(buf, static_cast<std::size_t>(n));
}

std::string hex12(std::uint64_t v) {
    std::string s(12, '0');
    constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = s.size(); i > 0; --i, v >>= 4) s[i - 1] = hex[v & 0xF];
    return s;
}

bool needs_power(CommandType type) {
    return type == CommandType::SetChargeRate || type == CommandType::SetDischargeRate ||
           type == CommandType::SetPowerLimit;
}

void check_option(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("engine option ") + what);
}

}  // namespace

// Completions on their way from adapters' threads to the strand. The first
// report of a batch posts one hop that takes them all; those that come
// before it runs join the batch. A slot change that reaches thousands of
// assets then costs the strand a hop per batch, not per answer, and the
// adapter's thread no allocation (a posted closure with the result in it
// is one). Every Completion the engine made holds the mailbox: one that
// runs after the engine is gone finds `engine` null.
struct DispatchEngine::Mailbox {
    struct Report {
        CommandId id;
        std::uint16_t attempt = 0;
        sdk::CommandResult result;
    };

    explicit Mailbox(DispatchEngine* e, Poster p) : engine(e), post(std::move(p)) {}

    static void deliver(const std::shared_ptr<Mailbox>& self, CommandId id, std::uint16_t attempt,
                        sdk::CommandResult result) {
        {
            std::lock_guard lock(self->mutex);
            if (!self->engine) return;
            self->reports.push_back({id, attempt, std::move(result)});
            if (self->posted) return;  // the hop already on its way takes this one too
            self->posted = true;
        }
        try {
            self->post([self] {
                DispatchEngine* engine = nullptr;
                {
                    std::lock_guard lock(self->mutex);
                    engine = self->engine;
                }
                if (engine) engine->take_mail();
            });
        } catch (...) {
            // The report waits in the mailbox; the next one tries the hop again.
            std::lock_guard lock(self->mutex);
            self->posted = false;
            throw;
        }
    }

    std::mutex mutex;
    DispatchEngine* engine;  // null once the engine is destroyed
    const Poster post;
    std::vector<Report> reports;
    std::vector<Report> spare;  // empty: the room of a batch taken before
    bool posted = false;        // a hop is on its way to take `reports`
};

DispatchEngine::DispatchEngine(EngineOptions options, Hooks hooks)
    : options_(options),
      clock_(hooks.clock ? std::move(hooks.clock) : ClockFn{[] { return sdk::Clock::now(); }}),
      log_(hooks.log ? std::move(hooks.log) : stderr_log_sink()),
      events_(log_),
      mailbox_(std::make_shared<Mailbox>(
          this,
          hooks.post ? std::move(hooks.post) : Poster{[](std::function<void()> work) { work(); }})),
      schedule_ids_(std::random_device{}()) {
    check_option(
        options_.max_retries >= 0 && options_.max_retries <= CommandStore::kMaxRetriesLimit,
        "max_retries must be between 0 and 65535");
    check_option(std::isfinite(options_.timeout_seconds) && options_.timeout_seconds > 0 &&
                     options_.timeout_seconds <= 4'000'000.0,
                 "timeout_seconds must be positive and at most 4000000");
    check_option(
        std::isfinite(options_.retry_backoff_seconds) && options_.retry_backoff_seconds >= 0,
        "retry_backoff_seconds must be zero or positive");
    check_option(std::isfinite(options_.max_retry_backoff_seconds) &&
                     options_.max_retry_backoff_seconds >= options_.retry_backoff_seconds,
                 "max_retry_backoff_seconds must be at least retry_backoff_seconds");
}

DispatchEngine::~DispatchEngine() {
    std::lock_guard lock(mailbox_->mutex);
    mailbox_->engine = nullptr;
    mailbox_->reports.clear();
    mailbox_->spare.clear();
}

void DispatchEngine::take_mail() {
    std::vector<Mailbox::Report> batch;
    {
        std::lock_guard lock(mailbox_->mutex);
        batch.swap(mailbox_->reports);
        mailbox_->reports.swap(mailbox_->spare);  // the next batch fills the last one's room
        mailbox_->posted = false;
    }
    // A report may arrive, and with an inline poster be taken, while this
    // batch runs: it goes to the mailbox, not into `batch`.
    for (auto& report : batch) on_completion(report.id, report.attempt, std::move(report.result));
    batch.clear();
    std::lock_guard lock(mailbox_->mutex);
    if (mailbox_->spare.capacity() < batch.capacity()) mailbox_->spare.swap(batch);
}

CommandStore::Limits DispatchEngine::limits(std::optional<int> max_retries,
                                            std::optional<double> timeout_seconds) const {
    const int retries = max_retries.value_or(options_.max_retries);
    const double timeout = timeout_seconds.value_or(options_.timeout_seconds);
    if (retries < 0 || retries > CommandStore::kMaxRetriesLimit) {
        throw std::invalid_argument("max_retries must be between 0 and 65535, not " +
                                    std::to_string(retries));
    }
    if (!std::isfinite(timeout) || timeout <= 0 || timeout > 4'000'000.0) {
        throw std::invalid_argument("timeout_seconds must be positive and at most 4000000, not " +
                                    std::to_string(timeout));
    }
    // Millisecond resolution, at least 1 ms so a deadline always lies after the dispatch.
    const auto ms = std::max<long long>(1, std::llround(timeout * 1000.0));
    return {static_cast<std::uint16_t>(retries), static_cast<std::uint32_t>(ms)};
}

std::string DispatchEngine::fresh_schedule_id() {
    return "sch_" + hex12(schedule_ids_());
}

// ---------------------------------------------------------------- schedules

ScheduleResult DispatchEngine::schedule_to_commands(const Schedule& schedule,
                                                    const AssetMap& asset_map,
                                                    const AssetPredicate& known_asset) {
    // Applied whole before this returns: the caller's schedule is borrowed.
    auto app = prepare_schedule(std::shared_ptr<const Schedule>(std::shared_ptr<void>(), &schedule),
                                asset_map, known_asset);
    apply_schedule_piece(app, SIZE_MAX);
    return app.take_result();
}

ScheduleApplication DispatchEngine::prepare_schedule(std::shared_ptr<const Schedule> shared,
                                                     const AssetMap& asset_map,
                                                     const AssetPredicate& known_asset) {
    using Kind = ScheduleError::Kind;
    const Schedule& schedule = *shared;
    const std::size_t rows = schedule.rows();
    if (schedule.values.size() != rows * schedule.cols()) {
        throw ScheduleError(Kind::BadInput, "schedule has " +
                                                std::to_string(schedule.values.size()) +
                                                " values for " + std::to_string(rows) + " rows x " +
                                                std::to_string(schedule.cols()) + " columns");
    }
    for (std::size_t r = 1; r < rows; ++r) {
        if (!(schedule.index[r - 1] < schedule.index[r])) {
            throw ScheduleError(Kind::BadInput, schedule.row_label(r) +
                                                    ": timestamp is not after the previous row's");
        }
    }

    ColumnPlan plan = plan_columns(schedule.columns, asset_map, known_asset);
    ScheduleApplication app;
    app.columns_.reserve(plan.mapped.size());
    std::size_t to_emit = 0;
    for (MappedColumn& m : plan.mapped) {
        const double* column = schedule.values.data() + m.column * rows;
        double previous = std::numeric_limits<double>::quiet_NaN();
        std::size_t emits = 0;
        for (std::size_t r = 0; r < rows; ++r) {
            const double v = column[r];
            if (std::isnan(v)) continue;
            if (!std::isfinite(v) || v < 0) {
                throw ScheduleError(
                    Kind::BadInput,
                    schedule.cell_label(r, m.column) +
                        ": power must be a finite number of kW >= 0 (charge and discharge "
                        "have separate columns), got " +
                        shortest(v));
            }
            if (std::isnan(previous) || v != previous) ++emits;
            previous = v;
        }
        ScheduleApplication::Column c;
        c.column = m.column;
        c.asset_id = std::move(m.asset_id);
        c.command_type = m.command_type;
        c.next_id = to_emit;  // the result lists the commands column by column
        c.previous = std::numeric_limits<double>::quiet_NaN();
        app.columns_.push_back(std::move(c));
        app.created_by_type_[static_cast<std::size_t>(m.command_type)] += emits;
        to_emit += emits;
    }
    app.schedule_ = std::move(shared);
    app.result_.commands.resize(to_emit);
    app.result_.ignored_columns = std::move(plan.ignored_columns);
    return app;
}

void DispatchEngine::start_schedule(ScheduleApplication& app, TimePoint now) {
    const Schedule& schedule = *app.schedule_;
    app.serial_ = ++schedules_started_;
    applying_ = app.serial_;
    ScheduleResult& result = app.result_;
    result.schedule_id = fresh_schedule_id();

    std::vector<Slot> cancelled;
    if (schedule.rows() > 0) {
        for (const auto& c : app.columns_) {
            auto asset = store_.find_asset(c.asset_id);
            if (!asset) continue;
            auto gone = store_.supersede_from(*asset, c.command_type, schedule.index[0], now);
            cancelled.insert(cancelled.end(), gone.begin(), gone.end());
        }
    }
    result.cancelled.reserve(cancelled.size());
    for (Slot s : cancelled) result.cancelled.push_back(CommandId{store_.record(s).id});

    store_.reserve(result.commands.size());
    for (auto& c : app.columns_) c.asset = store_.intern_asset(c.asset_id);

    // The commands are counted, not yet made: a subscriber learns of the
    // schedule before its commands exist, and sees them come piece by piece.
    if (events_.has_subscribers(EventType::ScheduleReceived)) {
        Event e;
        e.type = EventType::ScheduleReceived;
        e.timestamp = now;
        e.schedule_id = result.schedule_id;
        e.command_count = result.commands.size();
        e.created_by_type = app.created_by_type_;
        e.cancelled_count = cancelled.size();
        e.ignored_columns = result.ignored_columns;
        events_.publish(e);
    }
    // The slots hold within this call (forget_finished_before() is refused
    // inside one), not across pieces: the result keeps ids.
    const std::string reason = "superseded by schedule " + result.schedule_id;
    for (Slot s : cancelled) publish(EventType::CommandCancelled, s, now, reason);
}

namespace {
// How many cells ahead apply_schedule_piece() fetches an asset's entry, and
// the ends of its lists.
constexpr std::size_t kAssetAhead = 24;
constexpr std::size_t kListsAhead = 8;
}  // namespace

bool DispatchEngine::apply_schedule_piece(ScheduleApplication& app, std::size_t max_commands) {
    const CallDepth call{call_depth_};
    if (app.finished_) return true;
    if (!app.schedule_) throw std::logic_error("apply_schedule_piece: not a prepared schedule");
    const TimePoint now = clock_();
    const bool first = app.serial_ == 0;
    if (first && applying_ != 0) {
        throw std::logic_error(
            "apply_schedule_piece: another schedule is being applied; one at a time");
    }
    if (!first && applying_ != app.serial_) {
        throw std::logic_error("apply_schedule_piece: this schedule is no longer being applied");
    }
    // A piece that fails half-way (the store full, memory exhausted) ends
    // the schedule there, so that the next one may go on.
    struct Abandon {
        std::uint64_t& applying;
        bool armed = true;
        ~Abandon() {
            if (armed) applying = 0;
        }
    } abandon{applying_};
    if (first) start_schedule(app, now);

    const Schedule& schedule = *app.schedule_;
    const std::size_t rows = schedule.rows();
    const std::size_t cols = app.columns_.size();
    const CommandStore::Limits lim = limits(std::nullopt, std::nullopt);
    max_commands = std::max<std::size_t>(1, max_commands);  // every piece makes progress
    const std::size_t max_cells = max_commands > SIZE_MAX / 8 ? SIZE_MAX : 8 * max_commands;
    std::size_t made = 0;
    std::size_t cells = 0;
    if (cols == 0) app.row_ = rows;
    while (app.row_ < rows) {
        // Ends only where every column's next row is still in the future.
        if ((made >= max_commands || cells >= max_cells) && schedule.index[app.row_] > now) break;
        ScheduleApplication::Column& c = app.columns_[app.column_];
        if (cols > kListsAhead) {
            // Row by row, each cell is another asset's: its lists are
            // fetched ahead, or the cache misses would dominate.
            std::size_t ahead = app.column_ + kAssetAhead;
            if (ahead >= cols) ahead -= cols;
            store_.prefetch_asset(app.columns_[ahead].asset);
            ahead = app.column_ + kListsAhead;
            if (ahead >= cols) ahead -= cols;
            store_.prefetch_lists(app.columns_[ahead].asset, app.columns_[ahead].command_type);
        }
        const double v = schedule.values[c.column * rows + app.row_];
        ++cells;
        if (!std::isnan(v)) {
            if (std::isnan(c.previous) || v != c.previous) {
                // +0.0 for -0.0, so a stopped charger never reads "-0 kW".
                const Slot s = store_.add_setpoint(c.asset, c.command_type,
                                                   schedule.index[app.row_], v + 0.0, lim);
                app.result_.commands[c.next_id++] = CommandId{store_.record(s).id};
                ++made;
            }
            c.previous = v;
        }
        if (++app.column_ == cols) {
            app.column_ = 0;
            ++app.row_;
        }
    }
    app.applied_ += made;
    if (app.row_ < rows) {
        abandon.armed = false;
        return false;
    }
    app.finished_ = true;
    return true;
}

CommandId DispatchEngine::add_command(const NewCommand& command) {
    const CallDepth call{call_depth_};
    if (command.asset_id.empty()) throw std::invalid_argument("command has no asset_id");
    const sdk::Parameters& p = command.parameters;
    const std::string_view type_name = sdk::to_string(command.command_type);
    if (needs_power(command.command_type) &&
        (!p.power_kw || !std::isfinite(*p.power_kw) || *p.power_kw < 0)) {
        throw std::invalid_argument(std::string(type_name) +
                                    " needs parameters.power_kw, a finite number >= 0");
    }
    if (command.command_type == CommandType::SetSocTarget &&
        (!p.soc_percent || !(*p.soc_percent >= 0 && *p.soc_percent <= 100))) {
        throw std::invalid_argument(
            "SET_SOC_TARGET needs parameters.soc_percent between 0 and 100");
    }
    if (command.command_type == CommandType::ChangeAvailability && !p.operative) {
        throw std::invalid_argument("CHANGE_AVAILABILITY needs parameters.operative");
    }
    if (p.connector_id && *p.connector_id < 0) {
        throw std::invalid_argument("parameters.connector_id must be >= 0");
    }
    const CommandStore::Limits lim = limits(command.max_retries, command.timeout_seconds);
    const AssetIndex asset = store_.intern_asset(command.asset_id);
    const Slot s = store_.add(asset, command.command_type, command.scheduled_at, p, lim);
    return CommandId{store_.record(s).id};
}

// ---------------------------------------------------------------- dispatch cycle

bool DispatchEngine::overtaken_by(Slot slot, TimePoint at, Slot* by) const {
    auto next = store_.next_in_lane(slot);
    if (!next || next->scheduled_at > at) return false;
    *by = next->slot;
    return true;
}

std::vector<CommandStore::LaneEntry> DispatchEngine::ready_at(TimePoint now) {
    std::vector<CommandStore::LaneEntry> ready;  // (scheduled_at, slot): sorts without the records
    for (Slot s : store_.due(now)) {
        const CommandRecord& r = store_.record(s);
        // Re-checked: a handler of an event published below may have moved it.
        if (r.status != CommandStatus::Pending || r.when > now) continue;
        Slot newer = 0;
        if (overtaken_by(s, now, &newer)) {
            cancel(s, now,
                   "stale: newer setpoint " + CommandId{store_.record(newer).id}.str() + " is due");
            continue;
        }
        ready.push_back({r.scheduled_at, s});
    }
    std::sort(ready.begin(), ready.end(), [](const auto& a, const auto& b) {
        return a.scheduled_at < b.scheduled_at ||
               (a.scheduled_at == b.scheduled_at && a.slot < b.slot);
    });
    return ready;
}

std::vector<sdk::Command> DispatchEngine::get_pending_commands(TimePoint now) {
    const CallDepth call{call_depth_};
    const auto ready = ready_at(now);
    std::vector<sdk::Command> out;
    out.reserve(ready.size());
    for (const auto& [at, s] : ready) {
        const CommandRecord& r = store_.record(s);
        if (r.status == CommandStatus::Pending && r.when <= now)
            out.push_back(store_.materialize(s));
    }
    return out;
}

std::size_t DispatchEngine::dispatch_due(TimePoint now, const Router& route) {
    const CallDepth call{call_depth_};
    std::size_t handed = 0;
    std::string refusal;
    for (const auto& [at, s] : ready_at(now)) {
        // Copied: a handler of an event published on the way may add
        // records, and a reference into the store would not survive that.
        const CommandRecord r = store_.record(s);
        if (r.status != CommandStatus::Pending || r.when > now) continue;
        refusal.clear();
        sdk::Adapter* adapter = route(r.asset, store_.asset_name(r.asset), r.type, refusal);
        if (!adapter) {
            fail(s, refusal, false, FailureKind::Error, clock_());
            continue;
        }
        dispatch_slot(s, *adapter);
        ++handed;
    }
    return handed;
}

bool DispatchEngine::dispatch_command(CommandId id, sdk::Adapter& adapter) {
    const CallDepth call{call_depth_};
    auto slot = store_.find(id);
    if (!slot) {
        log_(LogLevel::Warning, "dispatch of unknown command " + id.str() + " ignored");
        return false;
    }
    if (store_.record(*slot).status != CommandStatus::Pending) {
        log_(LogLevel::Warning, "dispatch of " + id.str() + " ignored: it is " +
                                    std::string(sdk::to_string(store_.record(*slot).status)));
        return false;
    }
    dispatch_slot(*slot, adapter);
    return true;
}

void DispatchEngine::dispatch_slot(Slot slot, sdk::Adapter& adapter) {
    const TimePoint now = clock_();
    store_.mark_dispatched(slot, now);
    const std::uint16_t attempt = store_.record(slot).retry_count;
    publish(EventType::CommandDispatched, slot, now);

    // A handler of COMMAND_DISPATCHED may already have settled this attempt.
    const CommandRecord& r = store_.record(slot);
    if (r.status != CommandStatus::Dispatched || r.retry_count != attempt) return;

    const sdk::Command command = store_.materialize(slot);
    const CommandId id = command.command_id;
    sdk::Completion done{[mailbox = mailbox_, id, attempt](sdk::CommandResult result) {
        Mailbox::deliver(mailbox, id, attempt, std::move(result));
    }};
    // The completion may run inside execute(): nothing below may rely on the record.
    executing_since_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    executing_id_.store(id.value(), std::memory_order_relaxed);
    executing_adapter_.store(&adapter, std::memory_order_release);
    adapter.execute(command, std::move(done));
    executing_adapter_.store(nullptr, std::memory_order_release);
}

std::optional<DispatchEngine::InExecute> DispatchEngine::in_execute() const noexcept {
    const sdk::Adapter* adapter = executing_adapter_.load(std::memory_order_acquire);
    if (!adapter) return std::nullopt;
    // The acquire makes the id and time of this call, or of a later one,
    // visible: never an older time, so a call is never reported as longer
    // than it was.
    return InExecute{
        adapter, CommandId{executing_id_.load(std::memory_order_relaxed)},
        TimePoint(TimePoint::duration(executing_since_.load(std::memory_order_relaxed)))};
}

void DispatchEngine::on_completion(CommandId id, std::uint16_t attempt, sdk::CommandResult result) {
    auto slot = store_.find(id);
    if (!slot) return;
    const CommandRecord& r = store_.record(*slot);
    if (r.status != CommandStatus::Dispatched || r.retry_count != attempt) {
        log_(LogLevel::Info, "response for " + id.str() + " (attempt " +
                                 std::to_string(attempt + 1) + ") ignored: the command is " +
                                 std::string(sdk::to_string(r.status)) +
                                 (r.status == CommandStatus::Dispatched
                                      ? " again (attempt " + std::to_string(r.retry_count + 1) + ")"
                                      : std::string()));
        return;
    }
    // Past the attempt's deadline the attempt has timed out, whether the
    // engine's timer or the adapter's own timeout (equal to the command's,
    // on another thread) gets here first: a retryable failure that comes
    // now is that timeout. A definite answer (success, or a failure that
    // cannot be helped) still speaks for itself.
    const CallDepth call{call_depth_};
    if (!result.success && result.retryable && clock_() >= r.deadline()) {
        fail(*slot, kTimeout, true, FailureKind::Timeout, clock_());
        return;
    }
    settle(*slot, result.success, result.error, result.retryable);
}

void DispatchEngine::handle_response(CommandId id, bool success, std::string_view error,
                                     bool retryable) {
    const CallDepth call{call_depth_};
    auto slot = store_.find(id);
    if (!slot) {
        log_(LogLevel::Warning, "response for unknown command " + id.str() + " ignored");
        return;
    }
    const CommandStatus status = store_.record(*slot).status;
    if (status != CommandStatus::Dispatched) {
        log_(LogLevel::Info, "response for " + id.str() + " ignored: the command is " +
                                 std::string(sdk::to_string(status)) + ", not DISPATCHED");
        return;
    }
    settle(*slot, success, error, retryable);
}

void DispatchEngine::handle_response(CommandId id, const sdk::CommandResult& result) {
    handle_response(id, result.success, result.error, result.retryable);
}

void DispatchEngine::settle(Slot slot, bool success, std::string_view error, bool retryable) {
    if (success) {
        complete(slot);
    } else {
        // An adapter's `timeout` (the device did not answer within the
        // adapter's own request timeout) is a timeout too: with no retries
        // left the command ends TIMED_OUT, whichever adapter drove it.
        fail(slot, error, retryable, error == kTimeout ? FailureKind::Timeout : FailureKind::Error,
             clock_());
    }
}

bool DispatchEngine::fail_command(CommandId id, std::string_view error, bool retryable) {
    const CallDepth call{call_depth_};
    auto slot = store_.find(id);
    if (!slot) return false;
    const CommandStatus status = store_.record(*slot).status;
    if (status != CommandStatus::Pending && status != CommandStatus::Dispatched) return false;
    fail(*slot, error, retryable, FailureKind::Error, clock_());
    return true;
}

bool DispatchEngine::cancel_command(CommandId id, std::string_view reason) {
    const CallDepth call{call_depth_};
    auto slot = store_.find(id);
    if (!slot || store_.record(*slot).status != CommandStatus::Pending) return false;
    cancel(*slot, clock_(), reason);
    return true;
}

std::size_t DispatchEngine::check_timeouts(TimePoint now) {
    const CallDepth call{call_depth_};
    std::size_t timed_out = 0;
    for (Slot s : store_.take_expired(now)) {
        const CommandRecord& r = store_.record(s);
        if (r.status != CommandStatus::Dispatched || r.deadline() > now) continue;
        fail(s, kTimeout, true, FailureKind::Timeout, now);
        ++timed_out;
    }
    return timed_out;
}

std::optional<TimePoint> DispatchEngine::next_wakeup() const {
    auto due = store_.next_due();
    auto deadline = store_.next_deadline();
    if (due && deadline) return std::min(*due, *deadline);
    return due ? due : deadline;
}

std::optional<TimePoint> DispatchEngine::next_due() const {
    return store_.next_due();
}

void DispatchEngine::complete(Slot slot) {
    const TimePoint now = clock_();
    store_.set_error(slot, {});  // an earlier attempt's error no longer describes the command
    store_.mark_finished(slot, CommandStatus::Completed, now);
    publish(EventType::CommandCompleted, slot, now);
}

TimePoint DispatchEngine::retry_time(const CommandRecord& r, TimePoint now) const {
    // retry_count retries were made so far: the next waits base * 2^retry_count.
    const double backoff =
        std::min(std::ldexp(options_.retry_backoff_seconds, std::min<int>(r.retry_count, 60)),
                 options_.max_retry_backoff_seconds);
    return now +
           std::chrono::duration_cast<sdk::Clock::duration>(std::chrono::duration<double>(backoff));
}

void DispatchEngine::fail(Slot slot, std::string_view error, bool retryable, FailureKind kind,
                          TimePoint now) {
    store_.set_error(slot, error);
    const CommandRecord& r = store_.record(slot);
    if (!retryable || r.retry_count >= r.max_retries) {
        const bool timed_out = kind == FailureKind::Timeout && retryable;
        store_.mark_finished(slot, timed_out ? CommandStatus::TimedOut : CommandStatus::Failed,
                             now);
        publish(timed_out ? EventType::CommandTimedOut : EventType::CommandFailed, slot, now, {},
                std::nullopt, true);
        return;
    }
    if (store_.superseded(slot)) {
        cancel(slot, now, "not retried: superseded by a newer schedule", true);
        return;
    }
    const TimePoint at = retry_time(r, now);
    Slot newer = 0;
    if (overtaken_by(slot, at, &newer)) {
        cancel(slot, now, "not retried: superseded by " + CommandId{store_.record(newer).id}.str(),
               true);
        return;
    }
    store_.mark_retry(slot, at);
    publish(EventType::CommandRetry, slot, now, {}, at, true);
}

void DispatchEngine::cancel(Slot slot, TimePoint now, std::string_view reason,
                            bool attempt_failed) {
    store_.mark_finished(slot, CommandStatus::Cancelled, now);
    publish(EventType::CommandCancelled, slot, now, reason, std::nullopt, attempt_failed);
}

void DispatchEngine::publish(EventType type, Slot slot, TimePoint at, std::string_view message,
                             std::optional<TimePoint> retry_at, bool attempt_failed) {
    if (!events_.has_subscribers(type)) return;
    sdk::Command c = store_.materialize(slot);
    Event e;
    e.type = type;
    e.timestamp = at;
    e.command_id = c.command_id;
    e.asset_id = std::move(c.asset_id);
    e.command_type = c.command_type;
    e.status = c.status;
    e.retry_count = c.retry_count;
    e.error = std::move(c.error);
    e.scheduled_at = c.scheduled_at;
    e.retry_at = retry_at;
    e.parameters = std::move(c.parameters);
    e.message = message;
    e.attempt_failed = attempt_failed;
    events_.publish(e);
}

// ---------------------------------------------------------------- lookups

std::optional<sdk::Command> DispatchEngine::get_command(CommandId id) const {
    auto slot = store_.find(id);
    if (!slot) return std::nullopt;
    return store_.materialize(*slot);
}

std::optional<sdk::Command> DispatchEngine::get_command(std::string_view id) const {
    auto parsed = CommandId::parse(id);
    if (!parsed) return std::nullopt;
    return get_command(*parsed);
}

std::vector<sdk::Command> DispatchEngine::get_commands_for_asset(std::string_view asset_id) const {
    return list_commands(asset_id, std::nullopt);
}

std::vector<sdk::Command> DispatchEngine::list_commands(std::optional<std::string_view> asset_id,
                                                        std::optional<CommandStatus> status,
                                                        std::size_t limit) const {
    std::vector<sdk::Command> out;
    auto take = [&](Slot s) {
        if (status && store_.record(s).status != *status) return true;
        if (out.size() >= limit) return false;
        out.push_back(store_.materialize(s));
        return true;
    };
    if (asset_id) {
        auto asset = store_.find_asset(*asset_id);
        if (!asset) return out;
        for (Slot s : store_.asset_commands(*asset)) {
            if (!take(s)) break;
        }
    } else if (status == CommandStatus::Pending || status == CommandStatus::Dispatched) {
        for (Slot s : store_.indexed(*status, limit)) take(s);
    } else {
        for (std::size_t s = 0; s < store_.size(); ++s) {
            if (!take(static_cast<Slot>(s))) break;
        }
    }
    return out;
}

DispatchEngine::CommandPage DispatchEngine::list_commands_page(
    std::optional<std::string_view> asset_id, std::optional<CommandStatus> status, ListCursor from,
    std::size_t max_commands, std::size_t max_visits) const {
    CommandPage page;
    if (from.position != 0 && from.generation != store_.generation()) {
        page.restarted = true;
        from.position = 0;
    }
    std::span<const Slot> slots;
    if (asset_id) {
        auto asset = store_.find_asset(*asset_id);
        if (!asset) return page;
        slots = store_.asset_commands(*asset);
    }
    const std::size_t end = asset_id ? slots.size() : store_.size();
    std::size_t pos = from.position;
    const std::size_t last = pos + std::max<std::size_t>(1, max_visits);
    max_commands = std::max<std::size_t>(1, max_commands);
    for (; pos < end && pos < last && page.commands.size() < max_commands; ++pos) {
        const Slot s = asset_id ? slots[pos] : static_cast<Slot>(pos);
        if (status && store_.record(s).status != *status) continue;
        page.commands.push_back(store_.materialize(s));
    }
    if (pos < end) page.next = ListCursor{pos, store_.generation()};
    return page;
}

std::size_t DispatchEngine::forget_finished_before(TimePoint cutoff) {
    if (call_depth_ > 0) {
        throw std::logic_error("forget_finished_before() cannot run inside another engine call");
    }
    return store_.forget_finished_before(cutoff);
}

CommandCounts DispatchEngine::counts() const noexcept {
    CommandCounts c{};
    for (std::size_t t = 0; t < sdk::kCommandTypeCount; ++t) {
        for (std::size_t s = 0; s < sdk::kCommandStatusCount; ++s) {
            c[t][s] = store_.count(static_cast<CommandType>(t), static_cast<CommandStatus>(s));
        }
    }
    return c;
}

}  // namespace gridgate::engine
