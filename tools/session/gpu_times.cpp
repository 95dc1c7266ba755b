#include "gpu_times.h"

#include <algorithm>
#include <type_traits>

#include "percentile.h"

namespace profilemate::exporter {
namespace {

// Growth is reported to the memory bound in steps of this size (or less, for a small bound),
// not at every time.
constexpr size_t kReportBytes = 256 << 10;
// The spilled sink's own bound: its runs are sorted in memory of this size.
constexpr size_t kSpilledSortBytes = 8 << 20;

}  // namespace

GpuTimes::GpuTimes(SortMemory& memory)
    : memory_(memory), spilled_memory_(memory.dir(), kSpilledSortBytes), spilled_(spilled_memory_) {
  memory_.add(this);
}

size_t GpuTimes::graph(uint32_t process, uint32_t exec_id) {
  const auto [it, added] = index_.try_emplace(uint64_t{process} << 32 | exec_id, graphs_.size());
  if (added) graphs_.push_back({{process, exec_id}, 0, {}, {}});
  return it->second;
}

void GpuTimes::push(size_t graph, uint64_t gpu_ns) {
  Graph& g = graphs_[graph];
  ++g.count;
  // The vectors' capacity is what they hold: accounted when it grows.
  const auto append = [this](auto& values, uint64_t ns) {
    const size_t before = values.capacity();
    values.push_back(static_cast<std::decay_t<decltype(values[0])>>(ns));
    if (values.capacity() != before) account((values.capacity() - before) * sizeof values[0]);
  };
  if (gpu_ns <= UINT32_MAX) {
    append(g.narrow, gpu_ns);
  } else {
    append(g.wide, gpu_ns);
  }
}

void GpuTimes::account(size_t bytes) {
  bytes_ += bytes;
  if (bytes_ >= reported_bytes_ + std::min(kReportBytes, memory_.limit() / 16)) {
    if (memory_.reserve(*this, bytes_ - reported_bytes_)) {
      reported_bytes_ = bytes_;
    } else {
      spill();
    }
  }
}

void GpuTimes::spill() {
  for (Graph& g : graphs_) {
    for (const uint32_t ns : g.narrow) spilled_.push({g.key.first, g.key.second, ns});
    for (const uint64_t ns : g.wide) spilled_.push({g.key.first, g.key.second, ns});
    std::vector<uint32_t>().swap(g.narrow);
    std::vector<uint64_t>().swap(g.wide);
  }
  memory_.released(reported_bytes_);
  bytes_ = 0;
  reported_bytes_ = 0;
}

uint64_t GpuTimes::select(Graph& g, uint64_t index) {
  // Every wide time is above every narrow one.
  const auto nth = [](auto& values, uint64_t i) -> uint64_t {
    const auto at = values.begin() + static_cast<std::ptrdiff_t>(i);
    std::nth_element(values.begin(), at, values.end());
    return *at;
  };
  return index < g.narrow.size() ? nth(g.narrow, index) : nth(g.wide, index - g.narrow.size());
}

std::map<GraphKey, GpuPercentiles> GpuTimes::percentiles() {
  std::map<GraphKey, GpuPercentiles> result;
  if (spilled_.size() == 0) {
    for (Graph& g : graphs_) {
      if (g.count == 0) continue;  // replayed, but never with GPU time
      result[g.key] = {select(g, nearest_rank_index(g.count, 0.50)),
                       select(g, nearest_rank_index(g.count, 0.99))};
    }
  } else {
    spill();  // all in one sorted stream: each graph's times come out together, ascending
    const Graph* g = nullptr;
    GpuPercentiles* line = nullptr;
    uint64_t index = 0, p50 = 0, p99 = 0;
    spilled_.drain([&](std::span<const Spilled> rows) {
      for (const Spilled& row : rows) {
        if (g == nullptr || g->key != GraphKey{row.process, row.exec_id}) {
          g = &graphs_[graph(row.process, row.exec_id)];
          line = &result[g->key];
          index = 0;
          p50 = nearest_rank_index(g->count, 0.50);
          p99 = nearest_rank_index(g->count, 0.99);
        }
        if (index == p50) line->p50_ns = row.gpu_ns;
        if (index == p99) line->p99_ns = row.gpu_ns;
        ++index;
      }
    });
    memory_.count_run(spilled_memory_.runs_spilled());
  }
  graphs_.clear();
  index_.clear();
  memory_.released(reported_bytes_);
  bytes_ = 0;
  reported_bytes_ = 0;
  return result;
}

}  // namespace profilemate::exporter
