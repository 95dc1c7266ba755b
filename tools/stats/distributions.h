// Exact nearest-rank percentiles of many series of values, with memory bounded however many
// values arrive: each value goes into one sorted sink of (series, value) rows, which spills
// sorted runs to temporary files past its memory bound and hands every series' values back in
// ascending order, so the ranks are read off as they pass. Exact rather than a sketch because the
// reports print the values the CSV files hold; distinct-value counts would bound memory only for
// small integers, not for durations in nanoseconds.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "sorted_sink.h"

namespace profilemate::stats {

// What a report prints of one series.
struct Summary {
  uint64_t count = 0;
  double sum = 0;  // in the order the values were added (a report adds its rows in time order)
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double p50 = 0, p90 = 0, p99 = 0;  // valid once finished, when count > 0
};

class Distributions {
 public:
  // `memory`: a budget of its own, so that filling this sink never spills a sink being drained.
  explicit Distributions(exporter::SortMemory& memory) : values_(memory) {}

  // A new, empty series.
  size_t add_series();
  void add(size_t series, double value);
  // Reads the percentiles off; add nothing afterwards.
  void finish();
  [[nodiscard]] const Summary& operator[](size_t series) const { return series_[series]; }

 private:
  struct Key {
    uint64_t series = 0;
    double value = 0;
    bool operator<(const Key& other) const {
      return series != other.series ? series < other.series : value < other.value;
    }
    [[nodiscard]] const Key& key() const { return *this; }
  };

  exporter::RowSink<Key> values_;
  std::vector<Summary> series_;
};

}  // namespace profilemate::stats
