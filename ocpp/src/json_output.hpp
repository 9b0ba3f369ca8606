// A RapidJSON output stream that appends to a std::string, so serializing a
// frame costs one growing string and no intermediate buffer.
#pragma once

#include <string>

#include <rapidjson/writer.h>

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

}  // namespace gridgate::ocpp::detail
