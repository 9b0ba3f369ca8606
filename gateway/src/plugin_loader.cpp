#include "gridgate/gateway/plugin_loader.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <system_error>
#include <utility>

namespace gridgate::gateway {

namespace fs = std::filesystem;
namespace dll = boost::dll;

namespace {

std::string hex(std::uint64_t v) {
    char buf[19];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
    return buf;
}

// Boost.DLL wraps dlerror()'s text in its own words; keep the system's.
std::string load_error_text(const std::exception& e) {
    std::string s = e.what();
    const std::string marker = "dlerror system message: ";
    if (auto at = s.find(marker); at != std::string::npos) {
        s = s.substr(at + marker.size());
        if (auto end = s.rfind(')'); end != std::string::npos) s.resize(end);
    }
    return s;
}

std::string text_or_empty(const char* s) {
    return s ? std::string(s) : std::string();
}

bool valid_plugin_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

// Checks the descriptor's fixed head and the build it describes. Returns the
// reason for refusal, or an empty string.
std::string check_descriptor(const sdk::PluginDescriptor& d) {
    constexpr std::size_t head = offsetof(sdk::PluginDescriptor, abi_minor) + sizeof(d.abi_minor);
    if (d.struct_size < head)
        return "descriptor is " + std::to_string(d.struct_size) +
               " bytes, too small to hold an ABI version";
    if (d.abi_major != sdk::kAbiMajor)
        return "ABI major version " + std::to_string(d.abi_major) + " (plugin) does not match " +
               std::to_string(sdk::kAbiMajor) + " (gateway)";
    if (d.abi_minor > sdk::kAbiMinor)
        return "ABI version " + std::to_string(d.abi_major) + "." + std::to_string(d.abi_minor) +
               " (plugin) is newer than " + std::to_string(sdk::kAbiMajor) + "." +
               std::to_string(sdk::kAbiMinor) + " (gateway)";
    if (d.struct_size < sizeof(sdk::PluginDescriptor))
        return "descriptor is " + std::to_string(d.struct_size) + " bytes, ABI " +
               std::to_string(d.abi_major) + "." + std::to_string(d.abi_minor) + " needs " +
               std::to_string(sizeof(sdk::PluginDescriptor));
    std::string fingerprint = text_or_empty(d.fingerprint);
    if (fingerprint != sdk::kBuildFingerprint)
        return "build fingerprint '" + fingerprint + "' (plugin) differs from '" +
               sdk::kBuildFingerprint + "' (gateway)";
    if (d.boundary_layout != sdk::kBoundaryLayout)
        return "boundary type layout " + hex(d.boundary_layout) + " (plugin) differs from " +
               hex(sdk::kBoundaryLayout) + " (gateway): the SDK headers differ";
    std::string name = text_or_empty(d.name);
    if (!valid_plugin_name(name))
        return "plugin name '" + name + "' is not 1 to 64 of a-z, 0-9, '_', '-'";
    return {};
}

// The size the ELF symbol table gives the descriptor, so that a symbol of the
// right name but too small is refused before it is read past its end.
std::optional<std::size_t> symbol_size(const void* address) {
    Dl_info info{};
    void* entry = nullptr;
    if (dladdr1(address, &info, &entry, RTLD_DL_SYMENT) == 0 || !entry) return std::nullopt;
    const auto* symbol = static_cast<const ElfW(Sym)*>(entry);
    return static_cast<std::size_t>(symbol->st_size);
}

// The DT_NEEDED entries of a 64-bit ELF file, read without loading it; empty
// when the file is not one (dlopen then says what is wrong).
std::vector<std::string> needed_libraries(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    auto read_at = [&](std::uint64_t offset, void* out, std::size_t size) {
        in.seekg(static_cast<std::streamoff>(offset));
        in.read(static_cast<char*>(out), static_cast<std::streamsize>(size));
        return static_cast<bool>(in);
    };
    Elf64_Ehdr eh{};
    if (!read_at(0, &eh, sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr))
        return {};
    std::vector<std::string> out;
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr dynamic{}, strings{};
        if (!read_at(eh.e_shoff + std::uint64_t{i} * sizeof(Elf64_Shdr), &dynamic, sizeof dynamic))
            return out;
        if (dynamic.sh_type != SHT_DYNAMIC || dynamic.sh_link >= eh.e_shnum) continue;
        if (!read_at(eh.e_shoff + std::uint64_t{dynamic.sh_link} * sizeof(Elf64_Shdr), &strings,
                     sizeof strings))
            return out;
        for (std::uint64_t at = 0; at + sizeof(Elf64_Dyn) <= dynamic.sh_size;
             at += sizeof(Elf64_Dyn)) {
            Elf64_Dyn entry{};
            if (!read_at(dynamic.sh_offset + at, &entry, sizeof entry) || entry.d_tag == DT_NULL)
                break;
            if (entry.d_tag != DT_NEEDED || entry.d_un.d_val >= strings.sh_size) continue;
            char name[256] = {};
            in.seekg(static_cast<std::streamoff>(strings.sh_offset + entry.d_un.d_val));
            in.get(name, sizeof name, '\0');
            in.clear();
            out.emplace_back(name);
        }
    }
    return out;
}

// A sanitizer runtime must be the first library of a process: loading a
// plugin that needs one into a gateway without it makes the runtime end the
// process from its constructor, before any check could refuse the plugin.
std::string foreign_sanitizer_runtime(const fs::path& file) {
    const std::string_view fingerprint = sdk::kBuildFingerprint;
    const bool host_has_asan = fingerprint.ends_with(" asan");
    const bool host_has_tsan = fingerprint.ends_with(" tsan");
    for (const auto& lib : needed_libraries(file)) {
        bool asan = lib.rfind("libasan.so", 0) == 0;
        bool tsan = lib.rfind("libtsan.so", 0) == 0;
        bool other = lib.rfind("libhwasan.so", 0) == 0 || lib.rfind("libmsan.so", 0) == 0;
        if ((asan && !host_has_asan) || (tsan && !host_has_tsan) || other) return lib;
    }
    return {};
}

// Why `path` (a directory entry named *.so) is not a file the loader can
// open, or "" when it is one (following symbolic links).
std::string not_a_file(const fs::path& path) {
    std::error_code ec;
    const fs::file_status target = fs::status(path, ec);
    if (fs::is_regular_file(target)) return {};
    std::error_code link_status_ec;
    if (fs::is_symlink(fs::symlink_status(path, link_status_ec))) {
        std::error_code link_ec;
        const fs::path to = fs::read_symlink(path, link_ec);
        const std::string where = link_ec ? std::string() : " " + to.string();
        if (target.type() == fs::file_type::not_found)
            return "symbolic link to" + where + ", which does not exist";
        if (ec) return "symbolic link to" + where + " that cannot be followed: " + ec.message();
    } else if (ec) {
        return "cannot inspect: " + ec.message();
    }
    if (fs::is_directory(target)) return "is a directory, not a plugin library";
    return "is not a regular file";
}

std::string asset_context(const sdk::AssetConfig& asset) {
    return "asset '" + asset.id + "'";
}

}  // namespace

