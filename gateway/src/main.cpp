// gridgate: the site gateway daemon.
//
//   gridgate --config FILE [--check-config] [--log-level LEVEL]
//   gridgate --list-plugins [--config FILE]
//   gridgate --version | --help
//
// Exit status: 0 clean stop or valid file, 1 failure to start, 2 invalid site
// file or usage.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/program_options.hpp>

#include "gridgate/config/plugin_keys.hpp"
#include "gridgate/config/site_loader.hpp"
#include "gridgate/gateway/gateway.hpp"
#include "gridgate/gateway/plugin_loader.hpp"
#include "gridgate/gateway/process.hpp"
#include "gridgate/sdk/plugin.hpp"
#include "log_format.hpp"

#ifndef GRIDGATE_VERSION
#define GRIDGATE_VERSION "unknown"
#endif

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace gridgate;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitInvalid = 2;

fs::path executable_path() {
    std::error_code ec;  // Boost.DLL on std::filesystem (BOOST_DLL_USE_STD_FS)
    auto p = boost::dll::program_location(ec);
    if (ec) return fs::read_symlink("/proc/self/exe", ec);
    return p;
}

// Loads the built-in plugin directory, then the site file's [plugins] dirs.
void load_plugins(gateway::PluginCatalog& catalog, const config::SiteConfig* site) {
    catalog.load_directory(gateway::PluginCatalog::default_directory());
    if (site)
        for (const auto& dir : site->plugins.dirs) catalog.load_directory(dir);
}

config::PluginKeyLookup key_lookup(const gateway::PluginCatalog& catalog,
                                   std::vector<fs::path> searched) {
    config::PluginKeyLookup lookup;
    lookup.find = [&catalog](std::string_view name) -> std::optional<config::PluginKeys> {
        const auto* plugin = catalog.find(name);
        if (!plugin) return std::nullopt;
        return config::PluginKeys{plugin->plugin().adapter_keys(), plugin->plugin().asset_keys()};
    };
    for (const auto& p : catalog.plugins()) lookup.available.push_back(p->name());
    lookup.searched_dirs = std::move(searched);
    lookup.refusals = [&catalog](std::string_view name) { return catalog.refusals(name); };
    return lookup;
}

// The whole check `--check-config` runs: the host's keys, each plugin's keys,
// then each plugin's own checks (register maps, TLS files, ...).
config::LoadResult check_site(const std::string& path, gateway::PluginCatalog& catalog) {
    config::LoadOptions options;
    options.register_map_dirs = config::default_register_map_dirs(executable_path());
    auto result = config::check_site_file(path, options, [&](const config::SiteConfig& partial) {
        load_plugins(catalog, &partial);
        std::vector<fs::path> searched{gateway::PluginCatalog::default_directory()};
        for (const auto& d : partial.plugins.dirs) searched.push_back(d);
        return key_lookup(catalog, std::move(searched));
    });
    // The plugins check what the file could give them even when the host
    // found errors, so one run reports all of a file's problems. Their key
    // checks, repeated by LoadedPlugin::validate, were reported above.
    const config::SiteConfig* site = result.config ? &*result.config : nullptr;
    if (!site && result.partial) site = &*result.partial;
    if (!site) return result;
    auto reported = [&](const sdk::ConfigDiagnostic& d) {
        return std::any_of(result.errors.begin(), result.errors.end(), [&](const auto& e) {
            return e.where.str() == d.where.str() && e.message == d.message;
        });
    };
    // (Two adapters of one plugin may also both see a site-wide table.)
    bool added = false;
    for (const auto& adapter : site->adapters) {
        const auto* plugin = catalog.find(adapter.plugin);
        if (!plugin) continue;  // reported above
        auto cfg = gateway::adapter_config_for(*site, adapter, *plugin);
        for (auto& d : plugin->validate(cfg)) {
            if (reported(d)) continue;
            result.errors.push_back(std::move(d));
            added = true;
        }
    }
    if (!added) return result;
    config::sort_diagnostics(result.errors, path);
    if (result.config) result.partial = std::move(result.config);
    result.config.reset();
    return result;
}

