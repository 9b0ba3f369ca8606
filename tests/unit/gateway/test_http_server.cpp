// The API server over real loopback sockets, with a raw Beast client and a
// scripted backend standing in for the engine.
#include "gridgate/http/api_server.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "eventually.hpp"
#include "gridgate/http/json.hpp"
#include "gridgate/http/metrics.hpp"

namespace gridgate::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using Response = bhttp::response<bhttp::string_body>;

using test::eventually;

// Records every call; answers at once, or holds the answers until the test
// releases them from its own thread.
class ScriptedBackend : public ApiBackend {
  public:
    struct Call {
        std::string endpoint;
        ScheduleFormat format = ScheduleFormat::Csv;
        std::string body;
        CommandFilter filter;
        sdk::CommandId id;
        std::shared_ptr<RequestClaim> claim;  // post_schedule's
    };

    // Like the engine, takes the request just before "applying" it (when it
    // answers) and drops it unanswered when the server has abandoned it.
    void post_schedule(ScheduleFormat format, std::string body, std::shared_ptr<RequestClaim> claim,
                       std::function<void(ApiResponse)> done) override {
        Call c{"post_schedule", format, std::move(body)};
        c.claim = claim;
        if (take_schedules_at_once) claim->take();  // applying starts now, answering later
        answer(
            std::move(c),
            [this, claim, done = std::move(done)](ApiResponse response) {
                if (!claim->take()) {
                    ++dropped_schedules;
                    return;
                }
                ++applied_schedules;
                done(std::move(response));
            },
            schedule_answer);
    }
    void list_commands(CommandFilter filter, std::function<void(ApiResponse)> done) override {
        Call c{"list_commands"};
        c.filter = std::move(filter);
        answer(std::move(c), std::move(done), ApiResponse::json(200, commands_to_json({})));
    }
    void get_command(sdk::CommandId id, std::function<void(ApiResponse)> done) override {
        sdk::Command command;
        command.command_id = id;
        command.asset_id = "ast_batt_001";
        Call c{"get_command"};
        c.id = id;
        answer(std::move(c), std::move(done), ApiResponse::json(200, command_to_json(command)));
    }
    void list_assets(std::function<void(ApiResponse)> done) override {
        answer(Call{"list_assets"}, std::move(done), ApiResponse::json(200, assets_to_json({})));
    }
    void health(std::function<void(bool)> done) override {
        std::unique_lock lock(mutex_);
        calls_.push_back(Call{"health"});
        if (!engine_answers) {
            unanswered_health_.push_back(std::move(done));  // a stuck engine strand
            return;
        }
        bool alive = engine_alive;
        lock.unlock();
        done(alive);
    }
    void metrics(std::function<void(std::string)> done) override {
        {
            std::lock_guard lock(mutex_);
            calls_.push_back(Call{"metrics"});
        }
        done(registry.render());
    }

    std::size_t call_count() const {
        std::lock_guard lock(mutex_);
        return calls_.size();
    }
    Call call(std::size_t i) const {
        std::lock_guard lock(mutex_);
        return calls_.at(i);
    }
    std::size_t held_count() const {
        std::lock_guard lock(mutex_);
        return held_.size();
    }
    // Answers the oldest held request, from the calling (test) thread.
    void release_one() {
        std::function<void()> answer;
        {
            std::lock_guard lock(mutex_);
            answer = std::move(held_.front());
            held_.erase(held_.begin());
        }
        answer();
    }
    // Drops held answers (and the connections they keep alive) while the
    // io_context still exists.
    void forget_held() {
        std::vector<std::function<void()>> held;
        std::vector<std::function<void(bool)>> health;
        {
            std::lock_guard lock(mutex_);
            held.swap(held_);
            health.swap(unanswered_health_);
        }
    }

    std::atomic<bool> hold{false};
    std::atomic<bool> engine_alive{true};
    std::atomic<bool> engine_answers{true};
    std::atomic<bool> take_schedules_at_once{false};
    std::atomic<int> applied_schedules{0};
    std::atomic<int> dropped_schedules{0};
    ApiResponse schedule_answer = ApiResponse::json(
        201, R"({"schedule_id":"sch_1","commands":["cmd_000000000001"],"ignored_columns":[]})");
    Metrics registry;

  private:
    void answer(Call call, std::function<void(ApiResponse)> done, ApiResponse response) {
        std::unique_lock lock(mutex_);
        calls_.push_back(std::move(call));
        if (hold) {
            held_.push_back(
                [done = std::move(done), response = std::move(response)] { done(response); });
            return;
        }
        lock.unlock();
        done(std::move(response));
    }

    mutable std::mutex mutex_;
    std::vector<Call> calls_;
    std::vector<std::function<void()>> held_;
    std::vector<std::function<void(bool)>> unanswered_health_;
};

// A raw HTTP client: writes exactly the bytes given, reads with a deadline.
class RawClient {
  public:
    explicit RawClient(std::uint16_t port) {
        beast::error_code ec;
        stream_.socket().connect({net::ip::make_address("127.0.0.1"), port}, ec);
        connected_ = !ec;
    }
    bool connected() const { return connected_; }

