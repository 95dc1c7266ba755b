#include "compare_reports.h"

#include <algorithm>
#include <map>
#include <string>

namespace profilemate::stats {

Table compare_tables(const std::vector<Table>& a, const std::vector<Table>& b) {
  std::vector<std::string> order;
  std::map<std::string, std::pair<Cell, Cell>> values;
  const auto collect = [&](const std::vector<Table>& tables, bool second) {
    for (const Table& table : tables) {
      for (auto& [name, cell] : flatten(table)) {
        const auto [it, added] = values.try_emplace(name);
        if (added) order.push_back(name);
        (second ? it->second.second : it->second.first) = cell;
      }
    }
  };
  collect(a, false);
  collect(b, true);
  Table table{"compare", "A and B side by side", {"metric", "a", "b", "delta", "ratio"}, 1, {}, {}};
  for (const std::string& name : order) {
    const auto& [left, right] = values.at(name);
    std::vector<Cell> row{Cell::text(name), left, right};
    if (left.is_number() && right.is_number()) {
      const auto* left_integer = std::get_if<int64_t>(&left.value);
      const auto* right_integer = std::get_if<int64_t>(&right.value);
      if (left_integer != nullptr && right_integer != nullptr) {
        row.push_back(Cell::integer(*right_integer - *left_integer));
      } else {
        row.push_back(
            Cell::number(right.as_double() - left.as_double(), std::max(left.decimals, right.decimals)));
      }
      row.push_back(left.as_double() != 0 ? Cell::number(right.as_double() / left.as_double(), 3)
                                          : Cell::none());
    } else {
      row.resize(5);
    }
    table.rows.push_back(std::move(row));
  }
  table.notes.emplace_back("delta = b - a; ratio = b / a. A metric one side lacks is left empty there.");
  return table;
}

}  // namespace profilemate::stats
