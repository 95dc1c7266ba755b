#include "graph_replay_wire.h"

#include "varint.h"

namespace profilemate::reader {

bool decode_graph_replay(const uint8_t* body, uint64_t size, Record& record) {
  constexpr uint8_t kReplayTag = Record::kGraphReplayFieldNumber << 3 | 2;  // length-delimited
  const uint8_t* in = body;
  const uint8_t* const end = body + size;
  uint64_t length = 0;
  if (size == 0 || *in++ != kReplayTag || !get_varint(in, end, length) ||
      length != static_cast<uint64_t>(end - in)) {
    return false;
  }
  GraphReplay& replay = *record.mutable_graph_replay();
  replay.Clear();
  while (in != end) {
    uint64_t tag = 0;
    uint64_t value = 0;
    if (!get_varint(in, end, tag) || (tag & 7) != 0 || !get_varint(in, end, value)) return false;
    // Narrower fields keep the low bits, as libprotobuf's parse does.
    switch (tag >> 3) {
      case GraphReplay::kExecIdFieldNumber: replay.set_exec_id(static_cast<uint32_t>(value)); break;
      case GraphReplay::kStreamIdFieldNumber: replay.set_stream_id(static_cast<uint32_t>(value)); break;
      case GraphReplay::kThreadFieldNumber: replay.set_thread(static_cast<uint32_t>(value)); break;
      case GraphReplay::kCpuEnterNsFieldNumber: replay.set_cpu_enter_ns(value); break;
      case GraphReplay::kCpuDurationNsFieldNumber: replay.set_cpu_duration_ns(value); break;
      case GraphReplay::kGpuStartOffsetNsFieldNumber:  // sint64: zigzag
        replay.set_gpu_start_offset_ns(static_cast<int64_t>(value >> 1 ^ (~(value & 1) + 1)));
        break;
      case GraphReplay::kGpuDurationNsFieldNumber: replay.set_gpu_duration_ns(value); break;
      case GraphReplay::kCorrelationIdFieldNumber:
        replay.set_correlation_id(static_cast<uint32_t>(value));
        break;
      default: return false;  // a field from a newer writer: libprotobuf keeps it
    }
  }
  return true;
}

}  // namespace profilemate::reader
