// A RapidJSON output stream that appends to a std::string, so serializing a
// frame costs one growing string and no intermediate document.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/writer.h>

#include "gridgate/ocpp/rpc.hpp"
#include "gridgate/ocpp/schema.hpp"

namespace gridgate::ocpp::detail {

// RapidJSON writes one character at a time; they gather in a small buffer
// that reaches the string in blocks, so a character costs a store instead
// of std::string's capacity check and terminator. The writer flushes at the
// end of its top-level value, and the destructor flushes what is left: read
// the string only after one of them.
class StringOutput {
  public:
    using Ch = char;
    explicit StringOutput(std::string& out) : out_(out) {}
    StringOutput(const StringOutput&) = delete;
    StringOutput& operator=(const StringOutput&) = delete;
    ~StringOutput() { Flush(); }
    void Put(char c) {
        if (used_ == sizeof buffer_) Flush();
        buffer_[used_++] = c;
    }
    void Flush() {
        out_.append(buffer_, used_);
        used_ = 0;
    }

  private:
    std::string& out_;
    std::size_t used_ = 0;
    char buffer_[256];
};

// Room for a StringWriter's nesting stack (32 levels of 16 bytes) where the
// writer is: with the default allocator every frame written would take it,
// and the allocator object, from the heap.
class WriterStack {
  public:
    WriterStack() : pool_(buffer_, sizeof buffer_) {}
    WriterStack(const WriterStack&) = delete;
    WriterStack& operator=(const WriterStack&) = delete;
    rapidjson::MemoryPoolAllocator<>* allocator() { return &pool_; }

  private:
    alignas(std::max_align_t) char buffer_[640];
    rapidjson::MemoryPoolAllocator<> pool_;
};

// What a call's frame is given room for before it is written: most fit.
constexpr std::size_t kCallFrameReserve = 512;

// Appends a CALL frame, [2,"<message_id>","<action>",<payload>], to `out`;
// `write_payload(writer)` writes the payload and returns false when it could
// not, which leaves the frame unfinished and is returned.
template <class WritePayload>
bool write_call(std::string& out, std::string_view message_id, std::string_view action,
                WritePayload&& write_payload) {
    // Most calls' frames fit, so the string grows once instead of five times.
    out.reserve(out.size() + kCallFrameReserve);
    StringOutput stream(out);
    WriterStack stack;
    StringWriter writer(stream, stack.allocator());
    writer.StartArray();
    writer.Int(static_cast<int>(MessageType::Call));
    writer.String(message_id.data(), static_cast<rapidjson::SizeType>(message_id.size()));
    writer.String(action.data(), static_cast<rapidjson::SizeType>(action.size()));
    if (!write_payload(writer)) return false;
    writer.EndArray();
    return true;
}

}  // namespace gridgate::ocpp::detail
