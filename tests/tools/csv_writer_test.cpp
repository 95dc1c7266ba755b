#include "csv_writer.h"

#include <gtest/gtest.h>

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
