#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

namespace gridgate::tools {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

HttpReply http_request(unsigned short port, const std::string& method, const std::string& target,
                       const std::string& body, const std::string& content_type,
                       const std::map<std::string, std::string>& headers) {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(10));
    beast::error_code ec;
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec)
        throw std::runtime_error("connect to port " + std::to_string(port) + ": " + ec.message());
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req, ec);
    if (ec) throw std::runtime_error("write: " + ec.message());
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream, buffer, parser, ec);
    if (ec) throw std::runtime_error("read: " + ec.message());
    auto& res = parser.get();
    HttpReply reply;
    reply.status = res.result_int();
    reply.body = res.body();
    for (const auto& f : res) reply.headers[std::string(f.name_string())] = std::string(f.value());
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    return reply;
}

}  // namespace gridgate::tools
