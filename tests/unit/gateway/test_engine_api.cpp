// The daemon's API backend (EngineApi) over a real engine, behind the real API
// server on loopback: what a client is told about a schedule matches what the
// engine did with it, even when the engine's strand is slow.
//
// The Gateway builds its ApiServerOptions from the site file, which has no
// backend timeout (30 s), so these tests wire EngineApi to the server the way
// the Gateway does, with a timeout short enough to test.
#include "engine_api.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "eventually.hpp"
#include "gridgate/http/api_server.hpp"
#include "http_client.hpp"

namespace gridgate::gateway {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using tools::http_request;

constexpr std::chrono::milliseconds kBackendTimeout{150};
const std::string kSchedule =
    "timestamp,battery_charge_kw\n2099-01-15T08:00:00Z,5\n2099-01-15T09:00:00Z,7\n";

using test::eventually;

/// `rows` one-second slots of battery_charge_kw from 2099-01-15T08:00:00Z,
/// alternating between two values so that every row makes a command.
std::string battery_csv(std::size_t rows, int low = 0) {
    std::string csv = "timestamp,battery_charge_kw\n";
    char line[64];
    for (std::size_t i = 0; i < rows; ++i) {
        std::snprintf(line, sizeof line, "2099-01-15T%02zu:%02zu:%02zuZ,%d\n", 8 + i / 3600,
                      i / 60 % 60, i % 60, low + static_cast<int>(i % 2));
        csv += line;
    }
    return csv;
}

std::vector<std::string> command_ids(const std::string& json) {
    static const std::regex id("cmd_[0-9a-f]{12}");
    std::vector<std::string> ids;
    for (std::sregex_iterator it(json.begin(), json.end(), id), end; it != end; ++it)
        ids.push_back(it->str());
    return ids;
}

class EngineApiTest : public ::testing::Test {
  protected:
    EngineApiTest() {
        config::AssetConfig battery;
        battery.id = "ast_batt_001";
        battery.type = "battery";
        battery.adapter = "sim";
        site_.assets.push_back(battery);
        site_.asset_map["battery"] = "ast_batt_001";

        api_.emplace(EngineApi::Parts{strand_, engine_, site_, registry_, metrics_,
                                      [this] { on_new_commands(); }});
        http::ApiServerOptions options;
        options.port = 0;
        options.backend_timeout = kBackendTimeout;
        server_.emplace(ioc_, options, *api_);
        if (server_->start()) throw std::runtime_error("the API server did not start");
        for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
    }

    ~EngineApiTest() override {
        free_strand();
        std::atomic<bool> stopped{false};
        server_->stop([&] { stopped = true; });
        eventually([&] { return stopped.load(); });
        work_.reset();
        ioc_.stop();
        for (auto& t : threads_) t.join();
        server_.reset();
    }

    // An on_new_commands hook that, in the first schedule's first piece,
    // posts a second schedule (`csv`) from another thread, its reply in
    // `second`, gives it time to reach the strand, then runs `then` there.
    static std::function<void()> post_during_first_piece(std::atomic<std::size_t>& pieces,
                                                         std::future<tools::HttpReply>& second,
                                                         std::optional<http::ApiServer>& server,
                                                         std::string csv,
                                                         std::function<void()> then = {}) {
        return [&pieces, &second, &server, csv = std::move(csv), then = std::move(then)] {
            if (++pieces != 1) return;
            second = std::async(std::launch::async, [&server, csv] {
                return http_request(server->port(), "POST", "/api/v1/schedules", csv, "text/csv");
            });
            std::this_thread::sleep_for(300ms);
            if (then) then();
        };
    }

    // Keeps the engine strand busy until free_strand().
    void occupy_strand() {
        strand_release_.emplace();
        auto busy = std::make_shared<std::atomic<bool>>(false);
        net::post(strand_, [busy, released = strand_release_->get_future()]() {
            *busy = true;
            released.wait();
        });
        ASSERT_TRUE(eventually([&] { return busy->load(); }));
    }
    void free_strand() {
        if (strand_release_) strand_release_->set_value();
        strand_release_.reset();
    }

