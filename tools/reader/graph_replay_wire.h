// Graph replays are nearly every record of a long session, and libprotobuf's general parse of a
// Record (a oneof whose message it allocates and frees each time) is most of the cost of reading
// one. This reads a replay straight from its wire bytes into a Record that is reused.
#pragma once

#include <cstdint>

#include "profilemate.pb.h"

namespace profilemate::reader {

// Sets `record` to the Record encoded in [body, body + size) when that is a graph replay holding
// only the fields this reader knows, each as a varint; false otherwise (anything else: another
// kind, a field from a newer writer, damage), with `record` in an unspecified state: parse it with
// libprotobuf then. The result is what Record::ParseFromArray gives. `record` must hold nothing
// but what an earlier call put there, or have been cleared.
bool decode_graph_replay(const uint8_t* body, uint64_t size, Record& record);

}  // namespace profilemate::reader
