#include "gridgate/ocpp/central_system_core.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "printable.hpp"

namespace gridgate::ocpp {
namespace {

// Kept per charge point; a charger replays at most its last few messages.
constexpr std::size_t kRememberedStarts = 16;

template <class Message>
void answer(rapidjson::Document& response, const Message& message) {
    rapidjson::Value json = to_json(message, response.GetAllocator());
    static_cast<rapidjson::Value&>(response) = json;
}

// A number, with spaces around it or not, and a '+' in front or not (some
// meters sign every reading); "NaN" and "inf" read as such.
std::optional<double> parse_number(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    if (text.size() > 1 && text.front() == '+' && text[1] != '-' && text[1] != '+')
        text.remove_prefix(1);
    double value = 0.0;
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end) return std::nullopt;
    return value;
}

// The OCPP measurand, with the unit it defaults to, mapped to a quantity
// and the factor to its fixed unit.
std::optional<std::pair<TelemetrySample::Quantity, double>> understood(const SampledValue& sample) {
    using Q = TelemetrySample::Quantity;
    const std::string_view measurand =
        sample.measurand ? std::string_view(*sample.measurand) : "Energy.Active.Import.Register";
    const std::string_view unit = sample.unit ? std::string_view(*sample.unit) : "";
    if (measurand == "Power.Active.Import") {
        if (unit == "kW") return std::pair{Q::PowerKw, 1.0};
        if (unit.empty() || unit == "W") return std::pair{Q::PowerKw, 0.001};
        return std::nullopt;
    }
    if (measurand == "Energy.Active.Import.Register") {
        if (unit == "kWh") return std::pair{Q::EnergyKwh, 1.0};
        if (unit.empty() || unit == "Wh") return std::pair{Q::EnergyKwh, 0.001};
        return std::nullopt;
    }
    if (measurand == "Current.Offered" && (unit.empty() || unit == "A")) {
        return std::pair{Q::CurrentOfferedA, 1.0};
    }
    if (measurand == "SoC" && (unit.empty() || unit == "Percent")) {
        return std::pair{Q::SocPercent, 1.0};
    }
    return std::nullopt;
}

// The phase a per-phase value is a share of: 1 to 3 for L1, L2, L3 and
// L1-N, L2-N, L3-N; 0 for N and line-to-line values (L1-L2), which are not.
int phase_number(std::string_view phase) {
    if (phase.size() < 2 || phase[0] != 'L' || phase[1] < '1' || phase[1] > '3') return 0;
    return phase.size() == 2 || phase.substr(2) == "-N" ? phase[1] - '0' : 0;
}

// Adds to `samples`, the samples of one meter value, a total for each
// quantity that came only per phase: the sum of the phases for power and
// energy, the largest phase for the offered current (the limit the charger
// offers the car is per phase, and its most loaded phase is what it allows).
// A phase named twice (L1 and L1-N) counts once, the first time.
void add_totals_of_phases(std::vector<TelemetrySample>& samples, std::size_t first) {
    using Q = TelemetrySample::Quantity;
    for (Q quantity : {Q::PowerKw, Q::EnergyKwh, Q::CurrentOfferedA}) {
        std::optional<double> per_phase[4];
        const TelemetrySample* model = nullptr;
        bool total = false;
        for (std::size_t i = first; i < samples.size(); ++i) {
            const auto& s = samples[i];
            if (s.quantity != quantity) continue;
            if (!s.phase) {
                total = true;
                break;
            }
            const int phase = phase_number(*s.phase);
            if (phase == 0 || per_phase[phase]) continue;
            per_phase[phase] = s.value;
            model = &s;
        }
        if (total || !model) continue;
        const bool largest = quantity == Q::CurrentOfferedA;
        std::optional<double> value;
        for (const auto& v : per_phase)
            if (v) value = !value ? *v : largest ? std::max(*value, *v) : *value + *v;
        TelemetrySample sum = *model;
        sum.phase.reset();
        sum.value = *value;
        samples.push_back(std::move(sum));
    }
}

}  // namespace