    // Waits until the strand has run everything posted to it so far.
    void flush_strand() {
        std::promise<void> flushed;
        net::post(strand_, [&] { flushed.set_value(); });
        flushed.get_future().get();
    }

    tools::HttpReply post_schedule() {
        return http_request(server_->port(), "POST", "/api/v1/schedules", kSchedule, "text/csv");
    }
    tools::HttpReply list_commands() {
        return http_request(server_->port(), "GET", "/api/v1/commands");
    }

    net::io_context ioc_;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{
        net::make_work_guard(ioc_)};
    EngineStrand strand_{net::make_strand(ioc_)};
    engine::DispatchEngine engine_;
    config::SiteConfig site_;
    AdapterRegistry registry_;
    http::Metrics metrics_;
    // Runs on the strand after the engine has made a schedule's commands,
    // before the answer: slow here, slow to answer.
    std::function<void()> on_new_commands = [] {};
    std::optional<std::promise<void>> strand_release_;
    std::optional<EngineApi> api_;
    std::optional<http::ApiServer> server_;
    std::vector<std::thread> threads_;
};

TEST_F(EngineApiTest, AScheduleTheEngineCannotTakeInTimeIs503AndIsNeverApplied) {
    occupy_strand();
    auto refused = post_schedule();
    EXPECT_EQ(refused.status, 503u) << refused.body;
    free_strand();

    // The strand runs the posted schedule before this listing: it drops it.
    auto listed = list_commands();
    ASSERT_EQ(listed.status, 200u);
    EXPECT_EQ(listed.body, R"({"commands":[]})");

    // Posting it again applies it, once.
    auto accepted = post_schedule();
    ASSERT_EQ(accepted.status, 201u) << accepted.body;
    auto ids = command_ids(accepted.body);
    EXPECT_EQ(ids.size(), 2u) << accepted.body;
    EXPECT_EQ(command_ids(list_commands().body), ids);
}

TEST_F(EngineApiTest, AScheduleTheEngineTookIsAnsweredWithItsCommandsHoweverLate) {
    on_new_commands = [] { std::this_thread::sleep_for(4 * kBackendTimeout); };
    auto accepted = post_schedule();
    ASSERT_EQ(accepted.status, 201u) << accepted.body;
    auto ids = command_ids(accepted.body);
    EXPECT_EQ(ids.size(), 2u) << accepted.body;
    EXPECT_EQ(command_ids(list_commands().body), ids);
}

// A listing of many commands is read a page per strand hop: the strand's
// other work (dispatch, other requests) runs between its pages.
TEST_F(EngineApiTest, ALongListingLeavesTheStrandToOtherWorkBetweenPages) {
    // This test's own server: the fixture's backend timeout is too short
    // for a listing that waits behind a busy strand.
    http::ApiServerOptions options;
    options.port = 0;
    options.backend_timeout = 20s;
    http::ApiServer server(ioc_, options, *api_);
    ASSERT_FALSE(server.start());

    const std::size_t count = 3 * EngineApi::kListPageCommands;
    std::string csv = "timestamp,battery_charge_kw\n";
    for (std::size_t i = 0; i < count; ++i)
        csv += "2099-01-15T08:" + std::to_string(10 + i / 60) + ":" + std::to_string(i % 60 / 10) +
               std::to_string(i % 10) + "Z," + std::to_string(i % 2) + "\n";
    auto accepted = http_request(server.port(), "POST", "/api/v1/schedules", csv, "text/csv");
    ASSERT_EQ(accepted.status, 201u) << accepted.body;
    ASSERT_EQ(command_ids(accepted.body).size(), count);

    occupy_strand();
    auto listing = std::async(
        std::launch::async, [&] { return http_request(server.port(), "GET", "/api/v1/commands"); });
    std::this_thread::sleep_for(300ms);  // the listing's first page waits on the strand
    // Queued behind that first page: a command added by other strand work.
    std::promise<sdk::CommandId> added;
    net::post(strand_, [&] {
        engine::NewCommand stop{"ast_batt_001", sdk::CommandType::ChangeAvailability, {}, {}};
        stop.parameters.operative = false;
        added.set_value(engine_.add_command(stop));
    });
    free_strand();
    auto reply = listing.get();
    ASSERT_EQ(reply.status, 200u) << reply.body.substr(0, 200);
    auto ids = command_ids(reply.body);
    const std::string marker = added.get_future().get().str();
    // Read after the other work ran: the listing has it, last.
    ASSERT_EQ(ids.size(), count + 1);
    EXPECT_EQ(ids.back(), marker);
    auto before = command_ids(accepted.body);
    EXPECT_TRUE(std::equal(before.begin(), before.end(), ids.begin()));

    std::atomic<bool> stopped{false};
    server.stop([&] { stopped = true; });
    EXPECT_TRUE(eventually([&] { return stopped.load(); }));
}

// A large schedule is applied a piece per strand hop: the strand's other
// work (dispatch, completions, /healthz, other requests) runs between its
// pieces, and the answer lists every command once the last piece is in.
TEST_F(EngineApiTest, ALargeScheduleLeavesTheStrandToOtherWorkBetweenPieces) {
    constexpr std::size_t kPiece = 100;
    constexpr std::size_t kRows = 10 * kPiece;
    std::atomic<std::size_t> pieces{0};
    std::promise<std::pair<std::size_t, std::size_t>> between;  // (pieces, commands) seen
    EngineApi api(EngineApi::Parts{strand_, engine_, site_, registry_, metrics_,
                                   [&] {
                                       // After each piece, on the strand; each piece is
                                       // slow here, so the schedule takes a while.
                                       if (++pieces == 1) {
                                           net::post(strand_, [&] {
                                               between.set_value({pieces.load(), engine_.size()});
                                           });
                                       }
                                       std::this_thread::sleep_for(30ms);
                                   },
                                   kPiece});
    http::ApiServerOptions options;
    options.port = 0;
    options.backend_timeout = 20s;
    http::ApiServer server(ioc_, options, api);
    ASSERT_FALSE(server.start());

    auto posted = std::async(std::launch::async, [&] {
        return http_request(server.port(), "POST", "/api/v1/schedules", battery_csv(kRows),
                            "text/csv");
    });
    // Work that reached the strand during the first piece ran before the second.
    auto seen = between.get_future().get();
    EXPECT_EQ(seen.first, 1u);
    EXPECT_EQ(seen.second, kPiece);
    // /healthz is answered while the schedule is still being applied.
    auto health = http_request(server.port(), "GET", "/healthz");
    EXPECT_EQ(health.status, 200u) << health.body;
    EXPECT_EQ(posted.wait_for(0s), std::future_status::timeout);
    EXPECT_LT(pieces.load(), kRows / kPiece);

    auto accepted = posted.get();
    ASSERT_EQ(accepted.status, 201u) << accepted.body.substr(0, 200);
    EXPECT_EQ(pieces.load(), kRows / kPiece);
    auto ids = command_ids(accepted.body);
    ASSERT_EQ(ids.size(), kRows);
    EXPECT_EQ(command_ids(http_request(server.port(), "GET", "/api/v1/commands").body), ids);

    std::atomic<bool> stopped{false};
    server.stop([&] { stopped = true; });
    EXPECT_TRUE(eventually([&] { return stopped.load(); }));
    flush_strand();  // the backend's last hop has run before it goes
}

// A schedule posted while another is being applied waits until that one is
// applied whole: the two never interleave, and the later one supersedes
// all that the earlier one made from its first timestamp.
TEST_F(EngineApiTest, ASchedulePostedDuringAnotherIsAppliedAfterIt) {
    constexpr std::size_t kPiece = 100;
    constexpr std::size_t kRows = 5 * kPiece;
    std::atomic<std::size_t> pieces{0};
    std::future<tools::HttpReply> second;
    std::optional<http::ApiServer> server;
    // The second reaches the strand before the first's next piece.
    EngineApi api(EngineApi::Parts{
        strand_, engine_, site_, registry_, metrics_,
        post_during_first_piece(pieces, second, server, battery_csv(kRows, 5)), kPiece});
    http::ApiServerOptions options;
    options.port = 0;
    options.backend_timeout = 20s;
    server.emplace(ioc_, options, api);
    ASSERT_FALSE(server->start());

    auto first =
        http_request(server->port(), "POST", "/api/v1/schedules", battery_csv(kRows), "text/csv");
    ASSERT_EQ(first.status, 201u) << first.body.substr(0, 200);
    ASSERT_TRUE(eventually([&] { return pieces.load() >= 1; }));
    auto later = second.get();
    ASSERT_EQ(later.status, 201u) << later.body.substr(0, 200);

    auto first_ids = command_ids(first.body);
    auto later_ids = command_ids(later.body);
    ASSERT_EQ(first_ids.size(), kRows);
    ASSERT_EQ(later_ids.size(), kRows);
    std::promise<std::pair<std::size_t, std::size_t>> statuses;
    net::post(strand_, [&] {
        std::size_t cancelled = 0, pending = 0;
        for (const auto& id : first_ids)
            cancelled += engine_.get_command(id)->status == sdk::CommandStatus::Cancelled;
        for (const auto& id : later_ids)
            pending += engine_.get_command(id)->status == sdk::CommandStatus::Pending;
        statuses.set_value({cancelled, pending});
    });
    auto [cancelled, pending] = statuses.get_future().get();
    EXPECT_EQ(cancelled, kRows);  // none of the first's pieces came after the second began
    EXPECT_EQ(pending, kRows);

    std::atomic<bool> stopped{false};
    server->stop([&] { stopped = true; });
    EXPECT_TRUE(eventually([&] { return stopped.load(); }));
    flush_strand();  // the backend's last hop has run before it goes
}

// At shutdown the schedule being applied is finished and answered; one
// waiting behind it is answered 503 and never applied.
TEST_F(EngineApiTest, AtStopTheScheduleBeingAppliedIsFinishedAndTheWaitingOneRefused) {
    constexpr std::size_t kPiece = 100;
    constexpr std::size_t kRows = 5 * kPiece;
    std::atomic<std::size_t> pieces{0};
    std::future<tools::HttpReply> second;
    std::optional<http::ApiServer> server;
    std::optional<EngineApi> api;
    api.emplace(EngineApi::Parts{
        strand_, engine_, site_, registry_, metrics_,
        post_during_first_piece(pieces, second, server, battery_csv(kRows, 5),
                                [&] { api->stop(); }),  // as the gateway does, on the strand
        kPiece});
    http::ApiServerOptions options;
    options.port = 0;
    options.backend_timeout = 20s;
    server.emplace(ioc_, options, *api);
    ASSERT_FALSE(server->start());

    auto first =
        http_request(server->port(), "POST", "/api/v1/schedules", battery_csv(kRows), "text/csv");
    ASSERT_EQ(first.status, 201u) << first.body.substr(0, 200);
    EXPECT_EQ(command_ids(first.body).size(), kRows);
    EXPECT_EQ(pieces.load(), kRows / kPiece);
    auto refused = second.get();
    EXPECT_EQ(refused.status, 503u) << refused.body;
    EXPECT_NE(refused.body.find("stopping"), std::string::npos) << refused.body;
    flush_strand();
    EXPECT_EQ(engine_.size(), kRows);

    std::atomic<bool> stopped{false};
    server->stop([&] { stopped = true; });
    EXPECT_TRUE(eventually([&] { return stopped.load(); }));
    flush_strand();
}

}  // namespace
}  // namespace gridgate::gateway
