// The central system's answers to everything OCPP 1.6 Core lets a charger
// send: BootNotification, Heartbeat, StatusNotification, MeterValues,
// Authorize, Start/StopTransaction, DataTransfer and the firmware and
// diagnostics notifications, with the per-charge-point state they imply
// (connector states, running transactions); and the security extension's
// SecurityEventNotification, logged. Observers hear about boots, status
// changes, transactions and meter readings.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gridgate/ocpp/central_system.hpp"
#include "gridgate/ocpp/log_budget.hpp"
#include "gridgate/ocpp/messages.hpp"

namespace gridgate::ocpp {

// The form in which id tags are compared: OCPP's IdToken is a CiString20Type,
// so "TAG1" and "tag1" are one card (ASCII lower case).
std::string fold_id_tag(std::string_view id_tag);

struct CoreOptions {
    // BootNotification's `interval`.
    std::chrono::seconds heartbeat_interval{300};
    // Authorization: every id tag, or only those listed (in any ASCII case:
    // an IdToken is a CiString20Type).
    bool accept_all_id_tags = true;
    std::set<std::string, std::less<>> accepted_id_tags;
    // The first transaction id handed out; ids count up from here. Seed it
    // from persistent state or the clock so a restart does not reuse ids.
    std::int32_t first_transaction_id = 1;
    // The time BootNotification and Heartbeat report; injectable for tests.
    std::function<Timestamp()> clock;
    // Where the core says what it made of a charger's messages (a meter
    // value it dropped, and why); may be empty.
    LogSink log;
};

struct ConnectorState {
    std::string status;  // Available, Charging, SuspendedEV, Faulted, ...
    std::string error_code;
    std::optional<Timestamp> timestamp;
    std::optional<std::int32_t> transaction_id;    // the running transaction
    std::optional<Timestamp> transaction_started;  // its StartTransaction's timestamp
};

// A meter reading the central system understands, in fixed units.
struct TelemetrySample {
    enum class Quantity { PowerKw, EnergyKwh, CurrentOfferedA, SocPercent };
    std::int32_t connector_id = 0;
    std::optional<std::int32_t> transaction_id;
    Timestamp timestamp{};
    Quantity quantity = Quantity::PowerKw;
    std::optional<std::string> phase;
    double value = 0.0;
};

std::string_view to_string(TelemetrySample::Quantity quantity);

struct TransactionEvent {
    bool started = true;
    std::int32_t connector_id = 0;
    std::int32_t transaction_id = 0;
    std::string id_tag;
    Timestamp timestamp{};
};

// Callbacks run on the I/O thread of the charger's connection; they must
// not block, and may run concurrently for different charge points.
struct CoreObservers {
    std::function<void(std::string_view identity, const BootNotificationRequest&)> on_boot;
    std::function<void(std::string_view identity, std::int32_t connector_id, const ConnectorState&)>
        on_status;
    std::function<void(std::string_view identity, const std::vector<TelemetrySample>&)>
        on_telemetry;
    std::function<void(std::string_view identity, const TransactionEvent&)> on_transaction;
    // FirmwareStatusNotification and DiagnosticsStatusNotification.
    std::function<void(std::string_view identity, std::string_view action, std::string_view status)>
        on_notification;
};

// Answers a DataTransfer for its vendor id; nullopt means "not mine".
using DataTransferHandler = std::function<std::optional<DataTransferResponse>(
    std::string_view identity, const DataTransferRequest&)>;

// Thread-safety: every member may be called from any thread (one mutex).
// Observer callbacks are made without the mutex held.
class CentralSystemCore : public CallHandler {
    struct ChargePointState;  // below

  public:
    explicit CentralSystemCore(CoreOptions options = {}, CoreObservers observers = {});

    std::optional<HandlerError> on_call(std::string_view identity, std::string_view action,
                                        const rapidjson::Value& payload,
                                        rapidjson::Document& response) override;

    // Claims DataTransfer messages of `vendor_id`; others get UnknownVendorId.
    void claim_vendor(std::string vendor_id, DataTransferHandler handler);

    std::optional<ConnectorState> connector(std::string_view identity,
                                            std::int32_t connector_id) const;
    std::optional<std::int32_t> running_transaction(std::string_view identity,
                                                    std::int32_t connector_id) const;

    // A charge point's entry, looked up once: a caller that asks on every
    // call (the adapter, per SetChargingProfile to each of thousands of
    // chargers) keeps it instead of hashing the identity each time; with
    // that many chargers every lookup is a chain of cache misses. Valid as
    // long as the core; the entry is made if the charger has not spoken yet.
    class ChargePointRef {
      public:
        ChargePointRef() = default;

      private:
        friend class CentralSystemCore;
        ChargePointState* state_ = nullptr;
    };
    ChargePointRef find_or_add(std::string_view identity);
    std::optional<std::int32_t> running_transaction(ChargePointRef charge_point,
                                                    std::int32_t connector_id) const;
    // Every running transaction of the charge point: (connector id,
    // transaction id), by connector.
    std::vector<std::pair<std::int32_t, std::int32_t>> running_transactions(
        ChargePointRef charge_point) const;
    std::optional<BootNotificationRequest> boot_info(std::string_view identity) const;
    std::optional<std::string> firmware_status(std::string_view identity) const;
    std::optional<std::string> diagnostics_status(std::string_view identity) const;

  private:
    struct StartKey {
        std::int32_t connector_id;
        std::string id_tag;
        Timestamp timestamp;
        std::int64_t meter_start;
        auto operator<=>(const StartKey&) const = default;
    };
    struct ChargePointState {
        std::optional<BootNotificationRequest> boot;
        std::map<std::int32_t, ConnectorState> connectors;
        // Recent starts, so a replayed StartTransaction (the charger lost our
        // answer and sent it again) gets the same transaction id.
        std::map<StartKey, std::int32_t> recent_starts;
        std::vector<StartKey> start_order;
        std::optional<std::string> firmware_status;
        std::optional<std::string> diagnostics_status;
        LogBudget security_log;  // its SecurityEventNotifications' lines
    };

    Timestamp now() const;
    IdTagInfo authorize(std::string_view id_tag) const;
    // The connector's state, or null; the caller holds mutex_.
    const ConnectorState* find_connector(std::string_view identity,
                                         std::int32_t connector_id) const;
    static const ConnectorState* find_connector(const ChargePointState& charge_point,
                                                std::int32_t connector_id);

    void security_event(std::string_view identity, const SecurityEventNotificationRequest& event);
    void boot_notification(std::string_view identity, const rapidjson::Value& payload,
                           rapidjson::Document& response);
    void status_notification(std::string_view identity, const rapidjson::Value& payload);
    void meter_values(std::string_view identity, const rapidjson::Value& payload);
    void start_transaction(std::string_view identity, const rapidjson::Value& payload,
                           rapidjson::Document& response);
    void stop_transaction(std::string_view identity, const rapidjson::Value& payload,
                          rapidjson::Document& response);
    void data_transfer(std::string_view identity, const rapidjson::Value& payload,
                       rapidjson::Document& response);

    const CoreOptions options_;
    const CoreObservers observers_;
    std::set<std::string, std::less<>> accepted_id_tags_;  // case-folded
    mutable std::mutex mutex_;
    std::unordered_map<std::string, ChargePointState> charge_points_;
    std::map<std::string, DataTransferHandler, std::less<>> vendors_;
    std::int32_t next_transaction_id_;
};

}  // namespace gridgate::ocpp
