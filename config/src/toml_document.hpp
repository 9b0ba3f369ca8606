// toml++ stays inside this module: a TOML document is turned into the SDK's
// plain ConfigTable tree once, and every check works on that tree.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/sdk/config.hpp"

namespace gridgate::config::detail {

struct TomlDocument {
    /// Empty when the text is not valid TOML (or the file cannot be read).
    std::optional<sdk::ConfigTable> root;
    std::vector<sdk::ConfigDiagnostic> errors;
};

/// Parses TOML `text`; every location names `file_name`. A table entry is
/// located at its key, an array element at its value. Tables keep file order.
TomlDocument parse_toml(std::string_view text, const std::string& file_name);

/// Reads and parses the file at `path`; locations name `file_name`.
TomlDocument read_toml_file(const std::filesystem::path& path, const std::string& file_name);

}  // namespace gridgate::config::detail
