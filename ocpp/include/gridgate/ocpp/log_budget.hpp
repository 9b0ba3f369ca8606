// How many log lines one charger's faults may write: a charger whose
// firmware repeats a broken message in a loop would otherwise write a line
// per message, and a site's journal would hold hours instead of weeks. The
// first kLinesPerWindow lines of a minute are written; the rest of that
// minute's are counted, and the count is written with the next line allowed
// (and when the charger goes), so none passes without a trace.
//
// Thread-safety: none; its owner serialises the calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace gridgate::ocpp {

class LogBudget {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::uint32_t kLinesPerWindow = 10;
    static constexpr Clock::duration kWindow = std::chrono::minutes(1);

    struct Verdict {
        bool write = false;           // write this line
        bool last = false;            // ...and say that the rest of the minute's are counted
        std::uint64_t unwritten = 0;  // lines counted since the last written one: say so first
    };

    // One line that wants writing at `now`.
    Verdict spend(Clock::time_point now) {
        if (lines_ == 0 || now - window_start_ >= kWindow) {
            window_start_ = now;
            lines_ = 0;
        }
        if (lines_ == kLinesPerWindow) {
            ++unwritten_;
            return {};
        }
        ++lines_;
        Verdict verdict{true, lines_ == kLinesPerWindow, unwritten_};
        unwritten_ = 0;
        return verdict;
    }

    // The lines counted and not yet reported; they count as reported now.
    std::uint64_t take_unwritten() noexcept {
        const std::uint64_t n = unwritten_;
        unwritten_ = 0;
        return n;
    }

  private:
    Clock::time_point window_start_{};
    std::uint32_t lines_ = 0;  // written in the current window
    std::uint64_t unwritten_ = 0;
};

// "CP1: 523 warnings about its messages were not logged (over 10 a minute)"
inline std::string unwritten_line(std::string_view who, std::string_view what, std::uint64_t n) {
    return std::string(who) + ": " + std::to_string(n) + " " + std::string(what) +
           " were not logged (over " + std::to_string(LogBudget::kLinesPerWindow) + " a minute)";
}

// Writes `line` through `write` if `budget` allows it at `now`: first, if
// lines were held back since the last one written, a line saying how many;
// the minute's last line allowed says that the rest will be counted. `who`
// names the charger, `what` its lines ("warnings about its messages").
template <class Write>
void write_within(LogBudget& budget, LogBudget::Clock::time_point now, std::string_view who,
                  std::string_view what, std::string line, Write&& write) {
    const LogBudget::Verdict verdict = budget.spend(now);
    if (!verdict.write) return;
    if (verdict.unwritten > 0) write(unwritten_line(who, what, verdict.unwritten));
    if (verdict.last) {
        line += " (";
        line += std::to_string(LogBudget::kLinesPerWindow);
        line += " ";
        line += what;
        line += " this minute: the rest of the minute's are counted, not logged)";
    }
    write(std::move(line));
}

}  // namespace gridgate::ocpp
