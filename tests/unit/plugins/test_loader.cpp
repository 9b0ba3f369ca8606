#include "gridgate/gateway/plugin_loader.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace gridgate;
using gateway::PluginCatalog;
using gateway::PluginReport;
namespace fs = std::filesystem;

namespace {
const fs::path kDir = GRIDGATE_TEST_PLUGIN_DIR;

fs::path plugin_file(const std::string& name) {
    return kDir / (name + ".so");
}

// Whether the dynamic loader still holds `file`. RTLD_NOLOAD takes a
// reference when it finds the library, so give it back at once.
bool is_loaded(const fs::path& file) {
    void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (!handle) return false;
    dlclose(handle);
    return true;
}

::testing::AssertionResult refused_with(const PluginReport& r, const std::string& text) {
    if (r.loaded) return ::testing::AssertionFailure() << r.file << " was loaded";
    if (r.reason.find(text) == std::string::npos)
        return ::testing::AssertionFailure()
               << "reason '" << r.reason << "' lacks '" << text << "'";
    return ::testing::AssertionSuccess();
}
}  // namespace

TEST(PluginLoader, LoadsAGoodPluginAndReadsItsDescriptor) {
    PluginCatalog catalog;
    const PluginReport& r = catalog.load_file(plugin_file("tp_good"));
    ASSERT_TRUE(r.loaded) << r.reason;
    EXPECT_EQ(r.name, "testgood");
    EXPECT_EQ(r.version, "1.2.3");
    const auto* p = catalog.find("testgood");
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(p->can_carry(sdk::CommandType::SetChargeRate));
    EXPECT_TRUE(p->can_carry(sdk::CommandType::SetSocTarget));
    EXPECT_FALSE(p->can_carry(sdk::CommandType::StopCharging));
    EXPECT_EQ(p->plugin().asset_keys().size(), 2u);
    EXPECT_EQ(gateway::describe_capabilities(p->capabilities()),
              "SET_CHARGE_RATE, SET_DISCHARGE_RATE, SET_SOC_TARGET");
}

TEST(PluginLoader, RefusesAWrongAbiMajorNamingBothValues) {
    PluginCatalog catalog;
    const auto& r = catalog.load_file(plugin_file("tp_wrong_major"));
    EXPECT_TRUE(refused_with(r, "ABI major version " + std::to_string(sdk::kAbiMajor + 1) +
                                    " (plugin) does not match " + std::to_string(sdk::kAbiMajor) +
                                    " (gateway)"));
    EXPECT_EQ(catalog.find("tp_wrong_major"), nullptr);
    EXPECT_FALSE(is_loaded(plugin_file("tp_wrong_major")));
}

TEST(PluginLoader, RefusesANewerMinor) {
    PluginCatalog catalog;
    const auto& r = catalog.load_file(plugin_file("tp_newer_minor"));
    std::string major = std::to_string(sdk::kAbiMajor);
    EXPECT_TRUE(refused_with(r, "ABI version " + major + "." + std::to_string(sdk::kAbiMinor + 1) +
                                    " (plugin) is newer than " + major + "." +
                                    std::to_string(sdk::kAbiMinor) + " (gateway)"));
}

TEST(PluginLoader, RefusesADifferentFingerprintNamingBoth) {
    PluginCatalog catalog;
    const auto& r = catalog.load_file(plugin_file("tp_bad_fingerprint"));
    EXPECT_TRUE(refused_with(r,
                             "build fingerprint 'gcc-4.8.5 libstdc++-cxx11abi0 c++201103 "
                             "boost-105300 sdk-0.0.1' (plugin) differs from '" +
                                 std::string(sdk::kBuildFingerprint) + "' (gateway)"));
    EXPECT_EQ(r.name, "tp_bad_fingerprint");
}

TEST(PluginLoader, RefusesAMissingDescriptor) {
    PluginCatalog catalog;
    EXPECT_TRUE(refused_with(catalog.load_file(plugin_file("tp_no_descriptor")),
                             "no descriptor 'gridgate_plugin_descriptor' exported"));
}

