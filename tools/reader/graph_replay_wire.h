// Graph replays are nearly every record of a long session, and libprotobuf's general parse of a
// Record (a oneof whose message it allocates and frees each time) is most of the cost of reading
// one. This reads a replay's fields straight from its wire bytes.
#pragma once

#include <cstdint>

#include "profilemate.pb.h"

namespace profilemate::reader {

// A GraphReplay's fields (profilemate.proto), with the presence of the optional ones.
struct GraphReplayFields {
  uint32_t exec_id = 0;
  uint32_t stream_id = 0;
  uint32_t thread = 0;
  uint64_t cpu_enter_ns = 0;
  uint64_t cpu_duration_ns = 0;
  int64_t gpu_start_offset_ns = 0;
  uint64_t gpu_duration_ns = 0;
  uint32_t correlation_id = 0;
  bool has_gpu_start_offset_ns = false;
  bool has_gpu_duration_ns = false;
  bool has_correlation_id = false;

  static GraphReplayFields of(const GraphReplay& replay);
  // Sets `replay` to these fields (and nothing else).
  void to(GraphReplay& replay) const;
};

// Reads the Record encoded in [body, body + size) into `fields` when it is a graph replay holding
// only the fields this reader knows, each as a varint; false otherwise (anything else: another
// kind, a field from a newer writer, damage): parse it with libprotobuf then. What it reads is
// what Record::ParseFromArray gives.
bool decode_graph_replay(const uint8_t* body, uint64_t size, GraphReplayFields& fields);

}  // namespace profilemate::reader
