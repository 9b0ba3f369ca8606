// The machine's floor for bench-ocpp's figures: the same exchange (one frame
// out to every connection at once, one short answer back) done by a bare
// epoll loop over plain loopback TCP sockets, with no WebSocket, JSON, schema
// or engine. Measured in the same run as the gateway, so a noisy or slow
// moment shows in both.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace gridgate::tools {

struct FloorRound {
    std::vector<double> sent_ms;       // per connection: start -> its send() returned
    double last_answer_ms = 0;         // start -> the last answer read
    double cpu_us_per_round_trip = 0;  // the sending thread's CPU (send, epoll, read)
    double kernel_share_percent = 0;   // of that CPU, the part in the kernel
};

struct FloorResult {
    std::vector<FloorRound> rounds;
    std::string error;  // empty when measured
};

// About a SetChargingProfile CALL frame, and its CALLRESULT.
constexpr std::size_t kFloorFrameBytes = 400;
constexpr std::size_t kFloorAnswerBytes = 60;

// Opens `connections` loopback TCP connections whose far ends live in a
// forked process that answers each frame it reads with `answer_bytes`, then,
// `rounds` times, sends `frame_bytes` on every connection in a tight loop
// from one thread and reads every answer. Needs about `connections` + 16
// free descriptors in this process.
FloorResult measure_floor(std::size_t connections, std::size_t rounds,
                          std::size_t frame_bytes = kFloorFrameBytes,
                          std::size_t answer_bytes = kFloorAnswerBytes);

// What this machine charges for memory left untouched between storms: the
// time to touch again, after `idle`, memory touched just before, per 4 KiB
// page, mapped in 4 KiB pages and in huge pages. Where the kernel or the
// host ages idle memory (this VM runs DAMON with a pageout scheme), the
// first touch after an idle spell costs far more than a cache miss, and a
// storm pays it for each page of code and data that sat idle since the last
// one; the floor touches almost none.
struct ColdTouch {
    double small_pages_us = 0;  // per 4 KiB page, in 4 KiB pages
    double huge_pages_us = 0;   // per 4 KiB page, in huge pages
    bool huge = false;          // the kernel did give huge pages
    std::string error;          // empty when measured
};
ColdTouch measure_cold_touch(std::chrono::milliseconds idle, std::size_t bytes = 8u << 20);

}  // namespace gridgate::tools
