#include "gridgate/config/site_loader.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "gridgate/config/toml_document.hpp"
#include "messages.hpp"

namespace gridgate::config {
namespace {

using sdk::ConfigDiagnostic;
using sdk::ConfigKey;
using sdk::ConfigTable;
using sdk::ConfigType;
using sdk::ConfigValue;
using sdk::SourceLocation;

// The host's own keys. Ranges are checked by SiteReader::number() rather than
// through ConfigKey::min/max, because some bounds are exclusive.
const std::vector<ConfigKey> kSiteKeys = {
    {.name = "name",
     .type = ConfigType::String,
     .required = true,
     .description = "the site's name, shown in logs and metrics"},
};
const std::vector<ConfigKey> kApiKeys = {
    {.name = "listen",
     .type = ConfigType::String,
     .default_value = "127.0.0.1:8080",
     .description = "HOST:PORT of the HTTP API"},
    {.name = "token",
     .type = ConfigType::String,
     .description = "when set, /api/* needs \"Authorization: Bearer <token>\""},
    {.name = "body_limit_bytes",
     .type = ConfigType::Integer,
     .default_value = "8388608",
     .description = "largest request body accepted"},
};
const std::vector<ConfigKey> kEngineKeys = {
    {.name = "max_retries", .type = ConfigType::Integer, .default_value = "3"},
    {.name = "timeout_seconds", .type = ConfigType::Float, .default_value = "30.0"},
    {.name = "retry_backoff_seconds", .type = ConfigType::Float, .default_value = "5.0"},
    {.name = "max_retry_backoff_seconds",
     .type = ConfigType::Float,
     .default_value = "300.0",
     .description =
         "ceiling of the doubling backoff; when not set, at least retry_backoff_seconds"},
};
const std::vector<ConfigKey> kPluginsKeys = {
    {.name = "dirs",
     .type = ConfigType::Array,
     .default_value = "[]",
     .description = "plugin folders searched after the built-in one"},
};
const std::vector<ConfigKey> kScheduleKeys = {
    {.name = "asset_map",
     .type = ConfigType::Table,
     .description = "default column key -> asset id mapping"},
};
const std::vector<ConfigKey> kAdapterHostKeys = {
    {.name = "plugin", .type = ConfigType::String, .required = true},
};
const std::vector<ConfigKey> kAssetHostKeys = {
    {.name = "id", .type = ConfigType::String, .required = true},
    {.name = "type", .type = ConfigType::String, .required = true},
    {.name = "adapter", .type = ConfigType::String, .required = true},
};

struct Section {
    std::string_view name;
    bool is_array_of_tables = false;
};
constexpr Section kSections[] = {
    {"site"},     {"api"},          {"engine"},        {"plugins"},
    {"adapters"}, {"assets", true}, {"register_maps"}, {"schedule"},
};

struct Bounds {
    std::optional<double> min;
    bool min_exclusive = false;
    std::optional<double> max;

    bool contains(double v) const {
        if (min && (min_exclusive ? v <= *min : v < *min)) return false;
        return !(max && v > *max);
    }
    std::string describe() const {
        using detail::format_number;
        if (min && max && !min_exclusive)
            return "from " + format_number(*min) + " to " + format_number(*max);
        std::string low =
            min ? (min_exclusive ? "greater than " : "at least ") + format_number(*min) : "";
        std::string high = max ? "at most " + format_number(*max) : "";
        return low.empty() ? high : high.empty() ? low : low + " and " + high;
    }
};

constexpr double kOneDay = 86400.0;

bool is_asset_type_word(std::string_view s) {
    return !s.empty() && s.front() >= 'a' && s.front() <= 'z' &&
           std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
           });
}

// A register map named by an asset may become a file name: keep it to one
// plain path component.
bool is_register_map_file_name(std::string_view s) {
    return !s.empty() && s.front() != '.' && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.';
    });
}

/// The host's reading of one site file: collects every problem instead of
/// stopping at the first.
class SiteReader {
  public:
    SiteReader(std::string_view file, const LoadOptions& options) : file_(file), options_(options) {
        site_.source_file = file_;
    }

