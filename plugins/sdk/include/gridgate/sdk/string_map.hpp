// A hash map keyed by std::string that is looked up with a std::string_view,
// without building a temporary string (an allocation for any id longer than
// the small-string buffer). Header-only; not part of the plugin ABI.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gridgate::sdk {

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

template <class Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

}  // namespace gridgate::sdk