// ---------------------------------------------------------------------------
// LoadedPlugin

std::vector<sdk::ConfigDiagnostic> LoadedPlugin::validate(const sdk::AdapterConfig& config) const {
    static constexpr std::string_view adapter_host_keys[] = {"plugin"};
    static constexpr std::string_view asset_host_keys[] = {"id", "type", "adapter"};

    const sdk::Plugin& p = *plugin_;
    auto out = sdk::validate_keys(config.table, p.adapter_keys(), "[adapters." + config.name + "]",
                                  adapter_host_keys);
    auto types = p.asset_types();
    for (const auto& asset : config.assets) {
        // An empty type is a missing or invalid one the host has reported.
        if (!types.empty() && !asset.type.empty() &&
            std::find(types.begin(), types.end(), asset.type) == types.end()) {
            const sdk::ConfigValue* type = asset.table.find("type");
            std::string accepted;
            for (auto t : types)
                accepted += (accepted.empty() ? "\"" : ", \"") + std::string(t) + "\"";
            out.push_back({type ? type->where() : asset.table.where(),
                           asset_context(asset) + " has type \"" + asset.type +
                               "\", but adapter '" + config.name + "' (plugin " + name() +
                               ") drives only " + accepted});
        }
        auto found =
            sdk::validate_keys(asset.table, p.asset_keys(), asset_context(asset), asset_host_keys);
        out.insert(out.end(), std::make_move_iterator(found.begin()),
                   std::make_move_iterator(found.end()));
    }
    // The plugin's own checks assume the declared keys are well-typed.
    if (out.empty()) out = p.validate(config);
    return out;
}

