#include "gridgate/config/toml_document.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "site_file_testing.hpp"

using namespace gridgate::config;
using gridgate::config::testing::lines;
using gridgate::config::testing::TemporaryFolder;
using ::testing::ElementsAre;
using ::testing::StartsWith;

namespace {

std::vector<std::string> keys_of(const gridgate::sdk::ConfigTable& table) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : table.entries()) keys.push_back(key);
    return keys;
}

}  // namespace

TEST(TomlDocument, KeepsFileOrderAndLocatesEntriesAtTheirKeys) {
    auto doc = parse_toml(R"(zeta = 1
alpha = { b = 2, a = "x" }
list = [ 3, { c = 4 } ]
)",
                          "maps/m.toml");
    ASSERT_TRUE(doc.root);
    EXPECT_TRUE(doc.errors.empty()) << ::testing::PrintToString(lines(doc.errors));
    const auto& root = *doc.root;
    EXPECT_EQ(root.where().str(), "maps/m.toml:1:1");
    EXPECT_THAT(keys_of(root), ElementsAre("zeta", "alpha", "list"));

    const auto* alpha = root.find("alpha");
    ASSERT_NE(alpha, nullptr);
    EXPECT_EQ(alpha->where().str(), "maps/m.toml:2:1");
    ASSERT_NE(alpha->as_table(), nullptr);
    EXPECT_THAT(keys_of(*alpha->as_table()), ElementsAre("b", "a"));
    EXPECT_EQ(alpha->as_table()->find("a")->where().str(), "maps/m.toml:2:18");

    const auto* list = root.find("list");
    ASSERT_NE(list, nullptr);
    ASSERT_NE(list->as_array(), nullptr);
    ASSERT_EQ(list->as_array()->size(), 2U);
    EXPECT_EQ((*list->as_array())[1].where().str(), "maps/m.toml:3:13");
}

TEST(TomlDocument, LeavesOutDatesAndSaysWhere) {
    auto doc = parse_toml("a = 1\nwhen = 1979-05-27\nb = 2\n", "d.toml");
    ASSERT_TRUE(doc.root);
    EXPECT_THAT(keys_of(*doc.root), ElementsAre("a", "b"));
    EXPECT_THAT(lines(doc.errors),
                ElementsAre("d.toml:2:1: 'when' is a date or time, which no setting accepts"));
}

TEST(TomlDocument, ASyntaxErrorComesAloneWithoutATable) {
    auto doc = parse_toml("soc = { address = }\n", "bad.toml");
    EXPECT_FALSE(doc.root);
    ASSERT_EQ(doc.errors.size(), 1U);
    EXPECT_THAT(doc.errors[0].str(), StartsWith("bad.toml:1:19: invalid TOML: "));
}

TEST(TomlDocument, ReadsAFileUnderTheNameGiven) {
    TemporaryFolder dir;
    const auto path = dir.path() / "m.toml";
    std::ofstream(path) << "x = 1\n";
    auto doc = read_toml_file(path, "as-given.toml");
    ASSERT_TRUE(doc.root);
    EXPECT_EQ(doc.root->find("x")->where().str(), "as-given.toml:1:1");

    auto missing = read_toml_file(dir.path() / "none.toml", "none.toml");
    EXPECT_FALSE(missing.root);
    EXPECT_THAT(lines(missing.errors),
                ElementsAre("none.toml: cannot read the file: No such file or directory"));
    auto folder = read_toml_file(dir.path(), "folder");
    EXPECT_FALSE(folder.root);
    EXPECT_THAT(lines(folder.errors),
                ElementsAre("folder: cannot read the file: it is a directory"));
}
