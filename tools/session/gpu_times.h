// Every executable graph's GPU times, for exact nearest-rank percentiles. They are kept in memory,
// 4 bytes each (8 for the rare time of 2^32 ns or more), and selected with nth_element: no sort
// of all of them. Memory is 4 bytes per GPU replay until the conversion's sort memory bound asks
// for room; then every time goes to a sorted sink of its own (runs on disk, within a small bound
// of their own) and the percentiles are read off its sorted output: exact either way.
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sorted_sink.h"

namespace profilemate::exporter {

// (process, exec id)
using GraphKey = std::pair<uint32_t, uint32_t>;

struct GpuPercentiles {
  uint64_t p50_ns = 0;
  uint64_t p99_ns = 0;
};

class GpuTimes final : public SpillingSink {
 public:
  explicit GpuTimes(SortMemory& memory);

  // A graph's handle for push (a lookup the caller can keep).
  [[nodiscard]] size_t graph(uint32_t process, uint32_t exec_id);
  void push(size_t graph, uint64_t gpu_ns);
  // The percentiles of every graph that has GPU times (none for a graph with a handle and no
  // time); empties the store.
  std::map<GraphKey, GpuPercentiles> percentiles();

  [[nodiscard]] size_t memory_bytes() const override { return reported_bytes_; }
  void spill() override;
  // Kept, they cost 4 bytes each; spilled, a 16-byte row each and a sort.
  [[nodiscard]] bool spills_last() const override { return true; }

 private:
  // One replay's GPU time as the spilled sink sorts it: each graph's times together, ascending.
  struct Spilled {
    uint32_t process = 0;
    uint32_t exec_id = 0;
    uint64_t gpu_ns = 0;
    bool operator<(const Spilled& other) const {
      if (process != other.process) return process < other.process;
      return exec_id != other.exec_id ? exec_id < other.exec_id : gpu_ns < other.gpu_ns;
    }
    [[nodiscard]] const Spilled& key() const { return *this; }
  };
  struct Graph {
    GraphKey key;
    uint64_t count = 0;  // times pushed, in memory or spilled
    std::vector<uint32_t> narrow;
    std::vector<uint64_t> wide;  // times that do not fit 32 bits
  };

  void account(size_t bytes);
  // The value at `index` in the ascending order of g's times in memory.
  static uint64_t select(Graph& g, uint64_t index);

  SortMemory& memory_;
  std::vector<Graph> graphs_;
  std::unordered_map<uint64_t, size_t> index_;  // (process << 32 | exec id) -> graphs_ index
  Graph* last_ = nullptr;      // replays of one graph come in runs: skip the lookup for a repeat
  size_t bytes_ = 0;           // held by the vectors of times in memory
  size_t reported_bytes_ = 0;  // told to memory_: it hears of growth in steps
  SortMemory spilled_memory_;
  RowSink<Spilled> spilled_;
};

}  // namespace profilemate::exporter
