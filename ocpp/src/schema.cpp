#include "gridgate/ocpp/schema.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include <rapidjson/error/en.h>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>

#include "embedded_schemas.hpp"
#include "gridgate/ocpp/datetime.hpp"
#include "json_output.hpp"

namespace gridgate::ocpp {

class SchemaRegistry::CompiledSchema {
    // Its working state in a pool (freed at once at the end) instead of a
    // malloc and free for every object and keyword it visits.
    using Validator =
        rapidjson::GenericSchemaValidator<rapidjson::SchemaDocument,
                                          rapidjson::BaseReaderHandler<rapidjson::UTF8<>>,
                                          rapidjson::MemoryPoolAllocator<>>;

  public:
    CompiledSchema(std::string label, rapidjson::Document source)
        : label_(std::move(label)),
          source_(std::move(source)),
          compiled_(stripped(source_)),
          extras_(compile_extras(source_)) {}

    std::optional<SchemaViolation> validate(const rapidjson::Value& payload) const {
        // The validator's working memory, on the stack for any OCPP message.
        alignas(std::max_align_t) char arena[16384];
        rapidjson::MemoryPoolAllocator<> state(arena, sizeof arena, 16384);
        Validator validator(compiled_, &state);
        if (!payload.Accept(validator)) {
            return describe_failure(validator, payload);
        }
        return extras_ ? check_extras(*extras_, payload, nullptr) : std::nullopt;
    }

    // validate(), then the payload's text to `writer`. Two passes cost less
    // than one: RapidJSON's validator forwarding each event to a writer is
    // slower than the two walks (measured: 1.23 against 1.40 us for a
    // SetChargingProfile frame). On a violation nothing is written.
    std::optional<SchemaViolation> validate_into(const rapidjson::Value& payload,
                                                 detail::StringWriter& writer) const {
        if (auto refused = validate(payload)) return refused;
        // The writer refuses NaN and infinity, which no schema keyword catches.
        if (!payload.Accept(writer))
            return violation(ErrorCode::TypeConstraintViolation, "/",
                             "holds a number JSON cannot carry (NaN or infinity)");
        return std::nullopt;
    }

  private:
    // The schema keywords RapidJSON does not check (see SchemaRegistry), for
    // one schema node; only nodes with such a keyword somewhere below them
    // are kept, so a payload's other members are never visited.
    struct Extras {
        std::optional<double> multiple_of;
        std::string multiple_of_text;  // as the schema spells it, for the message
        bool date_time = false;
        std::vector<std::pair<std::string, std::unique_ptr<Extras>>> properties;
        std::unique_ptr<Extras> items;
    };

    static std::unique_ptr<Extras> compile_extras(const rapidjson::Value& schema) {
        if (!schema.IsObject()) return nullptr;
        auto extras = std::make_unique<Extras>();
        bool any = false;
        auto multiple_of = schema.FindMember("multipleOf");
        if (multiple_of != schema.MemberEnd() && multiple_of->value.IsNumber()) {
            extras->multiple_of = multiple_of->value.GetDouble();
            extras->multiple_of_text = to_json_text(multiple_of->value);
            any = true;
        }
        auto format = schema.FindMember("format");
        if (format != schema.MemberEnd() && format->value.IsString() &&
            view(format->value) == "date-time") {
            extras->date_time = true;
            any = true;
        }
        auto properties = schema.FindMember("properties");
        if (properties != schema.MemberEnd() && properties->value.IsObject()) {
            for (const auto& member : properties->value.GetObject()) {
                if (auto child = compile_extras(member.value)) {
                    extras->properties.emplace_back(std::string(view(member.name)),
                                                    std::move(child));
                    any = true;
                }
            }
        }
        auto items = schema.FindMember("items");
        if (items != schema.MemberEnd()) {
            extras->items = compile_extras(items->value);
            any = any || extras->items != nullptr;
        }
        return any ? std::move(extras) : nullptr;
    }

    static std::string_view view(const rapidjson::Value& v) {
        return {v.GetString(), v.GetStringLength()};
    }

    // RapidJSON gets the schema without `multipleOf`: its exact test refuses
    // 9.1 as a multiple of 0.1. check_extras() makes the test with a tolerance.
    // And an OCPP integer is 32-bit (the spec's "integer" everywhere, and our
    // typed messages' int32_t): each `type: integer` gets the bounds of one,
    // checked in the validator's own pass (describe_failure names it).
    static rapidjson::SchemaDocument stripped(const rapidjson::Document& source) {
        rapidjson::Document copy;
        copy.CopyFrom(source, copy.GetAllocator());
        prepare(copy, copy.GetAllocator());
        return rapidjson::SchemaDocument(copy);
    }

