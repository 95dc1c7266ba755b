// `profilemate compare`: the numbers of two sessions' reports side by side.
#pragma once

#include <vector>

#include "report_table.h"

namespace profilemate::stats {

// One row per number either session reports (named as flatten() names it), in A's order, then
// those only B has: a, b, delta = b - a, ratio = b / a (empty where a is 0 or one side lacks it).
Table compare_tables(const std::vector<Table>& a, const std::vector<Table>& b);

}  // namespace profilemate::stats
