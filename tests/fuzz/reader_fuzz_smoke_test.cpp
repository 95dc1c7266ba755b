// Replays deterministic mutations of the golden logs, and of the same logs compressed as the
// writer compresses them, through the fuzz target, so every CI run exercises the reader on
// damaged input even without libFuzzer.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "test_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace profilemate {
namespace {

TEST(ReaderFuzzSmoke, SurvivesFortyThousandMutationsOfRealLogsPlainAndCompressed) {
  std::mt19937 random(20261127);
  const auto logs = testing::files_with_suffix(testing::source_dir() + "/golden/synthetic/session", ".pmlog");
  ASSERT_FALSE(logs.empty());
  std::vector<std::string> originals;
  for (const std::string& path : logs) {
    originals.push_back(testing::read_file(path));
    originals.push_back(testing::compressed_log(originals.back(), 7));
  }
  int runs = 0;
  for (const std::string& original : originals) {
    for (int i = 0; i < 10'000; ++i) {
      std::string bytes = original;
      const int edits = 1 + static_cast<int>(random() % 8);
      for (int e = 0; e < edits && !bytes.empty(); ++e) {
        const size_t at = random() % bytes.size();
        switch (random() % 4) {
          case 0: bytes[at] = static_cast<char>(random()); break;
          case 1: bytes.erase(at, 1 + random() % 16); break;
          case 2: bytes.insert(at, std::string(1 + random() % 16, static_cast<char>(random()))); break;
          default: bytes.resize(at); break;
        }
      }
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++runs;
    }
  }
  EXPECT_EQ(runs, 10'000 * static_cast<int>(originals.size()));
}

}  // namespace
}  // namespace profilemate
