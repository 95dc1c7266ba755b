#include "distributions.h"

#include <algorithm>
#include <span>

#include "percentile.h"

namespace profilemate::stats {

size_t Distributions::add_series() {
  series_.emplace_back();
  return series_.size() - 1;
}

void Distributions::add(size_t series, double value) {
  Summary& summary = series_[series];
  ++summary.count;
  summary.sum += value;
  summary.min = std::min(summary.min, value);
  summary.max = std::max(summary.max, value);
  values_.push({series, value});
}

void Distributions::finish() {
  uint64_t current = UINT64_MAX;
  size_t index = 0;  // of the value within its series
  size_t p50 = 0, p90 = 0, p99 = 0;
  values_.drain([&](std::span<const Key> keys) {
    for (const Key& key : keys) {
      Summary& summary = series_[key.series];
      if (key.series != current) {  // a series' values come together, ascending
        current = key.series;
        index = 0;
        p50 = exporter::nearest_rank_index(summary.count, 0.50);
        p90 = exporter::nearest_rank_index(summary.count, 0.90);
        p99 = exporter::nearest_rank_index(summary.count, 0.99);
      }
      if (index == p50) summary.p50 = key.value;
      if (index == p90) summary.p90 = key.value;
      if (index == p99) summary.p99 = key.value;
      ++index;
    }
  });
}

}  // namespace profilemate::stats