    static void prepare(rapidjson::Value& node, rapidjson::Document::AllocatorType& allocator) {
        if (node.IsObject()) {
            node.RemoveMember("multipleOf");
            if (is_integer_type(node)) {
                if (!node.HasMember("minimum"))
                    node.AddMember("minimum", std::numeric_limits<std::int32_t>::min(), allocator);
                if (!node.HasMember("maximum"))
                    node.AddMember("maximum", std::numeric_limits<std::int32_t>::max(), allocator);
            }
            for (auto& member : node.GetObject()) prepare(member.value, allocator);
        } else if (node.IsArray()) {
            for (auto& item : node.GetArray()) prepare(item, allocator);
        }
    }

    static bool is_integer_type(const rapidjson::Value& schema) {
        auto type = schema.FindMember("type");
        return type != schema.MemberEnd() && type->value.IsString() &&
               view(type->value) == "integer";
    }

    // The schema node that describes the instance at `pointer`, following
    // `properties` and `items` (the only nesting the OCPP 1.6 schemas use).
    const rapidjson::Value* schema_at(const rapidjson::Pointer& pointer) const {
        const rapidjson::Value* node = &source_;
        for (std::size_t i = 0; i < pointer.GetTokenCount(); ++i) {
            const auto& token = pointer.GetTokens()[i];
            if (!node->IsObject()) return nullptr;
            auto properties = node->FindMember("properties");
            if (properties != node->MemberEnd() && properties->value.IsObject()) {
                auto child =
                    properties->value.FindMember(rapidjson::Value(token.name, token.length));
                if (child != properties->value.MemberEnd()) {
                    node = &child->value;
                    continue;
                }
            }
            auto items = node->FindMember("items");
            if (items != node->MemberEnd() && token.index != rapidjson::kPointerInvalidIndex) {
                node = &items->value;
                continue;
            }
            return nullptr;
        }
        return node;
    }

    static std::string pointer_text(const rapidjson::Pointer& pointer) {
        if (pointer.GetTokenCount() == 0) return "/";
        std::string text;
        for (std::size_t i = 0; i < pointer.GetTokenCount(); ++i) {
            text += '/';
            text.append(pointer.GetTokens()[i].name, pointer.GetTokens()[i].length);
        }
        return text;
    }

    SchemaViolation violation(ErrorCode code, const std::string& path,
                              const std::string& what) const {
        return {code, label_ + ": " + (path.empty() ? "/" : path) + ": " + what};
    }

    SchemaViolation describe_failure(const Validator& validator,
                                     const rapidjson::Value& payload) const {
        const std::string_view keyword = validator.GetInvalidSchemaKeyword();
        const rapidjson::Pointer& pointer = validator.GetInvalidDocumentPointer();
        const std::string path = pointer_text(pointer);
        const rapidjson::Value* schema = schema_at(pointer);
        const rapidjson::Value* instance = pointer.Get(payload);

        if (keyword == "required") {
            if (schema != nullptr && instance != nullptr && instance->IsObject()) {
                auto required = schema->FindMember("required");
                if (required != schema->MemberEnd() && required->value.IsArray()) {
                    for (const auto& name : required->value.GetArray()) {
                        if (!instance->HasMember(name)) {
                            return violation(ErrorCode::OccurenceConstraintViolation,
                                             pointer.GetTokenCount() == 0
                                                 ? "/" + std::string(view(name))
                                                 : path + "/" + std::string(view(name)),
                                             "required property is missing");
                        }
                    }
                }
            }
            return violation(ErrorCode::OccurenceConstraintViolation, path,
                             "a required property is missing");
        }
        if ((keyword == "minimum" || keyword == "maximum") && schema != nullptr &&
            instance != nullptr && is_integer_type(*schema) && !instance->IsInt()) {
            return violation(ErrorCode::TypeConstraintViolation, path,
                             "expected a 32-bit integer, got " + to_json_text(*instance));
        }
        if (keyword == "minItems" || keyword == "maxItems") {
            return violation(ErrorCode::OccurenceConstraintViolation, path,
                             "wrong number of items (" + std::string(keyword) + ")");
        }
        if (keyword == "type") {
            std::string expected = "another type";
            if (schema != nullptr) {
                auto type = schema->FindMember("type");
                if (type != schema->MemberEnd() && type->value.IsString()) {
                    expected = "a value of type " + std::string(view(type->value));
                }
            }
            return violation(ErrorCode::TypeConstraintViolation, path, "expected " + expected);
        }
        if (keyword == "additionalProperties") {
            if (schema != nullptr && instance != nullptr && instance->IsObject()) {
                auto properties = schema->FindMember("properties");
                for (const auto& member : instance->GetObject()) {
                    if (properties == schema->MemberEnd() ||
                        !properties->value.HasMember(member.name)) {
                        return violation(ErrorCode::FormationViolation,
                                         (pointer.GetTokenCount() == 0 ? "" : path) + "/" +
                                             std::string(view(member.name)),
                                         "property is not allowed");
                    }
                }
            }
            return violation(ErrorCode::FormationViolation, path, "property is not allowed");
        }
        if (keyword == "enum") {
            std::string what = "value is not one of the allowed values";
            if (instance != nullptr && instance->IsString()) {
                what = "'" + std::string(view(*instance)) + "' is not one of the allowed values";
            }
            return violation(ErrorCode::PropertyConstraintViolation, path, what);
        }
        if (keyword == "maxLength" && schema != nullptr) {
            auto max = schema->FindMember("maxLength");
            if (max != schema->MemberEnd() && max->value.IsUint()) {
                return violation(ErrorCode::PropertyConstraintViolation, path,
                                 "string is longer than " + std::to_string(max->value.GetUint()) +
                                     " characters");
            }
        }
        return violation(ErrorCode::PropertyConstraintViolation, path,
                         "violates the schema keyword '" + std::string(keyword) + "'");
    }

