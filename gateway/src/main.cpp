// gridgate: the site gateway daemon.
//
//   gridgate --config FILE [--check-config] [--log-level LEVEL]
//   gridgate --list-plugins [--config FILE]
//   gridgate --version | --help
//
// Exit status: 0 clean stop or valid file, 1 failure to start, 2 invalid site
// file or usage.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/program_options.hpp>

#include "gridgate/config/site_loader.hpp"
#include "gridgate/gateway/gateway.hpp"
#include "gridgate/gateway/plugin_loader.hpp"
#include "gridgate/gateway/process.hpp"
#include "gridgate/gateway/site_check.hpp"
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

// How the site file is read: register maps beside the executable too.
config::LoadOptions site_load_options() {
    config::LoadOptions options;
    options.register_map_dirs = config::default_register_map_dirs(executable_path());
    return options;
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
            auto loaded =
                config::load_site_file(vm["config"].as<std::string>(), site_load_options());
            if (loaded.config)
                site = std::move(loaded.config);
            else if (loaded.partial)
                site = std::move(loaded.partial);
        }
        gateway::load_plugins(catalog, site ? &*site : nullptr);
        std::cout << catalog.render_report();
        return kExitOk;
    }
    if (!vm.count("config")) {
        std::cerr << "gridgate: --config FILE is required\n" << opts << "\n";
        return kExitInvalid;
    }
    const std::string path = vm["config"].as<std::string>();
    auto checked = gateway::check_site_file(path, site_load_options(), catalog);
    // Warnings do not make the file invalid; the gateway logs them when it
    // starts the adapters, so only a check prints them here.
    const bool check_only = vm.count("check-config") > 0;
    if (check_only)
        for (const auto& w : checked.warnings) std::cerr << w.str() << "\n";
    if (!checked.ok()) {
        for (const auto& e : checked.errors) std::cerr << e.str() << "\n";
        return kExitInvalid;
    }
    if (check_only) {
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
