// A blocking HTTP/1.1 client for tools and end-to-end tests (Boost.Beast), one
// connection per request.
#pragma once

#include <map>
#include <string>

namespace gridgate::tools {

struct HttpReply {
    unsigned status = 0;
    std::string body;
    std::map<std::string, std::string> headers;
};

/// Throws std::runtime_error when the connection fails.
HttpReply http_request(unsigned short port, const std::string& method, const std::string& target,
                       const std::string& body = {}, const std::string& content_type = {},
                       const std::map<std::string, std::string>& headers = {});

}  // namespace gridgate::tools
