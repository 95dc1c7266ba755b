// The events `pm_record` accepts: a Record field number → its nanopb descriptor and struct size.
#pragma once

#include <pb.h>

#include <cstddef>
#include <cstdint>

namespace profilemate::recorder {

struct EventKind {
  const pb_msgdesc_t* fields = nullptr;  // null: not recordable through pm_record
  uint32_t struct_size = 0;
};

// Returns the kind for a Record field number; `fields` is null for unknown numbers and for the
// records only the recorder itself writes (Header).
const EventKind& event_kind(uint32_t field_number);

}  // namespace profilemate::recorder
