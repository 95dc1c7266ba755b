#include "report_options.h"

#include <algorithm>

#include "session_reports.h"

namespace profilemate::cli {

bool parse_report_option(const std::vector<std::string_view>& args, size_t& i, ReportOptions& options,
                         std::string& error) {
  const std::string_view arg = args[i];
  if (arg != "--report" && arg != "--format") return false;
  if (i + 1 >= args.size()) {
    error = std::string(arg) + " needs a value";
    return true;
  }
  const std::string_view value = args[++i];
  if (arg == "--format") {
    if (value == "table") {
      options.format = Format::kTable;
    } else if (value == "csv") {
      options.format = Format::kCsv;
    } else if (value == "json") {
      options.format = Format::kJson;
    } else {
      error = "unknown format '" + std::string(value) + "': expected table, csv or json";
    }
    return true;
  }
  const auto& catalog = stats::report_catalog();
  size_t start = 0;
  while (start <= value.size()) {
    const size_t end = std::min(value.find(',', start), value.size());
    const std::string name(value.substr(start, end - start));
    if (std::none_of(catalog.begin(), catalog.end(),
                     [&](const auto& entry) { return entry.first == name; })) {
      error = "unknown report '" + name + "': expected one of";
      for (const auto& entry : catalog) error += " " + entry.first;
      return true;
    }
    options.reports.push_back(name);
    start = end + 1;
  }
  return true;
}

std::vector<const stats::Table*> selected(const std::vector<stats::Table>& tables,
                                          const ReportOptions& options) {
  std::vector<const stats::Table*> chosen;
  for (const stats::Table& table : tables) {
    if (options.reports.empty() ||
        std::find(options.reports.begin(), options.reports.end(), table.name) != options.reports.end()) {
      chosen.push_back(&table);
    }
  }
  return chosen;
}

std::string render(const std::vector<const stats::Table*>& tables, Format format) {
  if (format == Format::kJson) return stats::render_json(tables);
  std::string out;
  for (const stats::Table* table : tables) {
    if (format == Format::kTable) {
      out += stats::render_text(*table);
    } else {
      if (tables.size() > 1) out += "# " + table->name + ": " + table->title + "\n";
      out += stats::render_csv(*table);
    }
  }
  return out;
}

}  // namespace profilemate::cli