    void send(std::string_view bytes) {
        beast::error_code ec;
        net::write(stream_.socket(), net::buffer(bytes), ec);
    }

    struct Result {
        beast::error_code ec;
        Response response;
    };
    // `head`: the answer to a HEAD request, which has no body whatever its
    // Content-Length says.
    Result read(std::chrono::milliseconds limit = 5s, bool head = false) {
        Result r;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        parser.skip(head);
        stream_.expires_after(limit);
        bhttp::async_read(stream_, buffer_, parser,
                          [&](beast::error_code ec, std::size_t) { r.ec = ec; });
        run();
        if (!r.ec) r.response = parser.release();
        return r;
    }
    Result roundtrip(std::string_view request) {
        send(request);
        return read();
    }

    // True when the server closes the connection within `limit` without
    // sending anything more.
    bool closed_by_server(std::chrono::milliseconds limit = 5s) {
        char byte;
        beast::error_code result;
        std::size_t got = 0;
        stream_.expires_after(limit);
        stream_.async_read_some(net::buffer(&byte, 1), [&](beast::error_code ec, std::size_t n) {
            result = ec;
            got = n;
        });
        run();
        return got == 0 && buffer_.size() == 0 &&
               (result == net::error::eof || result == net::error::connection_reset);
    }

    // True when the server sends nothing and keeps the connection open for
    // `limit`.
    bool nothing_received_within(std::chrono::milliseconds limit) {
        std::this_thread::sleep_for(limit);
        beast::error_code ec;
        std::size_t waiting = stream_.socket().available(ec);
        return !ec && waiting == 0 && buffer_.size() == 0;
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.socket().close(ec);
    }

  private:
    void run() {
        ioc_.restart();
        ioc_.run();
    }

    net::io_context ioc_;
    beast::tcp_stream stream_{ioc_};
    beast::flat_buffer buffer_;
    bool connected_ = false;
};

std::string get(std::string_view target, std::string_view extra_headers = "") {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" +
           std::string(extra_headers) + "\r\n";
}

// A chunked text/csv POST of two 800-byte chunks: its size (1600 bytes) is
// only known while its body is read.
std::string chunked_post(std::string_view target, std::string_view extra_headers = "") {
    const std::string chunk(800, 'y');
    return "POST " + std::string(target) + " HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n" +
           std::string(extra_headers) + "Transfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
           "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n";
}

std::string post(std::string_view target, std::string_view content_type, std::string_view body,
                 std::string_view extra_headers = "") {
    std::string r = "POST " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n";
    if (!content_type.empty()) r += "Content-Type: " + std::string(content_type) + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra_headers) +
         "\r\n" + std::string(body);
    return r;
}

std::string header(const Response& r, bhttp::field f) {
    auto it = r.find(f);
    return it == r.end() ? std::string("<absent>") : std::string(it->value());
}

class ApiServerTest : public ::testing::Test {
  protected:
    ~ApiServerTest() override {
        if (server_) {
            std::atomic<bool> stopped{false};
            server_->stop([&] { stopped = true; });
            backend_.forget_held();
            eventually([&] { return stopped.load(); });
        }
        work_.reset();
        ioc_.stop();
        for (auto& t : threads_) t.join();
        backend_.forget_held();
        server_.reset();
    }

    void start(ApiServerOptions options = {}) {
        options.host = "127.0.0.1";
        options.port = 0;
        options.shutdown_grace = std::min(options.shutdown_grace, std::chrono::milliseconds(2000));
        server_.emplace(ioc_, options, backend_);
        ASSERT_FALSE(server_->start());
        ASSERT_NE(server_->port(), 0);
        for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
    }

    std::uint16_t port() const { return server_->port(); }
    RawClient::Result request(const std::string& raw) {
        RawClient client(port());
        return client.roundtrip(raw);
    }

    net::io_context ioc_;
    ScriptedBackend backend_;
    std::optional<ApiServer> server_;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{
        net::make_work_guard(ioc_)};
    std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------- routes

TEST_F(ApiServerTest, HealthzAnswersOkWhileTheEngineAnswers) {
    start();
    auto r = request(get("/healthz"));
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.response.result_int(), 200u);
    EXPECT_EQ(r.response.body(), R"({"status":"ok"})");
    EXPECT_EQ(header(r.response, bhttp::field::content_type), "application/json");
}

