// Percentiles by the nearest-rank method (the value at rank ceil(p * n)), as every report and CSV
// file of ProfileMate states them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace profilemate::exporter {

// Reorders `values` (non-empty) partially; returns the value at the nearest rank of `fraction`.
template <typename T>
T nearest_rank(std::vector<T>& values, double fraction) {
  const auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(values.size())));
  const size_t index = rank == 0 ? 0 : rank - 1;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index];
}

}  // namespace profilemate::exporter
