// Every executable graph's GPU times, for exact nearest-rank percentiles. New times are kept as
// they come, 4 bytes each (8 for the rare time of 2^32 ns or more). Once those reach a share of
// the conversion's sort memory bound, each graph's are sorted and packed into a run of varint
// steps from one time to the next: a graph's times lie close together, so a time then takes
// about a byte. The percentiles merge a graph's runs (and select among the times not yet packed
// with nth_element). Should even the packed times need the memory the bound asks for, every time
// goes to a sorted sink of its own (runs on disk, within a small bound of their own) and the
// percentiles are read off its sorted output: exact either way.
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
  // A graph's times, sorted, as varint steps from one to the next (the first from 0).
  struct PackedRun {
    std::vector<uint8_t> bytes;
    uint64_t times = 0;
  };
  struct Graph {
    GraphKey key;
    uint64_t count = 0;  // times pushed, in memory or spilled
    std::vector<uint32_t> narrow;
    std::vector<uint64_t> wide;  // times that do not fit 32 bits
    std::vector<PackedRun> packed;
  };

  void account(size_t bytes);
  // Packs every graph's new times into a run of its own.
  void pack();
  // Calls visit(time) for every time of g in memory, in no particular order.
  template <typename Visit>
  static void each_time(const Graph& g, Visit&& visit);
  // The values at the nearest-rank indexes `p50` and `p99` in the ascending order of g's times in
  // memory; `times` holds unpacked times meanwhile.
  static GpuPercentiles select(Graph& g, uint64_t p50, uint64_t p99, std::vector<uint64_t>& times);

  SortMemory& memory_;
  std::vector<Graph> graphs_;
  std::unordered_map<uint64_t, size_t> index_;  // (process << 32 | exec id) -> graphs_ index
  Graph* last_ = nullptr;      // replays of one graph come in runs: skip the lookup for a repeat
  size_t bytes_ = 0;           // held by the times in memory, packed or not
  size_t unpacked_bytes_ = 0;  // held by the vectors of new times
  size_t reported_bytes_ = 0;  // told to memory_: it hears of growth in steps
  SortMemory spilled_memory_;
  RowSink<Spilled> spilled_;
};

}  // namespace profilemate::exporter
