// Diff test: a checked-in session must export to the checked-in files, byte for byte.
// After a deliberate change, run tests/golden/regenerate.sh and review the diff.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "export_session.h"
#include "test_support.h"

namespace profilemate::exporter {
namespace {

TEST(Golden, TheSyntheticSessionExportsExactlyAsCheckedIn) {
  const std::string case_dir = testing::source_dir() + "/golden/synthetic";
  testing::TempDir out;
  const ExportResult result = export_session(case_dir + "/session", out.path());
  EXPECT_TRUE(result.warnings.empty());

  std::vector<std::string> expected_names;
  for (const auto& entry : std::filesystem::directory_iterator(case_dir + "/expected")) {
    expected_names.push_back(entry.path().filename().string());
  }
  std::sort(expected_names.begin(), expected_names.end());
  std::vector<std::string> written;
  for (const OutputFile& file : result.files) written.push_back(file.name);
  std::sort(written.begin(), written.end());
  EXPECT_EQ(written, expected_names);
  EXPECT_EQ(written.size(), 13u) << "twelve CSV files and metadata.json";

  const std::string expected_dir = case_dir + "/expected/";
  for (const std::string& name : expected_names) {
    const std::string expected = testing::read_file(expected_dir + name);
    const std::string actual = testing::read_file(out / name);
    EXPECT_TRUE(expected == actual)
        << name << " differs at " << testing::first_difference(expected, actual)
        << "\n(regenerate with tests/golden/regenerate.sh if the change is intended)";
  }
}

}  // namespace
}  // namespace profilemate::exporter
