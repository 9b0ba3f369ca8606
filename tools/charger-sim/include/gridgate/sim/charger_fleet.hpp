// A fleet of simulated OCPP 1.6-J charge points: Beast WebSocket clients
// (plain or TLS, optional HTTP Basic auth) that boot, send status and
// heartbeats, optionally start a transaction, and answer the central
// system's calls as each charger is told to: accept, reject, delay or never
// answer. Everything they receive is reported to an observer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace gridgate::sim {

// How a charger answers the central system's calls.
struct AnswerMode {
    // Invalid: an answer no OCPP 1.6 response schema allows (a charger's
    // firmware bug), to see what the central system makes of it.
    enum class Kind { Accept, Reject, Delay, Silent, Invalid };
    Kind kind = Kind::Accept;
    std::chrono::milliseconds delay{0};  // Delay: answer Accepted after this long

    // "accept", "reject", "delay:MS", "silent", "invalid"; nullopt for
    // anything else.
    static std::optional<AnswerMode> parse(std::string_view text);
    std::string to_string() const;
};

// What a charger does once its WebSocket is open.
enum class Greeting {
    Boot,    // BootNotification, then each connector's status (after a power-up)
    Status,  // each connector's status, no boot (back after a network drop)
    Silent,  // nothing until the central system calls
};
// Without a boot a charger heartbeats only every FleetOptions::heartbeat_interval.

// "boot", "status", "silent"; nullopt for anything else.
std::optional<Greeting> parse_greeting(std::string_view text);

struct ChargerOptions {
    std::string identity;
    Greeting greeting = Greeting::Boot;
    AnswerMode answer;
    std::optional<std::string> password;  // HTTP Basic auth (profiles 1 and 2)
    int connectors = 1;
    // Sent as StartTransaction on transaction_connector after boot.
    bool start_transaction = false;
    // Where start_transaction, and a RemoteStartTransaction naming no
    // connector, start a transaction.
    int transaction_connector = 1;
    std::string id_tag = "SIMTAG01";
    // The GetConfiguration value of ChargingScheduleAllowedChargingRateUnit.
    std::string allowed_charging_rate_unit = "Current,Power";
    // Answers Rejected to a TxProfile whose transactionId is not running on
    // its connector here, as OCPP 1.6 tells a charger to (3.13.2); off, it
    // takes any profile its answer mode accepts.
    bool strict_tx_profiles = false;
    // While a transaction runs on a connector, MeterValues this often: the
    // power drawn, Power.Active.Import in W (a car that takes all it is
    // offered: the connector's last accepted charging profile, within the
    // ChargePointMaxProfile, else car_max_w; an A limit as A x 230 V x its
    // phases), and the energy register, Energy.Active.Import.Register in Wh.
    std::optional<std::chrono::milliseconds> meter_interval;
    double car_max_w = 11000;
};

struct FleetOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 9000;
    std::string path = "/ocpp";
    bool tls = false;
    std::string ca_file;        // TLS: verify the server against this CA
    bool tls_insecure = false;  // TLS: accept any certificate
    // Heartbeats follow BootNotification's interval unless this caps it.
    std::optional<std::chrono::milliseconds> heartbeat_interval;
    bool reconnect = true;
    std::chrono::milliseconds reconnect_delay{1000};
    // The TCP connect and the TLS handshake must be done within this (the
    // WebSocket upgrade has Beast's own handshake timeout).
    std::chrono::milliseconds connect_timeout{10000};
    // Log heartbeats and status exchanges too (they are noisy).
    bool verbose = false;
    // The kinds of event (SimEvent::kind) the observer is given; empty: all.
    // Events of other kinds are not even built, which matters in a storm.
    std::vector<std::string> report_kinds;
};

// One line of the simulator's report, also rendered as a JSON line.
struct SimEvent {
    std::string identity;
    // connected, booted, call (a CALL received), answered, disconnected,
    // handshake_failed, transaction_started
    std::string kind;
    std::string action;      // call / answered
    std::string message_id;  // call / answered
    std::string payload;     // call: the CALL payload as JSON text
    std::string detail;      // disconnected / handshake_failed: why; answered: the answer
    // When it happened; for a call, when its frame was read off the socket.
    std::chrono::system_clock::time_point at{};
    // {"t":"2026-11-27T04:00:00.123456Z","cp":...}: `t` is `at` to the microsecond.
    std::string to_json_line() const;
};

// The payload of a CALL frame that parsed, as the sender wrote it: what
// follows the third element, up to the closing bracket, without the spaces
// around it. The report shows it without a second serialization. Empty if
// the frame is not shaped like a CALL.
std::string_view call_payload_text(std::string_view frame);

namespace detail {
struct FleetShared;
}

// Thread-safety: start/stop and the queries from any thread; everything
// else runs on the io_contexts given, each of which must be run by exactly
// one thread (a charger lives on one of them, in turn, with no strand).
// The observer is called on those I/O threads and must not block.
class ChargerFleet {
  public:
    ChargerFleet(boost::asio::io_context& io, FleetOptions options,
                 std::vector<ChargerOptions> chargers,
                 std::function<void(const SimEvent&)> observer = {});
    // `contexts` must not be empty; each outlives the fleet.
    ChargerFleet(std::vector<boost::asio::io_context*> contexts, FleetOptions options,
                 std::vector<ChargerOptions> chargers,
                 std::function<void(const SimEvent&)> observer = {});
    ~ChargerFleet();
    ChargerFleet(const ChargerFleet&) = delete;
    ChargerFleet& operator=(const ChargerFleet&) = delete;

    void start();
    // Closes every connection; no reconnects after this.
    void stop();

    std::size_t connected_count() const;
    std::size_t booted_count() const;

    // Changes how `identity` answers from now on.
    void set_answer(std::string_view identity, AnswerMode mode);
    // Sends a raw text frame from `identity` (tests use it for bad frames).
    void send_raw(std::string_view identity, std::string frame);

  private:
    std::shared_ptr<detail::FleetShared> shared_;
};

// The identities CP0001, CP0002, ... (`width` digits, at least).
std::vector<std::string> numbered_identities(std::string_view prefix, std::size_t count,
                                             std::size_t first = 1, std::size_t width = 4);

}  // namespace gridgate::sim
