// The adapter interface: how the host hands a command to a protocol adapter,
// how the adapter reports the outcome, and what it tells the host about the
// assets it drives.
//
// Lifecycle, as the host drives it: create (Plugin::create_adapter) ->
// start() -> execute() / supports() / state() from any thread -> stop() ->
// destroy. Every member is noexcept: see status.hpp for the helpers that turn
// a plugin's exception into a Status or a failed CommandResult.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gridgate/sdk/command.hpp"
#include "gridgate/sdk/completion.hpp"
#include "gridgate/sdk/status.hpp"

namespace gridgate::sdk {

/// One telemetry reading, e.g. {"soc", 55.0}. A stale value is the last one
/// read before the asset stopped answering: shown, but not to be trusted.
struct TelemetryValue {
    std::string name;
    double value = 0.0;
    bool stale = false;

    friend bool operator==(const TelemetryValue&, const TelemetryValue&) = default;
};

/// What an adapter knows about one asset right now.
struct AssetState {
    bool connected = false;
    std::optional<TimePoint> last_seen;  // the last time the asset answered
    std::vector<TelemetryValue> telemetry;

    const TelemetryValue* find(std::string_view name) const noexcept {
        for (const auto& t : telemetry)
            if (t.name == name) return &t;
        return nullptr;
    }
};

/// A protocol adapter instance (one `[adapters.X]` table of the site file)
/// driving the assets bound to it.
///
/// Thread-safety: execute(), supports() and state() may be called from any
/// thread, concurrently; start() and stop() are called once each, by the host,
/// never concurrently with each other.
class Adapter {
  public:
    virtual ~Adapter() = default;

    /// Starts sending `command` and returns without blocking. The adapter
    /// calls `done` exactly once, from any thread, possibly before execute()
    /// returns. Must not throw (wrap the body in guarded_execute()).
    virtual void execute(const Command& command, Completion done) noexcept = 0;

    /// Opens listeners, connections and threads. Called once, before any
    /// execute(). A failure stops the gateway from starting, with the message.
    virtual Status start() noexcept { return Status::ok(); }

    /// Stops all I/O and joins the adapter's threads. Commands still in flight
    /// are completed with a retryable failure before stop() returns; after it
    /// returns the adapter calls nothing of the host's (no completion, event
    /// or log), because the host is about to destroy it and unload its library.
    virtual void stop() noexcept {}

    /// Whether this adapter can carry `type` to `asset_id`. The host fails a
    /// command it cannot carry with a clear error instead of sending it.
    virtual bool supports(std::string_view asset_id, CommandType type) const noexcept {
        (void)asset_id;
        (void)type;
        return true;
    }

    /// The asset's connection, last contact and latest telemetry.
    virtual AssetState state(std::string_view asset_id) const noexcept {
        (void)asset_id;
        return {};
    }
};

}  // namespace gridgate::sdk
