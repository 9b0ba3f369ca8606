// The ocpp16 adapter: an OCPP 1.6-J central system chargers connect to.
// Commands become SetChargingProfile, RemoteStart/StopTransaction and
// ChangeAvailability calls; each charger's latest setpoint is sent again when
// it (re)connects or boots; connections and meter values become asset events.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gridgate/ocpp/central_system.hpp"
#include "gridgate/ocpp/central_system_core.hpp"
#include "gridgate/sdk/adapter.hpp"
#include "gridgate/sdk/host.hpp"
#include "gridgate/sdk/string_map.hpp"
#include "settings.hpp"

namespace gridgate::ocpp16 {

/// Thread-safety: execute(), supports() and state() from any thread; start()
/// and stop() once each from the host. Completions, events and log lines come
/// from the adapter's own I/O threads.
class Ocpp16Adapter final : public sdk::Adapter {
  public:
    Ocpp16Adapter(sdk::HostContext& host, Settings settings);
    ~Ocpp16Adapter() override;

    sdk::Status start() noexcept override;
    void stop() noexcept override;
    void execute(const sdk::Command& command, sdk::Completion done) noexcept override;
    bool supports(std::string_view asset_id, sdk::CommandType type) const noexcept override;
    sdk::AssetState state(std::string_view asset_id) const noexcept override;

  private:
    // A SET_CHARGE_RATE / SET_POWER_LIMIT waiting for the charger's unit.
    struct HeldSetpoint {
        bool charge_rate = true;  // else the power limit
        double kw = 0.0;
        std::uint64_t pending = 0;  // its completion, in pending_
        ocpp::CallDeadline deadline;
    };
    struct Charger {
        ChargerSettings settings;
        // Its entry in the core, found once (the running transaction is
        // read for every SetChargingProfile).
        ocpp::CentralSystemCore::ChargePointRef in_core;
        // Its place in the server's registry, taken at start: calls reach
        // its connection without a lookup by identity.
        ocpp::ChargePointHandle link;

        // When the charger last said anything, answers included: written by
        // the I/O thread for every answer, so on a cache line of its own and
        // without the mutex, which the thread that sends the calls holds.
        class alignas(64) LastSeen {
          public:
            void note(sdk::TimePoint at) noexcept {
                ns_.store(at.time_since_epoch().count(), std::memory_order_relaxed);
            }
            std::optional<sdk::TimePoint> get() const noexcept {
                const auto ns = ns_.load(std::memory_order_relaxed);
                if (ns == kNever) return std::nullopt;
                return sdk::TimePoint(sdk::TimePoint::duration(ns));
            }

          private:
            static constexpr sdk::TimePoint::rep kNever =
                std::numeric_limits<sdk::TimePoint::rep>::min();
            std::atomic<sdk::TimePoint::rep> ns_{kNever};
        };
        LastSeen last_seen;

        // Held from reading a setpoint to handing its call to the server,
        // so calls reach the charger's queue in the order of the setpoints.
        std::mutex send_order;
        mutable std::mutex mutex;  // guards the state below
        bool connected = false;
        std::map<std::string, double> telemetry;
        // The charger's timestamp of each value in `telemetry`, or its
        // arrival if that was earlier: an older sample never replaces it.
        std::map<std::string, std::optional<ocpp::Timestamp>> telemetry_at;
        // The quantities (bit 1 << Quantity) the asset's connector has
        // reported: from then on the charger's main meter (connector 0) no
        // longer stands in for them.
        unsigned metered_on_connector = 0;
        // The setpoints that apply now, sent again after a (re)connect or boot.
        std::optional<double> charge_rate_kw;
        std::optional<double> power_limit_kw;
        // For `charging_rate_unit = "auto"`: what GetConfiguration reported.
        std::optional<ocpp::ChargingRateUnit> reported_unit;
        bool unit_queried = false;
        // While a GetConfiguration for the unit is unanswered, setpoint
        // commands wait in `held` and go out with its answer: the previous
        // answer may be stale (a firmware update, another charger at the
        // same id). `unit_queries` numbers the questions, so the answer to
        // one a later question replaced (a second boot) releases nothing.
        bool unit_query_in_flight = false;
        std::uint64_t unit_queries = 0;
        // The connect (`connects`) the question went out on: one that a
        // newer connection replaced is asked again there.
        std::uint64_t unit_query_connect = 0;
        std::vector<HeldSetpoint> held;
        // After a connect the setpoints wait for the charger's first message
        // (see on_message) or kGreetingWait, whichever comes first.
        bool awaiting_greeting = false;
        // A transaction started on the asset's connector: the charge rate
        // goes again once the StartTransaction is answered.
        bool charge_rate_for_new_transaction = false;
        std::uint64_t connects = 0;  // tells a stale greeting timer from the current one
        std::unique_ptr<boost::asio::steady_timer> greeting_timer;  // on io_.front()
    };
    class Handler;

    Charger* find_asset(std::string_view asset_id) const noexcept;
    std::optional<std::int32_t> transaction_to_stop(const Charger& charger,
                                                    std::optional<int> named,
                                                    std::string& why) const;
    Charger* find_identity(std::string_view identity) const noexcept;
    ocpp::HandshakeDecision authorize(const ocpp::HandshakeRequest& request) const;
    void log(sdk::LogLevel level, const std::string& text) noexcept;
    // A line from the OCPP library (the server or the core), at its level.
    void log_from_library(ocpp::LogLevel level, std::string_view message);

