// Options that `stats` and `compare` share: which reports, in which format.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "report_table.h"

namespace profilemate::cli {

enum class Format { kTable, kCsv, kJson };

struct ReportOptions {
  std::vector<std::string> reports;  // empty: all
  Format format = Format::kTable;
};

// Parses --report NAME[,NAME...] / --format table|csv|json at args[i] (advancing i). Returns
// false when args[i] is neither; sets `error` when it is one of them but wrong.
bool parse_report_option(const std::vector<std::string_view>& args, size_t& i, ReportOptions& options,
                         std::string& error);

// The tables --report selected, in the catalog's order.
std::vector<const stats::Table*> selected(const std::vector<stats::Table>& tables,
                                          const ReportOptions& options);

// Renders tables in the chosen format. CSV: one report is plain CSV; several are separated by a
// "# name: title" line each.
std::string render(const std::vector<const stats::Table*>& tables, Format format);

}  // namespace profilemate::cli
