// One client connection of the API server: reads requests one at a time,
// routes each, waits for the backend's answer and writes it, keeping the
// connection alive between requests when the client asks for it.
//
// Thread-safety: all state lives on the connection's strand. stop_gracefully()
// and close_now() may be called from any thread; they post to that strand.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "router.hpp"
#include "server_state.hpp"

namespace gridgate::http::detail {

/// An answer plus how the connection continues after it.
struct Reply {
    Refusal content;
    bool close = false;        // close the connection after writing
    bool unread_body = false;  // the request body is still on the wire
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
  public:
    /// `socket`'s executor must be a strand; the caller has reserved a
    /// connection slot in `state`, which the destructor releases.
    HttpSession(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<ServerState> state);
    ~HttpSession();
    HttpSession(const HttpSession&) = delete;
    HttpSession& operator=(const HttpSession&) = delete;

    void run();

    /// Closes the connection at once if it is waiting for a request, otherwise
    /// after the answer to the request in flight (sent with Connection: close).
    void stop_gracefully();

    /// Closes the connection whatever it is doing.
    void close_now();

  private:
    enum class Phase { ReadingHeader, ReadingBody, Handling, Writing, Lingering, Closed };

    void do_read_header();
    void on_read_header(boost::beast::error_code ec, std::size_t bytes);
    void do_send_continue();
    void on_send_continue(boost::beast::error_code ec, std::size_t bytes);
    void do_read_body();
    void on_read_body(boost::beast::error_code ec, std::size_t bytes);
    void on_read_error(boost::beast::error_code ec);

    void handle_request();
    void on_backend_answer(std::uint64_t request, ApiResponse response);
    void on_backend_timeout(std::uint64_t request, boost::beast::error_code ec);
    bool abandon_request();

    void do_write(Reply reply);
    void on_write(boost::beast::error_code ec, std::size_t bytes);
    void do_linger();
    void on_linger(boost::beast::error_code ec, std::size_t bytes);
    void close();

    boost::beast::tcp_stream stream_;
    const boost::asio::any_io_executor strand_;
    std::shared_ptr<ServerState> state_;
    boost::beast::flat_buffer buffer_;
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
    boost::asio::steady_timer backend_timer_;

    Phase phase_ = Phase::ReadingHeader;
    bool stop_requested_ = false;
    std::uint64_t request_ = 0;  // numbers requests so a stale backend answer is recognised
    Route route_;
    // The answer to a refused request whose small body is being read first.
    std::optional<Reply> refusal_;
    // Settles, for a state-changing request, whether the backend applies it
    // or the server gives up on it; null for read-only requests.
    std::shared_ptr<RequestClaim> claim_;
    unsigned version_ = 11;
    bool keep_alive_ = true;
    bool head_request_ = false;  // HEAD: the answer's header only
    bool close_after_write_ = false;
    bool linger_after_write_ = false;
    std::shared_ptr<boost::beast::http::response<boost::beast::http::string_body>> response_;
    std::shared_ptr<boost::beast::http::response<boost::beast::http::empty_body>> continue_;
    std::vector<char> discard_;
};

}  // namespace gridgate::http::detail
