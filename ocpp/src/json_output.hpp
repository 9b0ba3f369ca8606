// A RapidJSON output stream that appends to a std::string, so serializing a
// frame costs one growing string and no intermediate document.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include <rapidjson/writer.h>

#include "gridgate/ocpp/rpc.hpp"
#include "gridgate/ocpp/schema.hpp"
#include "json_scan.hpp"

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
    // A run of characters at once (see ScanWriteUnescapedString below).
    void Append(const char* text, std::size_t length) {
        if (length > sizeof buffer_ - used_) Flush();
        if (length > sizeof buffer_) {
            out_.append(text, length);
            return;
        }
        std::memcpy(buffer_ + used_, text, length);
        used_ += length;
    }

  private:
    std::string& out_;
    std::size_t used_ = 0;
    char buffer_[256];
};

}  // namespace gridgate::ocpp::detail

// RapidJSON writes a string one character at a time, looking each up in its
// escape table. Its own writer skips ahead over the characters that need no
// escape only for StringBuffer (and with SSE); this does the same for ours:
// the run up to the next '"', '\\' or control character (RapidJSON's escape
// table exactly) is appended at once, and RapidJSON writes that one as
// before. Same text, with 16 characters looked at per step where SSE2 is
// (json_scan.hpp).
// Declared before any use of the writer: every file that writes with a
// StringWriter includes this header.
template <>
inline bool rapidjson::Writer<
    gridgate::ocpp::detail::StringOutput, rapidjson::UTF8<>, rapidjson::UTF8<>,
    rapidjson::MemoryPoolAllocator<>,
    rapidjson::kWriteDefaultFlags>::ScanWriteUnescapedString(rapidjson::StringStream& is,
                                                             std::size_t length) {
    const char* const run = is.src_;
    const char* const end = is.head_ + length;
    const char* const p = gridgate::ocpp::detail::find_string_special(run, end);
    os_->Append(run, static_cast<std::size_t>(p - run));
    is.src_ = p;
    return p != end;
}

namespace gridgate::ocpp::detail {

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
