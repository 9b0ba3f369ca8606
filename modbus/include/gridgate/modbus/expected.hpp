// A value or an error, for the few operations of this library that can fail
// on bad input (C++20 has no std::expected yet).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace gridgate::modbus {

template <typename T, typename E = std::string>
class Expected {
  public:
    Expected(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
    static Expected failure(E error) { return Expected(std::in_place_index<1>, std::move(error)); }

    bool has_value() const noexcept { return storage_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    const T& value() const& {
        assert(has_value());
        return std::get<0>(storage_);
    }
    T& value() & {
        assert(has_value());
        return std::get<0>(storage_);
    }
    T&& value() && {
        assert(has_value());
        return std::get<0>(std::move(storage_));
    }
    const T& operator*() const& { return value(); }
    const T* operator->() const { return &value(); }

    const E& error() const& {
        assert(!has_value());
        return std::get<1>(storage_);
    }

  private:
    template <std::size_t I, typename V>
    Expected(std::in_place_index_t<I> tag, V&& v) : storage_(tag, std::forward<V>(v)) {}
    std::variant<T, E> storage_;
};

}  // namespace gridgate::modbus
