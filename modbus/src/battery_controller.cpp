#include "gridgate/modbus/battery_controller.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

namespace gridgate::modbus {

using Clock = std::chrono::steady_clock;

ControlResult ControlResult::from(const ModbusError& e) {
    std::string word;
    switch (e.kind) {
        case ErrorKind::exception:
            word = exception_title(e.exception_code);
            break;
        case ErrorKind::timeout:
            word = "timeout";
            break;
        case ErrorKind::not_connected:
        case ErrorKind::transport:
        case ErrorKind::shutdown:
            word = "not connected";  // the request did not get through
            break;
        case ErrorKind::bad_reply:
            word = "bad reply";  // the device answered, with something else
            break;
        case ErrorKind::verify_read_failed:
            // Not the bare exception: the write itself was taken.
            word = "verify: read back failed: " + exception_title(e.exception_code);
            break;
        case ErrorKind::invalid_request:
        case ErrorKind::verify_mismatch:
            word = e.message;  // ours to explain, not the device's word
            break;
    }
    return {false, e.retryable, std::move(word), e.message};
}

namespace {

constexpr std::size_t charge_side = 0;
constexpr std::size_t discharge_side = 1;

/// Setpoint commands of one slot waiting together for their write: one write
/// of the net value, planned when its turn on the connection comes, and its
/// outcome is every command's outcome.
struct SetpointBatch {
    struct Waiter {
        std::size_t side = charge_side;
        std::uint64_t seq = 0;  // the side's command number
        double kw = 0;
        ControlDone done;
    };
    std::optional<BatteryController::Slot> slot;
    std::vector<Waiter> waiters;
    /// A write nobody waits for (re-assert, refresh, SoC limit): what it is,
    /// for the notes on its limits and its failure.
    std::string background;
    std::optional<double> net;        // set once planned
    std::optional<double> direction;  // the direction value the plan writes
    std::string plan_error;
};

}  // namespace

struct BatteryController::State {
    std::shared_ptr<ModbusConnection> connection;
    BatteryControllerOptions options;
    BatteryControllerHandlers handlers;
    std::unique_ptr<Poller> poller;

    mutable std::mutex mutex;  // guards everything up to handler_mutex
    std::condition_variable wakeup;
    bool started = false;
    bool stopping = false;
    // The kept setpoint (ARCHITECTURE.md), per side (charge, discharge).
    // `latest` is what the newest accepted commands ask for and is planned
    // into every setpoint write; `settled` is what stands once their writes
    // are done: written, or failed in a way the device may have taken it
    // or never saw it (still the wish, written again on reconnect and
    // refresh). A command whose write the device refused (an exception
    // answer) puts its side back to `settled`, unless a newer command
    // changed it since.
    std::array<double, 2> latest{0, 0};
    std::array<double, 2> settled{0, 0};
    std::array<std::uint64_t, 2> seq{0, 0};
    /// The queued setpoint write that commands of its slot may still join.
    std::shared_ptr<SetpointBatch> open_batch;
    /// A slot's batch not yet queued: it gathers the slot's commands until
    /// `gather_until` (the timer thread then queues it). Its values are not
    /// in `latest` until then.
    std::shared_ptr<SetpointBatch> gathering;
    Clock::time_point gather_until{};
    bool commanded = false;             // some command's value stands
    std::optional<double> soc;          // the latest fresh reading, kept while stale
    std::optional<double> planned_net;  // last setpoint sent
    std::optional<double> written_net;  // last setpoint acknowledged
    /// direction_magnitude: the direction value the device holds, as far as
    /// we know: set by an acknowledged setpoint write, forgotten when one
    /// fails or the connection goes down or up (the device may have restarted).
    std::optional<double> written_direction;
    std::uint64_t beat = 0;
    int subscription = 0;
    std::thread timer;
    /// The idle write queued by begin_stop(), for finish_stop() to wait on.
    std::future<std::optional<ModbusError>> idle_done;
    bool finished = false;  // finish_stop() has run

    /// `latest` with the values of the commands still gathering.
    std::array<double, 2> wish() const {
        auto values = latest;
        if (gathering) {
            for (const auto& w : gathering->waiters) values[w.side] = w.kw;
        }
        return values;
    }

    std::mutex handler_mutex;  // serializes the handlers below
    bool handlers_off = false;
    std::string heartbeat_error;  // the last heartbeat failure noted; under handler_mutex

