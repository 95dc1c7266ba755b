// Percentiles by the nearest-rank method (the value at rank ceil(p * n)), as every report and CSV
// file of ProfileMate states them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace profilemate::exporter {

// The index (from 0) of the nearest rank of `fraction` among `n` (n > 0) sorted values.
inline uint64_t nearest_rank_index(uint64_t n, double fraction) {
  const auto rank = static_cast<uint64_t>(std::ceil(fraction * static_cast<double>(n)));
  return rank == 0 ? 0 : rank - 1;
}

// Reorders `values` (non-empty) partially; returns the value at the nearest rank of `fraction`.
template <typename T>
T nearest_rank(std::vector<T>& values, double fraction) {
  const auto index = static_cast<std::ptrdiff_t>(nearest_rank_index(values.size(), fraction));
  std::nth_element(values.begin(), values.begin() + index, values.end());
  return values[static_cast<size_t>(index)];
}

}  // namespace profilemate::exporter
