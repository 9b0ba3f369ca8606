// A RapidJSON output stream that appends to a std::string, so serializing a
// frame costs one growing string and no intermediate buffer.
#pragma once

#include <string>
#include <string_view>

#include <rapidjson/writer.h>

#include "gridgate/ocpp/rpc.hpp"

namespace gridgate::ocpp::detail {

class StringOutput {
  public:
    using Ch = char;
    explicit StringOutput(std::string& out) : out_(out) {}
    void Put(char c) { out_.push_back(c); }
    void Flush() {}

  private:
    std::string& out_;
};

using StringWriter = rapidjson::Writer<StringOutput>;

// Appends a CALL frame, [2,"<message_id>","<action>",<payload>], to `out`;
// `write_payload(writer)` writes the payload and returns false when it could
// not, which leaves the frame unfinished and is returned.
template <class WritePayload>
bool write_call(std::string& out, std::string_view message_id, std::string_view action,
                WritePayload&& write_payload) {
    // Most calls' frames fit, so the string grows once instead of five times.
    out.reserve(out.size() + 512);
    StringOutput stream(out);
    StringWriter writer(stream);
    writer.StartArray();
    writer.Int(static_cast<int>(MessageType::Call));
    writer.String(message_id.data(), static_cast<rapidjson::SizeType>(message_id.size()));
    writer.String(action.data(), static_cast<rapidjson::SizeType>(action.size()));
    if (!write_payload(writer)) return false;
    writer.EndArray();
    return true;
}

}  // namespace gridgate::ocpp::detail