    // Where check_extras() is, as a chain on the stack: the path text is
    // only built for a violation, not for every member of a valid payload.
    struct PathNode {
        const PathNode* parent = nullptr;
        std::string_view name;  // an object member, or
        long index = -1;        // an array item
    };
    static std::string render(const PathNode* node) {
        if (node == nullptr) return "";
        return render(node->parent) + "/" +
               (node->index >= 0 ? std::to_string(node->index) : std::string(node->name));
    }

    // `multipleOf` with a tolerance, and `format: date-time`; assumes the
    // payload already passed RapidJSON's validation, so types match.
    std::optional<SchemaViolation> check_extras(const Extras& extras,
                                                const rapidjson::Value& instance,
                                                const PathNode* path) const {
        if (extras.multiple_of && instance.IsNumber()) {
            const double quotient = instance.GetDouble() / *extras.multiple_of;
            // The payload came through decimal text, so a true multiple is off
            // by a few ulps at most; 1e-9 relative is far above that and far
            // below any real violation (9.15 against 0.1 is 0.5 off).
            if (std::abs(quotient - std::round(quotient)) >
                1e-9 * std::max(1.0, std::abs(quotient))) {
                return violation(
                    ErrorCode::PropertyConstraintViolation, render(path),
                    to_json_text(instance) + " is not a multiple of " + extras.multiple_of_text);
            }
        }
        if (extras.date_time && instance.IsString() && !parse_timestamp(view(instance))) {
            return violation(ErrorCode::PropertyConstraintViolation, render(path),
                             "'" + std::string(view(instance)) + "' is not an RFC 3339 date-time");
        }
        if (instance.IsObject()) {
            for (const auto& [name, child] : extras.properties) {
                auto member = instance.FindMember(rapidjson::StringRef(
                    name.data(), static_cast<rapidjson::SizeType>(name.size())));
                if (member == instance.MemberEnd()) continue;
                const PathNode here{path, name};
                if (auto problem = check_extras(*child, member->value, &here)) return problem;
            }
        } else if (instance.IsArray() && extras.items) {
            long index = 0;
            for (const auto& item : instance.GetArray()) {
                const PathNode here{path, {}, index++};
                if (auto problem = check_extras(*extras.items, item, &here)) return problem;
            }
        }
        return std::nullopt;
    }

