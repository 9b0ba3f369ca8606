// What the fuzz targets share: broken() and check() for when the code under
// test broke a promise (as opposed to refusing bad input, which is the
// expected outcome): the message and an abort, which libFuzzer and ctest both
// report as a failure; and Bytes, to draw typed values from the input.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace gridgate::fuzz {

[[noreturn]] inline void broken(std::string_view what) {
    std::fprintf(stderr, "fuzz: broken promise: %.*s\n", static_cast<int>(what.size()),
                 what.data());
    std::abort();
}

inline void check(bool ok, std::string_view what) {
    if (!ok) broken(what);
}

// Reads the input front to back; zeros once it runs out.
class Bytes {
  public:
    Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    template <class T>
    T take() {
        T out{};
        const std::size_t n = std::min(sizeof out, size_);
        std::memcpy(&out, data_, n);
        data_ += n;
        size_ -= n;
        return out;
    }
    // An integer in [lo, hi].
    std::int32_t in(std::int32_t lo, std::int32_t hi) {
        return lo + static_cast<std::int32_t>(take<std::uint32_t>() %
                                              (static_cast<std::uint32_t>(hi - lo) + 1));
    }
    // A double in [lo, hi].
    double in(double lo, double hi) {
        return lo + (hi - lo) * (static_cast<double>(take<std::uint32_t>()) / UINT32_MAX);
    }
    std::size_t left() const noexcept { return size_; }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
};

}  // namespace gridgate::fuzz
