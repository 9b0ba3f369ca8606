// What a fuzz target calls when the code under test broke a promise (as
// opposed to refusing bad input, which is the expected outcome): the message
// and an abort, which libFuzzer and ctest both report as a failure.
#pragma once
#include <cstdio>
#include <cstdlib>
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

}  // namespace gridgate::fuzz