    LoadResult read(const ConfigTable& root, std::vector<ConfigDiagnostic> earlier_errors) {
        errors_ = std::move(earlier_errors);
        check_sections(root);
        read_site(root);
        if (auto* t = section(root, "api")) read_api(*t);
        if (auto* t = section(root, "engine")) read_engine(*t);
        if (auto* t = section(root, "plugins")) read_plugins(*t);
        if (auto* t = section(root, "register_maps")) read_register_maps(*t);
        if (auto* t = section(root, "adapters")) read_adapters(*t);
        adapters_readable_ = !root.find("adapters") || section(root, "adapters");
        if (auto* v = root.find("assets"); v && v->is_array()) read_assets(*v->as_array());
        check_charge_point_ids();
        check_register_map_references();
        if (auto* t = section(root, "schedule")) read_schedule(*t);

        LoadResult result;
        sort_diagnostics(errors_, file_);
        result.errors = std::move(errors_);
        result.partial = site_;
        if (result.errors.empty()) result.config = std::move(site_);
        return result;
    }

  private:
    void error(const SourceLocation& where, std::string message) {
        errors_.push_back({where, std::move(message)});
    }
    void add(std::vector<ConfigDiagnostic> found) {
        errors_.insert(errors_.end(), std::make_move_iterator(found.begin()),
                       std::make_move_iterator(found.end()));
    }

    static const ConfigTable* section(const ConfigTable& root, std::string_view name) {
        const ConfigValue* v = root.find(name);
        return v ? v->as_table() : nullptr;
    }

    /// A number already type-checked by validate_keys, if present and in `bounds`.
    std::optional<double> number(const ConfigTable& table, std::string_view key, Bounds bounds) {
        const ConfigValue* v = table.find(key);
        if (!v) return std::nullopt;
        auto n = v->as_number();
        // validate_keys has reported nan and inf.
        if (!n || !std::isfinite(*n)) return std::nullopt;
        if (!bounds.contains(*n)) {
            error(v->where(), "'" + std::string(key) + "' must be " + bounds.describe() + ", got " +
                                  detail::format_number(*n));
            return std::nullopt;
        }
        return n;
    }

    /// A string already type-checked by validate_keys, if present and not empty.
    const std::string* text(const ConfigTable& table, std::string_view key,
                            std::string_view empty_hint = {}) {
        const ConfigValue* v = table.find(key);
        const std::string* s = v ? v->as_string() : nullptr;
        if (s && s->empty()) {
            error(v->where(), "'" + std::string(key) + "' must not be empty" +
                                  (empty_hint.empty() ? "" : " (" + std::string(empty_hint) + ")"));
            return nullptr;
        }
        return s;
    }

    void check_sections(const ConfigTable& root) {
        std::vector<std::string> names;
        for (const auto& s : kSections) names.emplace_back(s.name);
        for (const auto& [key, value] : root.entries()) {
            auto known = std::find_if(std::begin(kSections), std::end(kSections),
                                      [&key = key](const Section& s) { return s.name == key; });
            if (known == std::end(kSections)) {
                std::string message =
                    value.is_table() ? "unknown table [" + key + "]" : "unknown key '" + key + "'";
                std::vector<std::string_view> views(names.begin(), names.end());
                if (auto best = sdk::did_you_mean(key, views))
                    message += value.is_table() ? " (did you mean [" + std::string(*best) + "]?)"
                                                : " (did you mean '" + std::string(*best) + "'?)";
                error(value.where(), std::move(message));
                continue;
            }
            if (known->is_array_of_tables) {
                if (value.is_table())
                    error(value.where(), "'" + key + "' must be an array of tables: write each " +
                                             "entry as [[" + key + "]]");
                else if (!value.is_array())
                    error(value.where(), "'" + key + "' must be an array of tables ([[" + key +
                                             "]]), not " + detail::with_article(value.type_name()));
            } else if (!value.is_table()) {
                error(value.where(), "'" + key + "' must be a table ([" + key + "]), not " +
                                         detail::with_article(value.type_name()));
            }
        }
    }

    void read_site(const ConfigTable& root) {
        const ConfigTable* t = section(root, "site");
        if (!t) {
            if (!root.find("site"))
                error({file_, 1, 1}, "missing required table [site] (with name = \"...\")");
            return;
        }
        add(sdk::validate_keys(*t, kSiteKeys, "[site]"));
        if (auto* name = text(*t, "name")) site_.site.name = *name;
    }

    void read_api(const ConfigTable& t) {
        add(sdk::validate_keys(t, kApiKeys, "[api]"));
        if (auto* listen = text(t, "listen")) {
            std::string why;
            if (auto address = parse_listen_address(*listen, &why))
                site_.api.listen = *address;
            else
                error(t.find("listen")->where(),
                      "'listen' must be \"HOST:PORT\": " + why + "; got \"" + *listen + "\"");
        }
        if (auto* token = text(t, "token", "leave the key out to turn authentication off"))
            site_.api.token = *token;
        if (auto n = number(t, "body_limit_bytes", {.min = 1024, .max = 1024.0 * 1024 * 1024}))
            site_.api.body_limit_bytes = static_cast<std::size_t>(*n);
    }

