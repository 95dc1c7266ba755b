// The Record kinds: a Record field number → its nanopb descriptor and struct size.
#pragma once

#include <pb.h>

#include <cstddef>
#include <cstdint>

namespace profilemate::recorder {

// Record field numbers are below this.
inline constexpr uint32_t kRecordFieldLimit = 32;

struct EventKind {
  const pb_msgdesc_t* fields = nullptr;  // null: not such a kind
  uint32_t struct_size = 0;
};

// Every Record kind the recorder can write, Header included; `fields` is null for unknown numbers.
const EventKind& record_kind(uint32_t field_number);

// The kinds `pm_record` accepts: `record_kind` less the records only the recorder itself writes
// (Header).
const EventKind& event_kind(uint32_t field_number);

}  // namespace profilemate::recorder
