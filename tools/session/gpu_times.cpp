#include "gpu_times.h"

#include <algorithm>
#include <type_traits>

#include "percentile.h"
#include "varint.h"

namespace profilemate::exporter {
namespace {

// Growth is reported to the memory bound in steps of this size (or less, for a small bound),
// not at every time.
constexpr size_t kReportBytes = 256 << 10;
// The spilled sink's own bound: its runs are sorted in memory of this size.
constexpr size_t kSpilledSortBytes = 8 << 20;
// New times are packed when they hold a sixteenth of the bound, or this much if that is less.
constexpr size_t kMinPackBytes = 1 << 20;
// A graph with at most this many packed times has them unpacked (8 bytes each) to select from.
constexpr uint64_t kSelectInMemory = 1 << 20;

// Reads a packed run's times, in ascending order.
class PackedTimes {
 public:
  explicit PackedTimes(const std::vector<uint8_t>& bytes)
      : in_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  // False after the last time.
  bool next(uint64_t& time) {
    uint64_t step = 0;
    if (in_ == end_ || !reader::get_varint(in_, end_, step)) return false;
    time_ += step;
    time = time_;
    return true;
  }

 private:
  const uint8_t* in_;
  const uint8_t* end_;
  uint64_t time_ = 0;
};

}  // namespace

GpuTimes::GpuTimes(SortMemory& memory)
    : memory_(memory), spilled_memory_(memory.dir(), kSpilledSortBytes), spilled_(spilled_memory_) {
  memory_.add(this);
}

size_t GpuTimes::graph(uint32_t process, uint32_t exec_id) {
  const auto [it, added] = index_.try_emplace(uint64_t{process} << 32 | exec_id, graphs_.size());
  if (added) graphs_.push_back({{process, exec_id}, 0, {}, {}, {}});
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
  unpacked_bytes_ += bytes;
  if (unpacked_bytes_ >= std::max(kMinPackBytes, memory_.limit() / 16)) pack();
  if (bytes_ >= reported_bytes_ + std::min(kReportBytes, memory_.limit() / 16)) {
    if (memory_.reserve(*this, bytes_ - reported_bytes_)) {
      reported_bytes_ = bytes_;
    } else {
      spill();
    }
  }
}

void GpuTimes::pack() {
  std::vector<uint8_t> bytes;
  for (Graph& g : graphs_) {
    if (g.narrow.empty() && g.wide.empty()) continue;
    std::sort(g.narrow.begin(), g.narrow.end());
    std::sort(g.wide.begin(), g.wide.end());
    bytes.resize((g.narrow.size() + g.wide.size()) * 10);
    uint8_t* out = bytes.data();
    uint64_t previous = 0;
    const auto put = [&](uint64_t time) {  // every wide time is above every narrow one
      out = reader::put_varint(out, time - previous);
      previous = time;
    };
    for (const uint32_t time : g.narrow) put(time);
    for (const uint64_t time : g.wide) put(time);
    PackedRun& run = g.packed.emplace_back();
    run.bytes.assign(bytes.data(), out);  // exactly its size: it is kept
    run.times = g.narrow.size() + g.wide.size();
    bytes_ += run.bytes.capacity();
    std::vector<uint32_t>().swap(g.narrow);
    std::vector<uint64_t>().swap(g.wide);
  }
  bytes_ -= unpacked_bytes_;
  unpacked_bytes_ = 0;
  if (bytes_ < reported_bytes_) {
    memory_.released(reported_bytes_ - bytes_);
    reported_bytes_ = bytes_;
  }
}

template <typename Visit>
void GpuTimes::each_time(const Graph& g, Visit&& visit) {
  for (const uint32_t ns : g.narrow) visit(ns);
  for (const uint64_t ns : g.wide) visit(ns);
  for (const PackedRun& run : g.packed) {
    PackedTimes times(run.bytes);
    for (uint64_t ns = 0; times.next(ns);) visit(ns);
  }
}

void GpuTimes::spill() {
  for (Graph& g : graphs_) {
    each_time(g, [&](uint64_t ns) { spilled_.push({g.key.first, g.key.second, ns}); });
    std::vector<uint32_t>().swap(g.narrow);
    std::vector<uint64_t>().swap(g.wide);
    std::vector<PackedRun>().swap(g.packed);
  }
  memory_.released(reported_bytes_);
  bytes_ = 0;
  unpacked_bytes_ = 0;
  reported_bytes_ = 0;
}

GpuPercentiles GpuTimes::select(Graph& g, uint64_t p50, uint64_t p99, std::vector<uint64_t>& times) {
  if (g.packed.empty()) {
    // Every wide time is above every narrow one.
    const auto nth = [&g](uint64_t index) -> uint64_t {
      const auto in = [](auto& values, uint64_t i) -> uint64_t {
        const auto at = values.begin() + static_cast<std::ptrdiff_t>(i);
        std::nth_element(values.begin(), at, values.end());
        return *at;
      };
      return index < g.narrow.size() ? in(g.narrow, index) : in(g.wide, index - g.narrow.size());
    };
    return {nth(p50), nth(p99)};
  }
  // All times are packed by now. Few enough to hold as they are: unpacked and selected from.
  if (g.count <= kSelectInMemory) {
    times.clear();
    each_time(g, [&times](uint64_t ns) { times.push_back(ns); });
    const auto nth = [&times](uint64_t index) {
      const auto at = times.begin() + static_cast<std::ptrdiff_t>(index);
      std::nth_element(times.begin(), at, times.end());
      return *at;
    };
    return {nth(p50), nth(p99)};
  }
  // Else the runs merged in ascending order, up to the p99's.
  std::vector<PackedTimes> runs;
  std::vector<uint64_t> heads;
  for (const PackedRun& run : g.packed) {
    uint64_t head = 0;
    if (runs.emplace_back(run.bytes).next(head)) {
      heads.push_back(head);
    } else {
      runs.pop_back();
    }
  }
  GpuPercentiles result;
  for (uint64_t index = 0; !runs.empty() && index <= p99; ++index) {
    const auto smallest = static_cast<size_t>(std::min_element(heads.begin(), heads.end()) - heads.begin());
    if (index == p50) result.p50_ns = heads[smallest];
    if (index == p99) result.p99_ns = heads[smallest];
    if (!runs[smallest].next(heads[smallest])) {
      runs.erase(runs.begin() + static_cast<std::ptrdiff_t>(smallest));
      heads.erase(heads.begin() + static_cast<std::ptrdiff_t>(smallest));
    }
  }
  return result;
}

std::map<GraphKey, GpuPercentiles> GpuTimes::percentiles() {
  std::map<GraphKey, GpuPercentiles> result;
  if (spilled_.size() == 0) {
    // Where some are packed, the rest is packed too: then every graph's times are runs to merge.
    const bool packed =
        std::any_of(graphs_.begin(), graphs_.end(), [](const Graph& g) { return !g.packed.empty(); });
    if (packed) pack();
    std::vector<uint64_t> scratch;
    for (Graph& g : graphs_) {
      if (g.count == 0) continue;  // replayed, but never with GPU time
      result[g.key] =
          select(g, nearest_rank_index(g.count, 0.50), nearest_rank_index(g.count, 0.99), scratch);
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
  unpacked_bytes_ = 0;
  reported_bytes_ = 0;
  return result;
}

}  // namespace profilemate::exporter
