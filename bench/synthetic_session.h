// Writes a large session for the benchmarks straight through the recorder's encoder (the bytes
// the writer thread would produce), with the event mix of a CUDA-graph-heavy vLLM run.
#pragma once

#include <cstdint>
#include <string>

namespace profilemate::bench {

struct SessionShape {
  uint64_t events = 10'000'000;
  uint32_t replays_per_step = 40;  // PIECEWISE: one graph per piece
  bool compress = false;           // zstd frames, as the recorder writes by default
};

struct WrittenSession {
  uint64_t events = 0;
  uint64_t bytes = 0;
  uint64_t replays = 0;
  uint64_t replay_bytes = 0;
};

// Creates `dir` and one process log in it.
WrittenSession write_synthetic_session(const std::string& dir, const SessionShape& shape);

}  // namespace profilemate::bench