    void read_engine(const ConfigTable& t) {
        add(sdk::validate_keys(t, kEngineKeys, "[engine]"));
        auto& e = site_.engine;
        if (auto n = number(t, "max_retries", {.min = 0, .max = 100}))
            e.max_retries = static_cast<int>(*n);
        if (auto n =
                number(t, "timeout_seconds", {.min = 0, .min_exclusive = true, .max = kOneDay}))
            e.timeout_seconds = *n;
        if (auto n = number(t, "retry_backoff_seconds", {.min = 0, .max = kOneDay}))
            e.retry_backoff_seconds = *n;
        auto max_backoff = number(t, "max_retry_backoff_seconds", {.min = 0, .max = kOneDay});
        if (max_backoff) {
            e.max_retry_backoff_seconds = *max_backoff;
        } else {
            // Not written: the ceiling never refuses a backoff ARCHITECTURE.md allows.
            e.max_retry_backoff_seconds =
                std::max(e.max_retry_backoff_seconds, e.retry_backoff_seconds);
        }
        if (e.max_retry_backoff_seconds < e.retry_backoff_seconds) {
            error(t.find("max_retry_backoff_seconds")->where(),
                  "'max_retry_backoff_seconds' (" +
                      detail::format_number(e.max_retry_backoff_seconds) +
                      ") must not be less than 'retry_backoff_seconds' (" +
                      detail::format_number(e.retry_backoff_seconds) + ")");
        }
    }

    void read_plugins(const ConfigTable& t) {
        add(sdk::validate_keys(t, kPluginsKeys, "[plugins]"));
        const ConfigValue* dirs = t.find("dirs");
        if (!dirs || !dirs->is_array()) return;
        std::filesystem::path base = std::filesystem::path(file_).parent_path();
        for (const auto& entry : *dirs->as_array()) {
            const std::string* dir = entry.as_string();
            if (!dir) {
                error(entry.where(), "each entry of 'dirs' must be a string (a folder), not " +
                                         detail::with_article(entry.type_name()));
            } else if (dir->empty()) {
                error(entry.where(), "an entry of 'dirs' is empty");
            } else {
                std::filesystem::path p(*dir);
                site_.plugins.dirs.push_back(p.is_relative() ? (base / p).lexically_normal() : p);
            }
        }
    }

    void read_register_maps(const ConfigTable& t) {
        for (const auto& [name, value] : t.entries()) {
            const ConfigTable* map = value.as_table();
            if (!map) {
                error(value.where(), "register map '" + name +
                                         "' must be a table ([register_maps." + name + "]), not " +
                                         detail::with_article(value.type_name()));
                continue;
            }
            site_.register_maps.emplace(name, RegisterMapConfig{name, *map, file_, true});
        }
    }

    void read_adapters(const ConfigTable& t) {
        for (const auto& [name, value] : t.entries()) {
            adapter_names_.push_back(name);
            const ConfigTable* table = value.as_table();
            if (!table) {
                error(value.where(), "adapter '" + name + "' must be a table ([adapters." + name +
                                         "]), not " + detail::with_article(value.type_name()));
                continue;
            }
            AdapterConfig adapter{
                .name = name, .options = ConfigTable(table->where()), .where = table->where()};
            ConfigTable host_part(table->where());
            for (const auto& [key, v] : table->entries()) {
                if (key == "plugin")
                    host_part.add(key, v);
                else
                    adapter.options.add(key, v);
            }
            add(sdk::validate_keys(host_part, kAdapterHostKeys, "[adapters." + name + "]"));
            if (auto* plugin = text(host_part, "plugin")) {
                adapter.plugin = *plugin;
                adapter.plugin_where = host_part.find("plugin")->where();
            }
            site_.adapters.push_back(std::move(adapter));
        }
    }

