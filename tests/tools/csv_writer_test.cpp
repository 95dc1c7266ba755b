#include "csv_writer.h"

#include <gtest/gtest.h>

#include <charconv>
#include <random>
#include <string>
#include <vector>

#include "number_text.h"
#include "test_support.h"

namespace profilemate::exporter {
namespace {

TEST(CsvWriter, WritesTheHeaderAndRowsWithRfc4180Quoting) {
  testing::TempDir dir;
  CsvWriter out(dir / "t.csv", {"a", "b", "c", "d"});
  out.text("plain").text("with,comma").text("say \"hi\"").text("two\nlines").end_row();
  out.integer(18446744073709551615ull).signed_integer(-3).fixed(2.0 / 3.0, 3).boolean(true).end_row();
  out.empty().fixed(1.0 / 0.0, 2).text("").boolean(false).end_row();
  out.close();
  EXPECT_EQ(out.rows(), 3u);
  EXPECT_EQ(testing::read_file(dir / "t.csv"),
            "a,b,c,d\n"
            "plain,\"with,comma\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
            "18446744073709551615,-3,0.667,True\n"
            ",,,False\n");
}

// The fast path must write exactly what to_chars writes: values the exporter formats (scaled
// nanosecond counts, exact ties among them), random doubles, and the edges.
TEST(FixedChars, WritesWhatToCharsWrites) {
  std::mt19937_64 random(42);
  std::vector<double> values = {0.0,    -0.0,   0.5,  1.5,  2.5,   0.0005,
                                0.0015, 1e-300, 1e12, 1e20, -1.25, 1099511627775.5};
  for (int i = 0; i < 200000; ++i) {
    const uint64_t ns = random() >> (random() % 64);
    values.push_back(static_cast<double>(ns) * 1e-3);
    values.push_back(static_cast<double>(ns) * 1e-6);
    values.push_back(static_cast<double>(ns) * 1e-9);
    const uint64_t whole_us = ns / 1000;
    values.push_back(static_cast<double>(whole_us * 1000 + 500) * 1e-9);  // a tie at 6 decimals
    values.push_back(std::ldexp(static_cast<double>(random() >> 11), static_cast<int>(random() % 80) - 60));
  }
  for (const double value : values) {
    for (int decimals = 0; decimals <= 9; ++decimals) {
      char expected[400];
      char actual[400];
      const std::string want(
          expected,
          std::to_chars(expected, expected + sizeof expected, value, std::chars_format::fixed, decimals).ptr);
      const std::string got(actual, fixed_chars(actual, actual + sizeof actual, value, decimals));
      ASSERT_EQ(got, want) << "value " << value << " with " << decimals << " decimals";
    }
  }
}

std::string to_chars_text(auto value) {
  char text[32];
  return {text, std::to_chars(text, text + sizeof text, value).ptr};
}

// Integers of every length (every power of ten and its neighbours, and random ones) come out as
// std::to_chars writes them.
TEST(NumberText, PutsIntegersAsToCharsDoes) {
  std::vector<uint64_t> values = {0, UINT32_MAX, uint64_t{UINT32_MAX} + 1, UINT64_MAX};
  for (uint64_t power = 1; power <= UINT64_MAX / 10; power *= 10) {
    values.insert(values.end(), {power - 1, power, power + 1, power * 10 - 1});
  }
  std::mt19937_64 random(7);
  for (int i = 0; i < 200000; ++i) values.push_back(random() >> (random() % 64));
  for (const uint64_t value : values) {
    char text[kMaxIntegerChars];
    ASSERT_EQ(std::string(text, put_integer(text, value)), to_chars_text(value)) << value;
    const auto negative = static_cast<int64_t>(~value);  // both signs, INT64_MIN included
    ASSERT_EQ(std::string(text, put_integer(text, negative)), to_chars_text(negative)) << negative;
  }
}

TEST(NumberText, IntegersSharingHighDigitsAreWrittenAsToCharsDoes) {
  // Runs of timestamps of one second, the seconds changing, and the edges: below 10^9 (no high
  // digits), each power of ten, the largest value.
  std::vector<uint64_t> values = {0,          999'999'999, 1'000'000'000, 1'000'000'001,
                                  UINT64_MAX, 5,           UINT64_MAX - 1};
  for (uint64_t power = 1; power <= UINT64_MAX / 10; power *= 10)
    values.insert(values.end(), {power - 1, power});
  std::mt19937_64 random(11);
  uint64_t now = 1'796'038'216'509'166'057;
  for (int i = 0; i < 200000; ++i) {
    now += random() % 3'000'000;  // a second holds a few hundred of these
    values.push_back(random() % 50 == 0 ? random() >> (random() % 64) : now);
  }
  UintSharingHighDigits digits;
  for (const uint64_t value : values) {
    char text[kMaxIntegerChars];
    ASSERT_EQ(std::string(text, digits.put(text, value)), to_chars_text(value)) << value;
  }
}

// A nanosecond count as microseconds, and a time since the start as seconds (rounded in integers,
// as the CSV timestamps are), write what the doubles of the same value did, except at a tie.
TEST(NumberText, PutsDecimalsAsTheDoublesOfTheSameValueRound) {
  std::mt19937_64 random(11);
  char text[64];
  const auto decimal = [&](uint64_t value, int decimals) {
    return std::string(text, put_decimal(text, value, decimals));
  };
  const auto fixed = [&](double value, int decimals) {
    return std::string(text, fixed_chars(text, text + sizeof text, value, decimals));
  };
  EXPECT_EQ(decimal(12345, 3), "12.345");
  EXPECT_EQ(decimal(5, 6), "0.000005");
  EXPECT_EQ(decimal(UINT64_MAX, 9), "18446744073.709551615");
  EXPECT_EQ(decimal(42, 0), "42");
  for (int i = 0; i < 200000; ++i) {
    const uint64_t ns = (random() >> (random() % 64)) & ((uint64_t{1} << 50) - 1);
    ASSERT_EQ(decimal(ns, 3), fixed(static_cast<double>(ns) * 1e-3, 3)) << ns << " ns as us";
    if (ns % 1000 == 500) continue;
    const uint64_t us = ns / 1000 + (ns % 1000 > 500 ? 1 : 0);
    ASSERT_EQ(decimal(us, 6), fixed(static_cast<double>(ns) * 1e-9, 6)) << ns << " ns as s";
  }
}

// Cells larger than the writer's buffer, and rows formatted in batches and appended in order.
TEST(CsvWriter, WritesHugeCellsAndAppendsBatchesInOrder) {
  testing::TempDir dir;
  const std::string huge(3 << 20, 'x');
  CsvWriter out(dir / "t.csv", {"a", "b"});
  out.integer(1).text(huge).end_row();
  CsvWriter batch(dir / "t.csv", 2);
  for (int round = 0; round < 2; ++round) {
    batch.clear();
    for (int i = 0; i < 100'000; ++i) batch.integer(2).text(round == 0 ? "first" : "\"second\"").end_row();
    out.append(batch);
  }
  out.fixed(0.5, 0).empty().end_row();
  out.close();
  EXPECT_EQ(out.rows(), 200'002u);
  std::string expected = "a,b\n1," + huge + "\n";
  for (int i = 0; i < 100'000; ++i) expected += "2,first\n";
  for (int i = 0; i < 100'000; ++i) expected += "2,\"\"\"second\"\"\"\n";
  expected += "0,\n";
  EXPECT_EQ(testing::read_file(dir / "t.csv"), expected);
}

// Rows of every width, many blocks' worth: each block but the last is written in whole pages
// (past the page cache), its rest carried into the next one; nothing lost, repeated or reordered.
TEST(CsvWriter, RowsAcrossManyBlocksArriveWhole) {
  testing::TempDir dir;
  CsvWriter out(dir / "t.csv", {"n", "s"});
  std::string expected = "n,s\n";
  std::mt19937 random(7);
  for (uint64_t i = 0; expected.size() < (20u << 20); ++i) {
    const std::string cell(random() % 300, static_cast<char>('a' + i % 26));
    out.integer(i).text(cell).end_row();
    expected += std::to_string(i) + "," + cell + "\n";
  }
  out.close();
  EXPECT_EQ(testing::read_file(dir / "t.csv"), expected);
}

TEST(CsvWriter, NamesTheFileItCannotCreate) {
  try {
    CsvWriter out("/nonexistent/dir/t.csv", {"a"});
    FAIL();
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/dir/t.csv"), std::string::npos);
  }
}

TEST(CsvWriter, ARowOfTheWrongWidthIsAnErrorNamingTheFileAndTheRow) {
  testing::TempDir dir;
  CsvWriter out(dir / "t.csv", {"a", "b"});
  out.integer(1).integer(2).end_row();
  out.integer(3);
  try {
    out.end_row();
    FAIL() << "a row of one cell under two columns was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("t.csv: row 2 has 1 cells, the header 2 columns"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace profilemate::exporter
