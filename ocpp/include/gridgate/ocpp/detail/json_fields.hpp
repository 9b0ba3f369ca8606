// Generic JSON mapping of the message structs of messages.hpp: each struct
// lists its members once (`fields`), and to_json / from_json follow the list.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <rapidjson/document.h>

#include "gridgate/ocpp/datetime.hpp"

namespace gridgate::ocpp {

using JsonAllocator = rapidjson::Document::AllocatorType;

// A payload that does not fit its message struct; what() names the JSON path.
class MessageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Specialized per enum: the wire names, in the order of the enumerators.
template <class E>
struct EnumNames;

template <class E>
requires requires {
    EnumNames<E>::names;
}
constexpr std::string_view to_string(E value) {
    return EnumNames<E>::names[static_cast<std::size_t>(value)];
}

template <class E>
requires requires {
    EnumNames<E>::names;
}
std::optional<E> enum_from_string(std::string_view text) {
    for (std::size_t i = 0; i < EnumNames<E>::names.size(); ++i) {
        if (EnumNames<E>::names[i] == text) return static_cast<E>(i);
    }
    return std::nullopt;
}

namespace detail {

template <class T, class M>
struct Field {
    std::string_view name;
    M T::*member;
};

template <class T, class M>
constexpr Field<T, M> field(std::string_view name, M T::*member) {
    return {name, member};
}

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

template <class T>
concept Message = requires {
    T::fields;
};
template <class T>
concept NamedEnum = std::is_enum_v<T> && requires {
    EnumNames<T>::names;
};

template <class T>
rapidjson::Value value_to_json(const T& value, JsonAllocator& allocator);

template <Message T>
rapidjson::Value message_to_json(const T& message, JsonAllocator& allocator) {
    rapidjson::Value object(rapidjson::kObjectType);
    std::apply(
        [&](const auto&... fields) {
            (
                [&](const auto& f) {
                    const auto& member = message.*(f.member);
                    using M = std::remove_cvref_t<decltype(member)>;
                    if constexpr (IsOptional<M>::value) {
                        if (!member) return;
                        object.AddMember(rapidjson::StringRef(f.name.data(), f.name.size()),
                                         value_to_json(*member, allocator), allocator);
                    } else {
                        object.AddMember(rapidjson::StringRef(f.name.data(), f.name.size()),
                                         value_to_json(member, allocator), allocator);
                    }
                }(fields),
                ...);
        },
        T::fields);
    return object;
}

template <class T>
rapidjson::Value value_to_json(const T& value, JsonAllocator& allocator) {
    if constexpr (Message<T>) {
        return message_to_json(value, allocator);
    } else if constexpr (std::is_same_v<T, bool>) {
        return rapidjson::Value(value);
    } else if constexpr (std::is_same_v<T, std::int32_t>) {
        return rapidjson::Value(value);
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
        return rapidjson::Value(static_cast<int64_t>(value));
    } else if constexpr (std::is_same_v<T, double>) {
        return rapidjson::Value(value);
    } else if constexpr (std::is_same_v<T, std::string>) {
        return rapidjson::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()),
                                allocator);
    } else if constexpr (std::is_same_v<T, Timestamp>) {
        char text[kTimestampBufferSize];
        const std::size_t length = format_timestamp(value, text);
        return rapidjson::Value(text, static_cast<rapidjson::SizeType>(length), allocator);
    } else if constexpr (NamedEnum<T>) {
        const std::string_view name = to_string(value);
        return rapidjson::Value(rapidjson::StringRef(name.data(), name.size()));
    } else if constexpr (IsVector<T>::value) {
        rapidjson::Value array(rapidjson::kArrayType);
        array.Reserve(static_cast<rapidjson::SizeType>(value.size()), allocator);
        for (const auto& item : value) array.PushBack(value_to_json(item, allocator), allocator);
        return array;
    } else {
        static_assert(sizeof(T) == 0, "no JSON mapping for this member type");
    }
}

[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
    throw MessageError((path.empty() ? std::string("/") : path) + ": " + what);
}

template <class T>
void value_from_json(const rapidjson::Value& json, T& out, const std::string& path);

template <Message T>
void message_from_json(const rapidjson::Value& json, T& out, const std::string& path) {
    if (!json.IsObject()) fail(path, "expected an object");
    std::apply(
        [&](const auto&... fields) {
            (
                [&](const auto& f) {
                    auto& member = out.*(f.member);
                    using M = std::remove_cvref_t<decltype(member)>;
                    const std::string child_path = path + "/" + std::string(f.name);
                    auto found = json.FindMember(
                        rapidjson::Value(rapidjson::StringRef(f.name.data(), f.name.size())));
                    if (found == json.MemberEnd()) {
                        if constexpr (!IsOptional<M>::value)
                            fail(child_path, "required member is missing");
                        return;
                    }
                    if constexpr (IsOptional<M>::value) {
                        typename M::value_type inner{};
                        value_from_json(found->value, inner, child_path);
                        member = std::move(inner);
                    } else {
                        value_from_json(found->value, member, child_path);
                    }
                }(fields),
                ...);
        },
        T::fields);
}

template <class T>
void value_from_json(const rapidjson::Value& json, T& out, const std::string& path) {
    if constexpr (Message<T>) {
        message_from_json(json, out, path);
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!json.IsBool()) fail(path, "expected a boolean");
        out = json.GetBool();
    } else if constexpr (std::is_same_v<T, std::int32_t>) {
        if (!json.IsInt()) fail(path, "expected a 32-bit integer");
        out = json.GetInt();
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
        if (!json.IsInt64()) fail(path, "expected an integer");
        out = json.GetInt64();
    } else if constexpr (std::is_same_v<T, double>) {
        if (!json.IsNumber()) fail(path, "expected a number");
        out = json.GetDouble();
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (!json.IsString()) fail(path, "expected a string");
        out.assign(json.GetString(), json.GetStringLength());
    } else if constexpr (std::is_same_v<T, Timestamp>) {
        if (!json.IsString()) fail(path, "expected a date-time string");
        auto parsed = parse_timestamp({json.GetString(), json.GetStringLength()});
        if (!parsed) fail(path, "not an RFC 3339 date-time");
        out = *parsed;
    } else if constexpr (NamedEnum<T>) {
        if (!json.IsString()) fail(path, "expected a string");
        auto parsed = enum_from_string<T>({json.GetString(), json.GetStringLength()});
        if (!parsed) fail(path, "'" + std::string(json.GetString()) + "' is not an allowed value");
        out = *parsed;
    } else if constexpr (IsVector<T>::value) {
        if (!json.IsArray()) fail(path, "expected an array");
        out.clear();
        out.reserve(json.Size());
        for (rapidjson::SizeType i = 0; i < json.Size(); ++i) {
            typename T::value_type item{};
            value_from_json(json[i], item, path + "/" + std::to_string(i));
            out.push_back(std::move(item));
        }
    } else {
        static_assert(sizeof(T) == 0, "no JSON mapping for this member type");
    }
}

}  // namespace detail

// The JSON object of a message struct. Strings are copied into `allocator`.
template <detail::Message T>
rapidjson::Value to_json(const T& message, JsonAllocator& allocator) {
    return detail::message_to_json(message, allocator);
}

// The message struct of a JSON payload; throws MessageError naming the path
// of the first member that does not fit. Payloads that passed the schema
// always fit.
template <detail::Message T>
T from_json(const rapidjson::Value& json) {
    T out{};
    detail::message_from_json(json, out, "");
    return out;
}

}  // namespace gridgate::ocpp