    void read_assets(const ConfigValue::Array& entries) {
        std::map<std::string, SourceLocation, std::less<>> first_definition;
        for (const auto& entry : entries) {
            const ConfigTable* table = entry.as_table();
            if (!table) {
                error(entry.where(), "each entry of 'assets' must be a table ([[assets]]), not " +
                                         detail::with_article(entry.type_name()));
                continue;
            }
            AssetConfig asset{.options = ConfigTable(table->where()), .where = table->where()};
            ConfigTable host_part(table->where());
            for (const auto& [key, v] : table->entries()) {
                bool is_host_key =
                    std::any_of(kAssetHostKeys.begin(), kAssetHostKeys.end(),
                                [&key = key](const ConfigKey& k) { return k.name == key; });
                if (is_host_key)
                    host_part.add(key, v);
                else
                    asset.options.add(key, v);
            }
            add(sdk::validate_keys(host_part, kAssetHostKeys, "[[assets]]"));

            if (auto* id = text(host_part, "id")) {
                asset.id = *id;
                asset.id_where = host_part.find("id")->where();
                asset_ids_.push_back(*id);
                auto [it, inserted] = first_definition.emplace(*id, asset.id_where);
                if (!inserted)
                    error(asset.id_where, "duplicate asset id '" + *id + "' (first defined at " +
                                              it->second.str() + ")");
            }
            std::string label = asset.id.empty() ? "the asset" : "asset '" + asset.id + "'";
            if (auto* type = text(host_part, "type")) {
                if (is_asset_type_word(*type))
                    asset.type = *type;
                else
                    error(host_part.find("type")->where(),
                          "'type' must be \"ev_charger\", \"battery\" or a plugin's asset kind "
                          "(lowercase letters, digits and '_'); got \"" +
                              *type + "\"");
            }
            if (auto* adapter = text(host_part, "adapter")) {
                asset.adapter = *adapter;
                asset.adapter_where = host_part.find("adapter")->where();
                bool defined = std::find(adapter_names_.begin(), adapter_names_.end(), *adapter) !=
                               adapter_names_.end();
                if (!defined && adapters_readable_)
                    error(asset.adapter_where,
                          label + " names adapter '" + *adapter + "', which is not defined" +
                              (adapter_names_.empty()
                                   ? " (add an [adapters." + *adapter + "] table)"
                                   : detail::suggestion(*adapter, adapter_names_)));
            }
            site_.assets.push_back(std::move(asset));
        }
    }

    // A charger is found by its charge point id when it connects, so two
    // assets of one adapter may not share one.
    void check_charge_point_ids() {
        std::map<std::pair<std::string, std::string>, const AssetConfig*> first_use;
        for (const auto& asset : site_.assets) {
            const ConfigValue* v = asset.options.find("charge_point_id");
            const std::string* id = v ? v->as_string() : nullptr;
            if (!id) continue;
            auto [it, inserted] = first_use.emplace(std::pair(asset.adapter, *id), &asset);
            if (inserted) continue;
            const AssetConfig& first = *it->second;
            error(v->where(), "duplicate charge_point_id '" + *id + "' on adapter '" +
                                  asset.adapter + "' (first used by asset '" + first.id + "' at " +
                                  first.options.find("charge_point_id")->where().str() + ")");
        }
    }

    void check_register_map_references() {
        std::set<std::string, std::less<>> unreadable;
        for (const auto& asset : site_.assets) {
            const ConfigValue* v = asset.options.find("register_map");
            const std::string* name = v ? v->as_string() : nullptr;
            if (!name || site_.register_maps.contains(*name) || unreadable.contains(*name))
                continue;
            std::string label = asset.id.empty() ? "the asset" : "asset '" + asset.id + "'";
            if (!is_register_map_file_name(*name)) {
                error(v->where(), label + " names register map '" + *name +
                                      "', which [register_maps] does not define (a map kept in a "
                                      "file has a name of letters, digits, '_', '-' and '.')");
                continue;
            }
            auto path = find_register_map_file(*name);
            if (!path) {
                error(v->where(), label + " names register map '" + *name + "', which is neither " +
                                      "defined in [register_maps] nor a file " + *name +
                                      ".toml in " + searched_register_map_dirs() +
                                      detail::suggestion(*name, known_register_map_names()));
                continue;
            }
            auto doc = read_toml_file(*path, path->string());
            add(std::move(doc.errors));
            if (!doc.root) {
                unreadable.insert(*name);
                continue;
            }
            site_.register_maps.emplace(
                *name, RegisterMapConfig{*name, std::move(*doc.root), path->string(), false});
        }
    }

    std::optional<std::filesystem::path> find_register_map_file(const std::string& name) const {
        for (const auto& dir : options_.register_map_dirs) {
            auto candidate = dir / (name + ".toml");
            std::error_code ec;
            if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
        }
        return std::nullopt;
    }

    std::string searched_register_map_dirs() const {
        if (options_.register_map_dirs.empty()) return "(no register map folder is configured)";
        std::vector<std::string> dirs;
        for (const auto& d : options_.register_map_dirs) dirs.push_back(d.string());
        return detail::join(dirs, ", ");
    }