AdapterInstance LoadedPlugin::create_adapter(sdk::HostContext& host) const {
    sdk::AdapterCreation made = plugin_->create_adapter(host);
    if (!made.status) {
        return {nullptr, "plugin " + name() + " could not create adapter '" + host.config().name +
                             "': " + made.status.message()};
    }
    if (!made.adapter) {
        return {nullptr,
                "plugin " + name() + " returned no adapter for '" + host.config().name + "'"};
    }
    // The adapter's code lives in the library: destroy it first, then let go
    // of the plugin (and, with the last reference, the library).
    auto plugin = plugin_;
    std::shared_ptr<sdk::Adapter> adapter(made.adapter.release(),
                                          [plugin](sdk::Adapter* a) mutable {
                                              delete a;
                                              plugin.reset();
                                          });
    return {std::move(adapter), {}};
}

// ---------------------------------------------------------------------------
// PluginCatalog

fs::path PluginCatalog::default_directory() {
    std::error_code ec;
    fs::path exe = dll::program_location(ec);
    if (ec) exe = fs::read_symlink("/proc/self/exe", ec);
    return (exe.parent_path() / ".." / "lib" / "gridgate" / "plugins").lexically_normal();
}

void PluginCatalog::load_directory(const fs::path& dir) {
    std::error_code ec;
    bool exists = fs::is_directory(dir, ec);
    directories_.push_back({dir, exists});
    if (!exists) return;

    // Every `*.so` entry is a plugin someone meant to install: one that is
    // not a file (a directory, a link to nothing) is refused with the
    // reason, in name order with the others, rather than left out unseen.
    std::vector<std::pair<fs::path, std::string>> entries;  // path, why it is no file
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto& entry = *it;
        if (entry.path().extension() != ".so") continue;
        entries.emplace_back(entry.path(), not_a_file(entry.path()));
    }
    if (ec) {
        reports_.push_back({dir, false, {}, {}, {}, 0, "cannot read directory: " + ec.message()});
        return;
    }
    std::sort(entries.begin(), entries.end());
    for (auto& [path, why] : entries) {
        if (why.empty()) {
            load_file(path);
        } else {
            reports_.push_back({path, false, {}, {}, {}, 0, std::move(why)});
        }
    }
}

const PluginReport& PluginCatalog::load_file(const fs::path& file) {
    PluginReport report;
    report.file = file;
    auto refuse = [&](std::string reason) -> const PluginReport& {
        report.reason = std::move(reason);
        reports_.push_back(std::move(report));
        return reports_.back();
    };

    if (auto runtime = foreign_sanitizer_runtime(file); !runtime.empty())
        return refuse(
            "built with the sanitizer runtime " + runtime +
            ", which this gateway does not use; build it like the gateway (fingerprint '" +
            sdk::kBuildFingerprint + "')");

    // The library is opened with immediate binding, so an undefined symbol
    // refuses it here rather than crashing the first call that needs it.
    dll::shared_library library;
    try {
        library.load(file, dll::load_mode::rtld_now | dll::load_mode::rtld_local);
    } catch (const std::exception& e) {
        return refuse("cannot load: " + load_error_text(e));
    }

    if (!library.has(sdk::kDescriptorSymbol))
        return refuse(std::string("no descriptor '") + sdk::kDescriptorSymbol +
                      "' exported: not a gridgate plugin, or not built with GRIDGATE_PLUGIN");
    // Read as data: nothing of the plugin's runs until every check passes.
    const auto& descriptor = library.get<const sdk::PluginDescriptor>(sdk::kDescriptorSymbol);
    constexpr std::size_t head = offsetof(sdk::PluginDescriptor, abi_minor) + sizeof(std::uint16_t);
    if (auto size = symbol_size(&descriptor); size && *size < head)
        return refuse("descriptor symbol is " + std::to_string(*size) +
                      " bytes, too small to hold an ABI version");
    if (auto why = check_descriptor(descriptor); !why.empty()) {
        if (descriptor.struct_size >= sizeof(sdk::PluginDescriptor) &&
            descriptor.abi_major == sdk::kAbiMajor) {
            report.name = text_or_empty(descriptor.name);
            report.version = text_or_empty(descriptor.version);
        }
        return refuse(std::move(why));
    }
    report.name = descriptor.name;
    report.version = text_or_empty(descriptor.version);
    report.description = text_or_empty(descriptor.description);
    report.capabilities = descriptor.capabilities;
    report.abi_minor = descriptor.abi_minor;

    if (const LoadedPlugin* other = find(report.name))
        return refuse("duplicate plugin name '" + report.name + "': already loaded from " +
                      other->file().string());
    if (!library.has(sdk::kFactorySymbol))
        return refuse(std::string("no factory '") + sdk::kFactorySymbol + "' exported");

    sdk::Plugin* raw = nullptr;
    std::string factory_error;
    try {
        auto& factory = library.get_alias<sdk::PluginFactory>(sdk::kFactorySymbol);
        raw = factory(factory_error);
    } catch (const std::exception& e) {
        return refuse(std::string("factory threw: ") + e.what());
    } catch (...) {
        return refuse("factory threw an exception that is not a std::exception");
    }
    if (!raw) {
        return refuse("factory returned no plugin" +
                      (factory_error.empty() ? std::string() : ": " + factory_error));
    }

    auto held = std::make_shared<dll::shared_library>(std::move(library));
    std::shared_ptr<sdk::Plugin> plugin(raw, [held](sdk::Plugin* p) mutable {
        delete p;
        held.reset();  // unloads after the object's code has run for the last time
    });
    report.loaded = true;
    plugins_.push_back(std::make_shared<const LoadedPlugin>(report, std::move(plugin)));
    reports_.push_back(std::move(report));
    return reports_.back();
}

