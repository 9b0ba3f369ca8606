#include "ocpp16_adapter.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <utility>

#include <boost/asio/post.hpp>

namespace gridgate::ocpp16 {

namespace {

using namespace std::chrono_literals;

// How long a charger that has just connected may take to send its first
// message (a BootNotification if it powered up) before its setpoints are
// sent anyway. Booting chargers send it within milliseconds; a charger back
// from a network drop may say nothing until its next heartbeat.
constexpr auto kGreetingWait = 3s;

std::chrono::milliseconds millis(double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

// When the engine gives up on `command`: its own timeout, counted from its
// dispatch (now).
ocpp::CallDeadline deadline_of(const sdk::Command& command) {
    return std::chrono::steady_clock::now() + millis(command.timeout_seconds);
}

ocpp::Timestamp now_ms() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
}

// The command's result from the call's outcome. Failures the charger will
// repeat (it does not support the call, the payload is wrong) end at once;
// the rest may go better on a later try.
sdk::CommandResult result_of(const ocpp::CallOutcome& outcome, std::string_view also_success) {
    using Kind = ocpp::CallOutcome::Kind;
    switch (outcome.kind) {
        case Kind::Result: {
            const auto& p = outcome.payload;
            std::string status;
            if (p.IsObject() && p.HasMember("status") && p["status"].IsString())
                status = p["status"].GetString();
            if (status == "Accepted" || (!also_success.empty() && status == also_success))
                return sdk::CommandResult::ok();
            // NotSupported will not change. Rejected often does: chargers
            // refuse profiles while a connector changes state or just after a
            // reboot, so the engine retries it after its backoff.
            if (status.empty())
                return sdk::CommandResult::failure("no status in the answer", false);
            return sdk::CommandResult::failure(status, status != "NotSupported");
        }
        case Kind::CallError: {
            const bool unsupported =
                outcome.error_code == "NotSupported" || outcome.error_code == "NotImplemented";
            return sdk::CommandResult::failure(outcome.reason(), !unsupported);
        }
        case Kind::InvalidRequest:  // ours: sending it again cannot help
            return sdk::CommandResult::failure(outcome.reason(), false);
        case Kind::InvalidResponse:  // the charger's glitch, which may pass
            return sdk::CommandResult::failure(outcome.reason(), true);
        case Kind::Timeout:
        case Kind::NotConnected:
        case Kind::Disconnected:
        case Kind::QueueFull:
            return sdk::CommandResult::failure(outcome.reason(), true);
    }
    return sdk::CommandResult::failure(outcome.reason(), true);
}

}  // namespace

// Forwards charge points' calls to the Core handlers, noting each message
// as a sign of life, and connection changes to the adapter.
class Ocpp16Adapter::Handler final : public ocpp::CallHandler {
  public:
    Handler(Ocpp16Adapter& adapter, std::shared_ptr<ocpp::CentralSystemCore> core)
        : adapter_(adapter), core_(std::move(core)) {}

    std::optional<ocpp::HandlerError> on_call(std::string_view identity, std::string_view action,
                                              const rapidjson::Value& payload,
                                              rapidjson::Document& response) override {
        const bool first = adapter_.on_message(identity);
        auto refusal = core_->on_call(identity, action, payload, response);
        // The answer is made and the core's state is the message's: calls
        // sent from here name what it started and go out after the answer.
        adapter_.after_message(identity, first && action != "BootNotification");
        return refusal;
    }
    void on_connected(std::string_view identity) override { adapter_.on_connected(identity); }
    void on_disconnected(std::string_view identity, std::string_view reason) override {
        adapter_.on_disconnected(identity, reason);
    }