    std::vector<std::string> known_register_map_names() const {
        std::vector<std::string> names;
        for (const auto& [name, map] : site_.register_maps) names.push_back(name);
        for (const auto& dir : options_.register_map_dirs) {
            std::error_code ec;
            for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
                 it.increment(ec))
                if (it->path().extension() == ".toml") names.push_back(it->path().stem().string());
        }
        return names;
    }

    void read_schedule(const ConfigTable& t) {
        add(sdk::validate_keys(t, kScheduleKeys, "[schedule]"));
        const ConfigValue* map_value = t.find("asset_map");
        const ConfigTable* map = map_value ? map_value->as_table() : nullptr;
        if (!map) return;
        for (const auto& [key, value] : map->entries()) {
            const std::string* asset = value.as_string();
            if (!asset) {
                error(value.where(), "asset_map entry '" + key +
                                         "' must be a string (an asset id), " + "not " +
                                         detail::with_article(value.type_name()));
                continue;
            }
            if (asset->empty()) {
                error(value.where(), "asset_map entry '" + key + "' must name an asset");
                continue;
            }
            if (std::find(asset_ids_.begin(), asset_ids_.end(), *asset) == asset_ids_.end()) {
                error(value.where(), "asset_map entry '" + key + "' names unknown asset '" +
                                         *asset + "'" + detail::suggestion(*asset, asset_ids_));
                continue;
            }
            site_.asset_map.emplace(key, *asset);
        }
    }

    std::string file_;
    const LoadOptions& options_;
    std::vector<ConfigDiagnostic> errors_;
    SiteConfig site_;
    std::vector<std::string> adapter_names_;  // every [adapters.X], even a malformed one
    bool adapters_readable_ = true;
    std::vector<std::string> asset_ids_;  // every id written, for references
};

}  // namespace

std::vector<std::filesystem::path> default_register_map_dirs(
    const std::filesystem::path& executable) {
    std::vector<std::filesystem::path> dirs;
    dirs.push_back((executable.parent_path() / ".." / "share" / "gridgate" / "register_maps")
                       .lexically_normal());
    dirs.emplace_back(GRIDGATE_SOURCE_REGISTER_MAP_DIR);
    return dirs;
}

LoadResult load_site_file(const std::string& path, const LoadOptions& options) {
    auto doc = read_toml_file(path, path);
    if (!doc.root) return LoadResult{.errors = std::move(doc.errors)};
    return SiteReader(path, options).read(*doc.root, std::move(doc.errors));
}

LoadResult parse_site(std::string_view text, std::string_view file_name,
                      const LoadOptions& options) {
    std::string file(file_name);
    auto doc = parse_toml(text, file);
    if (!doc.root) return LoadResult{.errors = std::move(doc.errors)};
    return SiteReader(file, options).read(*doc.root, std::move(doc.errors));
}

namespace {

// The declared-key half of check_site_file() and check_site().
LoadResult with_plugin_keys(LoadResult result, std::string_view file_name,
                            const PluginKeysProvider& plugins) {
    if (!result.partial) return result;
    auto plugin_errors = validate_adapter_keys(*result.partial, plugins(*result.partial));
    if (plugin_errors.empty()) return result;
    result.errors.insert(result.errors.end(), std::make_move_iterator(plugin_errors.begin()),
                         std::make_move_iterator(plugin_errors.end()));
    sort_diagnostics(result.errors, file_name);
    result.config.reset();
    return result;
}

}  // namespace

LoadResult check_site_file(const std::string& path, const LoadOptions& options,
                           const PluginKeysProvider& plugins) {
    return with_plugin_keys(load_site_file(path, options), path, plugins);
}

LoadResult check_site(std::string_view text, std::string_view file_name, const LoadOptions& options,
                      const PluginKeysProvider& plugins) {
    return with_plugin_keys(parse_site(text, file_name, options), file_name, plugins);
}

void sort_diagnostics(std::vector<sdk::ConfigDiagnostic>& diagnostics,
                      std::string_view primary_file) {
    std::stable_sort(diagnostics.begin(), diagnostics.end(),
                     [&](const sdk::ConfigDiagnostic& a, const sdk::ConfigDiagnostic& b) {
                         auto key = [&](const sdk::ConfigDiagnostic& d) {
                             return std::tuple(d.where.file != primary_file,
                                               std::string_view(d.where.file), d.where.line,
                                               d.where.column);
                         };
                         return key(a) < key(b);
                     });
}

}  // namespace gridgate::config
