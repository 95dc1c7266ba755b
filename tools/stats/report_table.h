// A report: a titled table whose leading key columns name each row, rendered as an aligned text
// table (nsys stats style), CSV or JSON, and flattened into named numbers for `compare`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace profilemate::stats {

struct Cell {
  std::variant<std::monostate, int64_t, double, std::string> value;
  int decimals = 0;  // for doubles

  static Cell none() { return {}; }
  static Cell integer(int64_t v) { return {v, 0}; }
  static Cell number(double v, int decimals) { return {v, decimals}; }
  static Cell text(std::string v) { return {std::move(v), 0}; }

  [[nodiscard]] bool is_number() const {
    return std::holds_alternative<int64_t>(value) || std::holds_alternative<double>(value);
  }
  [[nodiscard]] double as_double() const;
  [[nodiscard]] std::string str() const;  // "" for none
};

struct Table {
  std::string name;   // what --report selects: "graphs", "steps", ...
  std::string title;  // one line for humans
  std::vector<std::string> columns;
  size_t key_columns = 1;  // the leading columns that identify a row
  std::vector<std::vector<Cell>> rows;
  std::vector<std::string> notes;  // printed under the text table: method, units, what is missing
};

std::string render_text(const Table& table);
std::string render_csv(const Table& table);
// One JSON object for several tables: {"<name>": {"title", "columns", "rows": [{...}], "notes"}}.
std::string render_json(const std::vector<const Table*>& tables);

// The cell in the row whose first column reads `row`, under `column`; null when absent.
const Cell* find_cell(const Table& table, std::string_view row, std::string_view column);

// Every number of a table, named "<table>.<key,...>.<column>": what `compare` lines up.
std::vector<std::pair<std::string, Cell>> flatten(const Table& table);

}  // namespace profilemate::stats
