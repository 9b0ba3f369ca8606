// A TOML file as the SDK's plain ConfigTable tree, every value with the
// FILE:LINE:COL it was written at. The site file is read through it, and so is
// any other TOML the host or a tool hands to plugin code (register map files),
// so both get the same locations and the same refusals. toml++ stays inside
// this module: no toml++ type appears here.
//
// Free functions without shared state: safe to call from any thread.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridgate/sdk/config.hpp"

namespace gridgate::config {

struct TomlDocument {
    /// Empty when the text is not valid TOML (or the file cannot be read).
    std::optional<sdk::ConfigTable> root;
    /// A syntax or read error alone (then `root` is empty), or the values no
    /// setting can hold (dates and times), which are left out of `root`.
    std::vector<sdk::ConfigDiagnostic> errors;
};

/// Parses TOML `text`; every location names `file_name`. A table entry is
/// located at its key, an array element at its value, the root table at 1:1.
/// Tables keep file order.
TomlDocument parse_toml(std::string_view text, const std::string& file_name);

/// Reads and parses the file at `path`; locations name `file_name`.
TomlDocument read_toml_file(const std::filesystem::path& path, const std::string& file_name);

}  // namespace gridgate::config
