#include <sys/socket.h>
#include <sys/time.h>

#include <fstream>

#include <gtest/gtest.h>

#include "gridgate/ocpp/handshake.hpp"
#include "ocpp_test_support.hpp"

namespace gridgate::ocpp {
namespace {

using namespace test;

std::string basic(std::string_view user_password) {
    auto colon = user_password.find(':');
    return basic_authorization(user_password.substr(0, colon), user_password.substr(colon + 1));
}

TEST(Handshake, IdentityIsTheLastSegmentPercentDecoded) {
    EXPECT_EQ(identity_from_target("/ocpp/CP001", "/ocpp"), "CP001");
    EXPECT_EQ(identity_from_target("/ocpp/CP%20001?x=1", "/ocpp"), "CP 001");
    EXPECT_EQ(identity_from_target("/ocpp/site/CP7", "/ocpp/"), "CP7");
    EXPECT_EQ(identity_from_target("/CP9", "/"), "CP9");
    EXPECT_EQ(identity_from_target("/ocpp/CP001/", "/ocpp"), "CP001");
    EXPECT_EQ(identity_from_target("/ocpp/CP001//?x=1", "/ocpp/"), "CP001");
    EXPECT_FALSE(identity_from_target("/ocpp/", "/ocpp"));
    EXPECT_FALSE(identity_from_target("/ocpp//", "/ocpp"));
    EXPECT_FALSE(identity_from_target("/ocppX/CP1", "/ocpp"));
    EXPECT_FALSE(identity_from_target("/other/CP1", "/ocpp"));
    EXPECT_FALSE(identity_from_target("/ocpp/CP%2", "/ocpp"));
    EXPECT_FALSE(identity_from_target("/ocpp/CP%zz", "/ocpp"));
}

// RFC 7230 5.3.2: a server must accept a target in absolute form, and the
// path is taken from it.
TEST(Handshake, IdentityOfAnAbsoluteFormTarget) {
    EXPECT_EQ(identity_from_target("http://127.0.0.1:9000/ocpp/CP1", "/ocpp"), "CP1");
    EXPECT_EQ(identity_from_target("ws://gw.example/ocpp/CP%201?x=/y", "/ocpp"), "CP 1");
    EXPECT_EQ(identity_from_target("WSS://gw:443/ocpp/CP2/", "/ocpp"), "CP2");
    EXPECT_FALSE(identity_from_target("http://127.0.0.1:9000", "/ocpp"));
    EXPECT_FALSE(identity_from_target("http://127.0.0.1:9000?/ocpp/CP1", "/ocpp"));
    EXPECT_FALSE(identity_from_target("http://127.0.0.1:9000/other/CP1", "/ocpp"));
}

TEST(Handshake, ParsesBasicCredentials) {
    auto credentials = parse_basic_authorization(basic("CP001:s3cr:et"));
    ASSERT_TRUE(credentials);
    EXPECT_EQ(credentials->username, "CP001");
    EXPECT_EQ(credentials->password, "s3cr:et");
    EXPECT_FALSE(parse_basic_authorization("Bearer abc"));
    EXPECT_FALSE(parse_basic_authorization("Basic !!!"));
    EXPECT_TRUE(credentials_match(credentials, "CP001", "s3cr:et"));
    EXPECT_FALSE(credentials_match(credentials, "CP002", "s3cr:et"));
    EXPECT_FALSE(credentials_match(credentials, "CP001", "s3cr:eT"));
    EXPECT_FALSE(credentials_match(std::nullopt, "CP001", ""));
    const auto mac = parse_basic_authorization(basic("AA:BB:CC:0001:s3cret"));
    EXPECT_TRUE(credentials_match(mac, "AA:BB:CC:0001", "s3cret"));
    EXPECT_FALSE(credentials_match(mac, "AA:BB:CC:0001", "0001:s3cret"));
    EXPECT_FALSE(credentials_match(mac, "AA", "BB:CC:0001:s3cret0"));
}

TEST(Handshake, BasicAuthorizationIsBase64OfUserColonPassword) {
    EXPECT_EQ(basic_authorization("CP001", "s3cr:et"), "Basic Q1AwMDE6czNjcjpldA==");
    EXPECT_EQ(basic_authorization("a", ""), "Basic YTo=");
}

TEST(Handshake, SubprotocolListIsSearched) {
    EXPECT_TRUE(offers_subprotocol("ocpp1.6"));
    EXPECT_TRUE(offers_subprotocol("ocpp2.0.1, ocpp1.6"));
    EXPECT_FALSE(offers_subprotocol("ocpp1.5"));
    EXPECT_FALSE(offers_subprotocol(""));
}

// The response to an upgrade request whose first lines are given as raw
// text (Beast's request type would fold repeated header lines into one).
// Status 0: no response.
http::response<http::string_body> raw_upgrade(std::uint16_t port, std::string_view first_lines) {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect({net::ip::make_address("127.0.0.1"), port});
    const std::string request =
        std::string(first_lines) +
        "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    net::write(stream, net::buffer(request));
    http::response<http::string_body> response;
    response.result(0);
    beast::flat_buffer buffer;
    beast::error_code ec;
    http::read(stream, buffer, response, ec);
    return response;
}

HandshakeDecision password_check(const HandshakeRequest& request) {
    if (request.identity != "CP001") return HandshakeDecision::NotFound;
    return credentials_match(request.credentials, request.identity, "pw-1")
               ? HandshakeDecision::Accept
               : HandshakeDecision::Unauthorized;
}

TEST(HandshakeOverSockets, AcceptsAndNegotiatesOcpp16) {
    TestServer server;
    TestClient client(server.server->port(), {});
    ASSERT_TRUE(client.open()) << client.handshake_error().message();
    EXPECT_EQ(client.response()[http::field::sec_websocket_protocol], "ocpp1.6");
    EXPECT_TRUE(wait_until([&] { return server.server->is_connected("CP001"); }));
}

// A charger set up with a URL that ends in '/' after its id still connects.
TEST(HandshakeOverSockets, ATrailingSlashAfterTheIdentityIsIgnored) {
    TestServer server;
    TestClient client(server.server->port(), {.target = "/ocpp/CP001/"});
    ASSERT_TRUE(client.open()) << client.handshake_error().message();
    EXPECT_TRUE(wait_until([&] { return server.server->is_connected("CP001"); }));
}

TEST(HandshakeOverSockets, UnknownIdentityIs404) {
    TestServer server;
    TestClient client(server.server->port(), {.target = "/ocpp/XX99"});
    EXPECT_FALSE(client.open());
    EXPECT_EQ(probe_upgrade(server.server->port(), {.target = "/ocpp/XX99"}).result_int(), 404u);
    EXPECT_EQ(probe_upgrade(server.server->port(), {.target = "/ocpp/"}).result_int(), 404u);
    EXPECT_EQ(probe_upgrade(server.server->port(), {.target = "/elsewhere/CP001"}).result_int(),
              404u);
}

TEST(HandshakeOverSockets, AnAbsoluteFormTargetIsAccepted) {
    TestServer server;
    const auto port = std::to_string(server.server->port());
    for (const std::string scheme : {"http", "ws"}) {
        const auto response = probe_upgrade(
            server.server->port(), {.target = scheme + "://127.0.0.1:" + port + "/ocpp/CP001"});
        EXPECT_EQ(response.result_int(), 101u) << scheme << ": " << response.body();
        EXPECT_EQ(response[http::field::sec_websocket_protocol], "ocpp1.6") << scheme;
    }
    EXPECT_EQ(
        probe_upgrade(server.server->port(), {.target = "http://127.0.0.1:" + port + "/ocpp/XX99"})
            .result_int(),
        404u);
}

// An identity is the peer's text: it cannot split the log line that names
// it (here the 404 refusal) or write raw bytes into it.
TEST(HandshakeOverSockets, AnIdentityCannotForgeALogLine) {
    TestServer server;
    const auto refused = probe_upgrade(
        server.server->port(),
        {.target = "/ocpp/X%0A2026-11-27T23:59:59.000Z%20info%20%20ASSET_CONNECTED%20asset_id=q%"
                   "20forged=1%00%1b"});
    EXPECT_EQ(refused.result_int(), 404u);
    std::lock_guard lock(server.log_mutex);
    bool named = false;
    for (const auto& line : server.log_lines) {
        for (char c : line) {
            const auto byte = static_cast<unsigned char>(c);
            EXPECT_FALSE(byte < 0x20 || byte == 0x7f)
                << "control character " << int(byte) << " in the log line: " << line;
        }
        named = named || line.find(
                             "'X\\n2026-11-27T23:59:59.000Z info  ASSET_CONNECTED "
                             "asset_id=q forged=1\\x00\\x1b'") != std::string::npos;
    }
    EXPECT_TRUE(named) << "the refusal does not name the identity, escaped";
}

// OCPP-J 1.6: without agreement on the subprotocol the central system
// completes the handshake naming none, then closes the connection at once.
TEST(HandshakeOverSockets, MissingSubprotocolIsRefused) {
    TestServer server;
    for (std::optional<std::string> offered : {std::optional<std::string>{}, {"ocpp2.0.1"}}) {
        const auto upgrade = probe_upgrade(server.server->port(), {.subprotocol = offered});
        EXPECT_EQ(upgrade.result_int(), 101u);
        EXPECT_EQ(upgrade.find(http::field::sec_websocket_protocol), upgrade.end());
    }
    TestClient none(server.server->port(), {.subprotocol = std::nullopt});
    ASSERT_TRUE(none.open()) << none.handshake_error().message();
    EXPECT_EQ(none.wait_closed(), 1002);
    EXPECT_TRUE(server.logged("the WebSocket subprotocol ocpp1.6 is required"));
    // It never counted as connected.
    EXPECT_FALSE(server.server->is_connected("CP001"));
    EXPECT_EQ(server.handler->connect_count(), 0);
    EXPECT_TRUE(server.handler->disconnect_list().empty());
}

// RFC 6455 11.3.4: Sec-WebSocket-Protocol lines repeated in a request are
// one list, as if joined with commas.
TEST(HandshakeOverSockets, SubprotocolsOfferedOnSeveralHeaderLinesAreOneList) {
    TestServer server;
    const auto response = raw_upgrade(server.server->port(),
                                      "GET /ocpp/CP001 HTTP/1.1\r\n"
                                      "Sec-WebSocket-Protocol: ocpp2.0.1\r\n"
                                      "Sec-WebSocket-Protocol: ocpp1.6\r\n");
    EXPECT_EQ(response.result_int(), 101u);
    EXPECT_EQ(response[http::field::sec_websocket_protocol], "ocpp1.6");
    EXPECT_TRUE(wait_until([&] { return server.handler->connect_count() == 1; }));
    EXPECT_FALSE(server.logged("subprotocol ocpp1.6 is required"));
}

TEST(HandshakeOverSockets, Profile1ChecksBasicAuth) {
    TestServer server({.security_profile = SecurityProfile::BasicAuth},
                      std::make_shared<RecordingHandler>(), password_check);
    const auto port = server.server->port();
    TestClient missing(port, {});
    EXPECT_FALSE(missing.open());
    const auto missing_response = probe_upgrade(port, {});
    EXPECT_EQ(missing_response.result_int(), 401u);
    EXPECT_EQ(missing_response[http::field::www_authenticate], "Basic realm=\"gridgate\"");
    EXPECT_EQ(probe_upgrade(port, {.authorization = basic("CP001:nope")}).result_int(), 401u);
    EXPECT_EQ(probe_upgrade(port, {.authorization = basic("CP002:pw-1")}).result_int(), 401u);
    EXPECT_EQ(probe_upgrade(port, {.authorization = "Basic garbage"}).result_int(), 401u);
    // An unknown identity is 404 even with its own credentials.
    EXPECT_EQ(probe_upgrade(port, {.target = "/ocpp/CP404", .authorization = basic("CP404:pw-1")})
                  .result_int(),
              404u);
    TestClient right(server.server->port(), {.authorization = basic("CP001:pw-1")});
    EXPECT_TRUE(right.open()) << right.handshake_error().message();
}

// MAC-style identities hold colons: the Basic auth user name then holds
// them too, and the header's first ':' is not where user and password part.
TEST(HandshakeOverSockets, AnIdentityWithColonsLogsInWithBasicAuth) {
    TestServer server({.security_profile = SecurityProfile::BasicAuth},
                      std::make_shared<RecordingHandler>(), [](const HandshakeRequest& request) {
                          if (request.identity != "AA:BB:CC:0001")
                              return HandshakeDecision::NotFound;
                          return credentials_match(request.credentials, request.identity, "pw:1")
                                     ? HandshakeDecision::Accept
                                     : HandshakeDecision::Unauthorized;
                      });
    const auto port = server.server->port();
    const std::string target = "/ocpp/AA:BB:CC:0001";
    EXPECT_EQ(probe_upgrade(port, {.target = target, .authorization = basic("AA:BB:CC:0001:nope")})
                  .result_int(),
              401u);
    EXPECT_EQ(probe_upgrade(port, {.target = target, .authorization = basic("AA:BB:CC:0001:pw")})
                  .result_int(),
              401u);
    EXPECT_EQ(
        probe_upgrade(port, {.target = target, .authorization = basic("AA:pw:1")}).result_int(),
        401u);
    EXPECT_EQ(probe_upgrade(port, {.target = target, .authorization = basic("AA:BB:CC:0002:pw:1")})
                  .result_int(),
              401u);
    TestClient right(port, {.target = target, .authorization = basic("AA:BB:CC:0001:pw:1")});
    ASSERT_TRUE(right.open()) << right.handshake_error().message();
    EXPECT_TRUE(wait_until([&] { return server.server->is_connected("AA:BB:CC:0001"); }));
}

// A peer that opens a socket and then stalls (silent, or half an upgrade
// request) must not hold a connection slot: it is closed after
// handshake_timeout.
TEST(HandshakeOverSockets, StalledHandshakesAreClosedAfterTheTimeout) {
    TestServer server({.handshake_timeout = std::chrono::milliseconds(300)});
    for (std::string_view sent :
         {std::string_view{}, std::string_view{"GET /ocpp/CP001 HTTP/1.1\r\n"}}) {
        net::io_context io;
        net::ip::tcp::socket socket(io);
        socket.connect({net::ip::make_address("127.0.0.1"), server.server->port()});
        if (!sent.empty()) net::write(socket, net::buffer(sent));
        const timeval limit{3, 0};
        setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        const auto start = std::chrono::steady_clock::now();
        char byte = 0;
        boost::system::error_code ec;
        const auto n = socket.read_some(net::buffer(&byte, 1), ec);
        const auto waited = std::chrono::steady_clock::now() - start;
        EXPECT_EQ(n, 0U);
        EXPECT_EQ(ec, net::error::eof) << ec.message() << " after sending '" << sent << "'";
        EXPECT_GE(waited, std::chrono::milliseconds(250));
        EXPECT_LT(waited, std::chrono::milliseconds(2900));
    }
}

// A handshake that times out says so, with the configured time, rather
// than "Operation canceled": TLS never started, and TLS done but no
// upgrade request (or none over plain ws).
TEST(HandshakeOverSockets, HandshakeTimeoutsSayWhatWasMissing) {
    TestCertificate certificate;
    TestServer tls({.security_profile = SecurityProfile::TlsBasicAuth,
                    .tls_certificate = certificate.certificate,
                    .tls_private_key = certificate.private_key,
                    .handshake_timeout = std::chrono::milliseconds(300)});
    TestServer plain({.handshake_timeout = std::chrono::milliseconds(300)});
    net::io_context io;
    net::ip::tcp::socket silent(io);
    silent.connect({net::ip::make_address("127.0.0.1"), tls.server->port()});
    EXPECT_TRUE(wait_until([&] { return tls.logged("no TLS handshake within 300 ms"); }, 10s));

    net::ssl::context tls_context{net::ssl::context::tls_client};
    tls_context.set_verify_mode(net::ssl::verify_none);
    beast::ssl_stream<beast::tcp_stream> after_tls(io, tls_context);
    beast::get_lowest_layer(after_tls).connect(
        {net::ip::make_address("127.0.0.1"), tls.server->port()});
    after_tls.handshake(net::ssl::stream_base::client);
    EXPECT_TRUE(
        wait_until([&] { return tls.logged("no HTTP upgrade request within 300 ms"); }, 10s));

    net::ip::tcp::socket plain_silent(io);
    plain_silent.connect({net::ip::make_address("127.0.0.1"), plain.server->port()});
    EXPECT_TRUE(
        wait_until([&] { return plain.logged("no HTTP upgrade request within 300 ms"); }, 10s));
    EXPECT_FALSE(tls.logged("Operation canceled"));
    EXPECT_FALSE(plain.logged("Operation canceled"));
}

// An upgrade request the server cannot read is answered before the close:
// 431 for headers over the limit, 400 for a malformed one.
TEST(HandshakeOverSockets, OversizeAndMalformedRequestsAreAnswered) {
    TestServer server;
    const auto oversize =
        raw_upgrade(server.server->port(),
                    "GET /ocpp/CP001 HTTP/1.1\r\nX-Padding: " + std::string(9000, 'a') + "\r\n");
    EXPECT_EQ(oversize.result_int(), 431u) << oversize.body();
    EXPECT_TRUE(server.logged("handshake refused (431): request headers over 8 KiB"));
    const auto malformed =
        raw_upgrade(server.server->port(), "GET /ocpp/CP001 HTTP/1.1\r\nno colon here\r\n");
    EXPECT_EQ(malformed.result_int(), 400u) << malformed.body();
    EXPECT_TRUE(server.logged("handshake refused (400): malformed HTTP request"));
    EXPECT_EQ(server.handler->connect_count(), 0u);
}

TEST(HandshakeOverSockets, Profile2IsTlsOnly) {
    TestCertificate certificate;
    TestServer server({.security_profile = SecurityProfile::TlsBasicAuth,
                       .tls_certificate = certificate.certificate,
                       .tls_private_key = certificate.private_key,
                       .handshake_timeout = std::chrono::milliseconds(2000)},
                      std::make_shared<RecordingHandler>(), password_check);

    TestClient plain(server.server->port(), {.authorization = basic("CP001:pw-1")});
    EXPECT_FALSE(plain.open());
    EXPECT_FALSE(server.server->is_connected("CP001"));

    EXPECT_EQ(
        probe_upgrade(server.server->port(), {.authorization = basic("CP001:pw-1")}).result_int(),
        0u);
    EXPECT_EQ(
        probe_upgrade(server.server->port(), {.authorization = basic("CP001:bad"), .tls = true})
            .result_int(),
        401u);
    EXPECT_EQ(
        probe_upgrade(server.server->port(), {.target = "/ocpp/CPX", .tls = true}).result_int(),
        404u);

    TestClient good(server.server->port(), {.authorization = basic("CP001:pw-1"), .tls = true});
    ASSERT_TRUE(good.open()) << good.handshake_error().message();
    good.send(R"([2,"1","Heartbeat",{}])");
    auto reply = good.next();
    ASSERT_TRUE(reply);
    EXPECT_TRUE(reply->starts_with(R"([3,"1",{"currentTime":")")) << *reply;

    // Over TLS too, no subprotocol: the handshake completes, then the close;
    // never registered, it does not replace the connection that works.
    TestClient none(
        server.server->port(),
        {.subprotocol = std::nullopt, .authorization = basic("CP001:pw-1"), .tls = true});
    ASSERT_TRUE(none.open()) << none.handshake_error().message();
    EXPECT_EQ(none.wait_closed(), 1002);
    EXPECT_TRUE(server.server->is_connected("CP001"));
    good.send(R"([2,"2","Heartbeat",{}])");
    EXPECT_TRUE(good.next());
}

// A TLS client of `port` with its handshake done (the certificate not
// checked), to send an upgrade request by hand and read past the answer.
struct TlsClient {
    explicit TlsClient(std::uint16_t port) {
        context.set_verify_mode(net::ssl::verify_none);
        beast::get_lowest_layer(stream).expires_after(10s);
        beast::get_lowest_layer(stream).connect({net::ip::make_address("127.0.0.1"), port});
        stream.handshake(net::ssl::stream_base::client);
    }
    // The answer to `request`, read whole; its error in `ec`.
    http::response<http::string_body> ask(const std::string& request, beast::error_code& ec) {
        http::response<http::string_body> response;
        net::write(stream, net::buffer(request), ec);
        http::read(stream, buffer, response, ec);
        return response;
    }
    net::io_context io;
    net::ssl::context context{net::ssl::context::tls_client};
    beast::ssl_stream<beast::tcp_stream> stream{io, context};
    beast::flat_buffer buffer;
};

// An upgrade request for `target`, with `authorization` unless empty.
std::string upgrade_text(std::string_view target, const std::string& authorization = {}) {
    return "GET " + std::string(target) +
           " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: ocpp1.6\r\n" +
           (authorization.empty() ? "" : "Authorization: " + authorization + "\r\n") + "\r\n";
}

// A refusal over TLS ends with the server's close_notify, so a charger
// reads the whole answer and then a clean end of the TLS stream, not a cut
// one (stream_truncated); also when it sent more than the server read.
TEST(HandshakeOverSockets, Profile2RefusalsEndWithCloseNotify) {
    TestCertificate certificate;
    TestServer server({.security_profile = SecurityProfile::TlsBasicAuth,
                       .tls_certificate = certificate.certificate,
                       .tls_private_key = certificate.private_key},
                      std::make_shared<RecordingHandler>(), password_check);
    struct Case {
        std::string request;
        unsigned status;
    };
    const std::vector<Case> cases{
        {upgrade_text("/ocpp/CP001", basic("CP001:bad")), 401},
        {upgrade_text("/ocpp/CPX"), 404},
        // Unread input: the rest of a malformed request, still arriving.
        {"GET /ocpp/CP001 HTTP/1.1\r\nno colon here\r\n" + std::string(20000, 'x'), 400},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.status);
        TlsClient client(server.server->port());
        auto& stream = client.stream;
        beast::error_code ec;
        const auto response = client.ask(c.request, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(response.result_int(), c.status);
        char byte;
        stream.read_some(net::buffer(&byte, 1), ec);
        EXPECT_EQ(ec, net::error::eof) << ec.message();  // the close_notify
        stream.shutdown(ec);                             // ours, answering it
        EXPECT_FALSE(ec) << ec.message();
    }
}

// The server stops at once, not after the teardown's wait, while a refused
// charger neither answers the close_notify nor closes.
TEST(HandshakeOverSockets, AStopDoesNotWaitForARefusedTlsChargersCloseNotify) {
    TestCertificate certificate;
    auto server = std::make_unique<TestServer>(
        CentralSystemOptions{.security_profile = SecurityProfile::TlsBasicAuth,
                             .tls_certificate = certificate.certificate,
                             .tls_private_key = certificate.private_key},
        std::make_shared<RecordingHandler>(), password_check);
    TlsClient client(server->server->port());
    beast::error_code ec;
    const auto response = client.ask(upgrade_text("/ocpp/CP001", basic("CP001:bad")), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(response.result_int(), 401u);
    // Silent from here on: the server's teardown waits for our close_notify.
    const auto started = std::chrono::steady_clock::now();
    server.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(HandshakeOverSockets, Profile2WithoutCertificateFailsToStart) {
    net::io_context io;
    CentralSystem server(io, {.security_profile = SecurityProfile::TlsBasicAuth}, password_check,
                         std::make_shared<RecordingHandler>());
    EXPECT_THROW(server.start(), std::runtime_error);
    CentralSystem missing_file(io,
                               {.security_profile = SecurityProfile::TlsBasicAuth,
                                .tls_certificate = "/nonexistent/cert.pem",
                                .tls_private_key = "/nonexistent/key.pem"},
                               password_check, std::make_shared<RecordingHandler>());
    try {
        missing_file.start();
        ADD_FAILURE() << "started without its certificate";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/cert.pem"), std::string::npos);
    }
}

TEST(TlsFiles, EachWayAPairCannotServeIsNamed) {
    TestCertificate one;
    TestCertificate other;
    EXPECT_FALSE(check_tls_files(one.certificate, one.private_key));

    using File = TlsFilesProblem::File;
    auto expect = [](std::optional<TlsFilesProblem> p, File file, const std::string& start) {
        ASSERT_TRUE(p) << start;
        EXPECT_EQ(p->file, file) << p->message;
        EXPECT_EQ(p->message.rfind(start, 0), 0U) << p->message;
    };
    const auto garbage = one.directory / "garbage.pem";
    std::ofstream(garbage) << "garbage\n";
    expect(check_tls_files(garbage, one.private_key), File::Certificate,
           garbage.string() + ": not a PEM certificate chain (");
    expect(check_tls_files(one.certificate, garbage), File::PrivateKey,
           garbage.string() + ": not a PEM private key (");
    // Swapped: the key file is no certificate.
    expect(check_tls_files(one.private_key, one.certificate), File::Certificate,
           one.private_key.string() + ": not a PEM certificate chain (");
    expect(check_tls_files(one.certificate, other.private_key), File::PrivateKey,
           other.private_key.string() + ": not the private key of the certificate in " +
               one.certificate.string());
    expect(check_tls_files(one.directory, one.private_key), File::Certificate,
           one.directory.string() + ": is a directory");
    expect(check_tls_files(one.certificate, one.directory / "nope.pem"), File::PrivateKey,
           (one.directory / "nope.pem").string() + ": No such file or directory");
}

// A certificate out of its dates loads, but every charger would refuse it:
// the check names the file and the date.
TEST(TlsFiles, ACertificateOutOfItsDatesIsNamedWithTheDate) {
    TestCertificate certificate;
    EXPECT_FALSE(certificate_date_problem(certificate.certificate));
    const auto later =
        certificate_date_problem(certificate.certificate, std::chrono::system_clock::now() + 48h);
    ASSERT_TRUE(later);
    EXPECT_EQ(later->rfind(certificate.certificate.string() + ": the certificate expired on 20", 0),
              0U)
        << *later;
    EXPECT_NE(later->find("Z (notAfter)"), std::string::npos) << *later;
    const auto earlier =
        certificate_date_problem(certificate.certificate, std::chrono::system_clock::now() - 48h);
    ASSERT_TRUE(earlier);
    EXPECT_NE(earlier->find(": the certificate is not valid before 20"), std::string::npos)
        << *earlier;
    EXPECT_FALSE(certificate_date_problem(certificate.directory / "nope.pem"));
}

// An encrypted key is named as such, without OpenSSL prompting for its
// passphrase on the terminal, in both PEM forms (PKCS#8 and OpenSSL's
// traditional one), by the check and by start().
TEST(TlsFiles, AnEncryptedPrivateKeyIsNamedAndNeverPromptedFor) {
    TestCertificate certificate;
    FILE* in = std::fopen(certificate.private_key.c_str(), "r");
    ASSERT_NE(in, nullptr);
    EVP_PKEY* key = PEM_read_PrivateKey(in, nullptr, nullptr, nullptr);
    std::fclose(in);
    ASSERT_NE(key, nullptr);
    const auto pkcs8 = certificate.directory / "pkcs8-encrypted.key";
    const auto traditional = certificate.directory / "traditional-encrypted.key";
    static const char passphrase[] = "secret";
    const auto* phrase = reinterpret_cast<const unsigned char*>(passphrase);
    FILE* out = std::fopen(pkcs8.c_str(), "w");
    PEM_write_PrivateKey(out, key, EVP_aes_256_cbc(), phrase, 6, nullptr, nullptr);
    std::fclose(out);
    BIO* bio = BIO_new_file(traditional.c_str(), "w");
    PEM_write_bio_PrivateKey_traditional(bio, key, EVP_aes_256_cbc(), phrase, 6, nullptr, nullptr);
    BIO_free(bio);
    EVP_PKEY_free(key);

    for (const auto& encrypted : {pkcs8, traditional}) {
        std::ifstream file(encrypted);
        const std::string text{std::istreambuf_iterator<char>(file), {}};
        ASSERT_NE(text.find("ENCRYPTED"), std::string::npos) << text;
        const std::string expected = encrypted.string() +
                                     ": the private key is encrypted; gridgate needs it "
                                     "unencrypted (openssl pkey -in " +
                                     encrypted.string() + " -out NEW_KEY_FILE)";
        const auto problem = check_tls_files(certificate.certificate, encrypted);
        ASSERT_TRUE(problem) << encrypted;
        EXPECT_EQ(problem->file, TlsFilesProblem::File::PrivateKey);
        EXPECT_EQ(problem->message, expected);

        net::io_context io;
        CentralSystem server(io,
                             {.security_profile = SecurityProfile::TlsBasicAuth,
                              .tls_certificate = certificate.certificate,
                              .tls_private_key = encrypted},
                             password_check, std::make_shared<RecordingHandler>());
        try {
            server.start();
            ADD_FAILURE() << "started with an encrypted key";
        } catch (const std::runtime_error& e) {
            EXPECT_EQ(e.what(), expected);
        }
    }
}

}  // namespace
}  // namespace gridgate::ocpp
