#include "graph_replay_wire.h"

#include "varint.h"

namespace profilemate::reader {

GraphReplayFields GraphReplayFields::of(const GraphReplay& replay) {
  return {replay.exec_id(),
          replay.stream_id(),
          replay.thread(),
          replay.cpu_enter_ns(),
          replay.cpu_duration_ns(),
          replay.gpu_start_offset_ns(),
          replay.gpu_duration_ns(),
          replay.correlation_id(),
          replay.has_gpu_start_offset_ns(),
          replay.has_gpu_duration_ns(),
          replay.has_correlation_id()};
}

void GraphReplayFields::to(GraphReplay& replay) const {
  replay.Clear();
  replay.set_exec_id(exec_id);
  replay.set_stream_id(stream_id);
  replay.set_thread(thread);
  replay.set_cpu_enter_ns(cpu_enter_ns);
  replay.set_cpu_duration_ns(cpu_duration_ns);
  if (has_gpu_start_offset_ns) replay.set_gpu_start_offset_ns(gpu_start_offset_ns);
  if (has_gpu_duration_ns) replay.set_gpu_duration_ns(gpu_duration_ns);
  if (has_correlation_id) replay.set_correlation_id(correlation_id);
}

bool decode_graph_replay(const uint8_t* body, uint64_t size, GraphReplayFields& fields) {
  constexpr uint8_t kReplayTag = Record::kGraphReplayFieldNumber << 3 | 2;  // length-delimited
  const uint8_t* in = body;
  const uint8_t* const end = body + size;
  uint64_t length = 0;
  if (size == 0 || *in++ != kReplayTag || !get_varint(in, end, length) ||
      length != static_cast<uint64_t>(end - in)) {
    return false;
  }
  fields = {};
  while (in != end) {
    uint64_t tag = 0;
    uint64_t value = 0;
    if (!get_varint(in, end, tag) || (tag & 7) != 0 || !get_varint(in, end, value)) return false;
    // Narrower fields keep the low bits, as libprotobuf's parse does.
    switch (tag >> 3) {
      case GraphReplay::kExecIdFieldNumber: fields.exec_id = static_cast<uint32_t>(value); break;
      case GraphReplay::kStreamIdFieldNumber: fields.stream_id = static_cast<uint32_t>(value); break;
      case GraphReplay::kThreadFieldNumber: fields.thread = static_cast<uint32_t>(value); break;
      case GraphReplay::kCpuEnterNsFieldNumber: fields.cpu_enter_ns = value; break;
      case GraphReplay::kCpuDurationNsFieldNumber: fields.cpu_duration_ns = value; break;
      case GraphReplay::kGpuStartOffsetNsFieldNumber:  // sint64: zigzag
        fields.gpu_start_offset_ns = static_cast<int64_t>(value >> 1 ^ (~(value & 1) + 1));
        fields.has_gpu_start_offset_ns = true;
        break;
      case GraphReplay::kGpuDurationNsFieldNumber:
        fields.gpu_duration_ns = value;
        fields.has_gpu_duration_ns = true;
        break;
      case GraphReplay::kCorrelationIdFieldNumber:
        fields.correlation_id = static_cast<uint32_t>(value);
        fields.has_correlation_id = true;
        break;
      default: return false;  // a field from a newer writer: libprotobuf keeps it
    }
  }
  return true;
}

}  // namespace profilemate::reader