TEST(PluginLoader, RefusesADescriptorSymbolTooSmallToRead) {
    PluginCatalog catalog;
    EXPECT_TRUE(refused_with(catalog.load_file(plugin_file("tp_tiny_descriptor")),
                             "descriptor symbol is 2 bytes, too small to hold an ABI version"));
}

TEST(PluginLoader, RefusesAMissingFactory) {
    PluginCatalog catalog;
    EXPECT_TRUE(refused_with(catalog.load_file(plugin_file("tp_no_factory")),
                             "no factory 'gridgate_create_plugin' exported"));
}

TEST(PluginLoader, RefusesAThrowingFactoryWithItsMessage) {
    PluginCatalog catalog;
    EXPECT_TRUE(refused_with(catalog.load_file(plugin_file("tp_throwing_factory")),
                             "factory threw: factory exploded"));
    EXPECT_FALSE(is_loaded(plugin_file("tp_throwing_factory")));
}

TEST(PluginLoader, RefusesAFactoryThatReturnsNothing) {
    PluginCatalog catalog;
    const auto& empty = catalog.load_file(plugin_file("tp_empty_factory"));
    EXPECT_TRUE(refused_with(empty, "factory returned no plugin"));
    EXPECT_EQ(empty.reason, "factory returned no plugin");
    // The SDK's entry macro turns a throwing constructor into the message.
    EXPECT_TRUE(refused_with(catalog.load_file(plugin_file("tp_null_factory")),
                             "factory returned no plugin: licence file missing"));
}

