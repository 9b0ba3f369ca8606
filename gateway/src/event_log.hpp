// Renders engine events as one log line each, and counts them in metrics.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "gridgate/engine/events.hpp"
#include "gridgate/http/metrics.hpp"

namespace gridgate::gateway {

/// "COMMAND_FAILED command_id=cmd_… asset_id=… type=SET_CHARGE_RATE status=PENDING
/// retry_count=1 power_kw=22 error=\"Rejected\"": the fields an operator greps for.
std::string format_event(const engine::Event& event);

/// Updates the counters an event moves. `adapter_of` names the adapter instance
/// that drives an asset ("" if none). Runs on the engine strand.
void count_event(const engine::Event& event, http::Metrics& metrics,
                 const std::function<std::string_view(std::string_view asset_id)>& adapter_of);

}  // namespace gridgate::gateway