const LoadedPlugin* PluginCatalog::find(std::string_view name) const noexcept {
    return find_shared(name).get();
}

std::shared_ptr<const LoadedPlugin> PluginCatalog::find_shared(
    std::string_view name) const noexcept {
    for (const auto& p : plugins_)
        if (p->name() == name) return p;
    return nullptr;
}

std::string PluginCatalog::refusals(std::string_view name) const {
    std::string why;
    for (const auto& r : reports_) {
        // A descriptor too foreign to read has no trusted name; the file is
        // named after its plugin by gridgate_add_plugin().
        bool same = r.name.empty() ? r.file.stem() == name : r.name == name;
        if (r.loaded || !same) continue;
        why += (why.empty() ? "" : "; ") + r.file.string() + " was refused: " + r.reason;
    }
    return why;
}

std::string PluginCatalog::why_unavailable(std::string_view name) const {
    if (find(name)) return {};
    std::string why = refusals(name);
    if (!why.empty()) return "plugin '" + std::string(name) + "' is not available: " + why;
    why = "no plugin named '" + std::string(name) + "' in ";
    if (directories_.empty()) return why + "any plugin directory (none searched)";
    for (std::size_t i = 0; i < directories_.size(); ++i)
        why += (i ? ", " : "") + directories_[i].path.string();
    return why;
}

std::vector<fs::path> PluginCatalog::searched_directories() const {
    std::vector<fs::path> out;
    for (const auto& d : directories_) out.push_back(d.path);
    return out;
}

std::string describe_capabilities(std::uint32_t capabilities) {
    std::string out;
    for (std::size_t i = 0; i < sdk::kCommandTypeCount; ++i) {
        auto type = static_cast<sdk::CommandType>(i);
        if (capabilities & sdk::capability(type))
            out += (out.empty() ? "" : ", ") + std::string(sdk::to_string(type));
    }
    return out.empty() ? "none" : out;
}

std::string PluginCatalog::render_report() const {
    std::string out = "Plugin ABI " + std::to_string(sdk::kAbiMajor) + "." +
                      std::to_string(sdk::kAbiMinor) + ", build " + sdk::kBuildFingerprint + "\n";
    for (const auto& d : directories_)
        out += "directory " + d.path.string() + (d.exists ? "\n" : " (not found)\n");
    std::size_t loaded = 0;
    for (const auto& r : reports_) {
        if (r.loaded) {
            ++loaded;
            out += "  loaded   " + r.name + " " + r.version + "  " + r.file.string() + "\n";
            if (!r.description.empty()) out += "           " + r.description + "\n";
            out += "           commands: " + describe_capabilities(r.capabilities) + "\n";
        } else {
            out += "  refused  " + r.file.string() + "\n           " + r.reason + "\n";
        }
    }
    out += std::to_string(loaded) + " loaded, " + std::to_string(reports_.size() - loaded) +
           " refused\n";
    return out;
}

}  // namespace gridgate::gateway