    void note(const std::string& text) {
        std::lock_guard lock(handler_mutex);
        if (!handlers_off && handlers.on_note) handlers.on_note(text);
    }
    /// A heartbeat's failure (nullopt: it succeeded). Noted when it differs
    /// from the last one noted, as a polled read's is: a device switched off
    /// for a day costs a few lines, not one per beat.
    void heartbeat_note(const std::optional<std::string>& failure) {
        std::lock_guard lock(handler_mutex);
        if (!failure) {
            heartbeat_error.clear();
            return;
        }
        if (*failure == heartbeat_error) return;
        heartbeat_error = *failure;
        if (!handlers_off && handlers.on_note) handlers.on_note("heartbeat failed: " + *failure);
    }
    void telemetry(const PointReading& reading) {
        std::lock_guard lock(handler_mutex);
        if (!handlers_off && handlers.on_telemetry) handlers.on_telemetry(reading);
    }

    // Connected (ARCHITECTURE.md): the TCP connection is up and this unit's
    // last request succeeded. Only this unit's requests decide it: a unit
    // behind a TCP gateway whose device is gone (exception 10 or 11) is not
    // connected however often the connection is re-opened, and a device that
    // accepts TCP but never answers does not come up with each reconnect.
    // Guarded by handler_mutex, which also orders the reports; `up` is what
    // was last reported, readable without the lock (a handler may ask).
    std::atomic<bool> up{false};
    /// The last heartbeat the device answered failed (refused, no answer,
    /// a bad reply): like a polled read that keeps failing, it keeps the
    /// unit down until a heartbeat succeeds.
    std::atomic<bool> heartbeat_failing{false};

    /// The outcome of one of this unit's requests. A request that never
    /// went out (the connection stopping, a request the client refuses)
    /// says nothing about the device. A success does not bring the unit up
    /// while one of its polled reads keeps failing (a SoC read answered with
    /// exception 4 every time): only that read succeeding again does.
    void answered(const std::optional<ModbusError>& error) {
        if (error &&
            (error->kind == ErrorKind::shutdown || error->kind == ErrorKind::invalid_request)) {
            return;
        }
        // A read-back that differs, or that the device refused, was still
        // answered: the device is there.
        const bool ok = (!error || error->kind == ErrorKind::verify_mismatch ||
                         error->kind == ErrorKind::verify_read_failed) &&
                        !poller->failing() && !heartbeat_failing.load(std::memory_order_acquire);
        std::lock_guard lock(handler_mutex);
        if (ok == up.load(std::memory_order_relaxed)) return;
        up.store(ok, std::memory_order_release);
        if (!handlers_off && handlers.on_connection) {
            handlers.on_connection(ok, ok      ? std::string()
                                       : error ? error->message
                                       : heartbeat_failing.load(std::memory_order_acquire)
                                           ? "the heartbeat keeps failing"
                                           : "a polled read keeps failing");
        }
    }

    /// A heartbeat's outcome. One the device failed (not one that never
    /// went out for want of a connection) keeps the unit down until a
    /// heartbeat succeeds, so a device that refuses every beat does not
    /// flap up and down with the polls that succeed in between.
    void heartbeat_answered(const std::optional<ModbusError>& error) {
        if (!error) {
            heartbeat_failing.store(false, std::memory_order_release);
        } else if (error->kind == ErrorKind::exception || error->kind == ErrorKind::timeout ||
                   error->kind == ErrorKind::bad_reply) {
            heartbeat_failing.store(true, std::memory_order_release);
        }
        answered(error);
    }

