// Diff test: a checked-in session must export to the checked-in files, byte for byte.
// After a deliberate change, run tests/golden/regenerate.sh and review the diff.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "export_session.h"
#include "test_support.h"

namespace profilemate::exporter {
namespace {

// The text without its "bytes" lines: a compressed log's size differs, nothing else may.
std::string without_file_sizes(const std::string& text) {
  std::istringstream in(text);
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"bytes\":") == std::string::npos) kept += line + "\n";
  }
  return kept;
}

// Exports `session` and compares it with the checked-in expected files.
void expect_golden_export(const std::string& session, bool compressed = false) {
  const std::string case_dir = testing::source_dir() + "/golden/synthetic";
  testing::TempDir out;
  const ExportResult result = export_session(session, out.path());
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
    std::string expected = testing::read_file(expected_dir + name);
    std::string actual = testing::read_file(out / name);
    if (compressed && name == "metadata.json") {
      expected = without_file_sizes(expected);
      actual = without_file_sizes(actual);
    }
    EXPECT_TRUE(expected == actual)
        << name << " differs at " << testing::first_difference(expected, actual)
        << "\n(regenerate with tests/golden/regenerate.sh if the change is intended)";
  }
}

// The checked-in logs are uncompressed, as logs written before compression are: they stay readable.
TEST(Golden, TheSyntheticSessionExportsExactlyAsCheckedIn) {
  expect_golden_export(testing::source_dir() + "/golden/synthetic/session");
}

TEST(Golden, TheSameSessionCompressedExportsToTheSameFiles) {
  testing::TempDir session;
  for (const std::string& log :
       testing::files_with_suffix(testing::source_dir() + "/golden/synthetic/session", ".pmlog")) {
    const std::string name = std::filesystem::path(log).filename();
    testing::write_file(session / name, testing::compressed_log(testing::read_file(log), 7));
  }
  expect_golden_export(session.path(), true);
}

}  // namespace
}  // namespace profilemate::exporter