TEST(PluginLoader, RefusesAFileThatIsNotALibrary) {
    fs::path dir = fs::temp_directory_path() / ("gg_loader_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    { std::ofstream(dir / "junk.so") << "not an ELF file"; }
    PluginCatalog catalog;
    catalog.load_directory(dir);
    ASSERT_EQ(catalog.reports().size(), 1u);
    EXPECT_TRUE(refused_with(catalog.reports()[0], "cannot load: "));
    EXPECT_NE(catalog.reports()[0].reason.find("junk.so"), std::string::npos);
    fs::remove_all(dir);
}

TEST(PluginLoader, ReportsAnEntryNamedLikeAPluginThatIsNoFile) {
    fs::path dir = fs::temp_directory_path() / ("gg_loader_nofile_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "adir.so");
    fs::create_symlink(dir / "removed-1.0.so", dir / "dangling.so");
    fs::create_symlink(dir / "loop.so", dir / "loop.so");
    fs::create_symlink(plugin_file("tp_good"), dir / "linked.so");
    { std::ofstream(dir / "README") << "not a plugin, not reported"; }
    PluginCatalog catalog;
    catalog.load_directory(dir);
    ASSERT_EQ(catalog.reports().size(), 4u) << catalog.render_report();
    EXPECT_EQ(catalog.reports()[0].file, dir / "adir.so");
    EXPECT_TRUE(refused_with(catalog.reports()[0], "is a directory, not a plugin library"));
    EXPECT_EQ(catalog.reports()[1].file, dir / "dangling.so");
    EXPECT_TRUE(refused_with(
        catalog.reports()[1],
        "symbolic link to " + (dir / "removed-1.0.so").string() + ", which does not exist"));
    EXPECT_TRUE(catalog.reports()[2].loaded) << catalog.reports()[2].reason;
    EXPECT_EQ(catalog.reports()[3].file, dir / "loop.so");
    EXPECT_TRUE(refused_with(catalog.reports()[3], "cannot be followed"));
    EXPECT_NE(catalog.render_report().find("1 loaded, 3 refused"), std::string::npos);
    fs::remove_all(dir);
}

TEST(PluginLoader, RefusesAPluginNeedingASanitizerRuntimeTheGatewayLacks) {
    fs::path file = fs::path(GRIDGATE_TEST_ASAN_PLUGIN_DIR) / "tp_asan_runtime.so";
    if (!fs::exists(file)) GTEST_SKIP() << "an ASan gateway loads ASan plugins";
    PluginCatalog catalog;
    // Reaching the next line at all is the point: dlopen would have ended the process.
    EXPECT_TRUE(
        refused_with(catalog.load_file(file), "built with the sanitizer runtime libasan.so"));
    EXPECT_FALSE(is_loaded(file));

    const fs::path tsan = fs::path(GRIDGATE_TEST_ASAN_PLUGIN_DIR) / "tp_tsan_runtime.so";
    EXPECT_TRUE(
        refused_with(catalog.load_file(tsan), "built with the sanitizer runtime libtsan.so"));
    EXPECT_FALSE(is_loaded(tsan));
}

TEST(PluginLoader, ScansADirectoryAndRefusesADuplicateName) {
    PluginCatalog catalog;
    catalog.load_directory(kDir);
    catalog.load_directory(kDir / "does-not-exist");
    ASSERT_EQ(catalog.reports().size(), 12u);
    ASSERT_EQ(catalog.plugins().size(), 2u);  // testgood, and testold of ABI 1.0
    EXPECT_EQ(catalog.plugins()[0]->file(), plugin_file("tp_good"));
    const auto& dup = catalog.reports().back();
    EXPECT_EQ(dup.file, plugin_file("tp_zz_duplicate"));
    EXPECT_TRUE(refused_with(dup, "duplicate plugin name 'testgood': already loaded from " +
                                      plugin_file("tp_good").string()));

    std::string report = catalog.render_report();
    EXPECT_NE(report.find("directory " + (kDir / "does-not-exist").string() + " (not found)"),
              std::string::npos);
    EXPECT_NE(report.find("  loaded   testgood 1.2.3  " + plugin_file("tp_good").string()),
              std::string::npos);
    EXPECT_NE(report.find("  refused  " + plugin_file("tp_wrong_major").string()),
              std::string::npos);
    EXPECT_NE(report.find("2 loaded, 10 refused"), std::string::npos) << report;
    EXPECT_EQ(catalog.searched_directories(),
              (std::vector<fs::path>{kDir, kDir / "does-not-exist"}));
}

TEST(PluginLoader, SaysWhyAPluginASiteNeedsIsUnavailable) {
    PluginCatalog catalog;
    catalog.load_directory(kDir);
    EXPECT_EQ(catalog.why_unavailable("testgood"), "");
    EXPECT_EQ(
        catalog.why_unavailable("tp_wrong_major"),
        "plugin 'tp_wrong_major' is not available: " + plugin_file("tp_wrong_major").string() +
            " was refused: ABI major version " + std::to_string(sdk::kAbiMajor + 1) +
            " (plugin) does not match " + std::to_string(sdk::kAbiMajor) + " (gateway)");
    EXPECT_EQ(catalog.why_unavailable("modbus_tcp"),
              "no plugin named 'modbus_tcp' in " + kDir.string());
}

TEST(PluginLoader, DefaultDirectoryIsBesideTheExecutable) {
    fs::path exe = fs::read_symlink("/proc/self/exe");
    EXPECT_EQ(PluginCatalog::default_directory(),
              (exe.parent_path() / ".." / "lib/gridgate/plugins").lexically_normal());
}

TEST(PluginLoader, LibraryUnloadsOnlyAfterTheLastObjectFromIt) {
    fs::path file = plugin_file("tp_good");
    std::shared_ptr<const gateway::LoadedPlugin> plugin;
    {
        PluginCatalog catalog;
        catalog.load_file(file);
        plugin = catalog.find_shared("testgood");
        ASSERT_TRUE(plugin);
    }
    EXPECT_TRUE(is_loaded(file));  // the catalog is gone, the plugin object is not
    EXPECT_EQ(plugin->plugin().adapter_keys().size(), 5u);
    plugin.reset();
    EXPECT_FALSE(is_loaded(file));
}