    // Notes the sign of life; true for the first message since the connect.
    bool on_message(std::string_view identity);
    void note_seen(Charger& charger);  // last_seen = now
    void on_connected(std::string_view identity);
    void on_disconnected(std::string_view identity, std::string_view reason);
    void on_boot(std::string_view identity);
    void on_transaction_started(std::string_view identity, std::int32_t connector_id);
    // After the core has handled (and answered) a charger's message:
    // restores the setpoints when `restore`, else sends the charge rate to
    // a transaction the message started.
    void after_message(std::string_view identity, bool restore);
    // True when the timer of connect `connect` ends the wait for the
    // charger's first message (on_message ends it otherwise).
    bool greeting_timed_out(Charger& charger, std::uint64_t connect);
    void on_telemetry(std::string_view identity, const std::vector<ocpp::TelemetrySample>& samples);

    // Sends the remembered setpoints again (after GetConfiguration when the
    // unit is `auto` and not known yet, or `query_unit` asks for it anew).
    void restore_setpoints(Charger& charger, bool query_unit);
    void send_setpoints(Charger& charger, bool with_power_limit);
    // send_setpoints() for a caller that holds charger.send_order; it may
    // leave out the charge rate too.
    void send_setpoints_in_order(Charger& charger, bool with_charge_rate, bool with_power_limit);
    // Numbers a new question for the unit, on the current connection; the
    // caller holds charger.mutex and then calls ask_unit() without it.
    static std::uint64_t begin_unit_query(Charger& charger);
    void ask_unit(Charger& charger, std::uint64_t query);
    // The GetConfiguration answer (or failure) of question `query`.
    void on_unit_answer(Charger& charger, std::uint64_t query, const ocpp::CallOutcome& outcome);
    // Sends `request`, the charge rate `kw` as a TxProfile; should the
    // charger answer Rejected, sends the charge rate once more as
    // TxDefaultProfile. `finish` gets the outcome of the last call. The
    // caller holds send_order.
    void send_tx_profile(Charger& charger, const ocpp::SetChargingProfileRequest& request,
                         double kw, ocpp::CallCallback finish,
                         std::optional<std::chrono::milliseconds> timeout = {},
                         std::optional<ocpp::CallDeadline> deadline = {});
    // Logs how a restore call ended.
    ocpp::CallCallback restore_report(const std::string& id, std::string what);
    ocpp::ChargingRateUnit unit_of(const Charger& charger) const;
    ocpp::SetChargingProfileRequest charge_rate_request(const Charger& charger, double kw) const;
    // SET_CHARGE_RATE or SET_POWER_LIMIT in the charger's unit as of now.
    ocpp::SetChargingProfileRequest setpoint_request(const Charger& charger, bool charge_rate,
                                                     double kw) const;
    // Builds and sends a held setpoint command; the caller holds send_order.
    void send_held(Charger& charger, const HeldSetpoint& held);
    // Sends a setpoint command's `request` (a TxProfile with its fallback);
    // the caller holds send_order.
    void send_setpoint(Charger& charger, const HeldSetpoint& setpoint,
                       const ocpp::SetChargingProfileRequest& request);

    // Sends `request` for `command` and completes `done` with the status
    // mapped: success for `status` or `also_success` (a literal), the status
    // word otherwise.
    template <class Request>
    void send(Charger& charger, const sdk::Command& command, const Request& request,
              sdk::Completion done, std::string_view also_success = {});
    // The same for a completion already in pending_ as `id`.
    template <class Request>
    void send_pending(Charger& charger, std::uint64_t id, const Request& request,
                      ocpp::CallDeadline deadline);
    // The callback that completes the command put_pending() numbered `id`.
    ocpp::CallCallback complete_with_answer(std::uint64_t id);
    // Completes what put_pending() numbered `id`, unless someone else did.
    void complete_pending(std::uint64_t id, sdk::CommandResult result);

    // A command sent and not answered yet.
    struct Pending {
        sdk::Completion done;
        std::string_view also_success;
        Charger* charger = nullptr;
    };
    // Keeps `pending` until take_pending() with the number it returns.
    std::uint64_t put_pending(Pending pending);
    // Removes what put_pending() numbered `id`; nullopt if already taken.
    std::optional<Pending> take_pending(std::uint64_t id);

    sdk::HostContext& host_;
    const Settings settings_;
    // One io_context per I/O thread (io_threads): a charger's connection
    // lives on one of them and needs no strand. Declared before the
    // chargers, whose greeting timers must be destroyed first.
    std::vector<std::unique_ptr<boost::asio::io_context>> io_;
    std::vector<std::unique_ptr<Charger>> chargers_;
    sdk::StringMap<Charger*> by_asset_;
    sdk::StringMap<Charger*> by_identity_;

    std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::vector<std::thread> threads_;
    std::shared_ptr<ocpp::CentralSystemCore> core_;
    std::unique_ptr<ocpp::CentralSystem> server_;

    // Commands sent and not answered yet: failed on stop(). A table of
    // reusable entries rather than a map: a storm's thousands of calls then
    // reuse entries instead of each making a node on the engine's thread
    // and freeing it on an I/O thread. A number is the entry's index (low 32
    // bits) and its use count (high 32), so a stale number matches nothing.
    struct PendingEntry {
        std::optional<Pending> pending;
        std::uint32_t use = 0;
    };
    std::mutex pending_mutex_;
    std::vector<PendingEntry> pending_;
    std::vector<std::uint32_t> free_pending_;  // indexes of empty entries

    std::mutex lifecycle_;  // start / stop; execute() only reads running_
    std::atomic<bool> running_{false};
    bool started_ = false;
    bool stopped_ = false;
};

}  // namespace gridgate::ocpp16