std::string fold_id_tag(std::string_view id_tag) {
    std::string out(id_tag);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string_view to_string(TelemetrySample::Quantity quantity) {
    switch (quantity) {
        case TelemetrySample::Quantity::PowerKw:
            return "power_kw";
        case TelemetrySample::Quantity::EnergyKwh:
            return "energy_kwh";
        case TelemetrySample::Quantity::CurrentOfferedA:
            return "current_offered_a";
        case TelemetrySample::Quantity::SocPercent:
            return "soc";
    }
    return "unknown";
}

CentralSystemCore::CentralSystemCore(CoreOptions options, CoreObservers observers)
    : options_(std::move(options)),
      observers_(std::move(observers)),
      next_transaction_id_(options_.first_transaction_id) {
    for (const auto& tag : options_.accepted_id_tags) accepted_id_tags_.insert(fold_id_tag(tag));
}

Timestamp CentralSystemCore::now() const {
    if (options_.clock) return options_.clock();
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
}

IdTagInfo CentralSystemCore::authorize(std::string_view id_tag) const {
    IdTagInfo info;
    info.status = options_.accept_all_id_tags || accepted_id_tags_.contains(fold_id_tag(id_tag))
                      ? AuthorizationStatus::Accepted
                      : AuthorizationStatus::Invalid;
    return info;
}

std::optional<HandlerError> CentralSystemCore::on_call(std::string_view identity,
                                                       std::string_view action,
                                                       const rapidjson::Value& payload,
                                                       rapidjson::Document& response) {
    if (action == "BootNotification") {
        boot_notification(identity, payload, response);
    } else if (action == "Heartbeat") {
        answer(response, HeartbeatResponse{now()});
    } else if (action == "StatusNotification") {
        status_notification(identity, payload);
    } else if (action == "MeterValues") {
        meter_values(identity, payload);
    } else if (action == "Authorize") {
        const auto request = from_json<AuthorizeRequest>(payload);
        answer(response, AuthorizeResponse{authorize(request.id_tag)});
    } else if (action == "StartTransaction") {
        start_transaction(identity, payload, response);
    } else if (action == "StopTransaction") {
        stop_transaction(identity, payload, response);
    } else if (action == "DataTransfer") {
        data_transfer(identity, payload, response);
    } else if (action == "FirmwareStatusNotification" ||
               action == "DiagnosticsStatusNotification") {
        const std::string status(payload["status"].GetString(),
                                 payload["status"].GetStringLength());
        {
            std::lock_guard lock(mutex_);
            auto& state = charge_points_[std::string(identity)];
            (action == "FirmwareStatusNotification" ? state.firmware_status
                                                    : state.diagnostics_status) = status;
        }
        if (observers_.on_notification) observers_.on_notification(identity, action, status);
    } else if (action == "SecurityEventNotification") {
        security_event(identity, from_json<SecurityEventNotificationRequest>(payload));
    } else {
        // Known to OCPP 1.6 (the library answers NotImplemented for the
        // rest before asking): recognised, not supported.
        return HandlerError{ErrorCode::NotSupported,
                            "the central system does not handle " + std::string(action)};
    }
    return std::nullopt;
}

// Logged, and answered: a security event is for the site's operator to see.
// The charger's routine life (a start, a reboot, its clock set, new
// firmware) at info; anything else, such as a tamper alarm, a certificate
// or message it refused, or a type of its own, at warning.
void CentralSystemCore::security_event(std::string_view identity,
                                       const SecurityEventNotificationRequest& event) {
    if (!options_.log) return;
    static constexpr std::string_view kRoutine[] = {"StartupOfTheDevice", "ResetOrReboot",
                                                    "SettingSystemTime", "FirmwareUpdated"};
    const bool routine =
        std::find(std::begin(kRoutine), std::end(kRoutine), event.type) != std::end(kRoutine);
    const std::string who = detail::printable(identity);
    std::string line = who + ": SecurityEventNotification: " + detail::printable(event.type) +
                       " at " + format_timestamp(event.timestamp) +
                       (event.tech_info ? " (" + detail::printable(*event.tech_info) + ")" : "");
    // A charger that reports in a loop is held to its LogBudget: the count
    // of the events not logged comes with the next one logged.
    std::vector<std::string> lines;
    {
        std::lock_guard lock(mutex_);
        write_within(charge_points_[std::string(identity)].security_log, LogBudget::Clock::now(),
                     who, "security events", std::move(line),
                     [&lines](std::string text) { lines.push_back(std::move(text)); });
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const bool the_event = i + 1 == lines.size();  // a count of unlogged ones comes first
        options_.log(the_event && routine ? LogLevel::Info : LogLevel::Warning, lines[i]);
    }
}

void CentralSystemCore::boot_notification(std::string_view identity,
                                          const rapidjson::Value& payload,
                                          rapidjson::Document& response) {
    auto request = from_json<BootNotificationRequest>(payload);
    // A boot does not end the charger's transactions here: some chargers send
    // BootNotification at every reconnect and keep charging. One lost to a
    // power loss ends with its StopTransaction, or when its connector reports
    // Available; until then a TxProfile naming it may be refused, and the
    // adapter falls back to TxDefaultProfile.
    {
        std::lock_guard lock(mutex_);
        charge_points_[std::string(identity)].boot = request;
    }
    answer(response, BootNotificationResponse{
                         RegistrationStatus::Accepted, now(),
                         static_cast<std::int32_t>(options_.heartbeat_interval.count())});
    if (observers_.on_boot) observers_.on_boot(identity, request);
}

void CentralSystemCore::status_notification(std::string_view identity,
                                            const rapidjson::Value& payload) {
    const auto request = from_json<StatusNotificationRequest>(payload);
    ConnectorState snapshot;
    std::optional<TransactionEvent> ended;
    {
        std::lock_guard lock(mutex_);
        auto& connector = charge_points_[std::string(identity)].connectors[request.connector_id];
        connector.status = request.status;
        connector.error_code = request.error_code;
        connector.timestamp = request.timestamp;
        // Available and Finishing mean no transaction runs on the connector.
        // One still held here lost its StopTransaction (refused, or dropped
        // after the charger's retries); left in place, every profile would
        // name it and be rejected. A status stamped before the transaction
        // began says nothing about it.
        if (connector.transaction_id &&
            (request.status == "Available" || request.status == "Finishing")) {
            const bool older = request.timestamp && connector.transaction_started &&
                               *request.timestamp < *connector.transaction_started;
            if (!older) {
                ended = TransactionEvent{false, request.connector_id, *connector.transaction_id, "",
                                         request.timestamp.value_or(now())};
                connector.transaction_id.reset();
                connector.transaction_started.reset();
            }
        }
        snapshot = connector;
    }
    if (ended && observers_.on_transaction) observers_.on_transaction(identity, *ended);
    if (observers_.on_status) observers_.on_status(identity, request.connector_id, snapshot);
}

void CentralSystemCore::meter_values(std::string_view identity, const rapidjson::Value& payload) {
    const auto request = from_json<MeterValuesRequest>(payload);
    std::vector<TelemetrySample> samples;
    for (const auto& reading : request.meter_value) {
        const std::size_t first = samples.size();
        for (const auto& sampled : reading.sampled_value) {
            if (sampled.format && *sampled.format == "SignedData") continue;
            auto quantity = understood(sampled);
            if (!quantity) continue;
            const auto value = parse_number(sampled.value);
            const char* problem = !value                   ? "is not a number"
                                  : !std::isfinite(*value) ? "is not finite"
                                  : quantity->first == TelemetrySample::Quantity::SocPercent &&
                                          (*value < 0 || *value > 100)
                                      ? "is outside 0 to 100 %"
                                      : nullptr;
            if (problem) {
                // Dropped: a last good reading beats none. Debug, as a
                // charger that sends such values sends them every time.
                if (options_.log) {
                    options_.log(LogLevel::Debug,
                                 std::string(identity) + ": MeterValues: " +
                                     sampled.measurand.value_or("Energy.Active.Import.Register") +
                                     " value '" + detail::printable(sampled.value) + "' " +
                                     problem + "; dropped");
                }
                continue;
            }
            TelemetrySample sample;
            sample.connector_id = request.connector_id;
            sample.transaction_id = request.transaction_id;
            sample.timestamp = reading.timestamp;
            sample.quantity = quantity->first;
            sample.phase = sampled.phase;
            sample.value = *value * quantity->second;
            samples.push_back(std::move(sample));
        }
        add_totals_of_phases(samples, first);
    }
    if (!samples.empty() && observers_.on_telemetry) observers_.on_telemetry(identity, samples);
}

void CentralSystemCore::start_transaction(std::string_view identity,
                                          const rapidjson::Value& payload,
                                          rapidjson::Document& response) {
    const auto request = from_json<StartTransactionRequest>(payload);
    StartKey key{request.connector_id, request.id_tag, request.timestamp, request.meter_start};
    std::int32_t transaction_id = 0;
    bool replay = false;
    {
        std::lock_guard lock(mutex_);
        auto& state = charge_points_[std::string(identity)];
        if (auto found = state.recent_starts.find(key); found != state.recent_starts.end()) {
            transaction_id = found->second;
            replay = true;
        } else {
            transaction_id = next_transaction_id_++;
            state.recent_starts.emplace(key, transaction_id);
            state.start_order.push_back(key);
            if (state.start_order.size() > kRememberedStarts) {
                state.recent_starts.erase(state.start_order.front());
                state.start_order.erase(state.start_order.begin());
            }
            auto& connector = state.connectors[request.connector_id];
            connector.transaction_id = transaction_id;
            connector.transaction_started = request.timestamp;
        }
    }
    answer(response, StartTransactionResponse{authorize(request.id_tag), transaction_id});
    if (!replay && observers_.on_transaction) {
        observers_.on_transaction(
            identity, TransactionEvent{true, request.connector_id, transaction_id, request.id_tag,
                                       request.timestamp});
    }
}

void CentralSystemCore::stop_transaction(std::string_view identity, const rapidjson::Value& payload,
                                         rapidjson::Document& response) {
    const auto request = from_json<StopTransactionRequest>(payload);
    std::optional<std::int32_t> connector_id;
    {
        std::lock_guard lock(mutex_);
        auto& state = charge_points_[std::string(identity)];
        for (auto& [id, connector] : state.connectors) {
            if (connector.transaction_id == request.transaction_id) {
                connector.transaction_id.reset();
                connector.transaction_started.reset();
                connector_id = id;
            }
        }
    }
    StopTransactionResponse answer_message;
    if (request.id_tag) answer_message.id_tag_info = authorize(*request.id_tag);
    answer(response, answer_message);
    if (observers_.on_transaction) {
        observers_.on_transaction(
            identity, TransactionEvent{false, connector_id.value_or(0), request.transaction_id,
                                       request.id_tag.value_or(""), request.timestamp});
    }
}

void CentralSystemCore::data_transfer(std::string_view identity, const rapidjson::Value& payload,
                                      rapidjson::Document& response) {
    const auto request = from_json<DataTransferRequest>(payload);
    DataTransferHandler handler;
    {
        std::lock_guard lock(mutex_);
        if (auto found = vendors_.find(request.vendor_id); found != vendors_.end()) {
            handler = found->second;
        }
    }
    std::optional<DataTransferResponse> reply;
    if (handler) reply = handler(identity, request);
    answer(response, reply.value_or(DataTransferResponse{DataTransferStatus::UnknownVendorId, {}}));
}

void CentralSystemCore::claim_vendor(std::string vendor_id, DataTransferHandler handler) {
    std::lock_guard lock(mutex_);
    vendors_[std::move(vendor_id)] = std::move(handler);
}

const ConnectorState* CentralSystemCore::find_connector(const ChargePointState& charge_point,
                                                        std::int32_t connector_id) {
    auto found = charge_point.connectors.find(connector_id);
    return found == charge_point.connectors.end() ? nullptr : &found->second;
}

const ConnectorState* CentralSystemCore::find_connector(std::string_view identity,
                                                        std::int32_t connector_id) const {
    auto cp = charge_points_.find(std::string(identity));
    return cp == charge_points_.end() ? nullptr : find_connector(cp->second, connector_id);
}

std::optional<ConnectorState> CentralSystemCore::connector(std::string_view identity,
                                                           std::int32_t connector_id) const {
    std::lock_guard lock(mutex_);
    const ConnectorState* state = find_connector(identity, connector_id);
    return state ? std::optional<ConnectorState>(*state) : std::nullopt;
}

std::optional<std::int32_t> CentralSystemCore::running_transaction(
    std::string_view identity, std::int32_t connector_id) const {
    // Asked for every SetChargingProfile: no copy of the connector's strings.
    std::lock_guard lock(mutex_);
    const ConnectorState* state = find_connector(identity, connector_id);
    return state ? state->transaction_id : std::nullopt;
}

CentralSystemCore::ChargePointRef CentralSystemCore::find_or_add(std::string_view identity) {
    std::lock_guard lock(mutex_);
    ChargePointRef ref;
    ref.state_ = &charge_points_[std::string(identity)];  // never erased: the address holds
    return ref;
}

std::optional<std::int32_t> CentralSystemCore::running_transaction(
    ChargePointRef charge_point, std::int32_t connector_id) const {
    if (!charge_point.state_) return std::nullopt;
    std::lock_guard lock(mutex_);
    const ConnectorState* state = find_connector(*charge_point.state_, connector_id);
    return state ? state->transaction_id : std::nullopt;
}

std::vector<std::pair<std::int32_t, std::int32_t>> CentralSystemCore::running_transactions(
    ChargePointRef charge_point) const {
    std::vector<std::pair<std::int32_t, std::int32_t>> out;
    if (!charge_point.state_) return out;
    std::lock_guard lock(mutex_);
    for (const auto& [connector_id, state] : charge_point.state_->connectors)
        if (state.transaction_id) out.emplace_back(connector_id, *state.transaction_id);
    return out;
}

std::optional<BootNotificationRequest> CentralSystemCore::boot_info(
    std::string_view identity) const {
    std::lock_guard lock(mutex_);
    auto cp = charge_points_.find(std::string(identity));
    return cp == charge_points_.end() ? std::nullopt : cp->second.boot;
}

std::optional<std::string> CentralSystemCore::firmware_status(std::string_view identity) const {
    std::lock_guard lock(mutex_);
    auto cp = charge_points_.find(std::string(identity));
    return cp == charge_points_.end() ? std::nullopt : cp->second.firmware_status;
}

std::optional<std::string> CentralSystemCore::diagnostics_status(std::string_view identity) const {
    std::lock_guard lock(mutex_);
    auto cp = charge_points_.find(std::string(identity));
    return cp == charge_points_.end() ? std::nullopt : cp->second.diagnostics_status;
}

}  // namespace gridgate::ocpp
