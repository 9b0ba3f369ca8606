// Typed OCPP 1.6 messages: plain structs (required fields as members,
// optional ones as std::optional) with to_json / from_json. Covers what a
// charger sends in Core (and the firmware notifications) and what the central
// system sends for smart charging, remote start/stop, availability and
// configuration. Framing lives in rpc.hpp, validation in schema.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "gridgate/ocpp/datetime.hpp"
#include "gridgate/ocpp/detail/json_fields.hpp"

namespace gridgate::ocpp {

using detail::field;

// ---------------------------------------------------------------------------
// Enumerations the central system acts on. Strings the charger merely reports
// (connector status names, error codes, measurands) stay strings: the schema
// has checked them already.

enum class RegistrationStatus { Accepted, Pending, Rejected };
enum class AuthorizationStatus { Accepted, Blocked, Expired, Invalid, ConcurrentTx };
enum class ChargingProfilePurpose { ChargePointMaxProfile, TxDefaultProfile, TxProfile };
enum class ChargingProfileKind { Absolute, Recurring, Relative };
enum class RecurrencyKind { Daily, Weekly };
enum class ChargingRateUnit { W, A };
enum class AvailabilityType { Inoperative, Operative };
enum class DataTransferStatus { Accepted, Rejected, UnknownMessageId, UnknownVendorId };

template <>
struct EnumNames<RegistrationStatus> {
    static constexpr std::array<std::string_view, 3> names{"Accepted", "Pending", "Rejected"};
};
template <>
struct EnumNames<AuthorizationStatus> {
    static constexpr std::array<std::string_view, 5> names{"Accepted", "Blocked", "Expired",
                                                           "Invalid", "ConcurrentTx"};
};
template <>
struct EnumNames<ChargingProfilePurpose> {
    static constexpr std::array<std::string_view, 3> names{"ChargePointMaxProfile",
                                                           "TxDefaultProfile", "TxProfile"};
};
template <>
struct EnumNames<ChargingProfileKind> {
    static constexpr std::array<std::string_view, 3> names{"Absolute", "Recurring", "Relative"};
};
template <>
struct EnumNames<RecurrencyKind> {
    static constexpr std::array<std::string_view, 2> names{"Daily", "Weekly"};
};
template <>
struct EnumNames<ChargingRateUnit> {
    static constexpr std::array<std::string_view, 2> names{"W", "A"};
};
template <>
struct EnumNames<AvailabilityType> {
    static constexpr std::array<std::string_view, 2> names{"Inoperative", "Operative"};
};
template <>
struct EnumNames<DataTransferStatus> {
    static constexpr std::array<std::string_view, 4> names{"Accepted", "Rejected",
                                                           "UnknownMessageId", "UnknownVendorId"};
};

// ---------------------------------------------------------------------------
// Shared types

struct IdTagInfo {
    AuthorizationStatus status = AuthorizationStatus::Invalid;
    std::optional<Timestamp> expiry_date;
    std::optional<std::string> parent_id_tag;
    static constexpr auto fields = std::tuple{field("status", &IdTagInfo::status),
                                              field("expiryDate", &IdTagInfo::expiry_date),
                                              field("parentIdTag", &IdTagInfo::parent_id_tag)};
};

struct SampledValue {
    std::string value;
    std::optional<std::string> context;
    std::optional<std::string> format;
    std::optional<std::string> measurand;
    std::optional<std::string> phase;
    std::optional<std::string> location;
    std::optional<std::string> unit;
    static constexpr auto fields = std::tuple{
        field("value", &SampledValue::value),   field("context", &SampledValue::context),
        field("format", &SampledValue::format), field("measurand", &SampledValue::measurand),
        field("phase", &SampledValue::phase),   field("location", &SampledValue::location),
        field("unit", &SampledValue::unit)};
};

struct MeterValue {
    Timestamp timestamp{};
    std::vector<SampledValue> sampled_value;
    static constexpr auto fields = std::tuple{field("timestamp", &MeterValue::timestamp),
                                              field("sampledValue", &MeterValue::sampled_value)};
};

struct ChargingSchedulePeriod {
    std::int32_t start_period = 0;
    double limit = 0.0;  // one decimal place: the schema's multipleOf 0.1
    std::optional<std::int32_t> number_phases;
    static constexpr auto fields =
        std::tuple{field("startPeriod", &ChargingSchedulePeriod::start_period),
                   field("limit", &ChargingSchedulePeriod::limit),
                   field("numberPhases", &ChargingSchedulePeriod::number_phases)};
};

struct ChargingSchedule {
    std::optional<std::int32_t> duration;
    std::optional<Timestamp> start_schedule;
    ChargingRateUnit charging_rate_unit = ChargingRateUnit::W;
    std::vector<ChargingSchedulePeriod> charging_schedule_period;
    std::optional<double> min_charging_rate;
    static constexpr auto fields =
        std::tuple{field("duration", &ChargingSchedule::duration),
                   field("startSchedule", &ChargingSchedule::start_schedule),
                   field("chargingRateUnit", &ChargingSchedule::charging_rate_unit),
                   field("chargingSchedulePeriod", &ChargingSchedule::charging_schedule_period),
                   field("minChargingRate", &ChargingSchedule::min_charging_rate)};
};

struct ChargingProfile {
    std::int32_t charging_profile_id = 0;
    std::optional<std::int32_t> transaction_id;
    std::int32_t stack_level = 0;
    ChargingProfilePurpose charging_profile_purpose = ChargingProfilePurpose::TxDefaultProfile;
    ChargingProfileKind charging_profile_kind = ChargingProfileKind::Absolute;
    std::optional<RecurrencyKind> recurrency_kind;
    std::optional<Timestamp> valid_from;
    std::optional<Timestamp> valid_to;
    ChargingSchedule charging_schedule;
    static constexpr auto fields =
        std::tuple{field("chargingProfileId", &ChargingProfile::charging_profile_id),
                   field("transactionId", &ChargingProfile::transaction_id),
                   field("stackLevel", &ChargingProfile::stack_level),
                   field("chargingProfilePurpose", &ChargingProfile::charging_profile_purpose),
                   field("chargingProfileKind", &ChargingProfile::charging_profile_kind),
                   field("recurrencyKind", &ChargingProfile::recurrency_kind),
                   field("validFrom", &ChargingProfile::valid_from),
                   field("validTo", &ChargingProfile::valid_to),
                   field("chargingSchedule", &ChargingProfile::charging_schedule)};
};

struct KeyValue {
    std::string key;
    bool readonly = false;
    std::optional<std::string> value;
    static constexpr auto fields =
        std::tuple{field("key", &KeyValue::key), field("readonly", &KeyValue::readonly),
                   field("value", &KeyValue::value)};
};

// ---------------------------------------------------------------------------
// Sent by the charge point

struct BootNotificationRequest {
    static constexpr std::string_view action = "BootNotification";
    std::string charge_point_vendor;
    std::string charge_point_model;
    std::optional<std::string> charge_point_serial_number;
    std::optional<std::string> charge_box_serial_number;
    std::optional<std::string> firmware_version;
    std::optional<std::string> iccid;
    std::optional<std::string> imsi;
    std::optional<std::string> meter_type;
    std::optional<std::string> meter_serial_number;
    static constexpr auto fields = std::tuple{
        field("chargePointVendor", &BootNotificationRequest::charge_point_vendor),
        field("chargePointModel", &BootNotificationRequest::charge_point_model),
        field("chargePointSerialNumber", &BootNotificationRequest::charge_point_serial_number),
        field("chargeBoxSerialNumber", &BootNotificationRequest::charge_box_serial_number),
        field("firmwareVersion", &BootNotificationRequest::firmware_version),
        field("iccid", &BootNotificationRequest::iccid),
        field("imsi", &BootNotificationRequest::imsi),
        field("meterType", &BootNotificationRequest::meter_type),
        field("meterSerialNumber", &BootNotificationRequest::meter_serial_number)};
};

struct BootNotificationResponse {
    RegistrationStatus status = RegistrationStatus::Accepted;
    Timestamp current_time{};
    std::int32_t interval = 0;
    static constexpr auto fields =
        std::tuple{field("status", &BootNotificationResponse::status),
                   field("currentTime", &BootNotificationResponse::current_time),
                   field("interval", &BootNotificationResponse::interval)};
};

struct HeartbeatRequest {
    static constexpr std::string_view action = "Heartbeat";
    static constexpr auto fields = std::tuple{};
};

struct HeartbeatResponse {
    Timestamp current_time{};
    static constexpr auto fields =
        std::tuple{field("currentTime", &HeartbeatResponse::current_time)};
};

struct StatusNotificationRequest {
    static constexpr std::string_view action = "StatusNotification";
    std::int32_t connector_id = 0;
    std::string error_code;
    std::optional<std::string> info;
    std::string status;
    std::optional<Timestamp> timestamp;
    std::optional<std::string> vendor_id;
    std::optional<std::string> vendor_error_code;
    static constexpr auto fields =
        std::tuple{field("connectorId", &StatusNotificationRequest::connector_id),
                   field("errorCode", &StatusNotificationRequest::error_code),
                   field("info", &StatusNotificationRequest::info),
                   field("status", &StatusNotificationRequest::status),
                   field("timestamp", &StatusNotificationRequest::timestamp),
                   field("vendorId", &StatusNotificationRequest::vendor_id),
                   field("vendorErrorCode", &StatusNotificationRequest::vendor_error_code)};
};

struct MeterValuesRequest {
    static constexpr std::string_view action = "MeterValues";
    std::int32_t connector_id = 0;
    std::optional<std::int32_t> transaction_id;
    std::vector<MeterValue> meter_value;
    static constexpr auto fields =
        std::tuple{field("connectorId", &MeterValuesRequest::connector_id),
                   field("transactionId", &MeterValuesRequest::transaction_id),
                   field("meterValue", &MeterValuesRequest::meter_value)};
};

struct AuthorizeRequest {
    static constexpr std::string_view action = "Authorize";
    std::string id_tag;
    static constexpr auto fields = std::tuple{field("idTag", &AuthorizeRequest::id_tag)};
};

struct AuthorizeResponse {
    IdTagInfo id_tag_info;
    static constexpr auto fields = std::tuple{field("idTagInfo", &AuthorizeResponse::id_tag_info)};
};

struct StartTransactionRequest {
    static constexpr std::string_view action = "StartTransaction";
    std::int32_t connector_id = 0;
    std::string id_tag;
    std::int64_t meter_start = 0;
    std::optional<std::int32_t> reservation_id;
    Timestamp timestamp{};
    static constexpr auto fields =
        std::tuple{field("connectorId", &StartTransactionRequest::connector_id),
                   field("idTag", &StartTransactionRequest::id_tag),
                   field("meterStart", &StartTransactionRequest::meter_start),
                   field("reservationId", &StartTransactionRequest::reservation_id),
                   field("timestamp", &StartTransactionRequest::timestamp)};
};

struct StartTransactionResponse {
    IdTagInfo id_tag_info;
    std::int32_t transaction_id = 0;
    static constexpr auto fields =
        std::tuple{field("idTagInfo", &StartTransactionResponse::id_tag_info),
                   field("transactionId", &StartTransactionResponse::transaction_id)};
};

struct StopTransactionRequest {
    static constexpr std::string_view action = "StopTransaction";
    std::optional<std::string> id_tag;
    std::int64_t meter_stop = 0;
    Timestamp timestamp{};
    std::int32_t transaction_id = 0;
    std::optional<std::string> reason;
    std::optional<std::vector<MeterValue>> transaction_data;
    static constexpr auto fields =
        std::tuple{field("idTag", &StopTransactionRequest::id_tag),
                   field("meterStop", &StopTransactionRequest::meter_stop),
                   field("timestamp", &StopTransactionRequest::timestamp),
                   field("transactionId", &StopTransactionRequest::transaction_id),
                   field("reason", &StopTransactionRequest::reason),
                   field("transactionData", &StopTransactionRequest::transaction_data)};
};

struct StopTransactionResponse {
    std::optional<IdTagInfo> id_tag_info;
    static constexpr auto fields =
        std::tuple{field("idTagInfo", &StopTransactionResponse::id_tag_info)};
};

// DataTransfer goes both ways; the same structs serve either direction.
struct DataTransferRequest {
    static constexpr std::string_view action = "DataTransfer";
    std::string vendor_id;
    std::optional<std::string> message_id;
    std::optional<std::string> data;
    static constexpr auto fields = std::tuple{field("vendorId", &DataTransferRequest::vendor_id),
                                              field("messageId", &DataTransferRequest::message_id),
                                              field("data", &DataTransferRequest::data)};
};

struct DataTransferResponse {
    DataTransferStatus status = DataTransferStatus::UnknownVendorId;
    std::optional<std::string> data;
    static constexpr auto fields = std::tuple{field("status", &DataTransferResponse::status),
                                              field("data", &DataTransferResponse::data)};
};

struct FirmwareStatusNotificationRequest {
    static constexpr std::string_view action = "FirmwareStatusNotification";
    std::string status;
    static constexpr auto fields =
        std::tuple{field("status", &FirmwareStatusNotificationRequest::status)};
};

struct DiagnosticsStatusNotificationRequest {
    static constexpr std::string_view action = "DiagnosticsStatusNotification";
    std::string status;
    static constexpr auto fields =
        std::tuple{field("status", &DiagnosticsStatusNotificationRequest::status)};
};

// From the OCPP 1.6 security extension (security whitepaper, edition 2): a
// charger reports a security event (`type` such as TamperDetectionActivated
// or StartupOfTheDevice, at most 50 characters; `techInfo` at most 255).
struct SecurityEventNotificationRequest {
    static constexpr std::string_view action = "SecurityEventNotification";
    std::string type;
    Timestamp timestamp{};
    std::optional<std::string> tech_info;
    static constexpr auto fields =
        std::tuple{field("type", &SecurityEventNotificationRequest::type),
                   field("timestamp", &SecurityEventNotificationRequest::timestamp),
                   field("techInfo", &SecurityEventNotificationRequest::tech_info)};
};

// The empty confirmation of StatusNotification, MeterValues,
// FirmwareStatusNotification, DiagnosticsStatusNotification and
// SecurityEventNotification.
struct EmptyResponse {
    static constexpr auto fields = std::tuple{};
};

// ---------------------------------------------------------------------------
// Sent by the central system

struct SetChargingProfileRequest {
    static constexpr std::string_view action = "SetChargingProfile";
    std::int32_t connector_id = 0;
    ChargingProfile cs_charging_profiles;
    static constexpr auto fields =
        std::tuple{field("connectorId", &SetChargingProfileRequest::connector_id),
                   field("csChargingProfiles", &SetChargingProfileRequest::cs_charging_profiles)};
};

struct RemoteStartTransactionRequest {
    static constexpr std::string_view action = "RemoteStartTransaction";
    std::optional<std::int32_t> connector_id;
    std::string id_tag;
    std::optional<ChargingProfile> charging_profile;
    static constexpr auto fields =
        std::tuple{field("connectorId", &RemoteStartTransactionRequest::connector_id),
                   field("idTag", &RemoteStartTransactionRequest::id_tag),
                   field("chargingProfile", &RemoteStartTransactionRequest::charging_profile)};
};

struct RemoteStopTransactionRequest {
    static constexpr std::string_view action = "RemoteStopTransaction";
    std::int32_t transaction_id = 0;
    static constexpr auto fields =
        std::tuple{field("transactionId", &RemoteStopTransactionRequest::transaction_id)};
};

struct ChangeAvailabilityRequest {
    static constexpr std::string_view action = "ChangeAvailability";
    std::int32_t connector_id = 0;
    AvailabilityType type = AvailabilityType::Operative;
    static constexpr auto fields =
        std::tuple{field("connectorId", &ChangeAvailabilityRequest::connector_id),
                   field("type", &ChangeAvailabilityRequest::type)};
};

struct GetConfigurationRequest {
    static constexpr std::string_view action = "GetConfiguration";
    std::optional<std::vector<std::string>> key;
    static constexpr auto fields = std::tuple{field("key", &GetConfigurationRequest::key)};
};

struct GetConfigurationResponse {
    std::optional<std::vector<KeyValue>> configuration_key;
    std::optional<std::vector<std::string>> unknown_key;
    static constexpr auto fields =
        std::tuple{field("configurationKey", &GetConfigurationResponse::configuration_key),
                   field("unknownKey", &GetConfigurationResponse::unknown_key)};
};

// The `{"status": "..."}` answer of SetChargingProfile, RemoteStart/Stop,
// ChangeAvailability and most other central-system calls. The status stays a
// string: the caller compares it with the values it counts as success.
struct StatusResponse {
    std::string status;
    static constexpr auto fields = std::tuple{field("status", &StatusResponse::status)};
};

}  // namespace gridgate::ocpp