std::optional<spdlog::level::level_enum> parse_level(const std::string& s) {
    if (s == "trace") return spdlog::level::trace;
    if (s == "debug") return spdlog::level::debug;
    if (s == "info") return spdlog::level::info;
    if (s == "warn" || s == "warning") return spdlog::level::warn;
    if (s == "error") return spdlog::level::err;
    if (s == "off") return spdlog::level::off;
    return std::nullopt;
}

sdk::LogLevel plugin_level(spdlog::level::level_enum l) {
    switch (l) {
        case spdlog::level::trace:
            return sdk::LogLevel::Trace;
        case spdlog::level::debug:
            return sdk::LogLevel::Debug;
        case spdlog::level::info:
            return sdk::LogLevel::Info;
        case spdlog::level::warn:
            return sdk::LogLevel::Warn;
        default:
            return sdk::LogLevel::Error;
    }
}

}  // namespace

int main(int argc, char** argv) {
    gateway::tune_malloc(argv);  // may run this program again, tuned; first of all
    po::options_description opts("Usage: gridgate --config FILE [options]\n\nOptions");
    opts.add_options()("config,c", po::value<std::string>(), "the site file (TOML)")(
        "check-config",
        "validate the site file and its plugins' keys, then exit (0 valid, 2 invalid)")(
        "list-plugins", "list the plugins found, loaded or refused, and why")(
        "log-level", po::value<std::string>()->default_value("info"),
        "trace, debug, info, warn, error or off")("version", "print the version and exit")(
        "help,h", "print this help and exit");
    po::variables_map vm;
    try {
        // Every word is an option or its value: a stray one is refused, not
        // dropped (`gridgate --check-config site.toml` would check nothing).
        const auto parsed = po::parse_command_line(argc, argv, opts);
        for (const auto& option : parsed.options) {
            if (option.position_key >= 0)
                throw po::error("unexpected argument '" + option.value.front() +
                                "' (the site file is given with --config FILE)");
        }
        po::store(parsed, vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "gridgate: " << e.what() << "\n" << opts << "\n";
        return kExitInvalid;
    }
    if (vm.count("help")) {
        std::cout << opts << "\n";
        return kExitOk;
    }
    if (vm.count("version")) {
        std::cout << "gridgate " << GRIDGATE_VERSION << " (plugin ABI " << sdk::kAbiMajor << "."
                  << sdk::kAbiMinor << ", " << sdk::kBuildFingerprint << ")\n";
        return kExitOk;
    }
    auto level = parse_level(vm["log-level"].as<std::string>());
    if (!level) {
        std::cerr << "gridgate: --log-level must be trace, debug, info, warn, error or off\n";
        return kExitInvalid;
    }
    spdlog::set_level(*level);
    spdlog::set_formatter(gateway::make_log_formatter());

    gateway::PluginCatalog catalog;
    if (vm.count("list-plugins")) {
        std::optional<config::SiteConfig> site;
        if (vm.count("config")) {
            config::LoadOptions options;
            options.register_map_dirs = config::default_register_map_dirs(executable_path());
            auto loaded = config::load_site_file(vm["config"].as<std::string>(), options);
            if (loaded.config)
                site = std::move(loaded.config);
            else if (loaded.partial)
                site = std::move(loaded.partial);
        }
        load_plugins(catalog, site ? &*site : nullptr);
        std::cout << catalog.render_report();
        return kExitOk;
    }
    if (!vm.count("config")) {
        std::cerr << "gridgate: --config FILE is required\n" << opts << "\n";
        return kExitInvalid;
    }
    const std::string path = vm["config"].as<std::string>();
    auto checked = check_site(path, catalog);
    if (!checked.ok()) {
        for (const auto& e : checked.errors) std::cerr << e.str() << "\n";
        return kExitInvalid;
    }
    if (vm.count("check-config")) {
        std::cout << path << ": ok\n";
        return kExitOk;
    }

    spdlog::info("open-file limit {}", gateway::raise_open_file_limit());
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    spdlog::info("malloc: GLIBC_TUNABLES={}", tunables ? tunables : "(unset)");
    gateway::GatewayOptions options;
    options.plugin_log_level = plugin_level(*level);
    gateway::Gateway gw(std::move(*checked.config), catalog, options);
    auto errors = gw.start();
    if (!errors.empty()) {
        for (const auto& e : errors) spdlog::error("{}", e);
        return kExitFailure;
    }
    gw.run();
    return kExitOk;
}