    std::vector<WriteRequest> requests(const std::vector<RegisterWrite>& writes) const {
        std::vector<WriteRequest> out;
        out.reserve(writes.size());
        for (const auto& w : writes) {
            out.push_back({options.unit, w.table, w.address, w.values, w.write_multiple});
        }
        return out;
    }
};

namespace {

using StatePtr = std::shared_ptr<BatteryController::State>;

std::string format_kw(double kw) {
    std::ostringstream out;
    out.precision(6);
    out << kw << " kW";
    return out.str();
}

/// Queues a setpoint batch's write, planned when its turn comes; called
/// with the state's mutex held. False when the connection refuses it.
bool queue_batch_locked(const StatePtr& s, const std::shared_ptr<SetpointBatch>& b);
/// Queues the batch gathering its slot's commands, if any (the state's mutex
/// held). Returns it when the connection refused it, for fail_refused()
/// to fail its commands once the mutex is let go.
std::shared_ptr<SetpointBatch> flush_gathering_locked(const StatePtr& s);
void fail_refused(const StatePtr& s, const std::shared_ptr<SetpointBatch>& b);

/// A setpoint write nobody waits for (re-assert, refresh, SoC limit), of
/// the kept setpoint once a command's value stands: a battery never
/// commanded (or whose commands all failed at the device) is left alone.
/// Planned, like a command's, when its turn on the connection comes.
void resend_setpoint(const StatePtr& s, const std::string& why) {
    bool queued = false;
    {
        std::lock_guard lock(s->mutex);
        // A slot gathering its commands writes the latest values soon anyway.
        if (s->stopping || !s->commanded || s->gathering) return;
        auto batch = std::make_shared<SetpointBatch>();
        batch->background = why;
        queued = queue_batch_locked(s, batch);
    }
    if (!queued) s->note(why + " failed: the connection is stopped or its queue is full");
}

void on_reading(const StatePtr& s, const PointReading& reading) {
    if (!reading.stale) s->answered(std::nullopt);  // a stale one is a clock's, not a request's
    if (reading.point == point_names::soc) {
        bool changed = false;
        {
            std::lock_guard lock(s->mutex);
            // A SoC gone stale, or read without a valid value (the map's
            // nan_value, or outside its min/max), keeps the limit it last
            // showed: a battery stopped at max_soc does not resume charging
            // because its SoC cannot be read.
            const bool fresh = !reading.stale && reading.value;
            if (fresh) s->soc = reading.value;
            if (fresh && s->commanded && !s->stopping) {
                auto plan =
                    plan_setpoint(s->options.map, s->options.limits,
                                  {s->latest[charge_side], s->latest[discharge_side], s->soc});
                changed = plan && s->planned_net && plan->net_kw != *s->planned_net;
            }
        }
        // Charging stops at max_soc (and discharging at min_soc) between
        // commands too, and resumes when the SoC allows it again.
        if (changed) resend_setpoint(s, "setpoint after a SoC change");
    }
    s->telemetry(reading);
}

void run_timer(const StatePtr& s) {
    const auto& refresh = s->options.refresh;
    const auto& heartbeat = s->options.map.heartbeat;
    auto next_refresh = Clock::now() + refresh.value_or(std::chrono::milliseconds(0));
    auto next_beat = Clock::now();
    std::unique_lock lock(s->mutex);
    while (!s->stopping) {
        const auto now = Clock::now();
        auto wake = Clock::time_point::max();
        if (s->gathering) {
            if (now >= s->gather_until) {
                auto refused = flush_gathering_locked(s);
                lock.unlock();
                fail_refused(s, refused);
                lock.lock();
                continue;
            }
            wake = std::min(wake, s->gather_until);
        }
        if (refresh) {
            if (now >= next_refresh) {
                next_refresh = now + *refresh;
                lock.unlock();
                resend_setpoint(s, "setpoint refresh");
                lock.lock();
                continue;
            }
            wake = std::min(wake, next_refresh);
        }
        if (heartbeat) {
            if (now >= next_beat) {
                next_beat = now + heartbeat->interval;
                auto write = plan_heartbeat(s->options.map, s->beat++);
                lock.unlock();
                if (!write) {
                    s->heartbeat_note(write.error());
                } else if (!s->connection->write({s->options.unit, write->table, write->address,
                                                  write->values, write->write_multiple},
                                                 [s](std::optional<ModbusError> e) {
                                                     s->heartbeat_answered(e);
                                                     s->heartbeat_note(e ? std::optional(e->message)
                                                                         : std::nullopt);
                                                 })) {
                    s->heartbeat_note("not sent, the connection is stopped or its queue is full");
                }
                lock.lock();
                continue;
            }
            wake = std::min(wake, next_beat);
        }
        s->wakeup.wait_until(lock, wake);
    }
}

}  // namespace

BatteryController::BatteryController(std::shared_ptr<ModbusConnection> connection,
                                     BatteryControllerOptions options,
                                     BatteryControllerHandlers handlers)
    : state_(std::make_shared<State>()) {
    state_->connection = std::move(connection);
    state_->options = std::move(options);
    state_->handlers = std::move(handlers);
    state_->options.poll.unit = state_->options.unit;
    std::weak_ptr<State> weak = state_;
    state_->poller = std::make_unique<Poller>(
        state_->connection, state_->options.map.points, state_->options.poll,
        PollerHandlers{[weak](const PointReading& r) {
                           if (auto s = weak.lock()) on_reading(s, r);
                       },
                       [weak](const ModbusError& e) {
                           if (auto s = weak.lock()) s->note("poll failed: " + e.message);
                       },
                       [weak](const ModbusError& e) {
                           if (auto s = weak.lock()) s->answered(e);
                       }});
}

BatteryController::~BatteryController() {
    stop();
}

void BatteryController::start() {
    {
        std::lock_guard lock(state_->mutex);
        if (state_->started || state_->stopping) return;
        state_->started = true;
    }
    std::weak_ptr<State> weak = state_;
    // Outside our mutex: the connection calls state handlers under its own lock.
    const int id = state_->connection->subscribe([weak](bool up) {
        auto s = weak.lock();
        if (!s) return;
        // The device may have restarted or dropped the value while we were
        // away: tell it again. A command that failed for `not connected`
        // still stands, so a device never reached before gets it now too.
        {
            std::lock_guard lock(s->mutex);
            s->written_direction.reset();
        }
        if (up) resend_setpoint(s, "setpoint re-assert after reconnect");
    });
    std::lock_guard lock(state_->mutex);
    state_->subscription = id;
    state_->poller->start();
    auto s = state_;
    state_->timer = std::thread([s] { run_timer(s); });
}

void BatteryController::stop() {
    begin_stop();
    finish_stop(Clock::now() + state_->options.shutdown_timeout);
}

void BatteryController::begin_stop() {
    auto& s = *state_;
    int subscription = 0;
    std::shared_ptr<SetpointBatch> refused;
    {
        std::lock_guard lock(s.mutex);
        if (s.stopping) return;
        s.stopping = true;
        subscription = s.subscription;
        // A slot still gathering goes out now, before the idle write.
        refused = flush_gathering_locked(state_);
    }
    fail_refused(state_, refused);
    s.wakeup.notify_all();
    if (s.timer.joinable()) s.timer.join();
    s.poller->stop();
    if (subscription != 0) s.connection->unsubscribe(subscription);

    if (s.options.on_shutdown != BatteryControllerOptions::OnShutdown::idle ||
        s.options.map.effective_pattern() == SetpointPattern::none) {
        return;
    }
    auto idle = plan_idle(s.options.map, s.options.limits);
    if (!idle) {
        s.note("idle on shutdown: " + idle.error());
        return;
    }
    auto promise = std::make_shared<std::promise<std::optional<ModbusError>>>();
    auto future = promise->get_future();
    if (!s.connection->write_sequence(
            s.requests(idle->writes),
            [promise](std::optional<ModbusError> e) { promise->set_value(std::move(e)); }, false)) {
        s.note("idle on shutdown: the connection is stopped");
        return;
    }
    std::lock_guard lock(s.mutex);
    s.idle_done = std::move(future);
}

void BatteryController::finish_stop(Clock::time_point deadline) {
    begin_stop();
    auto& s = *state_;
    std::future<std::optional<ModbusError>> idle_done;
    {
        std::lock_guard lock(s.mutex);
        if (s.finished) return;
        s.finished = true;
        idle_done = std::move(s.idle_done);
    }
    if (idle_done.valid()) {
        if (idle_done.wait_until(deadline) != std::future_status::ready) {
            s.note("idle on shutdown: no answer by the shutdown deadline");
        } else if (auto error = idle_done.get()) {
            s.note("idle on shutdown failed: " + error->message);
        }
    }
    std::lock_guard lock(s.handler_mutex);
    s.handlers_off = true;
}

namespace {

/// The writes of a batch whose turn has come: the latest kept values.
std::vector<WriteRequest> start_batch(const StatePtr& s, const std::shared_ptr<SetpointBatch>& b) {
    std::vector<std::string> notes;
    std::vector<WriteRequest> writes;
    {
        std::lock_guard lock(s->mutex);
        if (s->open_batch == b) s->open_batch.reset();  // on its way: nothing joins it now
        auto plan = plan_setpoint(
            s->options.map, s->options.limits,
            {s->latest[charge_side], s->latest[discharge_side], s->soc, s->written_direction});
        if (!plan) {
            b->plan_error = plan.error();
            if (!b->background.empty()) notes.push_back(b->background + " failed: " + plan.error());
        } else {
            b->net = plan->net_kw;
            b->direction = plan->direction;
            s->planned_net = plan->net_kw;
            // A command's limits were noted when it came; a background write
            // notes its own (charging stopped at max_soc, say).
            if (!b->background.empty()) notes = std::move(plan->adjustments);
            writes = s->requests(plan->writes);
            // Unknown until acknowledged: a write that fails half-way may
            // have left either direction.
            s->written_direction.reset();
        }
    }
    for (const auto& n : notes) s->note(n);
    return writes;
}

void finish_batch(const StatePtr& s, const std::shared_ptr<SetpointBatch>& b,
                  std::optional<ModbusError> error) {
    if (b->net || error) s->answered(error);
    ControlResult result = ControlResult::success();
    if (error) {
        result = ControlResult::from(*error);
    } else if (!b->plan_error.empty()) {
        result = ControlResult::failure(b->plan_error, false);
    }
    {
        std::lock_guard lock(s->mutex);
        if (s->open_batch == b) s->open_batch.reset();  // failed before its turn
        // Only a device that refused the write (an exception answer to it)
        // or a write we could not make puts the value back: after any other
        // failure the device may have taken it (no answer in time, a
        // read-back that differs or failed) or never saw it (`not
        // connected`, `bad reply`), and the value stands as the wish that
        // the next write (a sibling command, refresh, re-assert) sends,
        // not the older one.
        const bool stands =
            error ? error->kind != ErrorKind::exception && error->kind != ErrorKind::invalid_request
                  : result.ok;
        for (const auto& w : b->waiters) {
            if (stands) {
                s->settled[w.side] = w.kw;
                s->commanded = true;
            } else if (s->seq[w.side] == w.seq) {
                s->latest[w.side] = s->settled[w.side];
            }
        }
        if (result.ok && b->net) {
            s->written_net = *b->net;
            s->written_direction = b->direction;
        } else {
            s->planned_net.reset();  // unknown: the next chance re-sends it
        }
    }
    for (const auto& w : b->waiters) {
        if (w.done) w.done(result);
    }
    if (!b->background.empty() && error) s->note(b->background + " failed: " + result.error);
}

bool queue_batch_locked(const StatePtr& s, const std::shared_ptr<SetpointBatch>& b) {
    return s->connection->write_planned(
        s->options.unit, [s, b] { return start_batch(s, b); },
        [s, b](std::optional<ModbusError> e) { finish_batch(s, b, e); }, s->options.verify);
}

ControlResult refused_result(const StatePtr& s) {
    return ControlResult::failure(
        "not connected", true,
        s->connection->endpoint().str() + ": the connection is stopped or its queue is full");
}

std::shared_ptr<SetpointBatch> flush_gathering_locked(const StatePtr& s) {
    auto b = std::move(s->gathering);
    s->gathering.reset();
    if (!b) return nullptr;
    // Its values become the wish only now, all at once: nothing planned
    // while it gathered (an older write, a refresh) saw half of them.
    for (const auto& w : b->waiters) s->latest[w.side] = w.kw;
    if (queue_batch_locked(s, b)) return nullptr;
    if (s->open_batch == b) s->open_batch.reset();
    for (const auto& w : b->waiters) {
        if (s->seq[w.side] == w.seq) s->latest[w.side] = s->settled[w.side];
    }
    return b;
}

void fail_refused(const StatePtr& s, const std::shared_ptr<SetpointBatch>& b) {
    if (!b) return;
    const auto result = refused_result(s);
    for (const auto& w : b->waiters) {
        if (w.done) w.done(result);
    }
}

// Records one side of the battery's setpoint and writes the combined value:
// the adapter keeps both sides, so their order within a slot does not matter,
// and the commands of one slot waiting together share one write. A slot's
// first command gathers its sibling for options.slot_window before its
// write is queued (the engine hands them over one right after the other).
void set_side(const StatePtr& s, std::size_t side, const char* what, double kw,
              std::optional<BatteryController::Slot> slot, ControlDone done) {
    std::vector<std::string> notes;
    std::optional<ControlResult> immediate;
    std::shared_ptr<SetpointBatch> refused;
    bool gathering = false;
    {
        std::lock_guard lock(s->mutex);
        Expected<SetpointPlan> plan = Expected<SetpointPlan>::failure("not planned");
        if (s->stopping) {
            immediate = ControlResult::failure("not connected", true, "battery controller stopped");
        } else if (!(kw >= 0)) {
            immediate = ControlResult::failure(
                std::string(what) + " power " + format_kw(kw) + " is negative", false);
        } else {
            auto wish = s->wish();
            wish[side] = kw;
            plan = plan_setpoint(s->options.map, s->options.limits, {wish[0], wish[1], s->soc});
            if (!plan) {
                // A value the map cannot hold fails at once and alone: the
                // kept values stay as they were, and a command of the same
                // slot is not taken down with it.
                immediate = ControlResult::failure(plan.error(), false);
            }
        }
        if (!immediate) {
            notes = std::move(plan->adjustments);
            s->planned_net = plan->net_kw;  // on its way: no SoC re-plan needed
            SetpointBatch::Waiter waiter{side, ++s->seq[side], kw, std::move(done)};
            if (slot && s->open_batch && s->open_batch->slot == slot) {
                // A gathering batch takes the value when it is queued; a
                // queued one plans `latest` when its turn comes.
                if (s->open_batch != s->gathering) s->latest[side] = kw;
                s->open_batch->waiters.push_back(std::move(waiter));
                // A slot has one charge and one discharge command: with both
                // in, there is nothing left to wait for.
                if (s->open_batch == s->gathering) {
                    bool sides[2] = {false, false};
                    for (const auto& w : s->gathering->waiters) sides[w.side] = true;
                    if (sides[0] && sides[1]) refused = flush_gathering_locked(s);
                }
            } else {
                // Whatever gathers for another slot goes first, in order.
                refused = flush_gathering_locked(s);
                auto batch = std::make_shared<SetpointBatch>();
                batch->slot = slot;
                batch->waiters.push_back(std::move(waiter));
                if (slot && s->started && s->options.slot_window.count() > 0) {
                    s->gathering = batch;
                    s->gather_until = Clock::now() + s->options.slot_window;
                    s->open_batch = std::move(batch);
                    gathering = true;
                } else {
                    s->latest[side] = kw;
                    if (queue_batch_locked(s, batch)) {
                        s->open_batch = std::move(batch);
                    } else {
                        s->latest[side] = s->settled[side];
                        done = std::move(batch->waiters.front().done);
                        immediate = refused_result(s);
                    }
                }
            }
        }
    }
    if (gathering) s->wakeup.notify_all();
    fail_refused(s, refused);
    for (const auto& n : notes) s->note(n);
    if (immediate && done) done(std::move(*immediate));
}
}  // namespace

void BatteryController::set_charge(double kw, ControlDone done, std::optional<Slot> slot) {
    set_side(state_, charge_side, "charge", kw, slot, std::move(done));
}

void BatteryController::set_discharge(double kw, ControlDone done, std::optional<Slot> slot) {
    set_side(state_, discharge_side, "discharge", kw, slot, std::move(done));
}

namespace {
void send_write(const StatePtr& s, Expected<RegisterWrite> write, ControlDone done) {
    std::shared_ptr<SetpointBatch> refused;
    {
        // In the order the requests were made: a slot gathering goes first.
        std::lock_guard lock(s->mutex);
        refused = flush_gathering_locked(s);
    }
    fail_refused(s, refused);
    if (!write) {
        if (done) done(ControlResult::failure(write.error(), false));
        return;
    }
    const bool queued = s->connection->write_sequence(
        s->requests({*write}),
        [s, done](std::optional<ModbusError> e) {
            s->answered(e);
            if (done) done(e ? ControlResult::from(*e) : ControlResult::success());
        },
        s->options.verify);
    if (!queued && done) {
        done(ControlResult::failure(
            "not connected", true,
            s->connection->endpoint().str() + ": the connection is stopped or its queue is full"));
    }
}
}  // namespace

void BatteryController::set_power_limit(double kw, ControlDone done) {
    send_write(state_, plan_power_limit(state_->options.map, state_->options.limits, kw),
               std::move(done));
}

void BatteryController::write_point(const std::string& point, double value, ControlDone done) {
    send_write(state_, plan_point_write(state_->options.map, point, value), std::move(done));
}

std::optional<double> BatteryController::written_net_kw() const {
    std::lock_guard lock(state_->mutex);
    return state_->written_net;
}

std::optional<double> BatteryController::soc() const {
    std::lock_guard lock(state_->mutex);
    return state_->soc;
}

bool BatteryController::connected() const {
    return state_->up.load(std::memory_order_acquire);
}

}  // namespace gridgate::modbus