  private:
    Ocpp16Adapter& adapter_;
    std::shared_ptr<ocpp::CentralSystemCore> core_;
};

Ocpp16Adapter::Ocpp16Adapter(sdk::HostContext& host, Settings settings)
    : host_(host), settings_(std::move(settings)) {
    // Each run by one thread, so each may skip locking for the work its own
    // thread posts (most of a storm's).
    for (int i = 0; i < settings_.listener.io_threads; ++i)
        io_.push_back(std::make_unique<boost::asio::io_context>(1));
    for (const auto& c : settings_.chargers) {
        auto charger = std::make_unique<Charger>();
        charger->settings = c;
        charger->greeting_timer = std::make_unique<boost::asio::steady_timer>(*io_.front());
        by_asset_[c.asset_id] = charger.get();
        by_identity_[c.charge_point_id] = charger.get();
        chargers_.push_back(std::move(charger));
    }
    const auto& l = settings_.listener;
    ocpp::CoreOptions core;
    core.heartbeat_interval = std::chrono::seconds(l.heartbeat_interval_seconds);
    core.accept_all_id_tags = l.accept_all_id_tags;
    core.accepted_id_tags = l.id_tags;
    core.log = [this](ocpp::LogLevel level, std::string_view message) {
        log_from_library(level, message);
    };
    // Transaction ids from the clock, so a restarted gateway does not hand
    // out ids a charger still holds.
    core.first_transaction_id =
        static_cast<std::int32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count() %
                                  1'000'000'000);
    ocpp::CoreObservers observers;
    observers.on_boot = [this](std::string_view identity, const ocpp::BootNotificationRequest&) {
        on_boot(identity);
    };
    observers.on_telemetry = [this](std::string_view identity,
                                    const std::vector<ocpp::TelemetrySample>& samples) {
        on_telemetry(identity, samples);
    };
    observers.on_transaction = [this](std::string_view identity, const ocpp::TransactionEvent& e) {
        // Connector 0 on a stop: the core knew no connector running it (a
        // transaction already ended by its connector's Available, or unknown).
        const std::string where = e.connector_id != 0 || e.started
                                      ? " on connector " + std::to_string(e.connector_id)
                                      : ", which was not running (already ended, or unknown)";
        log(sdk::LogLevel::Info, std::string(identity) + ": transaction " +
                                     std::to_string(e.transaction_id) +
                                     (e.started ? " started" : " stopped") + where);
        if (e.started) on_transaction_started(identity, e.connector_id);
    };
    core_ = std::make_shared<ocpp::CentralSystemCore>(std::move(core), std::move(observers));
    for (auto& charger : chargers_)
        charger->in_core = core_->find_or_add(charger->settings.charge_point_id);
}

Ocpp16Adapter::~Ocpp16Adapter() {
    stop();
}

void Ocpp16Adapter::log(sdk::LogLevel level, const std::string& text) noexcept {
    host_.log(level, text);
}

void Ocpp16Adapter::log_from_library(ocpp::LogLevel level, std::string_view message) {
    const auto to = level == ocpp::LogLevel::Debug     ? sdk::LogLevel::Debug
                    : level == ocpp::LogLevel::Info    ? sdk::LogLevel::Info
                    : level == ocpp::LogLevel::Warning ? sdk::LogLevel::Warn
                                                       : sdk::LogLevel::Error;
    if (host_.enabled(to)) host_.log(to, message);
}

Ocpp16Adapter::Charger* Ocpp16Adapter::find_asset(std::string_view asset_id) const noexcept {
    auto it = by_asset_.find(asset_id);
    return it == by_asset_.end() ? nullptr : it->second;
}

Ocpp16Adapter::Charger* Ocpp16Adapter::find_identity(std::string_view identity) const noexcept {
    auto it = by_identity_.find(identity);
    return it == by_identity_.end() ? nullptr : it->second;
}

ocpp::HandshakeDecision Ocpp16Adapter::authorize(const ocpp::HandshakeRequest& request) const {
    const Charger* charger = find_identity(request.identity);
    if (!charger) return ocpp::HandshakeDecision::NotFound;
    if (settings_.listener.security_profile >= 1) {
        // User name = identity, and the password compared in constant time.
        if (!charger->settings.password ||
            !ocpp::credentials_match(request.credentials, request.identity,
                                     *charger->settings.password))
            return ocpp::HandshakeDecision::Unauthorized;
    }
    return ocpp::HandshakeDecision::Accept;
}

sdk::Status Ocpp16Adapter::start() noexcept {
    return sdk::guarded("ocpp16: start", [&]() -> sdk::Status {
        std::lock_guard lock(lifecycle_);
        if (started_) return sdk::Status::failure("ocpp16: started twice");
        const auto& l = settings_.listener;
        ocpp::CentralSystemOptions options;
        options.listen_address = l.host;
        options.port = l.port;
        options.path = l.path;
        options.security_profile = static_cast<ocpp::SecurityProfile>(l.security_profile);
        options.tls_certificate = l.tls_certificate;
        options.tls_private_key = l.tls_private_key;
        options.ping_interval = millis(l.ping_interval_seconds);
        options.default_call_timeout = millis(l.call_timeout_seconds);
        options.max_frame_bytes = l.max_frame_bytes;
        options.log = [this](ocpp::LogLevel level, std::string_view message) {
            log_from_library(level, message);
        };
        std::vector<boost::asio::io_context*> contexts;
        for (auto& io : io_) contexts.push_back(io.get());
        server_ = std::make_unique<ocpp::CentralSystem>(
            std::move(contexts), std::move(options),
            [this](const ocpp::HandshakeRequest& r) { return authorize(r); },
            std::make_shared<Handler>(*this, core_));
        for (auto& charger : chargers_)
            charger->link = server_->handle(charger->settings.charge_point_id);
        try {
            server_->start();
        } catch (const std::exception& e) {
            server_.reset();
            // The library's message names the address already.
            return sdk::Status::failure(std::string("ocpp16: ") + e.what());
        }
        // One thread by default: a storm to thousands of chargers is mostly
        // syscalls, and a second thread on a small machine mostly adds
        // wake-ups and contention with the gateway's own threads.
        for (auto& io : io_) {
            work_.push_back(boost::asio::make_work_guard(*io));
            threads_.emplace_back([context = io.get()] {
                // Named for `top -H` and the benchmarks' per-thread figures.
                pthread_setname_np(pthread_self(), "ocpp16-io");
                context->run();
            });
        }
        started_ = true;
        running_.store(true, std::memory_order_release);
        log(sdk::LogLevel::Info, std::string("OCPP 1.6-J central system listening on ") +
                                     (l.security_profile == 2 ? "wss://" : "ws://") +
                                     sdk::ListenAddress{l.host, server_->port()}.str() + l.path +
                                     "/<charge_point_id>, security profile " +
                                     std::to_string(l.security_profile));
        return sdk::Status::ok();
    });
}

void Ocpp16Adapter::stop() noexcept {
    std::lock_guard lock(lifecycle_);
    if (stopped_) return;
    stopped_ = true;
    running_.store(false, std::memory_order_release);
    if (!started_) return;
    try {
        server_->stop();
    } catch (const std::exception& e) {
        log(sdk::LogLevel::Warn, std::string("ocpp16: stopping the server: ") + e.what());
    }
    // Greeting timers must not hold the I/O threads; running_ is false, so
    // none is armed after these run.
    for (auto& charger : chargers_)
        boost::asio::post(*io_.front(),
                          [timer = charger->greeting_timer.get()] { timer->cancel(); });
    work_.clear();
    // The closes normally finish quickly; a peer that never answers its close
    // must not hold the gateway's shutdown.
    auto all_stopped = [this] {
        return std::all_of(io_.begin(), io_.end(), [](const auto& io) { return io->stopped(); });
    };
    std::thread watchdog([&] {
        for (int i = 0; i < 300 && !all_stopped(); ++i) std::this_thread::sleep_for(10ms);
        for (auto& io : io_) io->stop();
    });
    for (auto& t : threads_) t.join();
    threads_.clear();
    for (auto& io : io_) io->stop();
    watchdog.join();
    decltype(pending_) left;
    {
        std::lock_guard pending_lock(pending_mutex_);
        left.swap(pending_);
        free_pending_.clear();
    }
    for (auto& entry : left) {
        if (entry.pending)
            entry.pending->done(
                sdk::CommandResult::failure("adapter stopped before the charger answered", true));
    }
    // server_ stays until destruction: a racing execute() may still call it.
}

bool Ocpp16Adapter::supports(std::string_view asset_id, sdk::CommandType type) const noexcept {
    if (!find_asset(asset_id)) return false;
    return type != sdk::CommandType::SetDischargeRate && type != sdk::CommandType::SetSocTarget;
}

sdk::AssetState Ocpp16Adapter::state(std::string_view asset_id) const noexcept {
    sdk::AssetState out;
    const Charger* charger = find_asset(asset_id);
    if (!charger) return out;
    try {
        std::lock_guard lock(charger->mutex);
        out.connected = charger->connected;
        out.last_seen = charger->last_seen.get();
        for (const auto& [name, value] : charger->telemetry)
            out.telemetry.push_back({name, value, !charger->connected});
    } catch (...) {
    }
    return out;
}

template <class Request>
void Ocpp16Adapter::send(Charger& charger, const sdk::Command& command, const Request& request,
                         sdk::Completion done, std::string_view also_success) {
    // The completion lives in pending_ only: whoever takes it out (the
    // answer, or stop()) calls it, so it runs exactly once.
    const std::uint64_t id = put_pending({std::move(done), also_success, &charger});
    send_pending(charger, id, request, deadline_of(command));
}

template <class Request>
void Ocpp16Adapter::send_pending(Charger& charger, std::uint64_t id, const Request& request,
                                 ocpp::CallDeadline deadline) {
    if (!running_.load(std::memory_order_acquire)) {
        // stop() began after execute()'s check; it may have taken this one.
        if (auto mine = take_pending(id))
            mine->done(sdk::CommandResult::failure("ocpp16: adapter is not running", true));
        return;
    }
    server_->call(charger.link, request, complete_with_answer(id),
                  // The charger's time to answer, counted from when the call goes
                  // on the wire (it may wait behind the charger's previous call)...
                  millis(settings_.listener.call_timeout_seconds),
                  // ...and the command's own timeout, which the engine counts from
                  // its dispatch: a call still queued then is never sent (the engine
                  // has given up on it and may have sent its retry), and one in
                  // flight ends then, as a later answer would be ignored.
                  deadline);
}

ocpp::CallCallback Ocpp16Adapter::complete_with_answer(std::uint64_t id) {
    // Two words: the callback keeps them in place, with no allocation.
    return [this, id](ocpp::CallOutcome outcome) {
        auto mine = take_pending(id);
        if (!mine) return;  // stop() failed it
        // An answer is a sign of life as much as a call from the charger.
        using Kind = ocpp::CallOutcome::Kind;
        if (outcome.kind == Kind::Result || outcome.kind == Kind::CallError)
            note_seen(*mine->charger);
        mine->done(result_of(outcome, mine->also_success));
    };
}

void Ocpp16Adapter::complete_pending(std::uint64_t id, sdk::CommandResult result) {
    if (auto mine = take_pending(id)) mine->done(std::move(result));
}

std::uint64_t Ocpp16Adapter::put_pending(Pending pending) {
    std::lock_guard lock(pending_mutex_);
    std::uint32_t index = 0;
    if (free_pending_.empty()) {
        index = static_cast<std::uint32_t>(pending_.size());
        pending_.emplace_back();
    } else {
        index = free_pending_.back();
        free_pending_.pop_back();
    }
    PendingEntry& entry = pending_[index];
    entry.pending.emplace(std::move(pending));
    return (std::uint64_t{entry.use} << 32) | index;
}

std::optional<Ocpp16Adapter::Pending> Ocpp16Adapter::take_pending(std::uint64_t id) {
    const auto index = static_cast<std::uint32_t>(id);
    std::lock_guard lock(pending_mutex_);
    if (index >= pending_.size()) return std::nullopt;
    PendingEntry& entry = pending_[index];
    if (!entry.pending || entry.use != static_cast<std::uint32_t>(id >> 32)) return std::nullopt;
    std::optional<Pending> taken(std::move(entry.pending));
    entry.pending.reset();
    ++entry.use;
    free_pending_.push_back(index);
    return taken;
}

ocpp::ChargingRateUnit Ocpp16Adapter::unit_of(const Charger& charger) const {
    std::lock_guard lock(charger.mutex);
    return resolve_unit(charger.settings.profile.charging_rate_unit, charger.reported_unit);
}

ocpp::SetChargingProfileRequest Ocpp16Adapter::charge_rate_request(const Charger& charger,
                                                                   double kw) const {
    const auto& p = charger.settings.profile;
    return charge_rate_profile(kw, p, unit_of(charger),
                               core_->running_transaction(charger.in_core, p.connector_id),
                               now_ms());
}

ocpp::SetChargingProfileRequest Ocpp16Adapter::setpoint_request(const Charger& charger,
                                                                bool charge_rate, double kw) const {
    return charge_rate
               ? charge_rate_request(charger, kw)
               : power_limit_profile(kw, charger.settings.profile, unit_of(charger), now_ms());
}

void Ocpp16Adapter::send_held(Charger& charger, const HeldSetpoint& held) {
    ocpp::SetChargingProfileRequest request;
    try {
        request = setpoint_request(charger, held.charge_rate, held.kw);
    } catch (const std::invalid_argument& e) {
        complete_pending(held.pending, sdk::CommandResult::failure(e.what(), false));
        return;
    }
    send_setpoint(charger, held, request);
}

void Ocpp16Adapter::send_setpoint(Charger& charger, const HeldSetpoint& setpoint,
                                  const ocpp::SetChargingProfileRequest& request) {
    if (request.cs_charging_profiles.charging_profile_purpose !=
        ocpp::ChargingProfilePurpose::TxProfile)
        return send_pending(charger, setpoint.pending, request, setpoint.deadline);
    if (!running_.load(std::memory_order_acquire)) {
        complete_pending(setpoint.pending,
                         sdk::CommandResult::failure("ocpp16: adapter is not running", true));
        return;
    }
    // A retry of the same TxProfile would be rejected the same way.
    send_tx_profile(charger, request, setpoint.kw, complete_with_answer(setpoint.pending),
                    millis(settings_.listener.call_timeout_seconds), setpoint.deadline);
}

// The transaction STOP_CHARGING ends: the one on the connector the command
// names; without one, the one on the asset's connector, or else the
// charger's only running transaction (a car plugged into another
// connector). Several and none named: the caller must choose.
std::optional<std::int32_t> Ocpp16Adapter::transaction_to_stop(const Charger& charger,
                                                               std::optional<int> named,
                                                               std::string& why) const {
    const auto running = core_->running_transactions(charger.in_core);
    auto on = [&](std::int32_t connector) -> std::optional<std::int32_t> {
        for (const auto& [c, tx] : running)
            if (c == connector) return tx;
        return std::nullopt;
    };
    if (named) {
        if (auto tx = on(*named)) return tx;
        why = "no transaction running on connector " + std::to_string(*named);
        return std::nullopt;
    }
    const auto own = charger.settings.profile.connector_id;
    if (auto tx = on(own)) return tx;
    if (running.size() == 1) return running.front().second;
    if (running.empty()) {
        why = "no transaction running on the charger";
        return std::nullopt;
    }
    why = "no transaction on connector " + std::to_string(own) + ", and transactions run on " +
          "connectors";
    for (std::size_t i = 0; i < running.size(); ++i)
        why += (i == 0                    ? " "
                : i + 1 == running.size() ? " and "
                                          : ", ") +
               std::to_string(running[i].first);
    why += ": name one with parameters.connector_id";
    return std::nullopt;
}

void Ocpp16Adapter::execute(const sdk::Command& command, sdk::Completion done) noexcept {
    sdk::guarded_execute(done, [&] {
        Charger* charger = find_asset(command.asset_id);
        if (!charger) {
            done(sdk::CommandResult::failure("ocpp16: no charger '" + command.asset_id + "'",
                                             false));
            return;
        }
        if (!running_.load(std::memory_order_acquire)) {
            done(sdk::CommandResult::failure("ocpp16: adapter is not running", true));
            return;
        }
        const auto& s = charger->settings;
        const auto& params = command.parameters;
        using Type = sdk::CommandType;
        switch (command.command_type) {
            case Type::SetChargeRate:
            case Type::SetPowerLimit: {
                if (!params.power_kw) {
                    done(sdk::CommandResult::failure("power_kw is required", false));
                    return;
                }
                const double kw = *params.power_kw;
                const bool charge_rate = command.command_type == Type::SetChargeRate;
                std::lock_guard order(charger->send_order);  // see send_setpoints
                ocpp::SetChargingProfileRequest request;
                try {
                    request = setpoint_request(*charger, charge_rate, kw);
                } catch (const std::invalid_argument& e) {
                    done(sdk::CommandResult::failure(e.what(), false));
                    return;
                }
                const HeldSetpoint setpoint{charge_rate, kw,
                                            put_pending({std::move(done), {}, charger}),
                                            deadline_of(command)};
                bool held = false;
                {
                    std::lock_guard lock(charger->mutex);
                    (charge_rate ? charger->charge_rate_kw : charger->power_limit_kw) = kw;
                    // The unit is being asked: built again with the answer.
                    if ((held = charger->unit_query_in_flight)) charger->held.push_back(setpoint);
                }
                if (!held) send_setpoint(*charger, setpoint, request);
                return;
            }
            case Type::StartCharging: {
                ocpp::RemoteStartTransactionRequest request;
                request.connector_id = params.connector_id.value_or(s.profile.connector_id);
                request.id_tag = params.id_tag.empty() ? s.id_tag : params.id_tag;
                send(*charger, command, request, std::move(done));
                return;
            }
            case Type::StopCharging: {
                // Offline, what the adapter knows of its transactions may be
                // stale or gone (a gateway restart): the charger's absence is
                // the reason, as for every other command.
                if (!server_->is_connected(s.charge_point_id)) {
                    done(sdk::CommandResult::failure(std::string(ocpp::kNotConnected), true));
                    return;
                }
                std::string why;
                const auto tx = transaction_to_stop(*charger, params.connector_id, why);
                if (!tx) {
                    done(sdk::CommandResult::failure(why, true));
                    return;
                }
                send(*charger, command, ocpp::RemoteStopTransactionRequest{*tx}, std::move(done));
                return;
            }
            case Type::ChangeAvailability: {
                if (!params.operative) {
                    done(sdk::CommandResult::failure("operative is required", false));
                    return;
                }
                ocpp::ChangeAvailabilityRequest request;
                request.connector_id = params.connector_id.value_or(s.profile.connector_id);
                request.type = *params.operative ? ocpp::AvailabilityType::Operative
                                                 : ocpp::AvailabilityType::Inoperative;
                // Scheduled: the change waits for the running transaction to end.
                send(*charger, command, request, std::move(done), "Scheduled");
                return;
            }
            case Type::SetDischargeRate:
            case Type::SetSocTarget:
                break;
        }
        done(sdk::CommandResult::failure(
            "ocpp16: " + std::string(sdk::to_string(command.command_type)) +
                " is not possible over OCPP 1.6 Core",
            false));
    });
}

// A charger that connects and then boots gets its setpoints once, after
// the boot (which may have cleared its profiles and its configuration),
// never in the middle of it; one that was only offline gets them at its
// first other message, once that is handled (a StartTransaction's new
// transaction is the one to name); one that says nothing, kGreetingWait
// after the connect. Chargers send BootNotification first thing after a
// power-up. Returns whether the message is the first since the connect.
bool Ocpp16Adapter::on_message(std::string_view identity) {
    Charger* charger = find_identity(identity);
    if (!charger) return false;
    note_seen(*charger);
    std::lock_guard lock(charger->mutex);
    return std::exchange(charger->awaiting_greeting, false);
}

// A transaction that starts on the asset's connector gets the charge rate
// that applies now as its TxProfile. The charger would otherwise run it on
// its TxDefaultProfile, which is stale whenever the setpoint changed during
// an earlier transaction (sent as that one's TxProfile, which ended with
// it). Sent once the StartTransaction is answered, so the charger knows the
// transaction id the profile names.
void Ocpp16Adapter::on_transaction_started(std::string_view identity, std::int32_t connector_id) {
    Charger* charger = find_identity(identity);
    if (!charger || connector_id != charger->settings.profile.connector_id) return;
    std::lock_guard lock(charger->mutex);
    charger->charge_rate_for_new_transaction = charger->charge_rate_kw.has_value();
}

void Ocpp16Adapter::after_message(std::string_view identity, bool restore) {
    Charger* charger = find_identity(identity);
    if (!charger) return;
    bool new_transaction = false;
    {
        std::lock_guard lock(charger->mutex);
        new_transaction = std::exchange(charger->charge_rate_for_new_transaction, false);
    }
    if (restore)
        restore_setpoints(*charger, false);  // the charge rate among them
    else if (new_transaction)
        send_setpoints(*charger, false);
}

bool Ocpp16Adapter::greeting_timed_out(Charger& charger, std::uint64_t connect) {
    std::lock_guard lock(charger.mutex);
    if (!charger.awaiting_greeting || connect != charger.connects) return false;
    charger.awaiting_greeting = false;
    return true;
}

void Ocpp16Adapter::note_seen(Charger& charger) {
    charger.last_seen.note(sdk::Clock::now());
}

void Ocpp16Adapter::on_connected(std::string_view identity) {
    Charger* charger = find_identity(identity);
    if (!charger) return;
    note_seen(*charger);
    std::uint64_t connect = 0;
    {
        std::lock_guard lock(charger->mutex);
        charger->connected = true;
        charger->awaiting_greeting = true;
        connect = ++charger->connects;
    }
    log(sdk::LogLevel::Info, "charge point " + std::string(identity) + " connected as asset '" +
                                 charger->settings.asset_id + "'");
    sdk::AssetEvent e;
    e.type = sdk::AssetEventType::Connected;
    e.asset_id = charger->settings.asset_id;
    e.at = sdk::Clock::now();
    host_.publish(std::move(e));
    boost::asio::post(*io_.front(), [this, charger, connect] {
        if (!running_.load(std::memory_order_acquire)) return;
        charger->greeting_timer->expires_after(kGreetingWait);
        charger->greeting_timer->async_wait([this, charger, connect](boost::system::error_code ec) {
            if (!ec && greeting_timed_out(*charger, connect)) restore_setpoints(*charger, false);
        });
    });
}

void Ocpp16Adapter::on_disconnected(std::string_view identity, std::string_view reason) {
    Charger* charger = find_identity(identity);
    if (!charger) return;
    std::vector<HeldSetpoint> held;
    {
        std::lock_guard lock(charger->mutex);
        charger->connected = false;
        charger->awaiting_greeting = false;  // gone before it said anything
        if (std::exchange(charger->unit_query_in_flight, false)) {
            // Unanswered: ask again at the next connect, boot or not.
            charger->unit_queried = false;
            held.swap(charger->held);
        }
    }
    for (const auto& h : held)
        complete_pending(h.pending,
                         sdk::CommandResult::failure(std::string(ocpp::kNotConnected), true));
    sdk::AssetEvent e;
    e.type = sdk::AssetEventType::Disconnected;
    e.asset_id = charger->settings.asset_id;
    e.at = sdk::Clock::now();
    e.reason = std::string(reason);
    host_.publish(std::move(e));
}

void Ocpp16Adapter::on_boot(std::string_view identity) {
    // A reboot may have cleared the charger's profiles and its configuration.
    if (Charger* charger = find_identity(identity)) restore_setpoints(*charger, true);
}

void Ocpp16Adapter::on_telemetry(std::string_view identity,
                                 const std::vector<ocpp::TelemetrySample>& samples) {
    Charger* charger = find_identity(identity);
    if (!charger) return;
    sdk::AssetEvent e;
    e.type = sdk::AssetEventType::Telemetry;
    e.asset_id = charger->settings.asset_id;
    e.at = sdk::Clock::now();
    const auto connector = charger->settings.profile.connector_id;
    auto bit = [](ocpp::TelemetrySample::Quantity q) { return 1U << static_cast<unsigned>(q); };
    // Across messages a sample counts as stamped no later than its arrival:
    // a charger whose clock ran ahead (a wrong year, say) and was corrected
    // would otherwise have every later sample look older than the last
    // published one, and its telemetry would freeze.
    const auto arrived = std::chrono::floor<std::chrono::milliseconds>(sdk::Clock::now());
    {
        std::lock_guard lock(charger->mutex);
        // Connector 0 is the charger's main meter: it stands in for the
        // asset's connector only for what that connector never reported (a
        // single-connector charger may meter on 0 alone); else the two
        // would take turns. The first value of its own starts afresh.
        for (const auto& s : samples) {
            if (s.phase || s.connector_id != connector || connector == 0) continue;
            const auto b = bit(s.quantity);
            if (charger->metered_on_connector & b) continue;
            charger->metered_on_connector |= b;
            charger->telemetry_at.erase(std::string(ocpp::to_string(s.quantity)));
        }
        // Per quantity, the event's newest sample (the later one at a tie).
        // A MeterValues may carry several meter values, and a charger back
        // from an outage replays older ones after newer ones were published.
        std::map<std::string_view, const ocpp::TelemetrySample*> newest;
        for (const auto& s : samples) {
            // Per-phase values would overwrite the total of the same name.
            if (s.phase) continue;
            if (s.connector_id != connector &&
                (s.connector_id != 0 || (charger->metered_on_connector & bit(s.quantity))))
                continue;
            auto& slot = newest[ocpp::to_string(s.quantity)];
            if (!slot || s.timestamp >= slot->timestamp) slot = &s;
        }
        for (const auto& [name, s] : newest) {
            auto& published_at = charger->telemetry_at[std::string(name)];
            const auto stamped = std::min(s->timestamp, ocpp::Timestamp(arrived));
            if (published_at && stamped < *published_at) continue;
            published_at = stamped;
            charger->telemetry[std::string(name)] = s->value;
            e.telemetry.push_back({std::string(name), s->value, false});
        }
    }
    if (e.telemetry.empty()) return;
    host_.publish(std::move(e));
}

void Ocpp16Adapter::restore_setpoints(Charger& charger, bool query_unit) {
    std::optional<std::uint64_t> query;
    {
        std::lock_guard lock(charger.mutex);
        if (charger.settings.profile.charging_rate_unit == RateUnitSetting::Auto &&
            (query_unit || !charger.unit_queried)) {
            query = begin_unit_query(charger);
        } else if (charger.unit_query_in_flight) {
            // The answer to the question out restores them, in its unit.
            return;
        }
    }
    if (query)
        ask_unit(charger, *query);
    else
        send_setpoints(charger, true);
}

std::uint64_t Ocpp16Adapter::begin_unit_query(Charger& charger) {
    charger.unit_queried = true;
    charger.unit_query_in_flight = true;
    charger.unit_query_connect = charger.connects;
    return ++charger.unit_queries;
}

void Ocpp16Adapter::ask_unit(Charger& charger, std::uint64_t query) {
    ocpp::GetConfigurationRequest request;
    request.key = std::vector<std::string>{"ChargingScheduleAllowedChargingRateUnit"};
    server_->call(charger.link, request, [this, &charger, query](ocpp::CallOutcome o) {
        on_unit_answer(charger, query, o);
    });
}

// Takes the unit from the answer, then sends the setpoints to restore and
// the commands that waited for it, in the order they came.
void Ocpp16Adapter::on_unit_answer(Charger& charger, std::uint64_t query,
                                   const ocpp::CallOutcome& o) {
    std::optional<ocpp::ChargingRateUnit> unit;
    std::string problem;  // why the unit stays unknown
    if (o.ok()) {
        try {
            auto answer = ocpp::from_json<ocpp::GetConfigurationResponse>(o.payload);
            problem = "the key is not in the answer";
            for (const auto& kv : answer.configuration_key.value_or(std::vector<ocpp::KeyValue>{}))
                if (kv.key == "ChargingScheduleAllowedChargingRateUnit") {
                    if (kv.value) unit = unit_from_allowed(*kv.value);
                    problem = kv.value ? "its value '" + *kv.value + "' names no unit"
                                       : "the key has no value";
                }
        } catch (const std::exception& e) {
            problem = std::string("the answer is unreadable: ") + e.what();
        }
    } else {
        problem = "the call failed: " + o.reason();
    }
    // No answer at all: the charger has not said its unit is unknown.
    using Kind = ocpp::CallOutcome::Kind;
    const bool unanswered = o.kind == Kind::Timeout || o.kind == Kind::Disconnected ||
                            o.kind == Kind::NotConnected || o.kind == Kind::QueueFull;
    const auto& id = charger.settings.charge_point_id;
    // Held from taking the commands to sending them: one that execute()
    // builds meanwhile goes after them.
    std::lock_guard order(charger.send_order);
    std::vector<HeldSetpoint> held;
    std::optional<std::uint64_t> again;
    std::optional<ocpp::ChargingRateUnit> used;
    {
        std::lock_guard lock(charger.mutex);
        if (!charger.unit_query_in_flight || query != charger.unit_queries) {
            // A later question replaced it, or the connection it was
            // asked on is gone (on_disconnected released the commands).
            if (host_.enabled(sdk::LogLevel::Debug))
                log(sdk::LogLevel::Debug,
                    id + ": an earlier GetConfiguration(ChargingScheduleAllowedChargingRateUnit) "
                         "ended; its answer is not used");
            return;
        }
        if (unanswered) {
            // Asked again at the next connect or boot (not at once on the
            // same connection, which would ask a charger that never answers
            // in a loop); the unit it last reported, if any, applies
            // meanwhile. A newer connection that replaced the one asked is
            // asked at once, and the commands wait for its answer.
            charger.unit_queried = false;
            if (o.kind == Kind::Disconnected && charger.connected &&
                charger.connects != charger.unit_query_connect)
                again = begin_unit_query(charger);
        } else {
            charger.reported_unit = unit;
        }
        if (!again) {
            charger.unit_query_in_flight = false;
            held.swap(charger.held);
        }
        used = charger.reported_unit;
    }
    if (again) {
        log(sdk::LogLevel::Info,
            id + ": GetConfiguration(ChargingScheduleAllowedChargingRateUnit) went unanswered on "
                 "the connection a newer one replaced; asking the new connection");
        ask_unit(charger, *again);
        return;
    }
    if (unanswered) {
        log(sdk::LogLevel::Warn,
            id + ": GetConfiguration(ChargingScheduleAllowedChargingRateUnit): " + problem +
                "; its limits go in " + (used == ocpp::ChargingRateUnit::W ? "W" : "A") +
                " until it is asked again at its next connect or boot");
    } else if (!unit) {
        log(sdk::LogLevel::Warn,
            id + ": GetConfiguration(ChargingScheduleAllowedChargingRateUnit): " + problem +
                "; its limits go in A");
    }
    // A held command sends the setpoint of its kind anyway (the last one
    // held is the setpoint that applies now): restoring that kind too would
    // send the charger the same profile twice.
    bool rate_held = false, limit_held = false;
    for (const auto& h : held) (h.charge_rate ? rate_held : limit_held) = true;
    send_setpoints_in_order(charger, !rate_held, !limit_held);
    for (const auto& h : held) send_held(charger, h);
}

void Ocpp16Adapter::send_setpoints(Charger& charger, bool with_power_limit) {
    // Read and sent in one piece, as execute() does: a command and a
    // restore never pass each other on the way to the charger's queue.
    std::lock_guard order(charger.send_order);
    send_setpoints_in_order(charger, true, with_power_limit);
}

void Ocpp16Adapter::send_setpoints_in_order(Charger& charger, bool with_charge_rate,
                                            bool with_power_limit) {
    std::optional<double> rate, limit;
    {
        std::lock_guard lock(charger.mutex);
        if (with_charge_rate) rate = charger.charge_rate_kw;
        if (with_power_limit) limit = charger.power_limit_kw;
    }
    const auto& id = charger.settings.charge_point_id;
    auto report = [this, &id](std::string what) { return restore_report(id, std::move(what)); };
    try {
        if (limit)
            server_->call(
                charger.link,
                power_limit_profile(*limit, charger.settings.profile, unit_of(charger), now_ms()),
                report("power limit " + sdk::detail::number_text(*limit) + " kW"));
        if (rate) {
            auto request = charge_rate_request(charger, *rate);
            const std::string what = "charge rate " + sdk::detail::number_text(*rate) + " kW";
            if (request.cs_charging_profiles.charging_profile_purpose !=
                ocpp::ChargingProfilePurpose::TxProfile) {
                server_->call(charger.link, request, report(what));
            } else {
                send_tx_profile(charger, request, *rate, report(what));
            }
        }
    } catch (const std::exception& e) {
        log(sdk::LogLevel::Warn, id + ": restoring the setpoint: " + e.what());
    }
}

ocpp::CallCallback Ocpp16Adapter::restore_report(const std::string& id, std::string what) {
    return [this, id, what = std::move(what)](ocpp::CallOutcome o) {
        if (o.ok()) {
            auto r = result_of(o, {});
            if (r.success) {
                log(sdk::LogLevel::Info, id + ": " + what + " restored");
                return;
            }
            log(sdk::LogLevel::Warn, id + ": restoring " + what + ": " + r.error);
            return;
        }
        log(sdk::LogLevel::Warn, id + ": restoring " + what + ": " + o.reason());
    };
}

// Rejected as a TxProfile: the transaction it names may have ended without
// the central system knowing (its StopTransaction lost, or still queued in
// a charger that was away), and sending it again would only be rejected
// again. The charge rate goes once as TxDefaultProfile instead, which the
// charger's next transaction starts on. The restore after a reconnect and
// a SET_CHARGE_RATE command both come this way.
void Ocpp16Adapter::send_tx_profile(Charger& charger,
                                    const ocpp::SetChargingProfileRequest& request, double kw,
                                    ocpp::CallCallback finish,
                                    std::optional<std::chrono::milliseconds> timeout,
                                    std::optional<ocpp::CallDeadline> deadline) {
    const auto transaction = request.cs_charging_profiles.transaction_id.value_or(0);
    auto on_answer = [this, &charger, kw, transaction, finish = std::move(finish), timeout,
                      deadline](ocpp::CallOutcome o) mutable {
        if (!o.ok() || result_of(o, {}).error != "Rejected") return finish(std::move(o));
        std::lock_guard order(charger.send_order);  // see send_setpoints
        // The latest: a command may have changed it meanwhile, and its call
        // went before this one; the older value must not follow it.
        double rate = kw;
        {
            std::lock_guard lock(charger.mutex);
            rate = charger.charge_rate_kw.value_or(kw);
        }
        const auto& id = charger.settings.charge_point_id;
        log(sdk::LogLevel::Warn, id + ": the charger refused the TxProfile for transaction " +
                                     std::to_string(transaction) + "; sending charge rate " +
                                     sdk::detail::number_text(rate) + " kW as TxDefaultProfile");
        ocpp::SetChargingProfileRequest fallback;
        try {
            fallback = charge_rate_profile(rate, charger.settings.profile, unit_of(charger),
                                           std::nullopt, now_ms());
        } catch (const std::invalid_argument& e) {
            ocpp::CallOutcome refused;
            refused.kind = ocpp::CallOutcome::Kind::InvalidRequest;
            refused.message = e.what();
            return finish(std::move(refused));
        }
        server_->call(charger.link, fallback, std::move(finish), timeout, deadline);
    };
    server_->call(charger.link, request, std::move(on_answer), timeout, deadline);
}

}  // namespace gridgate::ocpp16
