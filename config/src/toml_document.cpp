#include "gridgate/config/toml_document.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <tuple>

#include <toml++/toml.h>

namespace gridgate::config {
namespace {

sdk::SourceLocation location(const std::string& file, const toml::source_region& region) {
    return {file, static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

class Converter {
  public:
    explicit Converter(const std::string& file) : file_(file) {}

    sdk::ConfigTable table(const toml::table& in) {
        sdk::ConfigTable out(location(file_, in.source()));
        // toml++ keeps keys sorted by name; the SDK promises file order.
        std::vector<std::pair<const toml::key*, const toml::node*>> entries;
        for (auto&& [key, node] : in) entries.emplace_back(&key, &node);
        std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
            const auto& pa = a.first->source().begin;
            const auto& pb = b.first->source().begin;
            return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
        });
        for (const auto& [key, node] : entries) {
            auto where = location(file_, key->source());
            if (auto value = convert(*node, where, key->str()))
                out.add(std::string(key->str()), *value);
        }
        return out;
    }

    std::vector<sdk::ConfigDiagnostic> take_errors() { return std::move(errors_); }

  private:
    std::optional<sdk::ConfigValue> convert(const toml::node& node,
                                            const sdk::SourceLocation& where,
                                            std::string_view name) {
        using Storage = sdk::ConfigValue::Storage;
        switch (node.type()) {
            case toml::node_type::table:
                return sdk::ConfigValue(
                    Storage{std::make_shared<const sdk::ConfigTable>(table(*node.as_table()))},
                    where);
            case toml::node_type::array: {
                sdk::ConfigValue::Array items;
                for (const auto& element : *node.as_array()) {
                    auto element_where = location(file_, element.source());
                    if (auto v = convert(element, element_where, name)) items.push_back(*v);
                }
                return sdk::ConfigValue(Storage{std::move(items)}, where);
            }
            case toml::node_type::string:
                return sdk::ConfigValue(Storage{std::string(node.as_string()->get())}, where);
            case toml::node_type::integer:
                return sdk::ConfigValue(Storage{node.as_integer()->get()}, where);
            case toml::node_type::floating_point:
                return sdk::ConfigValue(Storage{node.as_floating_point()->get()}, where);
            case toml::node_type::boolean:
                return sdk::ConfigValue(Storage{node.as_boolean()->get()}, where);
            case toml::node_type::date:
            case toml::node_type::time:
            case toml::node_type::date_time:
                errors_.push_back({where, "'" + std::string(name) +
                                              "' is a date or time, which no setting accepts"});
                return std::nullopt;
            case toml::node_type::none:
                break;
        }
        return std::nullopt;
    }

    const std::string& file_;
    std::vector<sdk::ConfigDiagnostic> errors_;
};

}  // namespace

TomlDocument parse_toml(std::string_view text, const std::string& file_name) {
    TomlDocument doc;
    toml::table parsed;
    try {
        parsed = toml::parse(text, std::string_view(file_name));
    } catch (const toml::parse_error& e) {
        doc.errors.push_back(
            {location(file_name, e.source()), "invalid TOML: " + std::string(e.description())});
        return doc;
    }
    Converter converter(file_name);
    sdk::ConfigTable root = converter.table(parsed);
    // The root table has no header of its own: its place is the file's start.
    sdk::ConfigTable located({file_name, 1, 1});
    for (const auto& [key, value] : root.entries()) located.add(key, value);
    doc.root = std::move(located);
    doc.errors = converter.take_errors();
    return doc;
}

TomlDocument read_toml_file(const std::filesystem::path& path, const std::string& file_name) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        TomlDocument doc;
        doc.errors.push_back({{file_name, 0, 0}, "cannot read the file: it is a directory"});
        return doc;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        TomlDocument doc;
        doc.errors.push_back(
            {{file_name, 0, 0}, "cannot read the file: " + std::string(std::strerror(errno))});
        return doc;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        TomlDocument doc;
        doc.errors.push_back({{file_name, 0, 0}, "cannot read the file"});
        return doc;
    }
    return parse_toml(text.str(), file_name);
}

}  // namespace gridgate::config
