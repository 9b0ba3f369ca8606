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

}  // namespace
}  // namespace gridgate::gateway
