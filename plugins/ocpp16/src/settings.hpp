// The ocpp16 plugin's configuration: the [adapters.X] table (the central
// system's listener, security profile, timeouts, id tag policy) and each
// charger asset's keys, read and checked with FILE:LINE:COL diagnostics.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "charging_profile.hpp"
#include "gridgate/sdk/config.hpp"
#include "gridgate/sdk/host.hpp"

namespace gridgate::ocpp16 {

struct ListenerSettings {
    std::string host = "0.0.0.0";
    std::uint16_t port = 9000;
    std::string path = "/ocpp";
    int heartbeat_interval_seconds = 300;
    int security_profile = 0;
    std::string tls_certificate;
    std::string tls_private_key;
    double call_timeout_seconds = 30.0;
    double ping_interval_seconds = 30.0;
    std::size_t max_frame_bytes = 65536;
    int io_threads = 1;
    bool accept_all_id_tags = true;
    std::set<std::string, std::less<>> id_tags;
};

struct ChargerSettings {
    std::string asset_id;
    std::string charge_point_id;
    ChargerProfileSettings profile;
    std::optional<std::string> password;
    std::string id_tag = "gridgate";
};

struct Settings {
    ListenerSettings listener;
    std::vector<ChargerSettings> chargers;
    // Not errors, but likely mistakes (sdk::warning()): validate() returns them.
    std::vector<sdk::ConfigDiagnostic> warnings;
};

// Reads the adapter's configuration (already checked against the declared
// keys) and appends every problem beyond them to `problems`.
Settings read_settings(const sdk::AdapterConfig& config,
                       std::vector<sdk::ConfigDiagnostic>& problems);

}  // namespace gridgate::ocpp16
