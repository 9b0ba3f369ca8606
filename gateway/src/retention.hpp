// When the hourly retention pass (DispatchEngine::forget_finished_before) may
// run. The pass holds the engine's strand for a time in proportion to every
// command held (bench-engine's ForgetAnHour: about 60 ms per million on a
// 2-core machine; a week of 15-minute slots at 10,000 chargers is 6.7
// million), and a command falling due meanwhile would wait for it. So the
// pass waits for a quiet moment: no command due within `quiet` of now. While
// one is, it tries again a little after that command's time, once its
// dispatch and the first answers are through; after `max_wait` it runs all
// the same (a site with something due every few seconds has no quiet moment).
#pragma once
#include <algorithm>
#include <chrono>
#include <optional>

#include "gridgate/sdk/command.hpp"

namespace gridgate::gateway {

struct RetentionPlan {
    bool run_now = true;
    bool forced = false;        // runs though a command falls due soon: max_wait is up
    sdk::TimePoint retry_at{};  // when !run_now
};

struct RetentionPolicy {
    // The gap to the next due command the pass needs, beyond its own length.
    sdk::Clock::duration quiet = std::chrono::seconds(1);
    // After a due command's time, how long to leave its dispatch and answers.
    sdk::Clock::duration settle = std::chrono::seconds(2);
    sdk::Clock::duration max_wait = std::chrono::minutes(30);

    // `first_try`: when this hour's pass first wanted to run; `last_pass`:
    // how long the previous pass took (zero before the first).
    RetentionPlan plan(sdk::TimePoint now, std::optional<sdk::TimePoint> next_due,
                       sdk::TimePoint first_try, sdk::Clock::duration last_pass) const {
        if (!next_due || *next_due - now >= quiet + 2 * last_pass) return {};
        if (now - first_try >= max_wait) return {true, true, {}};
        return {false, false, std::max(*next_due, now) + settle};
    }
};

}  // namespace gridgate::gateway
