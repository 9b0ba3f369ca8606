// The main() of a fuzz target in an ordinary build: runs the target once on
// each file named (or each file in each folder named), so the corpus under
// tests/fuzz/corpus/ is a regression test under ctest with any compiler.
// With -DGRIDGATE_FUZZ=ON libFuzzer supplies main() instead (tools/run-fuzz).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        const fs::path given(argv[i]);
        std::error_code ec;
        if (fs::is_directory(given, ec)) {
            for (const auto& entry : fs::directory_iterator(given))
                if (entry.is_regular_file()) files.push_back(entry.path());
        } else if (fs::is_regular_file(given, ec)) {
            files.push_back(given);
        } else {
            std::fprintf(stderr, "%s: no such file or folder: %s\n", argv[0], argv[i]);
            return 2;
        }
    }
    if (files.empty()) {
        std::fprintf(stderr, "usage: %s FILE|FOLDER... (at least one input)\n", argv[0]);
        return 2;
    }
    for (const auto& path : files) {
        std::ifstream in(path, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), {});
        // A copy of its own, so a read past the end is a read past a heap block.
        std::vector<std::uint8_t> input(bytes.begin(), bytes.end());
        LLVMFuzzerTestOneInput(input.data(), input.size());
    }
    std::printf("%zu input(s) ran\n", files.size());
    return 0;
}
