// The Parquet rows that the tables' column declarations write into (no Arrow needed: a fake file
// takes the row groups), and docs/parquet.md against the declared types.
#include "parquet_table.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

#include "test_support.h"

namespace profilemate::exporter {
namespace {

// Keeps what it is handed.
struct RowGroups {
  std::vector<size_t> rows;
  std::vector<std::vector<ColumnValues>> columns;
  bool closed = false;
};
class FakeFile final : public ParquetFile {
 public:
  explicit FakeFile(RowGroups& groups) : groups_(groups) {}
  void write_row_group(std::span<const ColumnValues> columns, size_t rows) override {
    groups_.rows.push_back(rows);
    groups_.columns.emplace_back(columns.begin(), columns.end());
  }
  void close() override { groups_.closed = true; }

 private:
  RowGroups& groups_;
};

struct Fixture {
  SessionTables tables;
  ParquetTable table;
  RowGroups groups;
  ParquetRows rows;
  explicit Fixture(std::vector<ColumnInfo> columns)
      : table("/nonexistent", "t", std::move(columns), tables),
        rows(table, "session_x", std::make_unique<FakeFile>(groups)) {}
};

TEST(ParquetRows, GivesEachCellItsTypeAndEmptyCellsNulls) {
  Fixture f({{"n", "", ColumnType::kInt64},
             {"d", "us", ColumnType::kDouble},
             {"s", "", ColumnType::kString},
             {"b", "bool", ColumnType::kBool}});
  f.rows.integer(7).decimal(19998, 3).text("FULL").boolean(true).end_row();
  f.rows.placeholder("None").fixed(2.0 / 3.0, 3).text("PIECEWISE").empty().end_row();
  f.rows.empty().empty().text("FULL").boolean(false).end_row();
  f.rows.close();
  ASSERT_EQ(f.groups.rows, std::vector<size_t>{3});
  EXPECT_TRUE(f.groups.closed);
  const std::vector<ColumnValues>& c = f.groups.columns[0];
  ASSERT_EQ(c.size(), 5u) << "the four columns and session_id";
  EXPECT_EQ(c[0].integers[0], 7);
  EXPECT_EQ(c[0].valid, (std::vector<uint8_t>{1, 0, 0})) << "placeholder (num_reqs' None) and empty: null";
  EXPECT_EQ(c[1].reals[0], 19.998) << "a scaled decimal: the double the CSV text reads as";
  EXPECT_EQ(c[1].reals[1], 0.667) << "a fixed cell: the CSV's value, rounded as it is written";
  EXPECT_EQ(c[1].valid, (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(c[2].dictionary, (std::vector<std::string>{"FULL", "PIECEWISE"}));
  EXPECT_EQ(c[2].indices, (std::vector<int32_t>{0, 1, 0})) << "repeated strings share a dictionary entry";
  EXPECT_EQ(c[3].booleans, (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_EQ(c[3].valid, (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(c[4].dictionary, std::vector<std::string>{"session_x"});
  EXPECT_EQ(c[4].indices.size(), 3u);
}

TEST(ParquetRows, RefusesACellOfAnotherTypeNamingTheColumn) {
  Fixture f({{"num_tokens", "tokens", ColumnType::kInt64}});
  try {
    f.rows.text("64");
    FAIL() << "a text cell in an int64 column was taken";
  } catch (const std::logic_error& error) {
    EXPECT_NE(std::string(error.what()).find("column num_tokens is declared int64"), std::string::npos)
        << error.what();
  }
}

TEST(ParquetRows, RefusesARowOfTheWrongWidth) {
  Fixture f({{"a", "", ColumnType::kInt64}, {"b", "", ColumnType::kInt64}});
  f.rows.integer(1);
  EXPECT_THROW(f.rows.end_row(), std::logic_error);
  Fixture g({{"a", "", ColumnType::kInt64}});
  g.rows.integer(1);
  EXPECT_THROW(g.rows.integer(2), std::logic_error) << "more cells than columns";
}

TEST(ParquetRows, WritesARowGroupEveryMillionRows) {
  Fixture f({{"n", "", ColumnType::kInt64}});
  const size_t rows = ParquetTable::kRowGroupRows + 5;
  for (size_t i = 0; i < rows; ++i) f.rows.integer(i).end_row();
  f.rows.close();
  EXPECT_EQ(f.groups.rows, (std::vector<size_t>{ParquetTable::kRowGroupRows, 5}));
  EXPECT_EQ(f.rows.rows_written(), rows);
  EXPECT_EQ(f.groups.columns[1][0].integers.front(), static_cast<int64_t>(ParquetTable::kRowGroupRows));
}

// The names of a row of docs/parquet.md's type table, its second cell split at commas.
std::set<std::string> documented(const std::string& docs, const std::string& type) {
  std::set<std::string> names;
  std::istringstream lines(docs);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("| " + type)) continue;
    const size_t cell = line.find(" | ") + 3;
    std::istringstream list(line.substr(cell, line.rfind(" |") - cell));
    for (std::string name; std::getline(list >> std::ws, name, ',');) names.insert(name);
  }
  return names;
}

// docs/parquet.md names each string and bool column; doubles are the columns of decimal units.
TEST(ParquetReference, StatesTheTypeOfEveryColumn) {
  const std::string docs = testing::read_file(testing::source_dir() + "/../docs/parquet.md");
  const std::set<std::string> strings = documented(docs, "string");
  const std::set<std::string> bools = documented(docs, "bool");
  ASSERT_TRUE(strings.contains("host") && bools.contains("uniform")) << "the type table was not found";
  const std::set<std::string_view> decimal_units = {"s", "ms", "us", "%", "tokens/s"};
  const std::regex double_name(".*_(sec|ms|us|pct)|percentage");
  for (const CsvFileInfo& file : csv_file_columns()) {
    for (const ColumnInfo& column : file.columns) {
      const std::string name(column.name);
      const std::string where =
          std::string(file.name) + ": " + name + " is " + std::string(column_type_name(column.type));
      EXPECT_EQ(column.type == ColumnType::kString, strings.contains(name)) << where;
      EXPECT_EQ(column.type == ColumnType::kBool, bools.contains(name)) << where;
      EXPECT_EQ(column.type == ColumnType::kDouble, decimal_units.contains(column.unit)) << where;
      EXPECT_EQ(column.type == ColumnType::kDouble, std::regex_match(name, double_name)) << where;
    }
  }
}

}  // namespace
}  // namespace profilemate::exporter