    std::string label_;
    rapidjson::Document source_;
    rapidjson::SchemaDocument compiled_;
    std::unique_ptr<Extras> extras_;  // null: the schema has none
};

namespace {

bool contains_ref(const rapidjson::Value& node) {
    if (node.IsObject()) {
        if (node.HasMember("$ref")) return true;
        for (const auto& member : node.GetObject()) {
            if (contains_ref(member.value)) return true;
        }
    } else if (node.IsArray()) {
        for (const auto& item : node.GetArray()) {
            if (contains_ref(item)) return true;
        }
    }
    return false;
}

constexpr std::string_view kResponseSuffix = "Response";

}  // namespace

SchemaRegistry::SchemaRegistry(SchemaRegistry&&) noexcept = default;
SchemaRegistry& SchemaRegistry::operator=(SchemaRegistry&&) noexcept = default;
SchemaRegistry::~SchemaRegistry() = default;

void SchemaRegistry::add(std::string_view file_name, std::string_view text) {
    rapidjson::Document source;
    source.Parse(text.data(), text.size());
    if (source.HasParseError()) {
        throw std::runtime_error(std::string(file_name) + ".json: offset " +
                                 std::to_string(source.GetErrorOffset()) + ": " +
                                 rapidjson::GetParseError_En(source.GetParseError()));
    }
    if (!source.IsObject()) {
        throw std::runtime_error(std::string(file_name) + ".json: a schema must be a JSON object");
    }
    if (contains_ref(source)) {
        throw std::runtime_error(std::string(file_name) +
                                 ".json: \"$ref\" is not supported by this schema registry");
    }
    const bool is_response =
        file_name.size() > kResponseSuffix.size() && file_name.ends_with(kResponseSuffix);
    const std::string action(
        is_response ? file_name.substr(0, file_name.size() - kResponseSuffix.size()) : file_name);
    auto compiled = std::make_unique<CompiledSchema>(
        action + (is_response ? " response" : " request"), std::move(source));
    (is_response ? responses_ : requests_)[action] = std::move(compiled);
}

const SchemaRegistry& SchemaRegistry::v16() {
    static const SchemaRegistry registry = [] {
        SchemaRegistry built;
        for (std::size_t i = 0; i < detail::kEmbeddedSchemasV16Count; ++i) {
            built.add(detail::kEmbeddedSchemasV16[i].name, detail::kEmbeddedSchemasV16[i].text);
        }
        return built;
    }();
    return registry;
}

SchemaRegistry SchemaRegistry::from_directory(const std::filesystem::path& directory) {
    SchemaRegistry built;
    std::error_code error;
    std::filesystem::directory_iterator it(directory, error);
    if (error) {
        throw std::runtime_error(directory.string() +
                                 ": cannot read the schema directory: " + error.message());
    }
    for (const auto& entry : it) {
        if (entry.path().extension() != ".json") continue;
        std::ifstream file(entry.path(), std::ios::binary);
        if (!file) throw std::runtime_error(entry.path().string() + ": cannot open");
        std::ostringstream text;
        text << file.rdbuf();
        try {
            built.add(entry.path().stem().string(), text.str());
        } catch (const std::runtime_error& e) {
            throw std::runtime_error((directory / e.what()).string());
        }
    }
    if (built.requests_.empty()) {
        throw std::runtime_error(directory.string() + ": no request schemas (<Action>.json) found");
    }
    return built;
}

bool SchemaRegistry::has_action(std::string_view action) const {
    return requests_.find(action) != requests_.end() && responses_.find(action) != responses_.end();
}

std::string_view SchemaRegistry::request_action(std::string_view action) const {
    auto found = requests_.find(action);
    return found == requests_.end() ? std::string_view() : std::string_view(found->first);
}

std::vector<std::string> SchemaRegistry::actions() const {
    std::vector<std::string> names;
    for (const auto& [name, schema] : requests_) {
        if (responses_.find(name) != responses_.end()) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

const SchemaRegistry::CompiledSchema* SchemaRegistry::find(std::string_view action,
                                                           PayloadKind kind) const {
    const auto& table = kind == PayloadKind::Request ? requests_ : responses_;
    auto found = table.find(action);
    return found == table.end() ? nullptr : found->second.get();
}

namespace {
SchemaViolation no_schema(std::string_view action) {
    return {ErrorCode::NotImplemented,
            "no OCPP 1.6 schema for action '" + std::string(action) + "'"};
}
}  // namespace

std::optional<SchemaViolation> SchemaRegistry::validate(std::string_view action, PayloadKind kind,
                                                        const rapidjson::Value& payload) const {
    const CompiledSchema* schema = find(action, kind);
    return schema ? schema->validate(payload) : no_schema(action);
}

std::optional<SchemaViolation> SchemaRegistry::validate_into(std::string_view action,
                                                             PayloadKind kind,
                                                             const rapidjson::Value& payload,
                                                             detail::StringWriter& writer) const {
    const CompiledSchema* schema = find(action, kind);
    return schema ? schema->validate_into(payload, writer) : no_schema(action);
}

}  // namespace gridgate::ocpp