TEST_F(ApiServerTest, HealthzIs503WhenTheEngineReportsNotAlive) {
    start();
    backend_.engine_alive = false;
    auto r = request(get("/healthz"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 503u);
    EXPECT_EQ(r.response.body(), R"({"error":"engine not responding"})");
    EXPECT_EQ(header(r.response, bhttp::field::retry_after), "1");
}

TEST_F(ApiServerTest, HealthzIs503WhenTheEngineStrandDoesNotAnswerInTime) {
    ApiServerOptions options;
    options.health_timeout = 150ms;
    start(options);
    backend_.engine_answers = false;
    auto r = request(get("/healthz"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 503u);
    EXPECT_EQ(r.response.body(), R"({"error":"engine not responding within 150 ms"})");
    EXPECT_EQ(header(r.response, bhttp::field::retry_after), "1");
}

TEST_F(ApiServerTest, MetricsAnswersPrometheusText) {
    start();
    backend_.registry.count_schedule_received();
    auto r = request(get("/metrics"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 200u);
    EXPECT_EQ(header(r.response, bhttp::field::content_type),
              "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(r.response.body(), backend_.registry.render());
    EXPECT_NE(r.response.body().find("gridgate_schedules_received_total 1\n"), std::string::npos);
}

TEST_F(ApiServerTest, PostScheduleHandsTheCsvBodyToTheBackend) {
    start();
    const std::string csv = "timestamp,ev_001_kw\n2024-01-15T08:00:00Z,22.0\n";
    auto r = request(post("/api/v1/schedules", "text/csv; charset=utf-8", csv));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 201u);
    EXPECT_EQ(r.response.body(), backend_.schedule_answer.body);
    ASSERT_EQ(backend_.call_count(), 1u);
    EXPECT_EQ(backend_.call(0).endpoint, "post_schedule");
    EXPECT_EQ(backend_.call(0).format, ScheduleFormat::Csv);
    EXPECT_EQ(backend_.call(0).body, csv);
}

TEST_F(ApiServerTest, PostScheduleAcceptsJsonAndPassesRefusalsThrough) {
    start();
    backend_.schedule_answer =
        ApiResponse::json(422, error_json("column 'ev_009_kw': unknown asset 'ev_009'"));
    auto r = request(post("/api/v1/schedules", "Application/JSON", R"({"columns":[]})"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 422u);
    EXPECT_EQ(r.response.body(), R"({"error":"column 'ev_009_kw': unknown asset 'ev_009'"})");
    ASSERT_EQ(backend_.call_count(), 1u);
    EXPECT_EQ(backend_.call(0).format, ScheduleFormat::Json);
}

TEST_F(ApiServerTest, PostScheduleRefusesOtherContentTypesWith415) {
    start();
    auto r = request(post("/api/v1/schedules", "text/plain", "a,b\n"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 415u);
    EXPECT_EQ(
        r.response.body(),
        R"({"error":"unsupported Content-Type 'text/plain': send text/csv or application/json"})");
    auto missing = request(post("/api/v1/schedules", "", "a,b\n"));
    ASSERT_FALSE(missing.ec);
    EXPECT_EQ(missing.response.result_int(), 415u);
    EXPECT_EQ(backend_.call_count(), 0u);
}

TEST_F(ApiServerTest, ARefusedRequestWithASmallBodyKeepsTheConnection) {
    start();
    RawClient client(port());
    for (const auto& refused : {post("/api/v1/schedules", "text/html", "x"),
                                post("/api/v1/nowhere", "text/csv", "a,b\n")}) {
        auto r = client.roundtrip(refused);
        ASSERT_FALSE(r.ec);
        EXPECT_GE(r.response.result_int(), 400u);
        EXPECT_TRUE(r.response.keep_alive());
    }
    EXPECT_EQ(backend_.call_count(), 0u);
    // The dropped bodies were not taken for the next request.
    auto next = client.roundtrip(get("/healthz"));
    ASSERT_FALSE(next.ec);
    EXPECT_EQ(next.response.result_int(), 200u);
    EXPECT_EQ(server_->open_connections(), 1u);
}

TEST_F(ApiServerTest, ListCommandsPassesDecodedFilters) {
    start();
    auto r = request(get("/api/v1/commands?asset_id=ast%20batt+1&status=DISPATCHED"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 200u);
    EXPECT_EQ(r.response.body(), R"({"commands":[]})");
    auto unfiltered = request(get("/api/v1/commands?asset_id=&status="));
    ASSERT_FALSE(unfiltered.ec);
    EXPECT_EQ(unfiltered.response.result_int(), 200u);
    ASSERT_EQ(backend_.call_count(), 2u);
    EXPECT_EQ(backend_.call(0).filter.asset_id, "ast batt 1");
    EXPECT_EQ(backend_.call(0).filter.status, sdk::CommandStatus::Dispatched);
    EXPECT_EQ(backend_.call(1).filter.asset_id, std::nullopt);
    EXPECT_EQ(backend_.call(1).filter.status, std::nullopt);
}

TEST_F(ApiServerTest, ListCommandsRefusesABadQueryWith400NamingIt) {
    start();
    struct Case {
        std::string target;
        std::string error;
    };
    std::vector<Case> cases{
        {"/api/v1/commands?status=DONE",
         "query parameter 'status': unknown status 'DONE' (one of PENDING, DISPATCHED, "
         "COMPLETED, FAILED, TIMED_OUT, CANCELLED)"},
        {"/api/v1/commands?asset=x", "unknown query parameter 'asset' (known: asset_id, status)"},
        {"/api/v1/commands?asset_id=a&asset_id=b", "query parameter 'asset_id' given twice"},
        {"/api/v1/commands?asset_id=%zz",
         "malformed percent-encoding in query parameter 'asset_id'"},
    };
    for (const auto& c : cases) {
        auto r = request(get(c.target));
        ASSERT_FALSE(r.ec) << c.target;
        EXPECT_EQ(r.response.result_int(), 400u) << c.target;
        EXPECT_EQ(r.response.body(), error_json(c.error)) << c.target;
    }
    EXPECT_EQ(backend_.call_count(), 0u);
}

TEST_F(ApiServerTest, GetCommandPassesTheParsedId) {
    start();
    auto r = request(get("/api/v1/commands/cmd_0000000000ff"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 200u);
    ASSERT_EQ(backend_.call_count(), 1u);
    EXPECT_EQ(backend_.call(0).id, sdk::CommandId{0xff});
    EXPECT_NE(r.response.body().find(R"("command_id":"cmd_0000000000ff")"), std::string::npos);
}

TEST_F(ApiServerTest, GetCommandWithAMalformedIdIs404WithoutAskingTheEngine) {
    start();
    auto r = request(get("/api/v1/commands/cmd_XYZ"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 404u);
    EXPECT_EQ(r.response.body(), R"({"error":"command 'cmd_XYZ' not found"})");
    for (const char* target : {"/api/v1/commands/", "/api/v1/commands/cmd_0000000000ff/x"}) {
        auto other = request(get(target));
        ASSERT_FALSE(other.ec);
        EXPECT_EQ(other.response.result_int(), 404u) << target;
    }
    EXPECT_EQ(backend_.call_count(), 0u);
}

TEST_F(ApiServerTest, ListAssets) {
    start();
    auto r = request(get("/api/v1/assets"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 200u);
    EXPECT_EQ(r.response.body(), R"({"assets":[]})");
    EXPECT_EQ(backend_.call(0).endpoint, "list_assets");
}

TEST_F(ApiServerTest, UnknownPathsAre404Json) {
    start();
    for (const char* target : {"/", "/nope", "/api/v2/commands", "/api/v1/commands/../assets",
                               "/healthz/", "/api/v1/schedules/x"}) {
        auto r = request(get(target));
        ASSERT_FALSE(r.ec) << target;
        EXPECT_EQ(r.response.result_int(), 404u) << target;
        EXPECT_EQ(r.response.body(), R"({"error":"not found"})") << target;
    }
}

TEST_F(ApiServerTest, WrongMethodsAre405WithAllow) {
    start();
    auto r = request(post("/healthz", "text/csv", "x"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 405u);
    EXPECT_EQ(header(r.response, bhttp::field::allow), "GET, HEAD");
    EXPECT_EQ(r.response.body(),
              R"json({"error":"method POST not allowed on /healthz (allowed: GET, HEAD)"})json");
    auto g = request(get("/api/v1/schedules"));
    ASSERT_FALSE(g.ec);
    EXPECT_EQ(g.response.result_int(), 405u);
    EXPECT_EQ(header(g.response, bhttp::field::allow), "POST");
    auto d = request("DELETE /api/v1/commands/cmd_000000000001 HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_FALSE(d.ec);
    EXPECT_EQ(d.response.result_int(), 405u);
    EXPECT_EQ(header(d.response, bhttp::field::allow), "GET, HEAD");
    RawClient head_client(port());
    head_client.send("HEAD /api/v1/schedules HTTP/1.1\r\nHost: t\r\n\r\n");
    auto h = head_client.read(5s, true);  // no answer to HEAD has a body
    ASSERT_FALSE(h.ec);
    EXPECT_EQ(h.response.result_int(), 405u);
    EXPECT_TRUE(h.response.body().empty());
    EXPECT_EQ(backend_.call_count(), 0u);
}

// HEAD is answered as GET would be, without the body: a probe that checks
// /healthz with HEAD sees it up, and the connection stays usable.
TEST_F(ApiServerTest, HeadIsGetWithoutTheBody) {
    start();
    RawClient client(port());
    ASSERT_TRUE(client.connected());
    const auto full = client.roundtrip(get("/api/v1/assets"));
    ASSERT_FALSE(full.ec);
    ASSERT_FALSE(full.response.body().empty());
    for (const char* target : {"/healthz", "/api/v1/assets"}) {
        client.send("HEAD " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n\r\n");
        auto h = client.read(5s, true);
        ASSERT_FALSE(h.ec) << target;
        EXPECT_EQ(h.response.result_int(), 200u) << target;
        EXPECT_TRUE(h.response.body().empty()) << target;
        if (std::string_view(target) == "/api/v1/assets") {
            EXPECT_EQ(header(h.response, bhttp::field::content_length),
                      std::to_string(full.response.body().size()));
        }
    }
    // Had the server sent a body, this would read it as the next answer.
    auto after = client.roundtrip(get("/api/v1/assets"));
    ASSERT_FALSE(after.ec);
    EXPECT_EQ(after.response.result_int(), 200u);
    EXPECT_EQ(after.response.body(), full.response.body());
    // A request after a HEAD that cannot be read gets its error with a body.
    client.send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_FALSE(client.read(5s, true).ec);
    auto bad = client.roundtrip("GET /healthz HTTP/1.1\r\nHost t\r\n\r\n");
    ASSERT_FALSE(bad.ec);
    EXPECT_EQ(bad.response.result_int(), 400u);
    EXPECT_NE(bad.response.body().find("malformed HTTP request"), std::string::npos);
}

// ---------------------------------------------------------------- auth

TEST_F(ApiServerTest, TokenIsRequiredOnEveryApiRoute) {
    ApiServerOptions options;
    options.token = "s3cret-token";
    start(options);
    for (std::string target : {"/api/v1/commands", "/api/v1/assets",
                               "/api/v1/commands/cmd_000000000001", "/api/unknown"}) {
        auto none = request(get(target));
        ASSERT_FALSE(none.ec);
        EXPECT_EQ(none.response.result_int(), 401u) << target;
        EXPECT_EQ(header(none.response, bhttp::field::www_authenticate),
                  R"(Bearer realm="gridgate")");
        EXPECT_EQ(none.response.body(), R"({"error":"missing bearer token"})");

        auto wrong = request(get(target, "Authorization: Bearer s3cret-tokeN\r\n"));
        ASSERT_FALSE(wrong.ec);
        EXPECT_EQ(wrong.response.result_int(), 401u) << target;
        EXPECT_EQ(header(wrong.response, bhttp::field::www_authenticate),
                  R"(Bearer realm="gridgate", error="invalid_token")");

        auto basic = request(get(target, "Authorization: Basic czNjcmV0LXRva2Vu\r\n"));
        ASSERT_FALSE(basic.ec);
        EXPECT_EQ(basic.response.result_int(), 401u) << target;
    }
    auto post_none = request(post("/api/v1/schedules", "text/csv", "t,a\n"));
    ASSERT_FALSE(post_none.ec);
    EXPECT_EQ(post_none.response.result_int(), 401u);
    EXPECT_EQ(backend_.call_count(), 0u);

    auto ok = request(get("/api/v1/assets", "Authorization: bearer s3cret-token\r\n"));
    ASSERT_FALSE(ok.ec);
    EXPECT_EQ(ok.response.result_int(), 200u);
    auto posted = request(
        post("/api/v1/schedules", "text/csv", "t,a\n", "Authorization: Bearer s3cret-token\r\n"));
    ASSERT_FALSE(posted.ec);
    EXPECT_EQ(posted.response.result_int(), 201u);
}

TEST_F(ApiServerTest, HealthAndMetricsStayOpenWithAToken) {
    ApiServerOptions options;
    options.token = "s3cret-token";
    start(options);
    EXPECT_EQ(request(get("/healthz")).response.result_int(), 200u);
    EXPECT_EQ(request(get("/metrics")).response.result_int(), 200u);
}

// ---------------------------------------------------------------- limits

TEST_F(ApiServerTest, OversizedBodyIs413AndChangesNothing) {
    ApiServerOptions options;
    options.body_limit = 1024;
    start(options);
    RawClient client(port());
    auto r = client.roundtrip(post("/api/v1/schedules", "text/csv", std::string(5000, 'x')));
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.response.result_int(), 413u);
    EXPECT_EQ(r.response.body(), R"({"error":"request body exceeds the limit of 1024 bytes"})");
    EXPECT_FALSE(r.response.keep_alive());
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(backend_.call_count(), 0u);

    // Chunked, so the size is only known while reading.
    RawClient chunked(port());
    auto c = chunked.roundtrip(chunked_post("/api/v1/schedules"));
    ASSERT_FALSE(c.ec) << c.ec.message();
    EXPECT_EQ(c.response.result_int(), 413u);
    EXPECT_EQ(backend_.call_count(), 0u);

    // At the limit is fine.
    auto fits = request(post("/api/v1/schedules", "text/csv", std::string(1024, 'z')));
    EXPECT_EQ(fits.response.result_int(), 201u);
}

// Who may not post learns nothing of the size limit: an oversized body
// without the token is a 401, as any other request without it.
TEST_F(ApiServerTest, AnOversizedBodyWithoutTheTokenIs401) {
    ApiServerOptions options;
    options.body_limit = 1024;
    options.token = "tok";
    start(options);
    RawClient stranger(port());
    auto r = stranger.roundtrip(post("/api/v1/schedules", "text/csv", std::string(5000, 'x')));
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.response.result_int(), 401u) << r.response.body();

    RawClient chunked(port());
    auto c = chunked.roundtrip(chunked_post("/api/v1/schedules"));
    ASSERT_FALSE(c.ec) << c.ec.message();
    EXPECT_EQ(c.response.result_int(), 401u) << c.response.body();

    // With the token, the limit speaks.
    RawClient owner(port());
    auto o = owner.roundtrip(post("/api/v1/schedules", "text/csv", std::string(5000, 'x'),
                                  "Authorization: Bearer tok\r\n"));
    ASSERT_FALSE(o.ec) << o.ec.message();
    EXPECT_EQ(o.response.result_int(), 413u) << o.response.body();
    RawClient owner_chunked(port());
    auto oc =
        owner_chunked.roundtrip(chunked_post("/api/v1/schedules", "Authorization: Bearer tok\r\n"));
    ASSERT_FALSE(oc.ec) << oc.ec.message();
    EXPECT_EQ(oc.response.result_int(), 413u) << oc.response.body();
    EXPECT_EQ(backend_.call_count(), 0u);
}

TEST_F(ApiServerTest, OversizedHeaderIs431) {
    ApiServerOptions options;
    options.header_limit = 2048;
    start(options);
    auto r = request(get("/healthz", "X-Padding: " + std::string(4096, 'p') + "\r\n"));
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.response.result_int(), 431u);
}

TEST_F(ApiServerTest, MalformedRequestIs400AndCloses) {
    start();
    RawClient client(port());
    auto r = client.roundtrip("GET /healthz HTTP/9.9\r\n\r\n");
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.response.result_int(), 400u);
    EXPECT_NE(r.response.body().find(R"({"error":"malformed HTTP request: )"), std::string::npos);
    EXPECT_TRUE(client.closed_by_server());
    auto absolute = request("GET http://x/healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(absolute.response.result_int(), 400u);
}

TEST_F(ApiServerTest, Expect100ContinueIsAnsweredBeforeTheBody) {
    ApiServerOptions options;
    options.token = "tok";
    start(options);
    RawClient client(port());
    const std::string body = "timestamp,battery_charge_kw\n2024-01-15T08:00:00Z,5\n";
    client.send(
        "POST /api/v1/schedules HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"
        "Authorization: Bearer tok\r\nExpect: 100-continue\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n");
    auto interim = client.read();
    ASSERT_FALSE(interim.ec) << interim.ec.message();
    EXPECT_EQ(interim.response.result_int(), 100u);
    client.send(body);
    auto final_answer = client.read();
    ASSERT_FALSE(final_answer.ec);
    EXPECT_EQ(final_answer.response.result_int(), 201u);
    EXPECT_EQ(backend_.call(0).body, body);

    // Refused before the body is sent: the final status comes instead of 100.
    RawClient refused(port());
    refused.send(
        "POST /api/v1/schedules HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"
        "Expect: 100-continue\r\nContent-Length: 10\r\n\r\n");
    auto r = refused.read();
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 401u);
}

// ---------------------------------------------------------------- connections

TEST_F(ApiServerTest, KeepAliveServesManyRequestsOnOneConnection) {
    start();
    RawClient client(port());
    for (int i = 0; i < 20; ++i) {
        auto r = client.roundtrip(i % 2 ? get("/healthz") : get("/api/v1/assets"));
        ASSERT_FALSE(r.ec) << i;
        EXPECT_EQ(r.response.result_int(), 200u);
        EXPECT_TRUE(r.response.keep_alive());
    }
    EXPECT_EQ(server_->open_connections(), 1u);
}

TEST_F(ApiServerTest, PipelinedRequestsAreAnsweredInOrderWhateverThreadAnswers) {
    start();
    backend_.hold = true;
    RawClient client(port());
    client.send(get("/api/v1/commands/cmd_000000000001") +
                get("/api/v1/commands/cmd_000000000002") +
                get("/api/v1/commands/cmd_000000000003"));
    for (std::size_t i = 1; i <= 3; ++i) {
        ASSERT_TRUE(eventually([&] { return backend_.held_count() == 1; })) << i;
        backend_.release_one();  // from this thread, not an I/O thread
    }
    for (int i = 1; i <= 3; ++i) {
        auto r = client.read();
        ASSERT_FALSE(r.ec) << i;
        EXPECT_NE(
            r.response.body().find("\"command_id\":\"cmd_00000000000" + std::to_string(i) + "\""),
            std::string::npos)
            << r.response.body();
    }
}

TEST_F(ApiServerTest, ConnectionCloseIsHonoured) {
    start();
    RawClient client(port());
    auto r = client.roundtrip(get("/healthz", "Connection: close\r\n"));
    ASSERT_FALSE(r.ec);
    EXPECT_FALSE(r.response.keep_alive());
    EXPECT_TRUE(client.closed_by_server());

    RawClient old(port());
    auto r10 = old.roundtrip("GET /healthz HTTP/1.0\r\n\r\n");
    ASSERT_FALSE(r10.ec);
    EXPECT_EQ(r10.response.version(), 10u);
    EXPECT_TRUE(old.closed_by_server());
}

TEST_F(ApiServerTest, SlowClientDoesNotBlockOthers) {
    start();
    RawClient half_header(port());
    half_header.send("GET /api/v1/assets HTTP/1.1\r\nHo");
    RawClient half_body(port());
    half_body.send(
        "POST /api/v1/schedules HTTP/1.1\r\nHost: t\r\nContent-Type: text/csv\r\n"
        "Content-Length: 100\r\n\r\ntimestamp,");
    ASSERT_TRUE(eventually([&] { return server_->open_connections() == 2; }));

    // Both hang, mid-request; others are served meanwhile, concurrently.
    std::vector<std::thread> others;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i) {
        others.emplace_back([&] {
            auto r = request(get("/api/v1/assets"));
            if (!r.ec && r.response.result_int() == 200) ++ok;
        });
    }
    for (auto& t : others) t.join();
    EXPECT_EQ(ok.load(), 4);
    EXPECT_EQ(backend_.call_count(), 4u);
    // The quick clients are gone; the slow ones are still waiting, unanswered.
    EXPECT_TRUE(eventually([&] { return server_->open_connections() == 2; }));
    EXPECT_FALSE(half_header.closed_by_server(50ms));
    EXPECT_FALSE(half_body.closed_by_server(50ms));
}

TEST_F(ApiServerTest, HeaderTimeoutClosesAHungClientAndAnIdleOne) {
    ApiServerOptions options;
    options.header_timeout = 200ms;
    start(options);
    RawClient hung(port());
    hung.send("GET /healthz HTTP/1.1\r\nHost");
    RawClient idle(port());
    auto r = idle.roundtrip(get("/healthz"));
    ASSERT_EQ(r.response.result_int(), 200u);
    EXPECT_TRUE(hung.closed_by_server(3s));
    EXPECT_TRUE(idle.closed_by_server(3s));
    EXPECT_TRUE(eventually([&] { return server_->open_connections() == 0; }));
}

TEST_F(ApiServerTest, BodyThatStopsComingIsClosed) {
    ApiServerOptions options;
    options.body_progress_timeout = 200ms;
    start(options);
    RawClient stalled(port());
    stalled.send(post("/api/v1/schedules", "text/csv", std::string(100, 'x')).substr(0, 120));
    EXPECT_TRUE(stalled.closed_by_server(3s));
    EXPECT_EQ(backend_.call_count(), 0u);
}

TEST_F(ApiServerTest, ConcurrentClientsAreAllServed) {
    start();
    constexpr int kClients = 6;
    constexpr int kEach = 15;
    std::atomic<int> ok{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&] {
            RawClient client(port());
            for (int i = 0; i < kEach; ++i) {
                auto r = client.roundtrip(get("/api/v1/commands?status=PENDING"));
                if (!r.ec && r.response.result_int() == 200) ++ok;
            }
        });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(ok.load(), kClients * kEach);
    EXPECT_EQ(backend_.call_count(), static_cast<std::size_t>(kClients * kEach));
}

TEST_F(ApiServerTest, ConnectionsBeyondTheLimitGet503) {
    ApiServerOptions options;
    options.max_connections = 2;
    start(options);
    RawClient a(port());
    RawClient b(port());
    ASSERT_EQ(a.roundtrip(get("/healthz")).response.result_int(), 200u);
    ASSERT_EQ(b.roundtrip(get("/healthz")).response.result_int(), 200u);

    RawClient extra(port());
    auto refused = extra.roundtrip(get("/healthz"));
    ASSERT_FALSE(refused.ec) << refused.ec.message();
    EXPECT_EQ(refused.response.result_int(), 503u);
    EXPECT_EQ(header(refused.response, bhttp::field::retry_after), "1");
    EXPECT_EQ(refused.response.body(), R"({"error":"too many connections; retry shortly"})");
    EXPECT_FALSE(refused.response.keep_alive());

    a.close();
    ASSERT_TRUE(eventually([&] { return server_->open_connections() == 1; }));
    RawClient later(port());
    EXPECT_EQ(later.roundtrip(get("/healthz")).response.result_int(), 200u);
}

TEST_F(ApiServerTest, BackendThatDoesNotAnswerGets503AndTheConnectionLivesOn) {
    ApiServerOptions options;
    options.backend_timeout = 150ms;
    start(options);
    backend_.hold = true;
    RawClient client(port());
    auto r = client.roundtrip(get("/api/v1/assets"));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 503u);
    EXPECT_EQ(r.response.body(), R"({"error":"the gateway did not answer within 150 ms"})");
    EXPECT_EQ(header(r.response, bhttp::field::retry_after), "1");
    backend_.release_one();  // too late: dropped
    backend_.hold = false;
    auto next = client.roundtrip(get("/api/v1/assets"));
    ASSERT_FALSE(next.ec);
    EXPECT_EQ(next.response.result_int(), 200u);
    EXPECT_EQ(next.response.body(), R"({"assets":[]})");
}

TEST_F(ApiServerTest, ScheduleNotTakenWithinTheTimeoutIs503AndIsNeverApplied) {
    ApiServerOptions options;
    options.backend_timeout = 150ms;
    start(options);
    backend_.hold = true;  // the engine is busy and does not get to the schedule
    RawClient client(port());
    const std::string csv = "timestamp,battery_charge_kw\n2024-01-15T08:00:00Z,5\n";
    auto r = client.roundtrip(post("/api/v1/schedules", "text/csv", csv));
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 503u);
    EXPECT_EQ(
        r.response.body(),
        R"({"error":"the gateway did not take the schedule within 150 ms; it was not applied"})");
    EXPECT_EQ(header(r.response, bhttp::field::retry_after), "1");
    ASSERT_EQ(backend_.call_count(), 1u);
    EXPECT_FALSE(backend_.call(0).claim->take());

    backend_.release_one();  // the engine gets to it at last, and drops it
    EXPECT_EQ(backend_.applied_schedules.load(), 0);
    EXPECT_EQ(backend_.dropped_schedules.load(), 1);
    backend_.hold = false;
    auto again = client.roundtrip(post("/api/v1/schedules", "text/csv", csv));
    ASSERT_FALSE(again.ec);
    EXPECT_EQ(again.response.result_int(), 201u);
    EXPECT_EQ(backend_.applied_schedules.load(), 1);
}

TEST_F(ApiServerTest, ScheduleTakenWithinTheTimeoutGetsTheBackendsAnswerHoweverLate) {
    ApiServerOptions options;
    options.backend_timeout = 150ms;
    start(options);
    backend_.hold = true;
    backend_.take_schedules_at_once = true;  // taken at once, answered after the timeout
    RawClient client(port());
    client.send(post("/api/v1/schedules", "text/csv", "t,a\n"));
    ASSERT_TRUE(eventually([&] { return backend_.held_count() == 1; }));
    EXPECT_TRUE(client.nothing_received_within(4 * options.backend_timeout));

    backend_.release_one();
    auto r = client.read();
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.response.result_int(), 201u);
    EXPECT_EQ(r.response.body(), backend_.schedule_answer.body);
    EXPECT_TRUE(r.response.keep_alive());
    EXPECT_EQ(backend_.applied_schedules.load(), 1);
    EXPECT_FALSE(backend_.call(0).claim->abandon());
}

// ---------------------------------------------------------------- lifecycle

TEST_F(ApiServerTest, StopClosesIdleConnectionsAndLetsInFlightRequestsFinish) {
    start();
    RawClient idle(port());
    ASSERT_EQ(idle.roundtrip(get("/healthz")).response.result_int(), 200u);
    backend_.hold = true;
    RawClient busy(port());
    busy.send(get("/api/v1/assets"));
    ASSERT_TRUE(eventually([&] { return backend_.held_count() == 1; }));

    std::atomic<bool> stopped{false};
    server_->stop([&] { stopped = true; });
    EXPECT_TRUE(idle.closed_by_server(3s));
    EXPECT_FALSE(stopped.load());

    backend_.release_one();
    auto r = busy.read();
    ASSERT_FALSE(r.ec);
    EXPECT_EQ(r.response.result_int(), 200u);
    EXPECT_FALSE(r.response.keep_alive());
    EXPECT_TRUE(busy.closed_by_server(3s));
    EXPECT_TRUE(eventually([&] { return stopped.load(); }));

    RawClient late(port());
    EXPECT_TRUE(!late.connected() || late.closed_by_server(3s));
}

TEST_F(ApiServerTest, StopClosesWhatIsStillBusyAfterTheGrace) {
    ApiServerOptions options;
    options.shutdown_grace = 200ms;
    start(options);
    backend_.hold = true;
    RawClient busy(port());
    busy.send(get("/api/v1/assets"));
    ASSERT_TRUE(eventually([&] { return backend_.held_count() == 1; }));
    std::atomic<bool> stopped{false};
    server_->stop([&] { stopped = true; });
    EXPECT_TRUE(busy.closed_by_server(3s));
    // The held answer still owns the connection object; once dropped, the
    // server reports itself stopped.
    backend_.forget_held();
    EXPECT_TRUE(eventually([&] { return stopped.load(); }));
}

TEST_F(ApiServerTest, StopClosingAConnectionDropsTheScheduleTheBackendHasNotTaken) {
    ApiServerOptions options;
    options.shutdown_grace = 200ms;
    start(options);
    backend_.hold = true;
    RawClient busy(port());
    busy.send(post("/api/v1/schedules", "text/csv", "t,a\n"));
    ASSERT_TRUE(eventually([&] { return backend_.held_count() == 1; }));
    server_->stop();
    EXPECT_TRUE(busy.closed_by_server(3s));
    EXPECT_FALSE(backend_.call(0).claim->take());
    backend_.release_one();
    EXPECT_EQ(backend_.applied_schedules.load(), 0);
}

TEST_F(ApiServerTest, StartReportsABusyPortAndLeavesNothingOpen) {
    start();
    net::io_context other_ioc;
    ScriptedBackend other_backend;
    ApiServerOptions options;
    options.port = port();
    ApiServer second(other_ioc, options, other_backend);
    auto ec = second.start();
    EXPECT_EQ(ec, net::error::address_in_use);
    EXPECT_EQ(second.port(), 0);
    EXPECT_EQ(request(get("/healthz")).response.result_int(), 200u);
}

}  // namespace
}  // namespace gridgate::http
