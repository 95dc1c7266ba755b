// Percentiles by the nearest-rank method (the value at rank ceil(p * n)), as every report and CSV
// file of ProfileMate states them.
#pragma once

#include <cmath>
#include <cstddef>

namespace profilemate::exporter {

// The 0-based index, among `count` values in ascending order, of the nearest rank of `fraction`.
inline size_t nearest_rank_index(size_t count, double fraction) {
  const auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(count)));
  return rank == 0 ? 0 : rank - 1;
}

}  // namespace profilemate::exporter
