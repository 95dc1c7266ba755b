#include "report_table.h"

#include <algorithm>

#include "csv_writer.h"
#include "json_writer.h"
#include "number_text.h"
#include "printable.h"

namespace profilemate::stats {

double Cell::as_double() const {
  if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return 0.0;
}

std::string Cell::str() const {
  std::string out;
  if (const auto* i = std::get_if<int64_t>(&value)) {
    exporter::append_integer(out, *i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    exporter::append_fixed(out, *d, decimals);
  } else if (const auto* s = std::get_if<std::string>(&value)) {
    out = *s;
  }
  return out;
}

std::string render_text(const Table& table) {
  std::vector<size_t> widths(table.columns.size());
  for (size_t c = 0; c < table.columns.size(); ++c) widths[c] = table.columns[c].size();
  std::vector<std::vector<std::string>> texts;
  texts.reserve(table.rows.size());
  for (const std::vector<Cell>& row : table.rows) {
    std::vector<std::string>& line = texts.emplace_back();
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      line.push_back(row[c].value.index() == 0 ? "-" : reader::printable(row[c].str()));
      widths[c] = std::max(widths[c], line.back().size());
    }
  }
  std::string out = " ** " + reader::printable(table.title) + " (" + table.name + "):\n\n";
  const auto cell = [&](const std::string& text, size_t c, bool right) {
    if (c > 0) out += "  ";
    const std::string pad(widths[c] - text.size(), ' ');
    out += right ? pad + text : text + pad;
  };
  for (size_t c = 0; c < table.columns.size(); ++c) cell(table.columns[c], c, c >= table.key_columns);
  out += '\n';
  for (size_t c = 0; c < table.columns.size(); ++c) cell(std::string(widths[c], '-'), c, false);
  out += '\n';
  for (const std::vector<std::string>& line : texts) {
    for (size_t c = 0; c < line.size(); ++c) cell(line[c], c, c >= table.key_columns);
    out += '\n';
  }
  if (table.rows.empty()) out += "  (no data)\n";
  for (const std::string& note : table.notes) out += "  " + reader::printable(note) + '\n';
  return out + '\n';
}

namespace {

// A field printed to a terminal: control characters escaped, a would-be formula guarded as the
// export's CSV files guard it.
void csv_field(std::string& out, const Cell& cell) {
  const std::string text = reader::printable(cell.str());
  if (std::holds_alternative<std::string>(cell.value) && exporter::CsvWriter::starts_formula(text))
    out += '\'';
  if (text.find_first_of(",\"\r\n") == std::string::npos) {
    out += text;
    return;
  }
  out += '"';
  for (const char ch : text) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
}

}  // namespace

std::string render_csv(const Table& table) {
  std::string out;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (c > 0) out += ',';
    csv_field(out, Cell::text(table.columns[c]));
  }
  out += '\n';
  for (const std::vector<Cell>& row : table.rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) out += ',';
      csv_field(out, row[c]);
    }
    out += '\n';
  }
  return out;
}

std::string render_json(const std::vector<const Table*>& tables) {
  exporter::JsonWriter json;
  json.begin_object();
  for (const Table* table : tables) {
    json.key(table->name).begin_object().field("title", std::string_view(table->title));
    json.key("rows").begin_array();
    for (const std::vector<Cell>& row : table->rows) {
      json.begin_object();
      for (size_t c = 0; c < row.size() && c < table->columns.size(); ++c) {
        json.key(table->columns[c]);
        const Cell& value = row[c];
        if (const auto* i = std::get_if<int64_t>(&value.value)) {
          json.value(*i);
        } else if (const auto* d = std::get_if<double>(&value.value)) {
          json.value(*d, value.decimals);
        } else if (const auto* s = std::get_if<std::string>(&value.value)) {
          json.value(std::string_view(*s));
        } else {
          json.null();
        }
      }
      json.end_object();
    }
    json.end_array().key("notes").begin_array();
    for (const std::string& note : table->notes) json.value(std::string_view(note));
    json.end_array().end_object();
  }
  json.end_object();
  return json.text() + '\n';
}

const Cell* find_cell(const Table& table, std::string_view row, std::string_view column) {
  const auto at = std::find(table.columns.begin(), table.columns.end(), column);
  if (at == table.columns.end()) return nullptr;
  const auto index = static_cast<size_t>(at - table.columns.begin());
  for (const std::vector<Cell>& cells : table.rows) {
    if (!cells.empty() && cells[0].str() == row) return index < cells.size() ? &cells[index] : nullptr;
  }
  return nullptr;
}

std::vector<std::pair<std::string, Cell>> flatten(const Table& table) {
  std::vector<std::pair<std::string, Cell>> named;
  for (const std::vector<Cell>& row : table.rows) {
    std::string key = table.name;
    for (size_t c = 0; c < table.key_columns && c < row.size(); ++c)
      key += (c == 0 ? "." : ",") + row[c].str();
    for (size_t c = table.key_columns; c < row.size() && c < table.columns.size(); ++c) {
      if (row[c].is_number()) named.emplace_back(key + "." + table.columns[c], row[c]);
    }
  }
  return named;
}

}  // namespace profilemate::stats
